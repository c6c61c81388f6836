#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Stopping devbox-entrypoint in a real Podman container: fast, in order, every service
//! stopped, SIGKILL after the grace period; and what survives a restart. In their own test
//! binary so the stop timings are not measured while other containers start in parallel.

mod common;

use std::time::{Duration, Instant};

use common::DevBox;
use devbox_entrypoint::status::ServiceState;
use devbox_test_kit::podman::podman;
use devbox_test_kit::{host_test, poll_until};

fn running(st: &devbox_entrypoint::status::Status, name: &str) -> bool {
    st.service(name)
        .is_some_and(|s| s.state == ServiceState::Running && s.pid.is_some())
}

#[host_test]
fn stop_is_fast_and_a_restart_keeps_the_volume_and_syncthing_identity() {
    let b = DevBox::start("ep-stop", &["--userns=auto", "-e", "DEVBOX_SYNCTHING=true"]);
    let st = b.wait_for("syncthing identity", |s| {
        s.syncthing.device_id.is_some() && running(s, "code-server") && running(s, "syncthing")
    });
    let device = st.syncthing.device_id.clone().unwrap();
    // A code-server client heartbeat is user activity; it is persisted on the volume.
    b.exec("wget -qO- http://127.0.0.1:8080/ >/dev/null; echo data > /home/dev/keep.txt");
    let st = b.wait_for("activity seen", |s| s.last_activity.is_some());
    assert_eq!(st.last_activity_source.as_deref(), Some("code-server"));
    let activity = st.last_activity.clone();
    // Measure the stop of a container that is fully up: Syncthing reports its device ID before it
    // has finished opening its database, and one stopped in the middle of that (first start,
    // migrations) was seen to take more than 2 s to exit after printing "Exiting".
    poll_until(
        Duration::from_secs(30),
        "Syncthing ready to synchronize",
        || b.logs().contains("Ready to synchronize").then_some(()),
    )
    .unwrap();
    let rss_kb: u64 = b
        .exec("awk '/VmRSS/ {print $2}' /proc/1/status")
        .parse()
        .unwrap();
    println!("PID 1 RSS: {rss_kb} kB");
    assert!(rss_kb < 10 * 1024, "PID 1 RSS {rss_kb} kB");

    let t = Instant::now();
    podman(&["stop", "-t", "10", &b.name]).unwrap();
    let took = t.elapsed();
    println!("podman stop took {took:?}");
    let exit = podman(&["inspect", "--format", "{{.State.ExitCode}}", &b.name]).unwrap();
    let logs = b.logs();
    assert!(
        took < Duration::from_millis(2000),
        "podman stop took {took:?}\n{logs}"
    );
    assert_eq!(exit, "0", "{logs}");
    for svc in ["code-server", "syncthing", "tailscaled"] {
        assert!(
            logs.contains(&format!("[{svc}] stopped")),
            "{svc} not stopped:\n{logs}"
        );
    }
    assert!(logs.contains("[entrypoint] stopped (exit 0)"));

    // Restart: same volume, same Syncthing identity, last activity kept.
    podman(&["start", &b.name]).unwrap();
    let st = b.wait_for("identity after restart", |s| {
        s.syncthing.device_id.is_some()
    });
    assert_eq!(st.syncthing.device_id.as_deref(), Some(device.as_str()));
    assert_eq!(st.last_activity, activity);
    assert_eq!(b.exec("cat /home/dev/keep.txt"), "data");

    // Re-creation with the same volume keeps them too.
    // (Podman 4.3 with --userns=auto sometimes reports the shm mount busy right after a
    // stop; removal succeeds on a retry.)
    podman(&["stop", "-t", "10", &b.name]).unwrap();
    poll_until(Duration::from_secs(20), "container removed", || {
        podman(&["rm", "-f", &b.name]).ok()
    })
    .unwrap();
    b.create_and_start(&["--userns=auto", "-e", "DEVBOX_SYNCTHING=true"]);
    let st = b.wait_for("identity after re-creation", |s| {
        s.syncthing.device_id.is_some()
    });
    assert_eq!(st.syncthing.device_id.as_deref(), Some(device.as_str()));
    assert_eq!(b.exec("cat /home/dev/keep.txt"), "data");
    assert_eq!(b.exec("stat -c %u /home/dev"), "1000");
}

#[host_test]
fn a_service_deaf_to_sigterm_is_killed_after_the_grace_period() {
    let b = DevBox::start(
        "ep-deaf",
        &[
            "-e",
            "FAKE_CODE_SERVER_IGNORE_SIGTERM=1",
            "-e",
            "DEVBOX_STOP_GRACE_MS=600",
        ],
    );
    b.wait_for("code-server up", |s| running(s, "code-server"));
    // SIGHUP is forwarded to the services (the fake code-server's default action: exit),
    // and the crash is restarted like any other.
    podman(&["kill", "--signal", "HUP", &b.name]).unwrap();
    b.wait_for("restart after forwarded SIGHUP", |s| {
        running(s, "code-server") && s.service("code-server").unwrap().restarts == 1
    });
    let t = Instant::now();
    podman(&["stop", "-t", "10", &b.name]).unwrap();
    let took = t.elapsed();
    let logs = b.logs();
    assert!(
        took < Duration::from_millis(2000),
        "stop took {took:?}\n{logs}"
    );
    assert!(
        logs.contains("[code-server] did not stop within the grace period: SIGKILL"),
        "{logs}"
    );
    assert!(
        logs.contains("[tailscaled] stopped (exited with status 0)"),
        "{logs}"
    );
    let exit = podman(&["inspect", "--format", "{{.State.ExitCode}}", &b.name]).unwrap();
    assert_eq!(exit, "1", "a SIGKILL during stop is exit 1");
}
