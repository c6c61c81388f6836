//! Decides once per build whether host tests can run, so that cargo itself reports them as
//! ignored (with the reason) instead of letting them return early and count as passed.
//! Rebuilt when `DEVBOX_SKIP_HOST_TESTS` changes; the uid is that of the build, which is the uid
//! of the test run in every way this project runs tests (`cargo test`, the Nix sandbox).

fn main() {
    println!("cargo::rerun-if-env-changed=DEVBOX_SKIP_HOST_TESTS");
    let reason = if std::env::var("DEVBOX_SKIP_HOST_TESTS").is_ok_and(|v| v == "1") {
        "host test: DEVBOX_SKIP_HOST_TESTS=1 (no root, Podman or real users here)".to_string()
    } else {
        match effective_uid() {
            Some(0) => String::new(),
            Some(uid) => format!(
                "host test: needs root (built as uid {uid}); run scripts/test-all.sh as root"
            ),
            None => "host test: the build's uid is unknown (no /proc/self/status)".to_string(),
        }
    };
    println!("cargo::rustc-env=DEVBOX_HOST_TEST_SKIP_REASON={reason}");
}

/// The effective uid from /proc (no libc dependency for a build script).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
