//! Quotas under concurrency: many simultaneous creates from several real users never exceed the
//! per-user or the global limit, every refusal is clear, and refused creates leave nothing behind.
//! Also: a user who already has a container must confirm creating another (US1 scenario 4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use devbox_api::ContainerInfo;

#[host_test]
fn concurrent_creates_never_exceed_limits() {
    // 3 users x 3 attempts against per-user 2 / global 4; `op` is slowed to widen race windows.
    let w = World::new(
        &[("a", false), ("b", false), ("c", false), ("m", true)],
        Options {
            max_per_user: 2,
            max_global: 4,
            op_delay_ms: 150,
            ..Options::default()
        },
    );
    let attempts: Vec<(usize, String)> = (0..3)
        .flat_map(|u| (0..3).map(move |i| (u, i)))
        .map(|(u, i)| (u, w.name(&format!("q{u}{i}"))))
        .collect();
    let results: Vec<(usize, std::process::Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = attempts
            .iter()
            .map(|(u, name)| {
                let w = &w;
                s.spawn(move || (*u, w.ctl_as(w.user(*u), &["create", name, "--another"])))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut per_user = [0usize; 3];
    let mut refused = 0;
    for (u, out) in &results {
        if out.status.success() {
            per_user[*u] += 1;
        } else {
            refused += 1;
            assert_eq!(out.status.code(), Some(7), "{}", both(out));
            let e = stderr(out);
            assert!(e.contains("limit is 2") || e.contains("limit is 4"), "{e}");
        }
    }
    let created: usize = per_user.iter().sum();
    println!("created per user {per_user:?}, refused {refused}");
    assert_eq!(created, 4, "global limit reached exactly: {per_user:?}");
    assert!(per_user.iter().all(|n| *n <= 2), "{per_user:?}");
    assert_eq!(refused, 5);

    // Podman agrees, and no refused create left a container or a volume behind.
    let containers = w.podman_containers();
    let volumes = w.podman_volumes();
    assert_eq!(containers.len(), 4, "{containers:?}");
    assert_eq!(volumes.len(), 4, "{volumes:?}");
    for c in &containers {
        assert!(
            volumes.contains(&format!("devbox-home-{c}")),
            "{c} {volumes:?}"
        );
    }
    let all: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(w.user(3), &["--json", "list", "--all"]))).unwrap();
    assert_eq!(all.len(), 4);
    // The admin is bound by the global limit too.
    let e = fails(w.ctl_as(w.user(3), &["create", &w.name("adm")]), 7);
    assert!(e.contains("limit is 4"), "{e}");
}

#[host_test]
fn second_container_needs_confirmation() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let alice = w.user(0);
    let first = w.name("one");
    let second = w.name("two");
    ok(w.ctl_as(alice, &["create", &first, "--no-start"]));
    let e = fails(w.ctl_as(alice, &["create", &second, "--no-start"]), 6);
    assert!(e.contains(&first) && e.contains("--another"), "{e}");
    assert_eq!(w.podman_containers(), vec![first.clone()]);
    assert_eq!(w.podman_volumes().len(), 1);
    // On a terminal the user is asked; "n" leaves everything as it was, "y" creates.
    let no = w.ctl_as_tty(alice, &["create", &second, "--no-start"], "n\n");
    assert_eq!(no.status.code(), Some(6), "{}", both(&no));
    assert!(
        both(&no).contains("Create") && both(&no).contains(&first),
        "{}",
        both(&no)
    );
    assert_eq!(w.podman_containers(), vec![first.clone()]);
    let yes = w.ctl_as_tty(alice, &["create", &second, "--no-start"], "y\n");
    assert!(yes.status.success(), "{}", both(&yes));
    ok(w.ctl_as(alice, &["destroy", &second, "--yes"]));
    // Off a terminal, --another confirms.
    ok(w.ctl_as(alice, &["create", &second, "--no-start", "--another"]));
    let mut names = w.podman_containers();
    names.sort();
    assert_eq!(names.len(), 2);
    // --no-start made stopped containers with desired state "stopped".
    let list: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "list"]))).unwrap();
    assert!(list.iter().all(|c| c.state != "running"), "{list:?}");
    assert!(list
        .iter()
        .all(|c| c.desired == Some(devbox_api::DesiredState::Stopped)));
}

#[host_test]
fn a_slow_create_does_not_hold_up_other_users() {
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    );
    // 1Password takes 4 s to answer for Alice.
    let store_path = w.dir.path().join("op-store.json");
    let mut store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    let reference = format!("op://DevBox/{}-tailscale-authkey/password", w.user(0).name);
    store["delays"] = serde_json::json!({ reference.clone(): 4000 });
    std::fs::write(&store_path, store.to_string()).unwrap();

    let slow = w.name("slow");
    let alice = devbox_test_kit::host_program("runuser")
        .args(["-u", &w.user(0).name, "--"])
        .arg(&w.ctl)
        .arg("--socket")
        .arg(&w.socket)
        .args(["create", &slow])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    devbox_test_kit::poll_until(
        std::time::Duration::from_secs(30),
        "alice's key fetch",
        || {
            std::fs::read_to_string(&w.op_log)
                .ok()?
                .contains(&reference)
                .then_some(())
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    ok(w.ctl_as(w.user(1), &["create", &w.name("fast")]));
    let took = started.elapsed();
    println!("bob's create took {took:?} while alice's was waiting for 1Password");
    assert!(
        took < std::time::Duration::from_millis(3500),
        "bob waited for alice: {took:?}"
    );
    let out = alice.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.podman_containers().len(), 2);
}
