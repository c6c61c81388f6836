//! Security: what comes back from an exec in a dev container is controlled by whoever is root in
//! that container (its owner). The daemon serves every user, so it must not buffer an unbounded
//! answer: one owner printing gigabytes from `devbox-entrypoint status` would exhaust the
//! daemon's memory and take it down for everyone. Real Podman, real exec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use devboxd::engine::Engine;
use devboxd::podman::{Podman, MAX_EXEC_OUTPUT};

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .args(["120", "podman", "rm", "-f", "-t", "0", &self.0])
            .output();
    }
}

#[host_test]
fn a_flood_from_an_exec_is_cut_at_the_bound_and_the_exit_code_still_comes_back() {
    let image = testbed_image();
    let dir = tempfile::tempdir().unwrap();
    let service = PodmanService::start(dir.path());
    let name = format!("execflood-{}", std::process::id());
    let out = Command::new("timeout")
        .args(["120", "podman", "run", "-d", "--name", &name])
        .args(["--label", "devbox.test=exec-bounds", "--entrypoint"])
        .args(["/bin/busybox", &image, "sleep", "600"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _c = Container(name.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = Podman::new(&service.socket);
    let id = rt.block_on(engine.find(&name)).unwrap().unwrap().id;
    // 64 MiB on stdout and on stderr, then exit 7.
    let flood = "yes devbox | head -c 67108864; yes devbox | head -c 67108864 >&2; exit 7";
    let o = rt
        .block_on(engine.exec(
            &id,
            &["/bin/busybox", "sh", "-c", flood],
            None,
            Duration::from_secs(60),
        ))
        .unwrap();
    assert_eq!(o.exit_code, 7);
    assert!(
        o.stdout.len() <= MAX_EXEC_OUTPUT && o.stdout.len() >= MAX_EXEC_OUTPUT / 2,
        "stdout kept {} bytes",
        o.stdout.len()
    );
    assert!(
        o.stderr.len() <= MAX_EXEC_OUTPUT,
        "stderr kept {} bytes",
        o.stderr.len()
    );
    assert!(o.stdout.starts_with(b"devbox\ndevbox\n"));
    // A normal answer is complete.
    let o = rt
        .block_on(engine.exec(
            &id,
            &["/bin/busybox", "echo", "hello"],
            None,
            Duration::from_secs(30),
        ))
        .unwrap();
    assert_eq!((o.exit_code, o.stdout.as_slice()), (0, &b"hello\n"[..]));
}
