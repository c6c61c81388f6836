//! Authorization, in-process on the FAKE engine (no root, no Podman, no Unix accounts): users
//! manage only their own containers, admins (users.nix `isAdmin`) manage all, callers the
//! users file does not know are refused, and a name is not an identity (name AND uid).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_world;

use devbox_api::{DesiredState, ErrorCode};
use devboxd::users::Users;
use fake_world::*;

#[tokio::test]
async fn users_manage_only_their_own_containers() {
    let world = FakeWorld::new();
    let svc = world.service();
    let (alice, bob) = (caller("alice"), caller("bob"));
    svc.create(&alice, &req("web"), &quiet).await.unwrap();
    let calls_before = world.engine.calls().len();

    let forbidden = |r: Result<(), devbox_api::ApiError>, what: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{what}: {e:?}");
    };
    forbidden(svc.stop(&bob, "web", &quiet).await.map(|_| ()), "stop");
    forbidden(
        svc.start(&bob, "web", None, &quiet).await.map(|_| ()),
        "start",
    );
    forbidden(
        svc.destroy(&bob, "web", false, &quiet).await.map(|_| ()),
        "destroy",
    );
    forbidden(svc.status(&bob, "web").await.map(|_| ()), "status");
    forbidden(
        svc.rotate_key(&bob, "web", true, None, &quiet)
            .await
            .map(|_| ()),
        "rotate-key",
    );
    forbidden(svc.keep(&bob, "web").await.map(|_| ()), "keep");
    forbidden(svc.logs(&bob, "web", false, None).await.map(|_| ()), "logs");
    forbidden(svc.list(&bob, true).await.map(|_| ()), "list --all");
    // Nothing but lookups happened, and alice's container is as it was.
    let acted: Vec<_> = world.engine.calls()[calls_before..]
        .iter()
        .filter(|c| !matches!(c.op, "find" | "inspect" | "list_by_labels"))
        .cloned()
        .collect();
    assert!(acted.is_empty(), "{acted:?}");
    world.assert_whole("web", "running", DesiredState::Running, "after bob");
    assert!(svc.list(&bob, false).await.unwrap().is_empty());
    assert_eq!(svc.list(&alice, false).await.unwrap().len(), 1);
    // bob's 1Password item was never read on alice's behalf, nor alice's for bob.
    assert!(world
        .secrets
        .read_references()
        .iter()
        .all(|r| r == &op_reference("alice")));
}

#[tokio::test]
async fn admins_manage_every_container() {
    let world = FakeWorld::new();
    let svc = world.service();
    let (alice, carol) = (caller("alice"), caller("carol"));
    assert!(carol.is_admin && !alice.is_admin);
    svc.create(&alice, &req("web"), &quiet).await.unwrap();
    svc.create(&alice, &req("db"), &quiet).await.unwrap();
    assert_eq!(svc.list(&carol, true).await.unwrap().len(), 2);
    assert!(
        svc.list(&carol, false).await.unwrap().is_empty(),
        "carol owns none"
    );
    svc.status(&carol, "web").await.unwrap();
    svc.stop(&carol, "web", &quiet).await.unwrap();
    world.assert_whole("web", "exited", DesiredState::Stopped, "admin stop");
    // An admin's start uses the OWNER's key, not the admin's.
    svc.start(&carol, "web", None, &quiet).await.unwrap();
    let last = world.secrets.read_references().last().cloned();
    assert_eq!(last, Some(op_reference("alice")));
    svc.destroy(&carol, "web", false, &quiet).await.unwrap();
    world.assert_nothing_of("web", "admin destroy");
    world.assert_whole("db", "running", DesiredState::Running, "untouched");
}

#[test]
fn callers_the_users_file_does_not_know_are_refused_and_root_is_admin() {
    let users = Users::parse(&users_json(USERS)).unwrap();
    assert_eq!(users.caller(4242), None);
    assert_eq!(users.caller(65534), None);
    assert!(users.caller(0).unwrap().is_admin);
    assert!(users.caller(1003).unwrap().is_admin, "carol: isAdmin");
    assert!(!users.caller(1001).unwrap().is_admin);
}

/// alice leaves users.nix and a new person gets the name with another uid: the old container
/// is not theirs (name AND uid), is refused to them, and the reconciler stops it as orphaned.
#[tokio::test]
async fn a_new_person_with_an_old_name_does_not_get_the_old_container() {
    let mut world = FakeWorld::new();
    let svc = world.service();
    svc.create(&caller("alice"), &req("web"), &quiet)
        .await
        .unwrap();
    drop(svc);
    let renumbered: Vec<(&str, u32, bool)> = USERS
        .iter()
        .map(|&(n, uid, a)| {
            if n == "alice" {
                (n, 2001, a)
            } else {
                (n, uid, a)
            }
        })
        .collect();
    world.users = users_json(&renumbered);
    let svc = world.service();
    let new_alice = Users::parse(&world.users).unwrap().caller(2001).unwrap();
    assert_eq!(new_alice.user, "alice");
    let e = svc.status(&new_alice, "web").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}");
    assert!(svc.list(&new_alice, false).await.unwrap().is_empty());
    svc.reconcile_pass(true).await.unwrap();
    world.assert_whole("web", "exited", DesiredState::Stopped, "orphan stopped");
    let e = svc
        .start(&caller("carol"), "web", None, &quiet)
        .await
        .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::Conflict,
        "an orphan is never started: {e:?}"
    );
}
