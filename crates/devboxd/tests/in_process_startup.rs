//! The daemon's start-up reconcile runs while users already talk to the daemon, in-process on
//! the FAKE engine (no root, no Podman).
//!
//! Found on real Podman under load (reconcile.rs, exact_objects.rs failing now and then): the
//! start-up pass read the state, saw the journal entry of a create THIS daemon was making, waited
//! for that container's lock, and then undid the create that had meanwhile finished — the user
//! was told "created" and the container was gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_world;

use std::time::Duration;

use devbox_api::DesiredState;
use fake_world::*;

#[tokio::test]
async fn the_start_up_reconcile_never_undoes_a_create_this_daemon_is_making() {
    let world = FakeWorld::new();
    // Every engine call takes a moment, so the create is still under way when the pass starts.
    world.engine.set_latency(Duration::from_millis(20));
    let svc = world.service();
    let alice = caller("alice");
    let request = req("web");
    let create = svc.create(&alice, &request, &quiet);
    let reconcile = async {
        // Start the pass once the create is journaled (made, not yet committed).
        loop {
            let pending = world
                .state()
                .containers
                .get("web")
                .is_some_and(|e| e.pending_create.is_some());
            if pending {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        svc.reconcile_at_start().await
    };
    let (created, reconciled) = tokio::join!(create, reconcile);
    created.unwrap();
    reconciled.unwrap();
    world.assert_whole("web", "running", DesiredState::Running, "after both");
    // And it stays: the next pass agrees.
    svc.reconcile_pass(true).await.unwrap();
    world.assert_whole(
        "web",
        "running",
        DesiredState::Running,
        "after a second pass",
    );
}

/// A create journaled by an earlier daemon (it died mid-create) is still undone at start.
#[tokio::test]
async fn a_create_an_earlier_daemon_left_unfinished_is_undone_at_start() {
    let world = FakeWorld::new();
    // The earlier daemon never got an answer to its container start (it died there).
    world.engine.set_latency(Duration::from_millis(5));
    {
        let svc = world.service();
        let (alice, request) = (caller("alice"), req("web"));
        let create = svc.create(&alice, &request, &quiet);
        let cut = async {
            loop {
                if world.engine.containers().iter().any(|c| c.name == "web") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::select! {
            _ = create => panic!("the create finished before it could be cut"),
            () = cut => {}
        }
    }
    assert!(world.state().containers["web"].pending_create.is_some());
    let svc = world.service();
    svc.reconcile_at_start().await.unwrap();
    world.assert_nothing_of("web", "after the start-up reconcile");
}
