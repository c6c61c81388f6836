#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The testbed image builds (idempotently, also under concurrent callers) and carries real
//! syncthing, busybox and the fakes under the real programs' names.

use devbox_test_kit::podman::podman;
use devbox_test_kit::{host_test, testbed, unique_name};

#[host_test]
fn testbed_image_builds_once_and_runs_its_programs() {
    // Two concurrent callers get the same image.
    let a = std::thread::spawn(testbed::ensure_image);
    let b = testbed::ensure_image().unwrap();
    let a = a.join().unwrap().unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with("localhost/devbox-testbed:"));
    let name = unique_name("kit-testbed");
    let out = podman(&[
        "run", "--rm", "--name", &name, "--entrypoint", "/bin/sh", &a, "-c",
        "tailscale version && syncthing --version && code-server --version && /opt/devbox/zed-remote-server version && id dev && test -x /usr/sbin/tailscaled && test -x /usr/bin/devbox-entrypoint",
    ])
    .unwrap();
    assert!(out.contains("fake"), "{out}");
    assert!(out.contains("syncthing v1."), "{out}");
    assert!(out.contains("uid=1000(dev)"), "{out}");
}
