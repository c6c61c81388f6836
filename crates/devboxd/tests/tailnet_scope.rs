//! Security: the Tailscale API key is an admin credential for the whole tailnet. A devbox user
//! picks container names freely, so the daemon must only ever delete tailnet devices that are
//! this user's dev containers (they carry the owner's devbox tags), never another machine that
//! happens to have the same hostname (a NAS, a workstation, a server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use devbox_test_kit::fake_tailscale::{Control, Device};
use devbox_test_kit::fake_tailscale_api::FakeTailscaleApi;

fn device(id: &str, hostname: &str, tags: &[String]) -> Device {
    Device {
        id: id.into(),
        hostname: hostname.into(),
        name: hostname.into(),
        addresses: vec![],
        tags: tags.to_vec(),
        ephemeral: false,
        online: true,
        ssh: false,
    }
}

fn device_ids(control: &Control) -> Vec<String> {
    let mut ids: Vec<String> = control
        .list_devices()
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}

#[host_test]
fn destroy_deletes_only_the_owners_devbox_nodes_never_another_machine_of_that_name() {
    let tailnet = tempfile::tempdir().unwrap();
    let control_path = tailnet.path().join("control.json");
    let control = Control::at(&control_path);
    let api_key = format!("tskey-api-CANARY{}", std::process::id());
    let key_file = tailnet.path().join("api-key");
    std::fs::write(&key_file, &api_key).unwrap();
    let api = FakeTailscaleApi::start("127.0.0.1:0", &control_path, &key_file).unwrap();
    let api_ref = "op://DevBox/tailscale-api-key/credential";
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "tailscaleApiUrl": api.url,
                "tailnet": "example.com",
            }),
            extra_policy: serde_json::json!({"tailscaleApiKeyRef": api_ref}),
            extra_items: vec![(api_ref.to_string(), api_key.clone())],
            ..Options::default()
        },
    );
    let a = w.user(0);
    let b = w.user(1);
    let name = w.name("nas");
    let tags_of = |user: &str| {
        vec![
            "tag:devcontainer".to_string(),
            format!("tag:{user}-container"),
        ]
    };
    // The tailnet already has: the office NAS (untagged, owned by a person), a server with
    // its own tag, bob's dev container on another orchestrator, all with the hostname the
    // attacker is about to choose, and alice's stale node of that name (died without logout).
    control
        .update(|s, _| {
            s.devices.push(device("nas-real", &name, &[]));
            s.devices
                .push(device("server", &name, &["tag:server".to_string()]));
            s.devices.push(device("bob-node", &name, &tags_of(&b.name)));
            s.devices
                .push(device("alice-stale", &name, &tags_of(&a.name)));
        })
        .unwrap();

    // Alice makes (and never starts) a container of that name, then destroys it.
    ok(w.ctl_as(a, &["create", &name, "--no-start"]));
    ok(w.ctl_as(a, &["destroy", &name, "--yes"]));

    // Her own stale node is gone (the cleanup works) and nothing else was touched.
    assert_eq!(
        device_ids(&control),
        vec![
            "bob-node".to_string(),
            "nas-real".to_string(),
            "server".to_string()
        ],
        "the destroy deleted tailnet devices that are not alice's dev containers"
    );
    assert!(!w.daemon_log().contains(&api_key));
}
