//! Quotas under concurrency, in-process on the FAKE engine (no root, no Podman): N concurrent
//! creates never exceed the per-user limit (5) or the global one (7), and the counts are exact.
//! Every engine call takes a millisecond (as Podman's do), so the creates overlap: with
//! devboxd's admission lock taken out, these tests saw 9 of 9 and 15 of 15 creates succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_world;

use std::sync::Arc;
use std::time::Duration;

use devbox_api::{ContainerStatus, ErrorCode};
use fake_world::*;

/// Fires every (user, name) create at once on a multi-threaded runtime; returns the answers.
async fn create_all(
    svc: &Arc<FakeService>,
    wanted: &[(&str, String)],
) -> Vec<(String, Result<ContainerStatus, devbox_api::ApiError>)> {
    let tasks: Vec<_> = wanted
        .iter()
        .map(|(user, name)| {
            let svc = svc.clone();
            let (caller, r) = (caller(user), req(name));
            tokio::spawn(
                async move { (caller.user.clone(), svc.create(&caller, &r, &quiet).await) },
            )
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count_owned(world: &FakeWorld, user: &str) -> usize {
    world
        .engine
        .containers()
        .iter()
        .filter(|c| c.labels.get("devbox.owner").map(String::as_str) == Some(user))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_user_stop_at_exactly_the_per_user_limit() {
    let world = FakeWorld::new();
    world.engine.set_latency(Duration::from_millis(1));
    let svc = Arc::new(world.service());
    let wanted: Vec<(&str, String)> = (0..9).map(|i| ("alice", format!("a{i}"))).collect();
    let answers = create_all(&svc, &wanted).await;
    let made = answers.iter().filter(|(_, r)| r.is_ok()).count();
    let refused: Vec<_> = answers.iter().filter_map(|(_, r)| code(r)).collect();
    assert_eq!(made, 5, "{answers:?}");
    assert_eq!(refused, vec![ErrorCode::QuotaExceeded; 4]);
    assert_eq!(world.engine.containers().len(), 5);
    assert_eq!(managed_volumes(&world.engine).len(), 5);
    assert_eq!(world.engine.networks().len(), 5);
    // The isolation rules name exactly the five bridges.
    let rules = world.ruleset();
    for n in world.engine.networks() {
        assert!(rules.contains(&format!("\"{}\"", n.interface)), "{rules}");
    }
    assert!(!rules.contains("\"podman6\""), "{rules}");
    let state = world.state();
    assert_eq!(state.containers.len(), 5);
    assert!(state
        .containers
        .values()
        .all(|e| e.pending_create.is_none()));
    // The refused ones left nothing: every container's name is one that was answered Ok.
    for c in world.engine.containers() {
        assert!(answers
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|s| s.container.name == c.name)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_everyone_stop_at_exactly_the_global_limit() {
    let world = FakeWorld::new();
    world.engine.set_latency(Duration::from_millis(1));
    let svc = Arc::new(world.service());
    let mut wanted: Vec<(&str, String)> = Vec::new();
    for user in ["alice", "bob", "dave"] {
        for i in 0..5 {
            wanted.push((user, format!("{user}{i}")));
        }
    }
    let answers = create_all(&svc, &wanted).await;
    let made = answers.iter().filter(|(_, r)| r.is_ok()).count();
    assert_eq!(made, 7, "{answers:?}");
    let refused: Vec<_> = answers.iter().filter_map(|(_, r)| code(r)).collect();
    assert_eq!(refused, vec![ErrorCode::QuotaExceeded; 8], "{answers:?}");
    assert_eq!(world.engine.containers().len(), 7);
    assert_eq!(managed_volumes(&world.engine).len(), 7);
    assert_eq!(world.engine.networks().len(), 7);
    assert_eq!(world.state().containers.len(), 7);
    for user in ["alice", "bob", "dave"] {
        assert!(count_owned(&world, user) <= 5);
    }

    // Full: one more is refused, for anyone; a destroy frees exactly one place.
    let carol = caller("carol");
    let e = svc.create(&carol, &req("extra"), &quiet).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::QuotaExceeded, "{e:?}");
    let (owner, victim) = answers
        .iter()
        .find_map(|(u, r)| {
            r.as_ref()
                .ok()
                .map(|s| (u.clone(), s.container.name.clone()))
        })
        .unwrap();
    svc.destroy(&caller(&owner), &victim, false, &quiet)
        .await
        .unwrap();
    let again = create_all(&svc, &[("carol", "c1".into()), ("carol", "c2".into())]).await;
    assert_eq!(
        again.iter().filter(|(_, r)| r.is_ok()).count(),
        1,
        "{again:?}"
    );
    assert_eq!(world.engine.containers().len(), 7);
}

/// Creating a second container needs a confirmation; a taken name (anyone's) is refused.
#[tokio::test]
async fn a_second_container_needs_confirmation_and_names_are_unique() {
    let world = FakeWorld::new();
    let svc = world.service();
    let alice = caller("alice");
    svc.create(&alice, &req("web"), &quiet).await.unwrap();
    let mut r = req("second");
    r.confirm_another = false;
    let e = svc.create(&alice, &r, &quiet).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NeedsConfirmation, "{e:?}");
    let e = svc
        .create(&caller("bob"), &req("web"), &quiet)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict, "{e:?}");
    assert_eq!(world.engine.containers().len(), 1);
}
