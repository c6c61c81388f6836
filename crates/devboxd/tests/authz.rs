//! Authorization matrix with real Unix users: for every operation the owner is allowed, another
//! user is denied with a clear message (and nothing changes), an admin is allowed; spoofing
//! `$USER`/`$LOGNAME` changes nothing; users not in users.nix and a missing daemon get clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use devbox_api::ContainerInfo;

fn running(name: &str) -> bool {
    let out = devbox_test_kit::host_program("podman")
        .args(["inspect", "--format", "{{.State.Running}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

#[host_test]
fn owner_allowed_other_denied_admin_allowed() {
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    );
    let (alice, bob, admin) = (w.user(0), w.user(1), w.user(2));
    let name = w.name("authz");
    ok(w.ctl_as(alice, &["create", &name]));
    assert!(running(&name));

    let whoami = ok(w.ctl_as_env(
        bob,
        &["whoami"],
        &[("USER", &alice.name), ("LOGNAME", &alice.name)],
    ));
    assert!(
        whoami.starts_with(&bob.name),
        "peer credentials, not $USER: {whoami}"
    );

    // Every operation, as the other user, plain and with $USER/$LOGNAME spoofed: denied, no change.
    let ops: Vec<Vec<&str>> = vec![
        vec!["status", &name],
        vec!["stop", &name],
        vec!["start", &name],
        vec!["rotate-key", &name, "--now"],
        vec!["logs", &name],
        vec!["destroy", &name, "--yes"],
        vec!["destroy", &name, "--yes", "--keep-volume"],
    ];
    let spoof = [
        ("USER", alice.name.as_str()),
        ("LOGNAME", alice.name.as_str()),
        ("SUDO_USER", alice.name.as_str()),
    ];
    for op in &ops {
        for env in [&[][..], &spoof[..]] {
            let e = fails(w.ctl_as_env(bob, op, env), 4);
            assert!(e.contains("belongs to another user"), "{op:?}: {e}");
            assert!(running(&name), "{op:?} changed the container");
        }
    }
    // Bob's list does not show Alice's container; --all is for admins.
    let list: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(bob, &["--json", "list"]))).unwrap();
    assert!(list.is_empty(), "{list:?}");
    let e = fails(w.ctl_as(bob, &["list", "--all"]), 4);
    assert!(e.contains("only admins"), "{e}");
    // Bob cannot take the name either.
    let e = fails(w.ctl_as(bob, &["create", &name]), 6);
    assert!(e.contains("taken"), "{e}");

    // The admin may do everything.
    let list: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(admin, &["--json", "list", "--all"]))).unwrap();
    assert_eq!(
        list.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec![name.as_str()]
    );
    assert_eq!(list[0].owner, alice.name);
    ok(w.ctl_as(admin, &["status", &name]));
    ok(w.ctl_as(admin, &["logs", &name, "--tail", "5"]));
    ok(w.ctl_as(admin, &["stop", &name]));
    assert!(!running(&name));
    ok(w.ctl_as(admin, &["start", &name]));
    assert!(running(&name));
    ok(w.ctl_as(admin, &["rotate-key", &name]));

    // The owner may do everything.
    ok(w.ctl_as(alice, &["status", &name]));
    ok(w.ctl_as(alice, &["stop", &name]));
    ok(w.ctl_as(alice, &["start", &name]));
    ok(w.ctl_as(alice, &["logs", &name, "--tail", "5"]));

    // Root is an admin too.
    ok(w.ctl_root(&["status", &name]));

    ok(w.ctl_as(admin, &["destroy", &name, "--yes"]));
    assert!(w.podman_containers().is_empty());
    assert!(w.podman_volumes().is_empty());

    // Audit lines name who did what, including the refusals.
    let log = w.daemon_log();
    assert!(
        log.contains(&format!("user={}", bob.name)) && log.contains("result=\"error\""),
        "{log}"
    );
}

#[host_test]
fn strangers_and_a_missing_daemon_get_clear_errors() {
    let mut w = World::new(&[("a", false), ("m", true)], Options::default());
    // A Unix user in the socket group but not in users.nix.
    let stranger = TestUser::create("s", &w.group.name, false);
    let e = fails(w.ctl_as(&stranger, &["list"]), 4);
    assert!(e.contains("not a devbox user"), "{e}");
    let e = fails(w.ctl_as(&stranger, &["create", &w.name("x")]), 4);
    assert!(e.contains("not a devbox user"), "{e}");
    assert!(w.podman_containers().is_empty());

    // A user outside the socket group cannot even connect (mode 0660).
    let outsider_group = TestGroup::create();
    let outsider = TestUser::create("o", &outsider_group.name, false);
    let e = fails(w.ctl_as(&outsider, &["list"]), 3);
    assert!(
        e.contains("cannot reach devboxd") && e.contains("group"),
        "{e}"
    );

    // Daemon not running.
    w.stop_daemon();
    let e = fails(w.ctl_as(w.user(0), &["list"]), 3);
    assert!(
        e.contains("cannot reach devboxd") && e.contains("running"),
        "{e}"
    );
    let e = fails(w.ctl_as(w.user(0), &["doctor"]), 3);
    assert!(e.contains("cannot reach devboxd"), "{e}");
}

#[host_test]
fn container_ids_are_not_names() {
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    );
    let name = w.name("idp");
    ok(w.ctl_as(w.user(0), &["create", &name, "--no-start"]));
    let id = devbox_test_kit::host_program("podman")
        .args(["inspect", "--format", "{{.Id}}", &name])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    // A prefix of the container's ID made only of letters/digits is a valid name; Podman would
    // resolve it to the container, devbox must not.
    let prefix: String = id.chars().take(12).collect();
    if devbox_api::validate::validate_name(&prefix).is_ok() {
        let e = fails(w.ctl_as(w.user(0), &["status", &prefix]), 5);
        assert!(e.contains("no dev container"), "{e}");
        let e = fails(w.ctl_as(w.user(1), &["destroy", &prefix, "--yes"]), 5);
        assert!(e.contains("no dev container"), "{e}");
    }
    assert_eq!(w.podman_containers(), vec![name]);
}
