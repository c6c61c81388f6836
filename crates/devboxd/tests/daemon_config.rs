//! devboxd refuses bad configuration at start with a message saying what is wrong and what to do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use devbox_test_kit::bin_path;

fn devboxd(args: &[&str]) -> std::process::Output {
    Command::new(bin_path("devboxd").unwrap())
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap()
}

#[test]
fn bad_configs_are_refused_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let example = serde_json::json!({
        "users": {"alice": {"uid": 1000, "description": "Alice Example", "email": "alice@example.org",
            "gitUser": "alice", "isAdmin": true, "sshKeys": [ssh_key(1)]}},
        "derived": {"allUsers": ["alice"], "adminUsers": ["alice"],
            "perUser": {"alice": {"opReference": "op://DevBox/alice-tailscale-authkey/password",
                "tailscaleTags": ["tag:devcontainer", "tag:alice-container"]}}}
    });
    std::fs::write(&users, example.to_string()).unwrap();
    let write = |name: &str, v: serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };

    let good = write("good.json", serde_json::json!({"usersFile": users}));
    let o = devboxd(&["--config", &good, "--check"]);
    assert!(o.status.success(), "{}", both(&o));
    let lan = write(
        "lan.json",
        serde_json::json!({"usersFile": users, "allowedLanCidrs": ["192.168.1.0/24", "fd00:1::/64"],
            "allowCloudMetadata": true}),
    );
    let o = devboxd(&["--config", &lan, "--check"]);
    assert!(o.status.success(), "{}", both(&o));
    assert!(stdout(&o).contains("valid (1 users)"), "{}", stdout(&o));

    let cases = [
        (
            serde_json::json!({"usersFile": users, "socketPth": "/x"}),
            "socketPth",
        ),
        (serde_json::json!({"socketPath": "/x"}), "usersFile"),
        (
            serde_json::json!({"usersFile": dir.path().join("missing.json")}),
            "cannot read the users file",
        ),
        (
            serde_json::json!({"usersFile": users, "readyTimeoutSecs": 0}),
            "readyTimeoutSecs",
        ),
        (
            serde_json::json!({"usersFile": users, "userns": "host"}),
            "userns",
        ),
        (
            serde_json::json!({"usersFile": users, "allowedLanCidrs": ["192.168.1.5/24"]}),
            "not 192.168.1.5/24",
        ),
        (
            serde_json::json!({"usersFile": users, "allowedLanCidrs": ["office"]}),
            "ADDRESS/PREFIX",
        ),
        (
            serde_json::json!({"usersFile": users, "networkIsolation": false,
                "allowedLanCidrs": ["192.168.1.0/24"]}),
            "turns off",
        ),
    ];
    for (i, (config, expect)) in cases.into_iter().enumerate() {
        let p = write(&format!("bad{i}.json"), config);
        let o = devboxd(&["--config", &p, "--check"]);
        assert_eq!(o.status.code(), Some(1), "{}", both(&o));
        assert!(stderr(&o).contains(expect), "{expect}: {}", stderr(&o));
    }
    // A users file that fails devbox-schema's validation.
    let bad_users = dir.path().join("bad-users.json");
    std::fs::write(
        &bad_users,
        example
            .to_string()
            .replace("alice@example.org", "not-an-email"),
    )
    .unwrap();
    let p = write("badusers.json", serde_json::json!({"usersFile": bad_users}));
    let o = devboxd(&["--config", &p, "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("export-users.nix"), "{}", stderr(&o));

    // The socket group must exist.
    let p = write(
        "nogroup.json",
        serde_json::json!({"usersFile": users, "socketPath": dir.path().join("s.sock"),
            "socketGroup": "dbx-no-such-group", "stateDir": dir.path().join("state")}),
    );
    let o = devboxd(&["--config", &p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("groupadd dbx-no-such-group"),
        "{}",
        stderr(&o)
    );
    // Not even a config file.
    let o = devboxd(&[
        "--config",
        &dir.path().join("nope.json").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read the config file"),
        "{}",
        stderr(&o)
    );
}
