//! Dev-only test kit of nix-devbox.
//!
//! Holds the honest fakes of programs that cannot run on the test machines (`tailscale`,
//! `tailscaled`, `code-server`, the Zed remote server, `op`) as binaries in `src/bin/`, the
//! fake Tailscale control plane they share ([`fake_tailscale`]), the Podman testbed image
//! ([`testbed`]) and small helpers for tests that run real Podman. With the feature
//! `engine-fakes`: in-memory fakes of devboxd's engine, secret source and clock
//! ([`fake_engine`], [`fake_secrets`]) for in-process tests of the daemon that need no root.

#[cfg(feature = "engine-fakes")]
pub mod fake_engine;
#[cfg(feature = "engine-fakes")]
pub mod fake_secrets;
pub mod fake_tailscale;
pub mod fake_tailscale_api;
pub mod fakes;
pub mod podman;
pub mod testbed;

/// `#[host_test]`: a test that needs root, Podman and real users; cargo reports it as ignored,
/// with the reason, where it cannot run (see the devbox-host-test crate).
pub use devbox_host_test::host_test;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Everything that can go wrong in the test kit.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("binary `{name}` not found at {path}: run `cargo build --workspace --bins` first")]
    BinaryMissing { name: String, path: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
    #[error("{0}")]
    Other(String),
}

impl KitError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        KitError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = KitError> = std::result::Result<T, E>;

/// Path of a workspace binary next to the running test executable
/// (`current_exe()/../../name`, i.e. `target/<profile>/name`).
pub fn bin_path(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| KitError::io("current_exe", e))?;
    // target/<profile>/deps/test-binary -> target/<profile>/
    let dir = exe
        .parent()
        .and_then(|deps| {
            if deps.file_name().is_some_and(|n| n == "deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .ok_or_else(|| {
            KitError::Other(format!("cannot locate target dir from {}", exe.display()))
        })?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(KitError::BinaryMissing {
            name: name.to_string(),
            path,
        })
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or fails after `timeout`.
pub fn poll_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(KitError::Timeout {
                what: what.to_string(),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A name unique to this process and call, safe for parallel test binaries
/// (`prefix-<pid>-<counter>-<nanos>`), lowercase and DNS-label friendly.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos % 0xffff)
}

/// A `Command` for a program the tests take from the host, after checking that it is on `PATH`:
/// when it is missing the test stops with the Debian package that provides it (which
/// `scripts/setup-debian.sh` installs), not with a bare "No such file or directory".
pub fn host_program(name: &str) -> std::process::Command {
    let package = match name {
        "podman" => "podman",
        "ip" => "iproute2",
        "nft" => "nftables",
        "syncthing" => "syncthing",
        "nix-instantiate" | "nix" => "nix-bin",
        "script" => "bsdutils",
        "runuser" | "prlimit" => "util-linux",
        "useradd" | "userdel" | "groupadd" | "groupdel" => "passwd",
        other => other,
    };
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if !on_path {
        #[allow(clippy::panic)] // a test helper: the test cannot run and must say why
        {
            panic!(
                "`{name}` is not on PATH: install the Debian package `{package}` \
                 (scripts/setup-debian.sh installs everything the tests need)"
            );
        }
    }
    std::process::Command::new(name)
}
