//! Fair sharing under abuse (docs/security.md, "Bounds"): what one user can do to what the team
//! shares, each bound tried as the abuse it stops, against real Podman and real Unix users.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn podman_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = devbox_test_kit::host_program("podman")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A container that writes a terminal escape (set window title: ESC ] 2 ; x BEL) and an 8-bit
/// CSI to its log cannot drive the terminal of whoever reads `devbox-ctl logs`.
#[host_test]
fn a_container_cannot_send_escape_sequences_through_logs() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let (alice, admin) = (w.user(0), w.user(1));
    let name = w.name("esc");
    ok(w.ctl_as(alice, &["create", &name]));
    // What a service prints goes to the log (the entrypoint forwards it line by line), and
    // whoever is root in the container decides what its services are: replace code-server by
    // a script that prints the escape, and let the supervisor restart it.
    let script = "#!/bin/sh\nprintf 'before\\033]2;x\\007after \\302\\233 2J escape-test-end\\n'\nexec sleep 600\n";
    let o = podman_stdin(
        &[
            "exec",
            "-i",
            "--user",
            "0",
            &name,
            "sh",
            "-c",
            "rm -f /usr/bin/code-server && cat > /usr/bin/code-server && chmod 755 /usr/bin/code-server && kill $(pidof code-server)",
        ],
        script.as_bytes(),
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let logs = poll_until_logs(&w, admin, &name, "escape-test-end");
    assert!(
        !logs.contains(&0x1b),
        "raw ESC in: {}",
        String::from_utf8_lossy(&logs)
    );
    assert!(!logs.contains(&0x07), "raw BEL");
    let text = String::from_utf8_lossy(&logs);
    assert!(!text.contains('\u{9b}'), "raw C1 CSI in: {text}");
    assert!(text.contains(r"before\x1b]2;x\x07after"), "{text}");
    // --raw gives the exact bytes (for a file), on request only.
    let raw = w.ctl_as(admin, &["logs", &name, "--raw"]);
    assert!(raw.status.success());
    assert!(raw.stdout.windows(4).any(|b| b == b"\x1b]2;"));
}

fn poll_until_logs(w: &World, user: &TestUser, name: &str, marker: &str) -> Vec<u8> {
    let mut last = Vec::new();
    let found = devbox_test_kit::poll_until(std::time::Duration::from_secs(15), "log line", || {
        let o = w.ctl_as(user, &["logs", name]);
        assert!(o.status.success(), "{}", stderr(&o));
        last = o.stdout;
        String::from_utf8_lossy(&last)
            .contains(marker)
            .then_some(())
    });
    assert!(
        found.is_ok(),
        "no {marker:?} in the logs: {}",
        String::from_utf8_lossy(&last)
    );
    last
}
