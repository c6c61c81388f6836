//! The reconciler against real Podman, the testbed image (real devbox-entrypoint, fake tailnet),
//! real Unix users, the fake `op` and the FAKE Tailscale API of the test kit: reboot recovery,
//! crash safety at every step of create/stop/destroy, idle stop / destroy with notices and a
//! webhook under a test clock, and tailnet cleanup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use devbox_api::{ContainerStatus, LifecyclePlan, Notice, NoticeKind};
use devbox_test_kit::fake_tailscale_api::FakeTailscaleApi;
use devbox_test_kit::poll_until;

/// Generous: these tests share two cores with every other Podman test.
const READY_SECS: u64 = 90;

fn podman_state(name: &str) -> Option<String> {
    let out = Command::new("timeout")
        .args([
            "120",
            "podman",
            "inspect",
            "--format",
            "{{.State.Status}}",
            name,
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn volume_exists(name: &str) -> bool {
    Command::new("timeout")
        .args(["120", "podman", "volume", "exists", name])
        .status()
        .unwrap()
        .success()
}

/// The container's own network (network isolation) exists.
fn network_exists(container: &str) -> bool {
    Command::new("timeout")
        .args(["120", "podman", "network", "exists"])
        .arg(format!("devbox-net-{container}"))
        .status()
        .unwrap()
        .success()
}

fn podman_kill(name: &str) {
    let out = Command::new("timeout")
        .args(["120", "podman", "kill", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn state_json(w: &World) -> serde_json::Value {
    match std::fs::read_to_string(w.state_dir.join("state.json")) {
        Ok(t) => serde_json::from_str(&t).expect("state.json stays readable"),
        Err(_) => serde_json::json!({}),
    }
}

fn ready(w: &World, user: &TestUser, name: &str) -> bool {
    let o = w.ctl_as(user, &["--json", "status", name]);
    serde_json::from_slice::<ContainerStatus>(&o.stdout)
        .ok()
        .and_then(|s| s.entrypoint)
        .is_some_and(|e| e.ready)
}

/// How often the user's key was read from the fake 1Password (occurrences of its reference in
/// the argv log; concurrent appends may share a line).
fn op_reads(w: &World, user: &str) -> usize {
    std::fs::read_to_string(&w.op_log)
        .unwrap_or_default()
        .matches(&format!("{user}-tailscale-authkey/"))
        .count()
}

// ------------------------------------------------------------------ reboot

#[host_test]
fn simulated_reboot_brings_desired_running_containers_back_rekeyed() {
    let mut w = World::new(
        &[("a", false), ("b", false), ("c", false), ("m", true)],
        Options {
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    // 7 containers over 3 users: 6 running, 1 stopped by its owner.
    let mut running: Vec<(usize, String)> = Vec::new();
    for i in 0..6 {
        let u = i % 3;
        let name = w.name(&format!("rb{i}"));
        ok(w.ctl_as(w.user(u), &["create", &name, "--another"]));
        running.push((u, name));
    }
    let stopped = w.name("rbstop");
    ok(w.ctl_as(w.user(0), &["create", &stopped, "--another"]));
    ok(w.ctl_as(w.user(0), &["stop", &stopped]));

    // Power cut: the daemon dies, every container is killed behind its back.
    w.kill_daemon();
    for (_, n) in &running {
        podman_kill(n);
    }
    for (_, n) in &running {
        poll_until(Duration::from_secs(60), "container killed", || {
            (podman_state(n).as_deref() != Some("running")).then_some(())
        })
        .unwrap();
    }
    let reads_before: Vec<usize> = (0..3).map(|u| op_reads(&w, &w.user(u).name)).collect();

    let t0 = Instant::now();
    w.restart_daemon();
    for (u, n) in &running {
        poll_until(
            Duration::from_secs(120),
            "recovered container ready",
            || ready(&w, w.user(*u), n).then_some(()),
        )
        .unwrap_or_else(|e| panic!("{n}: {e}\n{}", w.daemon_log()));
    }
    let recovery = t0.elapsed();
    println!(
        "RECOVERY: {} desired-running containers back and ready {:.1} s after the daemon restarted",
        running.len(),
        recovery.as_secs_f64()
    );
    assert!(recovery < Duration::from_secs(60), "SC-006: {recovery:?}");
    // Re-keyed: each user's key was fetched again from 1Password, once per container, delivered
    // to the (fresh) tmpfs and used by `tailscale up`, which deleted it (docs/entrypoint.md).
    for (u, before) in reads_before.iter().enumerate() {
        assert_eq!(
            op_reads(&w, &w.user(u).name) - before,
            2,
            "user {u} key reads after restart"
        );
    }
    for (_, n) in &running {
        // The container's log spans both runs: one used-and-deleted key for each.
        let logs = devbox_test_kit::host_program("podman")
            .args(["logs", n])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        );
        assert!(
            text.matches("auth key deleted (used").count() >= 2,
            "{n}: the key was not delivered and used again:\n{text}"
        );
        let gone = devbox_test_kit::host_program("podman")
            .args(["exec", n, "test", "-e", "/run/devbox/tailscale-authkey"])
            .status()
            .unwrap();
        assert!(!gone.success(), "{n}: the used key is still in the tmpfs");
    }
    // The one its owner stopped stays stopped, and keeps its desired state.
    assert_ne!(podman_state(&stopped).as_deref(), Some("running"));
    assert_eq!(state_json(&w)["containers"][&stopped]["desired"], "stopped");
    assert!(w.daemon_log().contains("reconcile at start done"));

    // Key rotation without re-creation: an admin rotates every container of one user, now.
    let admin = w.user(3);
    let u0 = w.user(0).name.clone();
    let before = op_reads(&w, &u0);
    let out = ok(w.ctl_as(admin, &["rotate-key", "--user", &u0, "--now"]));
    assert_eq!(out.matches("re-authenticated").count(), 2, "{out}");
    assert_eq!(op_reads(&w, &u0) - before, 2);
    for (u, n) in running.iter().filter(|(u, _)| *u == 0) {
        assert!(ready(&w, w.user(*u), n), "{n} not ready after rotation");
    }
    // Other users may not rotate someone else's keys.
    let e = fails(w.ctl_as(w.user(1), &["rotate-key", "--user", &u0]), 4);
    assert!(
        e.contains("only admins may rotate another user's keys"),
        "{e}"
    );
}

// ------------------------------------------------------------------ crash safety

#[host_test]
fn daemon_killed_at_every_step_of_create_stop_destroy_converges() {
    let mut w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({"testHooks": true}),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let owner = w.user(0).name.clone();
    let crash_at = |w: &mut World, step: &str| {
        w.stop_daemon();
        w.set_config(
            "faultInjection",
            serde_json::json!(format!("crash-after:{step}")),
        );
        w.restart_daemon();
    };
    let restart_clean = |w: &mut World, step: &str| {
        assert!(
            w.wait_daemon_exit(Duration::from_secs(60)),
            "the daemon did not crash at {step}"
        );
        w.set_config("faultInjection", serde_json::Value::Null);
        w.restart_daemon();
    };

    // create: every step undone at the next start.
    for (i, step) in [
        "create-journaled",
        "create-volume",
        "create-network",
        "create-container",
        "create-started",
    ]
    .iter()
    .enumerate()
    {
        let name = w.name(&format!("cc{i}"));
        crash_at(&mut w, step);
        let o = w.ctl_as(w.user(0), &["create", &name, "--another"]);
        assert!(!o.status.success(), "{step}: create should have died");
        restart_clean(&mut w, step);
        poll_until(Duration::from_secs(60), "create undone", || {
            (podman_state(&name).is_none()
                && !volume_exists(&format!("devbox-home-{name}"))
                && !network_exists(&name)
                && state_json(&w)["containers"].get(&name).is_none())
            .then_some(())
        })
        .unwrap_or_else(|e| panic!("{step}: {e}\n{}", w.daemon_log()));
        println!("crash after {step}: create undone");
    }

    // stop: the recorded intent is finished.
    for (i, step) in ["stop-recorded", "stop-logged-out"].iter().enumerate() {
        let name = w.name(&format!("cs{i}"));
        ok(w.ctl_as(w.user(0), &["create", &name, "--another"]));
        crash_at(&mut w, step);
        let o = w.ctl_as(w.user(0), &["stop", &name]);
        assert!(!o.status.success(), "{step}: stop should have died");
        restart_clean(&mut w, step);
        poll_until(Duration::from_secs(60), "stop finished", || {
            (podman_state(&name).is_some_and(|s| s != "running")
                && state_json(&w)["containers"][&name]["desired"] == "stopped")
                .then_some(())
        })
        .unwrap_or_else(|e| panic!("{step}: {e}\n{}", w.daemon_log()));
        assert!(volume_exists(&format!("devbox-home-{name}")), "{step}");
        // Not lost: still listed and startable.
        let list = ok(w.ctl_as(w.user(0), &["list"]));
        assert!(list.contains(&name), "{step}: {list}");
        ok(w.ctl_as(w.user(0), &["destroy", &name, "--yes"]));
        println!("crash after {step}: stop finished");
    }

    // destroy: finished, nothing left behind.
    for (i, step) in [
        "destroy-recorded",
        "destroy-logged-out",
        "destroy-container-removed",
        "destroy-volume-removed",
    ]
    .iter()
    .enumerate()
    {
        let name = w.name(&format!("cd{i}"));
        ok(w.ctl_as(w.user(0), &["create", &name, "--another"]));
        crash_at(&mut w, step);
        let o = w.ctl_as(w.user(0), &["destroy", &name, "--yes"]);
        assert!(!o.status.success(), "{step}: destroy should have died");
        restart_clean(&mut w, step);
        poll_until(Duration::from_secs(60), "destroy finished", || {
            (podman_state(&name).is_none()
                && !volume_exists(&format!("devbox-home-{name}"))
                && !network_exists(&name)
                && state_json(&w)["containers"].get(&name).is_none())
            .then_some(())
        })
        .unwrap_or_else(|e| panic!("{step}: {e}\n{}", w.daemon_log()));
        println!("crash after {step}: destroy finished");
    }

    // Nothing orphaned, the state is readable, the daemon works.
    assert!(
        w.podman_containers().is_empty(),
        "{:?}",
        w.podman_containers()
    );
    assert!(w.podman_volumes().is_empty(), "{:?}", w.podman_volumes());
    assert!(state_json(&w)["containers"]
        .as_object()
        .is_none_or(|m| m.is_empty()));
    let log = w.daemon_log();
    assert!(
        log.contains("undo-create") && log.contains("finish-destroy"),
        "{log}"
    );
    let _ = owner;
}

// ------------------------------------------------------------------ idle / notices

/// A local HTTP server recording JSON POST bodies (the notice webhook's receiver).
struct WebhookSink {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WebhookSink {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut len = 0usize;
                let mut line = String::new();
                let mut first = true;
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if first {
                        assert!(line.starts_with("POST /hook "), "{line}");
                        first = false;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    line.clear();
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        b.lock().unwrap().push(v);
                    }
                }
                let mut out = &stream;
                let _ = out.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        Self { url, bodies }
    }

    fn kinds(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["kind"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

struct TestClock {
    path: std::path::PathBuf,
    t0: jiff::Timestamp,
}

impl TestClock {
    fn set_hours(&self, hours: f64) {
        let t = self
            .t0
            .checked_add(jiff::SignedDuration::from_secs_f64(hours * 3600.0))
            .unwrap();
        std::fs::write(&self.path, t.to_string()).unwrap();
    }
}

fn gc(w: &World) {
    // The admin runs one reconciler pass now (the timer would do the same).
    ok(w.ctl_as(w.users.last().unwrap(), &["gc"]));
}

fn notices(w: &World, user: &TestUser) -> Vec<Notice> {
    serde_json::from_str(&ok(w.ctl_as(user, &["--json", "notices"]))).unwrap()
}

#[host_test]
fn idle_stop_and_destroy_warn_once_at_exact_thresholds_and_keep_postpones() {
    let sink = WebhookSink::start();
    let dir = tempfile::tempdir().unwrap();
    let clock_path = dir.path().join("now");
    let webhook_file = dir.path().join("notify-webhook-url");
    std::fs::write(&webhook_file, format!("{}\n", sink.url)).unwrap();
    // The test clock runs a day ahead of the wall clock, so the entrypoint's own (wall clock)
    // activity reports are older than every fake time and do not move the deadlines.
    let t0 = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 86_400).unwrap();
    let clock = TestClock {
        path: clock_path.clone(),
        t0,
    };
    clock.set_hours(0.0);
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "testHooks": true,
                "testClockFile": clock_path,
                "reconcileIntervalSecs": 3600,
                // The URL is a secret: a credential file, as LoadCredential gives it.
                "notifyWebhookFile": webhook_file,
            }),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let a = w.user(0);
    let name = w.name("idle");
    ok(w.ctl_as(a, &["create", &name]));

    // The plan: stop at t0 + 7 d, warned 24 h before.
    let plan: LifecyclePlan =
        serde_json::from_str(&ok(w.ctl_as(a, &["--json", "gc", "--dry-run"]))).unwrap();
    let item = &plan.containers[0];
    let stop_at = t0
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .unwrap();
    assert_eq!(item.next.as_ref().unwrap().action, "stop");
    assert_eq!(item.next.as_ref().unwrap().at, stop_at.to_string());
    assert_eq!(item.notices.len(), 1);
    assert_eq!(item.notices[0].hours_before, 24);
    // People read minutes and a distance from the daemon's "now" (the test clock here).
    let stop_at_human = stop_at.strftime("%Y-%m-%d %H:%M UTC").to_string();
    let human = ok(w.ctl_as(a, &["gc", "--dry-run"]));
    assert!(
        human.contains(&format!("stop at {stop_at_human} (in 7d 0h)")),
        "{human}"
    );
    let status = ok(w.ctl_as(a, &["status", &name]));
    assert!(
        status.contains(&format!("automatic: stop at {stop_at_human} (")),
        "{status}"
    );
    // Only admins run passes by hand.
    fails(w.ctl_as(a, &["gc"]), 4);

    // One second before the warning threshold: nothing.
    clock.set_hours(6.0 * 24.0 - 1.0 / 3600.0);
    gc(&w);
    assert!(notices(&w, a).is_empty());
    assert!(sink.kinds().is_empty());
    // Exactly at it: one warning, by every channel; a second pass does not repeat it.
    clock.set_hours(6.0 * 24.0);
    gc(&w);
    gc(&w);
    let n = notices(&w, a);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].kind, NoticeKind::StopWarning);
    assert_eq!(n[0].deadline.as_deref(), Some(stop_at.to_string().as_str()));
    poll_until(Duration::from_secs(10), "webhook", || {
        (sink.kinds().len() == 1).then_some(())
    })
    .unwrap();
    let body = sink.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["container"], name.as_str());
    assert_eq!(body["owner"], a.name.as_str());
    assert_eq!(body["email"], format!("{}@example.org", a.name));
    // Every command shows it (stderr); the login hook prints it.
    let list = w.ctl_as(a, &["list"]);
    assert!(
        stderr(&list).contains("will be stopped"),
        "{}",
        stderr(&list)
    );
    let login = ok(w.ctl_as(a, &["notices", "--login"]));
    assert!(
        login.contains(&format!("devbox-ctl keep {name}")),
        "{login}"
    );
    // Other users do not see it.
    assert!(notices(&w, w.user(1)).is_empty());

    // Activity in the middle: keep resets the idle clock and clears the warning.
    clock.set_hours(6.0 * 24.0 + 1.0);
    ok(w.ctl_as(a, &["keep", &name]));
    assert!(notices(&w, a).is_empty());
    let stop_at2 = t0
        .checked_add(jiff::SignedDuration::from_hours(13 * 24 + 1))
        .unwrap();
    clock.set_hours(7.0 * 24.0 + 1.0); // the old deadline has passed: nothing happens
    gc(&w);
    assert_eq!(podman_state(&name).as_deref(), Some("running"));
    assert_eq!(sink.kinds().len(), 1);
    clock.set_hours(12.0 * 24.0 + 1.0);
    gc(&w);
    assert_eq!(notices(&w, a).len(), 1);
    assert_eq!(
        notices(&w, a)[0].deadline.as_deref(),
        Some(stop_at2.to_string().as_str())
    );
    // At the deadline: stopped, with a notice.
    clock.set_hours(13.0 * 24.0 + 1.0);
    gc(&w);
    assert_ne!(podman_state(&name).as_deref(), Some("running"));
    let n = notices(&w, a);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].kind, NoticeKind::Stopped);

    // Stopped: destroyed 14 d later, warned 72 h and 24 h before.
    let destroy_h = 13.0 * 24.0 + 1.0 + 14.0 * 24.0;
    clock.set_hours(destroy_h - 72.0 - 1.0 / 3600.0);
    gc(&w);
    assert_eq!(sink.kinds().len(), 3, "{:?}", sink.kinds());
    clock.set_hours(destroy_h - 72.0);
    gc(&w);
    gc(&w);
    clock.set_hours(destroy_h - 24.0);
    gc(&w);
    gc(&w);
    let n = notices(&w, a);
    assert_eq!(n.len(), 1, "one current warning: {n:?}");
    assert_eq!(n[0].kind, NoticeKind::DestroyWarning);
    assert!(podman_state(&name).is_some());
    clock.set_hours(destroy_h);
    gc(&w);
    assert!(podman_state(&name).is_none());
    assert!(!volume_exists(&format!("devbox-home-{name}")));
    let n = notices(&w, a);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].kind, NoticeKind::Destroyed);
    poll_until(Duration::from_secs(10), "webhooks", || {
        (sink.kinds().len() == 6).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", sink.kinds()));
    assert_eq!(
        sink.kinds(),
        [
            "stop-warning",
            "stop-warning",
            "stopped",
            "destroy-warning",
            "destroy-warning",
            "destroyed"
        ]
    );
    let log = w.daemon_log();
    assert!(log.contains("auto-stop") && log.contains("auto-destroy"));
}

// ------------------------------------------------------------------ tailnet cleanup

fn devices(control: &std::path::Path) -> Vec<(String, String)> {
    devbox_test_kit::fake_tailscale::Control::at(control)
        .list_devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.hostname, d.name))
        .collect()
}

#[host_test]
fn destroyed_containers_leave_no_tailnet_devices_and_names_never_get_suffixes() {
    // One fake tailnet shared by the containers (bind mount) and the fake Tailscale API.
    let tailnet = tempfile::tempdir().unwrap();
    let control = tailnet.path().join("control.json");
    let api_key = format!("tskey-api-CANARY{}", std::process::id());
    let key_file = tailnet.path().join("api-key");
    std::fs::write(&key_file, &api_key).unwrap();
    let api = FakeTailscaleApi::start("127.0.0.1:0", &control, &key_file).unwrap();
    let api_ref = "op://DevBox/tailscale-api-key/credential";
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "testHooks": true,
                "userns": "",
                "testBindMounts": [format!("{}:/var/lib/fake-tailscale", tailnet.path().display())],
                "tailscaleApiUrl": api.url,
                "tailnet": "example.com",
            }),
            extra_policy: serde_json::json!({"tailscaleApiKeyRef": api_ref}),
            extra_items: vec![(api_ref.to_string(), api_key.clone())],
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let a = w.user(0);
    let admin = w.user(1);
    let names: Vec<String> = (0..3).map(|i| w.name(&format!("tn{i}"))).collect();
    for n in &names {
        ok(w.ctl_as(a, &["create", n, "--another"]));
    }
    let no_suffix = |when: &str| {
        let devs = devices(&control);
        for (host, name) in &devs {
            assert_eq!(host, name, "{when}: a device got a suffixed name: {devs:?}");
        }
        devs
    };
    assert_eq!(no_suffix("after create").len(), 3);

    // Stop/start cycles: logout removes the ephemeral node, the name comes back unchanged.
    for _ in 0..2 {
        ok(w.ctl_as(a, &["stop", &names[0]]));
        assert!(!devices(&control).iter().any(|(h, _)| h == &names[0]));
        ok(w.ctl_as(a, &["start", &names[0]]));
        no_suffix("after stop/start");
    }
    // Killed without logging out (the node stays behind), started again: still no suffix.
    podman_kill(&names[1]);
    assert!(devices(&control).iter().any(|(h, _)| h == &names[1]));
    ok(w.ctl_as(a, &["start", &names[1]]));
    assert_eq!(no_suffix("after kill/start").len(), 3);

    // Killed, then destroyed: the API removes the node the container could not log out.
    podman_kill(&names[1]);
    ok(w.ctl_as(a, &["destroy", &names[1], "--yes"]));
    assert!(!devices(&control).iter().any(|(h, _)| h == &names[1]));

    // The API is down during a destroy: the cleanup is recorded, shown, and retried.
    let port = api.url.rsplit(':').next().unwrap().to_string();
    drop(api);
    podman_kill(&names[2]);
    let out = ok(w.ctl_as(a, &["destroy", &names[2], "--yes"]));
    assert!(devices(&control).iter().any(|(h, _)| h == &names[2]));
    let n = notices(&w, a);
    assert!(
        n.iter()
            .any(|x| x.kind == NoticeKind::CleanupFailed && x.container == names[2]),
        "{n:?} {out}"
    );
    let plan: LifecyclePlan =
        serde_json::from_str(&ok(w.ctl_as(admin, &["--json", "gc", "--dry-run", "--all"])))
            .unwrap();
    assert_eq!(plan.pending_cleanups.len(), 1, "{plan:?}");
    assert_eq!(plan.pending_cleanups[0].name, names[2]);
    let _api = FakeTailscaleApi::start(&format!("127.0.0.1:{port}"), &control, &key_file).unwrap();
    gc(&w);
    let plan: LifecyclePlan =
        serde_json::from_str(&ok(w.ctl_as(admin, &["--json", "gc", "--dry-run", "--all"])))
            .unwrap();
    assert!(plan.pending_cleanups.is_empty(), "{plan:?}");
    assert!(notices(&w, a).is_empty());

    ok(w.ctl_as(a, &["destroy", &names[0], "--yes"]));
    assert_eq!(devices(&control), vec![], "devices remain");
    // The API key never shows up in the daemon's log or state.
    assert!(!w.daemon_log().contains(&api_key));
    assert!(!std::fs::read_to_string(w.state_dir.join("state.json"))
        .unwrap_or_default()
        .contains(&api_key));
}

#[host_test]
fn activity_reported_by_the_entrypoint_moves_the_idle_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let clock_path = dir.path().join("now");
    // Created "three days ago" by the daemon's clock.
    let t0 = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 3 * 86_400).unwrap();
    let clock = TestClock {
        path: clock_path.clone(),
        t0,
    };
    clock.set_hours(0.0);
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({"testHooks": true, "testClockFile": clock_path}),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let a = w.user(0);
    let name = w.name("act");
    ok(w.ctl_as(a, &["create", &name]));
    let plan = |w: &World| -> LifecyclePlan {
        serde_json::from_str(&ok(w.ctl_as(a, &["--json", "gc", "--dry-run"]))).unwrap()
    };
    let first = plan(&w).containers[0].next.clone().unwrap();
    assert_eq!(
        first.at,
        t0.checked_add(jiff::SignedDuration::from_hours(7 * 24))
            .unwrap()
            .to_string()
    );

    // A Zed client connects (the remote server's `proxy` runs while the client is attached).
    let mut session = devbox_test_kit::host_program("podman")
        .args([
            "exec",
            "-i",
            &name,
            "/opt/devbox/zed-remote-server",
            "proxy",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = poll_until(Duration::from_secs(60), "entrypoint activity", || {
        let o = Command::new("timeout")
            .args([
                "30",
                "podman",
                "exec",
                &name,
                "devbox-entrypoint",
                "status",
                "--json",
            ])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v["lastActivity"].as_str().map(str::to_string)
    });
    drop(session.stdin.take());
    let _ = session.kill();
    let _ = session.wait();
    let seen: jiff::Timestamp = seen.unwrap().parse().unwrap();

    // The daemon's next pass records it, and the idle clock starts again from it.
    std::fs::write(&clock_path, seen.to_string()).unwrap();
    gc(&w);
    let item = plan(&w).containers[0].clone();
    let recorded: jiff::Timestamp = item.last_activity.unwrap().parse().unwrap();
    assert!(recorded >= seen, "{recorded} < {seen}");
    assert_eq!(
        item.next.unwrap().at,
        recorded
            .checked_add(jiff::SignedDuration::from_hours(7 * 24))
            .unwrap()
            .to_string()
    );
    assert_eq!(podman_state(&name).as_deref(), Some("running"));
}

#[host_test]
fn every_start_restarts_the_idle_clock_admin_and_reconciler_included() {
    let dir = tempfile::tempdir().unwrap();
    let clock_path = dir.path().join("now");
    // A day ahead of the wall clock: the entrypoint's own activity reports never move deadlines.
    let t0 = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 86_400).unwrap();
    let clock = TestClock {
        path: clock_path.clone(),
        t0,
    };
    clock.set_hours(0.0);
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "testHooks": true,
                "testClockFile": clock_path,
                "reconcileIntervalSecs": 3600,
            }),
            ready_timeout_secs: READY_SECS,
            ..Options::default()
        },
    );
    let (a, admin) = (w.user(0), w.user(1));
    let name = w.name("clock");
    ok(w.ctl_as(a, &["create", &name]));
    let next_stop = |w: &World| -> String {
        let plan: LifecyclePlan =
            serde_json::from_str(&ok(w.ctl_as(a, &["--json", "gc", "--dry-run"]))).unwrap();
        let next = plan.containers[0].next.clone().unwrap();
        assert_eq!(next.action, "stop");
        next.at
    };
    let at_hours = |h: i64| {
        t0.checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
            .to_string()
    };
    assert_eq!(next_stop(&w), at_hours(7 * 24));

    // 8 days without activity (no pass ran meanwhile); an admin stops and starts it.
    clock.set_hours(8.0 * 24.0);
    ok(w.ctl_as(admin, &["stop", &name]));
    ok(w.ctl_as(admin, &["start", &name]));
    assert_eq!(next_stop(&w), at_hours(15 * 24), "an admin's start");
    clock.set_hours(8.0 * 24.0 + 1.0);
    gc(&w);
    assert_eq!(
        podman_state(&name).as_deref(),
        Some("running"),
        "stopped right after an admin started it\n{}",
        w.daemon_log()
    );

    // Idle again beyond 7 days; the container dies and the reconciler starts it again.
    clock.set_hours(16.0 * 24.0);
    podman_kill(&name);
    poll_until(Duration::from_secs(60), "container killed", || {
        (podman_state(&name).as_deref() != Some("running")).then_some(())
    })
    .unwrap();
    gc(&w);
    assert_eq!(
        podman_state(&name).as_deref(),
        Some("running"),
        "the reconciler's start was followed by an idle stop\n{}",
        w.daemon_log()
    );
    assert_eq!(next_stop(&w), at_hours(23 * 24), "the reconciler's start");
    assert!(
        notices(&w, a).iter().all(|n| n.kind != NoticeKind::Stopped),
        "{:?}",
        notices(&w, a)
    );
}
