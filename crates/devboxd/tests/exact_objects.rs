//! The engine acts only on the exact object the check approved (issue 11, part 1), against real
//! Podman, real Unix users, the testbed image and the fake `op`. Podman's compat API resolves a
//! container it does not find by exact ID or name as a UNIQUE ID PREFIX, and a volume as a UNIQUE
//! NAME PREFIX: every attack here makes a devbox name that no longer exists resolve to someone
//! else's object. Also: ownership recorded by uid, so a container whose owner left users.nix (or
//! whose name now maps to another uid) is stopped and reported, never restarted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use devbox_api::{ContainerInfo, ContainerStatus};
use devbox_test_kit::{poll_until, unique_name};

/// Generous: these tests share two cores with every other Podman test.
const READY_SECS: u64 = 90;

fn podman(args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(devbox_test_kit::host_program("podman").get_program())
        .args(args)
        .output()
        .unwrap()
}

fn volume_exists(name: &str) -> bool {
    // `volume ls` with an anchored name filter: exact, unlike a lookup by name.
    let out = podman(&["volume", "ls", "--format", "{{.Name}}"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == name)
}

fn state_json(w: &World) -> serde_json::Value {
    match std::fs::read_to_string(w.state_dir.join("state.json")) {
        Ok(t) => serde_json::from_str(&t).expect("state.json stays readable"),
        Err(_) => serde_json::json!({}),
    }
}

/// A container that is not devbox's (plain `podman run`, no labels), running and printing a
/// marker, removed on drop. Its name and full ID are what the attacks aim at.
struct Bystander {
    name: String,
    id: String,
    marker: String,
}

impl Bystander {
    /// A bystander whose ID's first 12 characters form a valid devbox name (not all digits).
    fn start(image: &str) -> Self {
        for _ in 0..20 {
            let name = unique_name("dbx-bystander");
            let marker = format!("BYSTANDER-MARK-{name}");
            let out = podman(&[
                "run",
                "-d",
                "--name",
                &name,
                "--entrypoint",
                "/bin/sh",
                image,
                "-c",
                &format!("echo {marker}; exec sleep 3600"),
            ]);
            assert!(
                out.status.success(),
                "podman run: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let b = Self { name, id, marker };
            if !b.prefix().chars().all(|c| c.is_ascii_digit()) {
                return b;
            }
        }
        panic!("20 bystanders in a row had an all-digit ID prefix");
    }

    /// The devbox name the attacker uses: a unique prefix of the bystander's ID.
    fn prefix(&self) -> String {
        self.id.chars().take(12).collect()
    }

    /// The bystander's state, looked up by its full ID (exact).
    fn state(&self) -> Option<String> {
        let out = podman(&["inspect", "--format", "{{.Id}} {{.State.Status}}", &self.id]);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (id, state) = text.split_once(' ')?;
        (out.status.success() && id == self.id).then(|| state.to_string())
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.id]);
    }
}

// ------------------------------------------------------------------ kept volume

/// Bob keeps the home volume of `the...sis`; alice's create of `the...` dies right after it was
/// journaled (before its volume exists). Recovering alice's create removed `devbox-home-the...`,
/// which Podman resolved as a name prefix to bob's kept volume.
#[host_test]
fn recovering_a_crashed_create_never_removes_another_users_kept_volume() {
    let mut w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({"testHooks": true}),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let alice_name = w.name("the");
    let bob_name: String = format!("{alice_name}sis");
    assert!(bob_name.len() <= 63, "{bob_name}");
    let bob_volume = format!("devbox-home-{bob_name}");
    ok(w.ctl_as(w.user(1), &["create", &bob_name, "--no-start"]));
    ok(w.ctl_as(w.user(1), &["destroy", &bob_name, "--keep-volume", "--yes"]));
    assert!(volume_exists(&bob_volume), "bob's kept volume");

    w.stop_daemon();
    w.set_config(
        "faultInjection",
        serde_json::json!("crash-after:create-journaled"),
    );
    w.restart_daemon();
    let o = w.ctl_as(w.user(0), &["create", &alice_name, "--no-start"]);
    assert!(!o.status.success(), "the create should have died");
    assert!(
        w.wait_daemon_exit(Duration::from_secs(60)),
        "the daemon did not crash"
    );
    w.set_config("faultInjection", serde_json::Value::Null);
    w.restart_daemon();
    poll_until(Duration::from_secs(60), "alice's create undone", || {
        state_json(&w)["containers"]
            .get(&alice_name)
            .is_none()
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", w.daemon_log()));
    assert!(
        volume_exists(&bob_volume),
        "bob's kept volume {bob_volume} was removed by the recovery of alice's create\n{}",
        w.daemon_log()
    );
    assert!(!volume_exists(&format!("devbox-home-{alice_name}")));
    // Bob still gets his home back.
    ok(w.ctl_as(w.user(1), &["create", &bob_name, "--no-start"]));
    let status = ok(w.ctl_as(w.user(1), &["status", &bob_name]));
    assert!(status.contains(&bob_volume), "{status}");
}

// ------------------------------------------------------------------ bystander container

/// A user names his dev container after a unique prefix of a bystander's ID and creates and
/// destroys it in a loop while the reconciler runs every second: a destroy the reconciler
/// replays from its snapshot after the user's destroy finished removed the bystander.
#[host_test]
fn a_bystander_whose_id_prefix_is_a_container_name_survives_create_destroy_loops() {
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({"reconcileIntervalSecs": 1}),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let bystander = Bystander::start(&w.image);
    let name = bystander.prefix();
    assert_eq!(bystander.state().as_deref(), Some("running"));
    let rounds = 6;
    for round in 0..rounds {
        let mut args = vec!["create", name.as_str()];
        // Half the rounds running (logout + stop on destroy), half not.
        if round % 2 == 1 {
            args.push("--no-start");
        }
        ok(w.ctl_as(w.user(0), &args));
        ok(w.ctl_as(w.user(0), &["destroy", &name, "--yes"]));
        assert_eq!(
            bystander.state().as_deref(),
            Some("running"),
            "round {round}: the bystander {} ({}) was hit\n{}",
            bystander.name,
            bystander.id,
            w.daemon_log()
        );
    }
    // Two more reconciler passes after the last destroy.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        bystander.state().as_deref(),
        Some("running"),
        "after the loop\n{}",
        w.daemon_log()
    );
    // The user's own name was never confused with the bystander: nothing of his is left.
    assert!(
        w.podman_containers().is_empty(),
        "{:?}",
        w.podman_containers()
    );
    assert!(w.podman_volumes().is_empty(), "{:?}", w.podman_volumes());
}

// ------------------------------------------------------------------ reads racing a destroy

/// `status` and `logs` of a container named after a bystander's ID prefix, racing its destroy:
/// a read that was authorized while the container existed and then went to Podman by name
/// answered with the bystander (its name, state or logs). The test hook
/// `pause-after:read-authorized` holds every read right after its authorization, so the destroy
/// lands in that window every time.
#[host_test]
fn status_and_logs_racing_a_destroy_never_land_on_another_object() {
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "testHooks": true,
                "faultInjection": "pause-after:read-authorized:2000",
            }),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let bystander = Bystander::start(&w.image);
    let name = bystander.prefix();
    let user = w.user(0);
    let mut answers = Vec::new();
    for round in 0..2 {
        ok(w.ctl_as(user, &["create", &name, "--no-start"]));
        let (reads, destroyed) = std::thread::scope(|s| {
            let readers: Vec<_> = [
                vec!["logs", name.as_str()],
                vec!["--json", "status", name.as_str()],
                vec!["status", name.as_str()],
            ]
            .into_iter()
            .map(|args| {
                let w = &w;
                s.spawn(move || (args.join(" "), w.ctl_as(user, &args)))
            })
            .collect();
            // The readers are authorized at once and then held for 2 s: destroy meanwhile.
            std::thread::sleep(Duration::from_millis(700));
            let destroyed = std::time::Instant::now();
            ok(w.ctl_as(user, &["destroy", name.as_str(), "--yes"]));
            let destroyed = destroyed.elapsed();
            let reads: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            (reads, destroyed)
        });
        assert!(
            destroyed < Duration::from_millis(1300),
            "round {round}: the destroy took {destroyed:?}, longer than the readers were held"
        );
        for (what, o) in reads {
            let text = both(&o);
            let wrong = text.contains(&bystander.marker)
                || text.contains(&bystander.name)
                || serde_json::from_slice::<ContainerStatus>(&o.stdout)
                    .is_ok_and(|st| st.container.name != name);
            answers.push(format!("round {round}: {what}: wrong={wrong}: {text}"));
            assert!(!wrong, "{what} answered with the bystander: {text}");
        }
        assert_eq!(
            bystander.state().as_deref(),
            Some("running"),
            "round {round}"
        );
    }
    println!("{}", answers.join("\n"));
    // After the destroy, the name is simply not found (not the bystander).
    let o = w.ctl_as(user, &["status", &name]);
    let err = fails(o, 5);
    assert!(err.contains("no dev container named"), "{err}");
}

// ------------------------------------------------------------------ ownership by uid

fn edit_users(w: &World, f: impl FnOnce(&mut serde_json::Value)) {
    let path = w.dir.path().join("users.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn op_reads(w: &World, user: &str) -> usize {
    std::fs::read_to_string(&w.op_log)
        .unwrap_or_default()
        .matches(&format!("{user}-tailscale-authkey/"))
        .count()
}

fn podman_state(name: &str) -> Option<String> {
    let out = podman(&["inspect", "--format", "{{.Name}} {{.State.Status}}", name]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (n, state) = text.split_once(' ')?;
    (out.status.success() && n.trim_start_matches('/') == name).then(|| state.to_string())
}

/// Alice leaves users.nix; bob's name now maps to another uid (another real user). Their
/// containers (one stopped as by a reboot, one still running) and a container that records no
/// owner uid (made before the label existed) are stopped and reported at the next daemon start,
/// never restarted, and no key is fetched for them; the new "bob" cannot act on the old bob's
/// containers or reuse his kept volume; an admin still sees and can destroy them.
#[host_test]
fn containers_of_a_removed_owner_or_a_changed_uid_are_stopped_and_reported_not_restarted() {
    let mut w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let alice = w.user(0).name.clone();
    let bob = w.user(1).name.clone();
    let a_down = w.name("ad");
    let a_up = w.name("au");
    let b_down = w.name("bd");
    let b_up = w.name("bu");
    ok(w.ctl_as(w.user(0), &["create", &a_down]));
    ok(w.ctl_as(w.user(0), &["create", &a_up, "--another"]));
    ok(w.ctl_as(w.user(1), &["create", &b_down]));
    ok(w.ctl_as(w.user(1), &["create", &b_up, "--another"]));
    let b_kept = w.name("bk");
    ok(w.ctl_as(w.user(1), &["create", &b_kept, "--another", "--no-start"]));
    ok(w.ctl_as(w.user(1), &["destroy", &b_kept, "--keep-volume", "--yes"]));
    // Made before the owner-uid label existed: devbox's labels, the admin as owner, no uid.
    let admin_name = w.user(2).name.clone();
    let legacy = w.name("lg");
    let o = podman(&[
        "run",
        "-d",
        "--name",
        &legacy,
        "--label",
        "devbox.managed=true",
        "--label",
        &format!("devbox.instance={}", w.instance),
        "--label",
        &format!("devbox.owner={admin_name}"),
        "--label",
        &format!("devbox.name={legacy}"),
        "--entrypoint",
        "/bin/sh",
        &w.image,
        "-c",
        "exec sleep 3600",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    w.stop_daemon();
    // A reboot for two of them: desired running, not running.
    for n in [&a_down, &b_down] {
        let o = podman(&["stop", "-t", "2", n]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let reads_before = (op_reads(&w, &alice), op_reads(&w, &bob));
    // Another real person gets the name bob.
    let new_bob = TestUser::create("nb", &w.group.name, false);
    let new_bob_uid = new_bob.uid;
    edit_users(&w, |v| {
        v["users"].as_object_mut().unwrap().remove(&alice);
        v["derived"]["perUser"]
            .as_object_mut()
            .unwrap()
            .remove(&alice);
        for list in ["allUsers", "adminUsers"] {
            if let Some(a) = v["derived"][list].as_array_mut() {
                a.retain(|u| u.as_str() != Some(alice.as_str()));
            }
        }
        v["users"][&bob]["uid"] = serde_json::json!(new_bob_uid);
    });
    w.restart_daemon();
    poll_until(Duration::from_secs(120), "orphans stopped", || {
        [&a_down, &a_up, &b_down, &b_up, &legacy]
            .iter()
            .all(|n| podman_state(n).is_some_and(|s| s != "running"))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", w.daemon_log()));
    // A few more reconciler passes: still not restarted, no key fetched for them.
    ok(w.ctl_root(&["gc"]));
    for n in [&a_down, &a_up, &b_down, &b_up, &legacy] {
        let s = podman_state(n);
        assert!(s.as_deref().is_some_and(|s| s != "running"), "{n}: {s:?}");
    }
    assert_eq!(
        (op_reads(&w, &alice), op_reads(&w, &bob)),
        reads_before,
        "a key was fetched for an orphaned container"
    );
    // Reported: list, status, audit log.
    let admin = w.user(2);
    let list: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(admin, &["--json", "list", "--all"]))).unwrap();
    let why = |n: &str| {
        let c = list.iter().find(|c| c.name == n).unwrap();
        c.orphaned.clone().unwrap_or_default()
    };
    for n in [&a_down, &a_up] {
        assert!(why(n).contains("no longer in users.nix"), "{n}: {}", why(n));
    }
    for n in [&b_down, &b_up] {
        assert!(
            why(n).contains(&format!("now gives {bob:?} uid {new_bob_uid}")),
            "{n}: {}",
            why(n)
        );
    }
    assert!(
        why(&legacy).contains("records no owner uid"),
        "{}",
        why(&legacy)
    );
    let text = ok(w.ctl_as(admin, &["status", &a_up]));
    assert!(text.contains("orphaned"), "{text}");
    let text = ok(w.ctl_as(admin, &["list", "--all"]));
    assert!(text.contains("orphaned"), "{text}");
    let log = w.daemon_log();
    assert!(
        log.contains("orphan-stop") && log.contains(&a_up) && log.contains(&b_up),
        "{log}"
    );
    // Nobody starts them with a fallback key: the admin is refused with the reason.
    let o = w.ctl_as(admin, &["start", &b_down]);
    let err = fails(o, 6);
    assert!(err.contains("uid"), "{err}");
    // The new "bob" cannot act on the old bob's containers, does not see them as his, and cannot
    // take the old bob's kept home.
    let err = fails(w.ctl_as(&new_bob, &["stop", &b_up]), 4);
    assert!(err.contains("another uid"), "{err}");
    let mine: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(&new_bob, &["--json", "list"]))).unwrap();
    assert!(mine.is_empty(), "{mine:?}");
    let err = fails(w.ctl_as(&new_bob, &["create", &b_kept, "--no-start"]), 6);
    assert!(err.contains("not your kept devbox home"), "{err}");
    // The admin can clean up.
    for n in [&a_down, &a_up, &b_down, &b_up, &legacy] {
        ok(w.ctl_as(admin, &["destroy", n, "--yes"]));
    }
    assert!(
        w.podman_containers().is_empty(),
        "{:?}",
        w.podman_containers()
    );
}
