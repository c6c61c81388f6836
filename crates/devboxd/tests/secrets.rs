//! Secrets: a canary Tailscale key (and a canary 1Password token) never appear in the daemon's
//! log, CLI output, `podman inspect`, container logs, files under the daemon's state and runtime
//! dirs, or any process's argv/environ on the host — while the key does reach the container's
//! tmpfs (so the canary is real) and the token reaches `op` through its environment only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;

fn files_containing(dir: &Path, needle: &str, hits: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            files_containing(&p, needle, hits);
        } else if ft.is_file() {
            if let Ok(bytes) = std::fs::read(&p) {
                if String::from_utf8_lossy(&bytes).contains(needle) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
}

/// Every process on the host whose argv or environ holds `needle`.
fn processes_containing(needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for what in ["cmdline", "environ"] {
            if let Ok(b) = std::fs::read(e.path().join(what)) {
                if String::from_utf8_lossy(&b).contains(needle) {
                    let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    hits.push(format!(
                        "pid {name} {what}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    ));
                }
            }
        }
    }
    hits
}

#[host_test]
fn canary_key_and_token_never_leak() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let alice = w.user(0);
    let key = w.key_of(&alice.name).to_string();
    let token_file = w.dir.path().join("creds/op-service-account-token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    let name = w.name("sec");

    let mut outputs = Vec::new();
    for args in [
        vec!["create", name.as_str(), "--with-syncthing"],
        vec!["--json", "status", &name],
        vec!["status", &name],
        vec!["rotate-key", &name, "--now"],
        vec!["--json", "rotate-key", &name],
        vec!["stop", &name],
        vec!["--json", "start", &name],
        vec!["--json", "list"],
        vec!["logs", &name],
    ] {
        let o = w.ctl_as(alice, &args);
        outputs.push(both(&o));
        assert!(o.status.success(), "{args:?}: {}", both(&o));
    }
    outputs.push(both(&w.ctl_root(&["doctor"])));

    // Positive control: the key did reach the container's tmpfs and `tailscale up` used it
    // (PID 1 logs that it deleted the used key); it is gone from the tmpfs since.
    let logs = devbox_test_kit::host_program("podman")
        .args(["logs", &name])
        .output()
        .unwrap();
    assert!(
        both(&logs).contains("auth key deleted (used"),
        "{}",
        both(&logs)
    );
    let inside = devbox_test_kit::host_program("podman")
        .args(["exec", &name, "ls", "/run/devbox"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&inside.stdout).contains("tailscale-authkey"),
        "the used key is still in the tmpfs"
    );
    // ... and the token reached `op` (through its environment: the fake checks it).
    let op_log = std::fs::read_to_string(&w.op_log).unwrap();
    assert!(op_log.contains("\"tokenPresent\":true"), "{op_log}");
    assert!(op_log.contains(&format!(
        "op://DevBox/{}-tailscale-authkey/password",
        alice.name
    )));

    for secret in [&key, &token] {
        for (i, o) in outputs.iter().enumerate() {
            assert!(
                !o.contains(secret.as_str()),
                "CLI output {i} leaks a secret: {o}"
            );
        }
        assert!(
            !w.daemon_log().contains(secret.as_str()),
            "daemon log leaks a secret"
        );
        assert!(!op_log.contains(secret.as_str()), "op argv leaks a secret");
        let inspect = devbox_test_kit::host_program("podman")
            .args(["inspect", &name])
            .output()
            .unwrap();
        assert!(inspect.status.success());
        assert!(
            !String::from_utf8_lossy(&inspect.stdout).contains(secret.as_str()),
            "podman inspect leaks a secret"
        );
        let vinspect = devbox_test_kit::host_program("podman")
            .args(["volume", "inspect", &format!("devbox-home-{name}")])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&vinspect.stdout).contains(secret.as_str()));
        let logs = devbox_test_kit::host_program("podman")
            .args(["logs", &name])
            .output()
            .unwrap();
        assert!(
            !both(&logs).contains(secret.as_str()),
            "container logs leak a secret"
        );
        let mut hits = Vec::new();
        files_containing(&w.state_dir, secret, &mut hits);
        files_containing(&w.run_dir, secret, &mut hits);
        assert!(hits.is_empty(), "files leak a secret: {hits:?}");
        let procs = processes_containing(secret);
        assert!(
            procs.is_empty(),
            "process argv/environ leaks a secret: {procs:?}"
        );
    }
    // The daemon's own environment never holds the token (it reads the file per call).
    let pid = w.daemon.as_ref().unwrap().id();
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&env).contains("OP_SERVICE_ACCOUNT_TOKEN"));

    ok(w.ctl_as(alice, &["destroy", &name, "--yes"]));
    assert!(!w.daemon_log().contains(key.as_str()));
}
