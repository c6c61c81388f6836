//! Denial of service: every operation on a container name takes that name's lock. The table of
//! locks must not keep an entry for every name anyone ever asked about (any user can send
//! `stop NAME` for millions of made-up names, and the daemon's memory would only grow). Real
//! Podman answers the lookups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use devbox_api::ErrorCode;
use devboxd::clock::SystemClock;
use devboxd::podman::Podman;
use devboxd::secrets::OpCli;
use devboxd::service::{Service, Settings};
use devboxd::state::StateStore;
use devboxd::users::Users;

#[host_test]
fn asking_about_many_names_leaves_no_lock_behind() {
    let dir = tempfile::tempdir().unwrap();
    let podman = PodmanService::start(dir.path());
    let users = Users::parse(
        &serde_json::json!({
            "users": {
                "alice": {"uid": 4242, "description": "Alice", "email": "alice@example.org",
                          "gitUser": "alice", "isAdmin": false, "sshKeys": [ssh_key(0)], "extraGroups": []},
                "root2": {"uid": 4243, "description": "Admin", "email": "admin@example.org",
                          "gitUser": "admin", "isAdmin": true, "sshKeys": [ssh_key(1)], "extraGroups": []}
            },
            "containers": {
                "opVault": "DevBox", "maxPerUser": 2, "maxGlobal": 4, "defaultCpu": 1,
                "defaultMemory": "1G", "idleStopDays": 7, "stoppedDestroyDays": 14
            },
            "derived": {
                "allUsers": ["alice", "root2"], "adminUsers": ["root2"],
                "perUser": {
                    "alice": {"opReference": "op://DevBox/alice-tailscale-authkey/password",
                              "tailscaleTags": ["tag:devcontainer", "tag:alice-container"]},
                    "root2": {"opReference": "op://DevBox/root2-tailscale-authkey/password",
                              "tailscaleTags": ["tag:devcontainer", "tag:root2-container"]}
                }
            }
        })
        .to_string(),
    )
    .unwrap();
    let alice = users.caller(4242).unwrap();
    let service = Service::new(
        Podman::new(&podman.socket),
        OpCli {
            command: devbox_test_kit::bin_path("fake-op").unwrap(),
            token_file: None,
            timeout: Duration::from_secs(10),
        },
        SystemClock,
        users,
        Settings {
            instance: format!("locks{}", std::process::id()),
            ..Settings::default()
        },
        StateStore::new(&dir.path().join("state")),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let noop = |_: &str| {};
    for i in 0..300 {
        let name = format!("made-up-{i}-{}", std::process::id());
        let e = rt.block_on(service.stop(&alice, &name, &noop)).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound, "{e:?}");
        let e = rt.block_on(service.keep(&alice, &name)).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound, "{e:?}");
    }
    assert!(
        service.tracked_container_locks() <= 1,
        "{} locks kept after 600 requests about 300 names nobody holds",
        service.tracked_container_locks()
    );
}
