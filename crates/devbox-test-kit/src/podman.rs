//! Small helpers for tests that drive the real `podman` CLI (rootful).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::{KitError, Result};

/// Upper bound for any podman call of the kit (an image import included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `podman ARGS`, returns its trimmed stdout or an error carrying stderr.
pub fn podman(args: &[&str]) -> Result<String> {
    let out = podman_output(args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(KitError::Command {
            command: format!("podman {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `podman ARGS` and returns the raw output whatever the exit status.
pub fn podman_output(args: &[&str]) -> Result<Output> {
    podman_output_within(args, DEFAULT_TIMEOUT)
}

/// Like [`podman_output`], but kills podman after `timeout` (Podman 4.3's `exec` can hang
/// under load; a poll loop then simply tries again).
pub fn podman_output_within(args: &[&str], timeout: Duration) -> Result<Output> {
    use std::io::Read;
    let mut child = crate::host_program("podman")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KitError::io("run podman (is it installed? scripts/setup-debian.sh)", e))?;
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut v);
        }
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut v);
        }
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child
            .try_wait()
            .map_err(|e| KitError::io("wait for podman", e))?
        {
            break st;
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(KitError::Timeout {
                what: format!("podman {}", args.join(" ")),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    })
}

/// Runs `podman ARGS` with `input` on stdin (e.g. `exec -i ... deliver-key`).
pub fn podman_with_stdin(args: &[&str], input: &[u8]) -> Result<Output> {
    use std::io::Write;
    let mut child = crate::host_program("podman")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KitError::io("run podman", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| KitError::io("write podman stdin", e))?;
    }
    child
        .wait_with_output()
        .map_err(|e| KitError::io("wait podman", e))
}

/// `podman rm -f -t 0 NAME`, tried a few times: Podman 4.3 sometimes reports a mount busy
/// right after a container stopped. Best effort, for cleanup paths.
pub fn remove_container(name: &str) {
    for _ in 0..5 {
        match podman_output_within(&["rm", "-f", "-t", "0", name], Duration::from_secs(60)) {
            Ok(out) if out.status.success() => return,
            Ok(out) if String::from_utf8_lossy(&out.stderr).contains("no such container") => return,
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Removes the containers and volumes it names when dropped (also when a test fails).
#[derive(Debug, Default)]
pub struct Cleanup {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
}

impl Cleanup {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn container(&mut self, name: &str) -> &mut Self {
        self.containers.push(name.to_string());
        self
    }
    pub fn volume(&mut self, name: &str) -> &mut Self {
        self.volumes.push(name.to_string());
        self
    }
    pub fn network(&mut self, name: &str) -> &mut Self {
        self.networks.push(name.to_string());
        self
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            remove_container(c);
        }
        for v in &self.volumes {
            let _ = podman_output(&["volume", "rm", "-f", v]);
        }
        for n in &self.networks {
            let _ = podman_output(&["network", "rm", "-f", n]);
        }
    }
}
