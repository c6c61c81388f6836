//! Bad input and failing dependencies: each gets a clear error and an exit code, and nothing is
//! changed or left half made (no container, no volume, no key file).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use devbox_api::{Client, ClientError, CreateRequest, ErrorCode};

#[host_test]
fn invalid_names_cpu_memory_and_unknown_containers() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let alice = w.user(0);
    let long = "a".repeat(64);
    for (name, why) in [
        ("", "empty"),
        (long.as_str(), "at most 63"),
        ("Alice", "lowercase"),
        ("-lead", "hyphen"),
        ("trail-", "hyphen"),
        ("a;rm -rf", "contains"),
        ("$(id)", "contains"),
        ("a`b`", "contains"),
        ("аlice", "contains"),  // Cyrillic 'а'
        ("ａlice", "contains"), // fullwidth
        ("../etc", "contains"),
        ("a/b", "contains"),
        ("a.b", "contains"),
        ("123", "digits"),
    ] {
        let e = fails(w.ctl_as(alice, &["create", "--", name]), 2);
        assert!(e.contains(why), "{name:?}: {e}");
    }
    for (flag, value, why) in [
        ("--cpu", "0", "out of range"),
        ("--cpu", "-1", ""),
        ("--cpu", "two", "not a number"),
        ("--cpu", "1000", "out of range"),
        ("--memory", "4X", "not a size"),
        ("--memory", "1M", "out of range"),
        ("--memory", "lots", "not a size"),
    ] {
        let o = w.ctl_as(alice, &["create", &w.name("ok"), flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", both(&o));
        assert!(stderr(&o).contains(why), "{flag} {value}: {}", stderr(&o));
    }

    // The daemon validates too (a client that skips the CLI's checks gets the same answer).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(&w.socket);
    for (name, cpu, memory) in [
        ("Bad_Name", None, None),
        ("../../x", None, None),
        ("ok-name", Some(0.0), None),
        ("ok-name", Some(f64::MAX), None),
        ("ok-name", None, Some("9999T".to_string())),
        ("ok-name", None, Some("".to_string())),
    ] {
        let req = CreateRequest {
            name: name.into(),
            cpu,
            memory,
            syncthing: false,
            start: true,
            confirm_another: true,
            auth_key: None,
        };
        let r = rt.block_on(client.operation(
            devbox_api::client::Method::POST,
            "/v1/containers",
            Some(&req),
            |_| {},
        ));
        match r {
            Err(ClientError::Api(e)) => assert_eq!(e.code, ErrorCode::BadRequest, "{name}: {e}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A malformed key in the body is refused by the daemon too, without echoing it.
    for bad_key in ["", "two words", &"k".repeat(600)] {
        let r = rt.block_on(client.operation(
            devbox_api::client::Method::POST,
            "/v1/containers",
            Some(&serde_json::json!({"name": "ok-name", "authKey": bad_key})),
            |_| {},
        ));
        match r {
            Err(ClientError::Api(e)) => {
                assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
                assert!(e.message.contains("auth key"), "{e}");
                assert!(bad_key.is_empty() || !e.message.contains(bad_key), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Unknown fields and non-JSON are refused.
    let r = rt.block_on(client.operation(
        devbox_api::client::Method::POST,
        "/v1/containers",
        Some(&serde_json::json!({"name": "x", "privileged": true})),
        |_| {},
    ));
    assert!(
        matches!(r, Err(ClientError::Api(ref e)) if e.code == ErrorCode::BadRequest),
        "{r:?}"
    );

    // --json errors are JSON on stdout as well.
    let o = w.ctl_as(alice, &["--json", "status", "nope"]);
    assert_eq!(o.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["code"], "not-found");
    assert_eq!(v["error"]["exitCode"], 5);

    // Unknown containers.
    for op in [
        vec!["status", "nope"],
        vec!["start", "nope"],
        vec!["stop", "nope"],
        vec!["destroy", "nope", "--yes"],
        vec!["logs", "nope"],
        vec!["rotate-key", "nope"],
    ] {
        let e = fails(w.ctl_as(alice, &op), 5);
        assert!(e.contains("no dev container named \"nope\""), "{op:?}: {e}");
    }
    // A container Podman has but devbox does not manage is invisible to devbox.
    let foreign = w.name("foreign");
    ok(devbox_test_kit::host_program("podman")
        .args(["create", "--name", &foreign, &w.image])
        .output()
        .unwrap());
    let e = fails(w.ctl_root(&["destroy", &foreign, "--yes"]), 5);
    assert!(e.contains("no dev container"), "{e}");
    let e = fails(w.ctl_as(alice, &["create", &foreign]), 6);
    assert!(e.contains("taken"), "{e}");
    let _ = devbox_test_kit::host_program("podman")
        .args(["rm", "-f", &foreign])
        .output();

    assert!(w.podman_containers().is_empty());
    assert!(w.podman_volumes().is_empty());
}

#[host_test]
fn missing_key_token_image_or_podman_leave_nothing_behind() {
    // No item in 1Password for the users.
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            with_keys: false,
            ..Options::default()
        },
    );
    let e = fails(w.ctl_as(w.user(0), &["create", &w.name("nokey")]), 8);
    assert!(
        e.contains("could not fetch your Tailscale auth key") && e.contains("isn't an item"),
        "{e}"
    );
    assert!(w.podman_containers().is_empty());
    assert!(w.podman_volumes().is_empty());
    drop(w);

    // No service-account token file.
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            op_token: false,
            ..Options::default()
        },
    );
    let e = fails(w.ctl_as(w.user(0), &["create", &w.name("notoken")]), 8);
    assert!(e.contains("service-account token"), "{e}");
    assert!(w.podman_containers().is_empty() && w.podman_volumes().is_empty());
    let doctor = w.ctl_root(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(8), "{}", both(&doctor));
    assert!(
        stdout(&doctor).contains("FAIL 1password"),
        "{}",
        stdout(&doctor)
    );
    drop(w);

    // The image is missing.
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            image: Some("localhost/devbox-no-such-image:0".into()),
            ..Options::default()
        },
    );
    let e = fails(w.ctl_as(w.user(0), &["create", &w.name("noimg")]), 8);
    assert!(e.contains("is not on this orchestrator"), "{e}");
    assert!(w.podman_containers().is_empty() && w.podman_volumes().is_empty());
    assert!(stdout(&w.ctl_root(&["doctor"])).contains("FAIL image"));
    drop(w);

    // Podman's API service is down.
    let mut w = World::new(&[("a", false), ("m", true)], Options::default());
    let good = w.name("good");
    ok(w.ctl_as(w.user(0), &["create", &good, "--no-start"]));
    drop(std::mem::replace(
        &mut w.podman,
        PodmanService::dead(w.dir.path()),
    ));
    let e = fails(
        w.ctl_as(w.user(0), &["create", &w.name("nopod"), "--another"]),
        8,
    );
    assert!(e.contains("Podman is not available"), "{e}");
    let e = fails(w.ctl_as(w.user(0), &["list"]), 8);
    assert!(e.contains("Podman is not available"), "{e}");
    let doctor = w.ctl_root(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(8));
    assert!(
        stdout(&doctor).contains("FAIL podman") && stdout(&doctor).contains("fix:"),
        "{}",
        stdout(&doctor)
    );
    assert_eq!(w.podman_containers(), vec![good]);
}

#[host_test]
fn a_key_the_tailnet_refuses_rolls_the_create_back() {
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            ready_timeout_secs: 4,
            ..Options::default()
        },
    );
    // A key the (fake) control plane refuses: not an auth key.
    let store_path = w.dir.path().join("op-store.json");
    let mut store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    let reference = format!("op://DevBox/{}-tailscale-authkey/password", w.user(0).name);
    store["items"][&reference] = serde_json::Value::String("not-a-tailscale-key".into());
    std::fs::write(&store_path, store.to_string()).unwrap();

    let e = fails(w.ctl_as(w.user(0), &["create", &w.name("never")]), 8);
    assert!(e.contains("refused the key"), "{e}");
    assert!(w.podman_containers().is_empty(), "rolled back");
    assert!(w.podman_volumes().is_empty(), "rolled back");
    let state = std::fs::read_to_string(w.state_dir.join("state.json")).unwrap_or_default();
    assert!(!state.contains("never"), "{state}");
}

#[host_test]
fn a_daemon_killed_mid_create_undoes_it_at_the_next_start() {
    let mut w = World::new(
        &[("a", false), ("m", true)],
        Options {
            ready_timeout_secs: 120,
            ..Options::default()
        },
    );
    // A key the fake control plane refuses keeps the create waiting for "ready".
    let store_path = w.dir.path().join("op-store.json");
    let mut store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    let reference = format!("op://DevBox/{}-tailscale-authkey/password", w.user(0).name);
    store["items"][&reference] = serde_json::Value::String("not-a-tailscale-key".into());
    std::fs::write(&store_path, store.to_string()).unwrap();

    let name = w.name("crash");
    let create = devbox_test_kit::host_program("runuser")
        .args(["-u", &w.user(0).name, "--"])
        .arg(&w.ctl)
        .arg("--socket")
        .arg(&w.socket)
        .args(["create", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state_file = w.state_dir.join("state.json");
    devbox_test_kit::poll_until(
        std::time::Duration::from_secs(30),
        "a half-made create",
        || {
            let state = std::fs::read_to_string(&state_file).ok()?;
            (state.contains("pendingCreate") && w.podman_containers() == vec![name.clone()])
                .then_some(())
        },
    )
    .unwrap();
    // SIGKILL: no chance to clean up.
    let pid = w.daemon.as_ref().unwrap().id();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("closed the connection"),
        "{}",
        stderr(&out)
    );
    w.daemon.take().map(|mut c| c.wait());
    assert_eq!(w.podman_volumes().len(), 1, "half made before the restart");

    w.restart_daemon();
    // The undo removes the container, the volume and the network, then forgets the create:
    // wait for all of it (the state is written last).
    devbox_test_kit::poll_until(
        std::time::Duration::from_secs(30),
        "the reconciler to undo the create",
        || {
            let state = std::fs::read_to_string(&state_file).unwrap_or_default();
            (w.podman_containers().is_empty()
                && w.podman_volumes().is_empty()
                && !state.contains(&name))
            .then_some(())
        },
    )
    .unwrap();
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(!state.contains(&name), "{state}");
    assert!(
        w.daemon_log().contains("action=\"undo-create\""),
        "{}",
        w.daemon_log()
    );
}
