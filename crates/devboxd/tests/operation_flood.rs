//! Denial of service: long operations go on after the client disconnects, and most of them call
//! 1Password (one service account shared by every user, rate limited) and exec into a container.
//! One user must not be able to queue them without bound. Real daemon, Podman, users.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[host_test]
fn one_user_cannot_queue_unbounded_operations() {
    // Each 1Password read takes a second: rotations of one container queue on its lock.
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            op_delay_ms: 1000,
            ..Options::default()
        },
    );
    let a = w.user(0);
    let name = w.name("flood");
    ok(w.ctl_as(a, &["create", &name]));
    let reads_before = std::fs::read_to_string(&w.op_log)
        .unwrap_or_default()
        .lines()
        .count();

    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|_| s.spawn(|| w.ctl_as(a, &["rotate-key", &name])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let done = outs.iter().filter(|o| o.status.success()).count();
    let refused: Vec<String> = outs
        .iter()
        .filter(|o| o.status.code() == Some(7))
        .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
        .collect();
    assert_eq!(done + refused.len(), 20, "{outs:?}");
    assert!(
        (1..=8).contains(&done),
        "{done} of 20 queued rotations ran (at most 8 may be in flight)"
    );
    assert!(
        refused.iter().all(|e| e.contains("operations in progress")),
        "{refused:?}"
    );
    let reads = std::fs::read_to_string(&w.op_log)
        .unwrap_or_default()
        .lines()
        .count()
        - reads_before;
    assert_eq!(reads, done, "1Password reads for the rotations");
    // Once they are done, the user may go on.
    ok(w.ctl_as(a, &["rotate-key", &name]));
    ok(w.ctl_as(a, &["destroy", &name, "--yes"]));
}
