//! The container user `dev` against the daemon's root execs (docs/security.md, "Inside the
//! container"): through its home volume, `dev` tries to get root-owned directories and to put
//! a key-stealing `devbox-entrypoint` where root would run it, then its owner stops, starts
//! and rotates the key with `devbox-ctl`. The real daemon, real Podman, the testbed image.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn in_box(name: &str, user: &str, cmd: &str) -> std::process::Output {
    devbox_test_kit::host_program("podman")
        .args(["exec", "--user", user, name, "sh", "-c", cmd])
        .output()
        .unwrap()
}

#[host_test]
fn a_planted_entrypoint_never_receives_the_key_on_start_or_rotate_key() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let alice = w.user(0);
    let key = w.key_of(&alice.name).to_string();
    let name = w.name("esc");
    ok(w.ctl_as(alice, &["create", &name, "--with-syncthing"]));
    let snapshot = || {
        String::from_utf8_lossy(
            &in_box(
                &name,
                "root",
                "stat -c '%u:%g %a %n' / /bin /sbin /usr/bin /usr/sbin /usr/bin/devbox-entrypoint /etc /opt/devbox; ls -A /usr/bin /bin /sbin /usr/sbin",
            )
            .stdout,
        )
        .into_owned()
    };
    let before = snapshot();
    assert!(before.contains("0:0 755 /usr/bin\n"), "{before}");

    let mut problems = Vec::new();
    // The symlink that used to hand /usr/bin to dev at the next start.
    let out = in_box(
        &name,
        "dev",
        "rm -rf ~/sync && ln -s /usr/bin ~/sync && printf '#!/bin/sh\\ncat >> /home/dev/stolen-key\\n' > ~/thief && chmod 755 ~/thief",
    );
    assert!(out.status.success(), "{out:?}");
    ok(w.ctl_as(alice, &["stop", &name]));
    ok(w.ctl_as(alice, &["start", &name]));
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let out = in_box(
            &name,
            "dev",
            &format!(
                "mkdir -p {dir} 2>/dev/null; mv {dir}/devbox-entrypoint {dir}/.old 2>/dev/null; cp ~/thief {dir}/devbox-entrypoint && echo PLANTED"
            ),
        );
        if String::from_utf8_lossy(&out.stdout).contains("PLANTED") {
            problems.push(format!("dev could put a program into {dir}"));
        }
    }
    // The owner rotates the key: devboxd delivers it into the container as root.
    let rotated = w.ctl_as(alice, &["rotate-key", &name, "--now"]);
    if !rotated.status.success() {
        problems.push(format!("rotate-key failed: {}", both(&rotated)));
    }
    let after = snapshot();
    if before != after {
        problems.push(format!(
            "root-owned paths changed:\n--- before\n{before}\n--- after\n{after}"
        ));
    }
    let stolen = in_box(&name, "root", "cat /home/dev/stolen-key 2>/dev/null; true");
    if String::from_utf8_lossy(&stolen.stdout).contains(key.as_str()) {
        problems.push("a planted devbox-entrypoint received the key".into());
    }
    let status = w.ctl_as(alice, &["status", &name]);
    let text = both(&status);
    // The owner is told how to read the password, never the password itself.
    if !text.contains(&format!(
        "ssh dev@{name} cat ~/.config/code-server/config.yaml"
    )) {
        problems.push(format!(
            "status does not say how to read the password:\n{text}"
        ));
    }
    let yaml = in_box(&name, "dev", "cat ~/.config/code-server/config.yaml");
    let yaml = String::from_utf8_lossy(&yaml.stdout).into_owned();
    match devbox_password(&yaml) {
        Some(p) if text.contains(&p) || w.daemon_log().contains(&p) => {
            problems.push("the password is in the status output or the daemon log".into())
        }
        Some(_) => {}
        None => problems.push(format!("no password in code-server's config:\n{yaml}")),
    }
    ok(w.ctl_as(alice, &["destroy", &name, "--yes"]));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn devbox_password(yaml: &str) -> Option<String> {
    yaml.lines()
        .find_map(|l| l.strip_prefix("password:"))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
}
