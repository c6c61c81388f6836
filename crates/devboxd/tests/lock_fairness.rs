//! Denial of service: every operation on a container holds that container's lock. A request
//! by someone who may not act on the container must be refused without queueing for that lock,
//! or another user could keep the owner's operations waiting behind a stream of refused
//! requests (and pile up tasks in the daemon while doing so). Real daemon, Podman and users.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use devbox_test_kit::poll_until;

#[host_test]
fn a_stranger_is_refused_at_once_while_the_owner_holds_the_container_lock() {
    // Every 1Password read takes 4 s: a start holds the container's lock at least that long.
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            op_delay_ms: 4000,
            ..Options::default()
        },
    );
    let (a, b) = (w.user(0), w.user(1));
    let name = w.name("fair");
    ok(w.ctl_as(a, &["create", &name, "--no-start"]));

    std::thread::scope(|s| {
        let start = s.spawn(|| w.ctl_as(a, &["start", &name]));
        // The start is fetching the key (fake-op logs each call as it begins).
        poll_until(Duration::from_secs(20), "the start's op read", || {
            std::fs::read_to_string(&w.op_log)
                .ok()
                .filter(|l| l.contains("read"))
        })
        .unwrap();
        for args in [
            vec!["stop", name.as_str()],
            vec!["keep", name.as_str()],
            vec!["rotate-key", name.as_str()],
            vec!["destroy", name.as_str(), "--yes"],
        ] {
            let t = Instant::now();
            let e = fails(w.ctl_as(b, &args), 4);
            let took = t.elapsed();
            assert!(e.contains("belongs to another user"), "{args:?}: {e}");
            assert!(
                took < Duration::from_secs(2),
                "{args:?} by a stranger waited {took:?} for the owner's lock"
            );
        }
        ok(start.join().unwrap());
    });
    ok(w.ctl_as(a, &["destroy", &name, "--yes"]));
}
