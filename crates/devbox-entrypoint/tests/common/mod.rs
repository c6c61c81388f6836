//! Helpers for the entrypoint's container tests: one testbed container per test, unique
//! names, cleaned up on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use devbox_entrypoint::status::Status;
use devbox_test_kit::podman::{
    podman, podman_output, podman_output_within, podman_with_stdin, Cleanup,
};
use devbox_test_kit::KitError;
use devbox_test_kit::{poll_until, testbed, unique_name};

pub const WAIT: Duration = Duration::from_secs(30);
/// One `podman exec` try; Podman 4.3's exec now and then hangs under load.
pub const EXEC_TRY: Duration = Duration::from_secs(20);

/// `podman ARGS` for quick calls (exec, inspect): killed after [`EXEC_TRY`] and tried again,
/// up to three times, when it hangs. Returns stdout of a successful run.
pub fn podman_quick(args: &[&str]) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match podman_output_within(args, EXEC_TRY) {
            Ok(out) if out.status.success() => {
                return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
            Ok(out) => {
                return Err(format!(
                    "podman {}: {}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
            Err(e @ KitError::Timeout { .. }) => last = e.to_string(),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(last)
}

pub struct DevBox {
    pub name: String,
    pub volume: String,
    pub image: String,
    /// Host directory bind-mounted as the fake Tailscale control plane.
    pub control_dir: PathBuf,
    pub cleanup: Cleanup,
}

impl DevBox {
    /// Creates and starts a container of the testbed image as the controller would (tmpfs
    /// run dir, home volume, identity env), plus `extra` podman args.
    pub fn start(prefix: &str, extra: &[&str]) -> DevBox {
        let image = testbed::ensure_image().unwrap();
        let name = unique_name(prefix);
        let volume = format!("{name}-home");
        let control_dir = std::env::temp_dir().join(format!("{name}-control"));
        std::fs::create_dir_all(&control_dir).unwrap();
        let mut cleanup = Cleanup::new();
        cleanup.container(&name).volume(&volume);
        let b = DevBox {
            name,
            volume,
            image,
            control_dir,
            cleanup,
        };
        b.create_and_start(extra);
        b
    }

    pub fn create_and_start(&self, extra: &[&str]) {
        let vol = format!("{}:/home/dev", self.volume);
        let ctl = format!("{}:/var/lib/fake-tailscale", self.control_dir.display());
        let host = format!("DEVBOX_HOSTNAME={}", self.name);
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &self.name,
            "--hostname",
            &self.name,
            "--label",
            "devbox.test=entrypoint",
            "--tmpfs",
            "/run/devbox:rw,mode=0755",
            "-v",
            &vol,
            "-v",
            &ctl,
            "-e",
            &host,
            "-e",
            "DEVBOX_OWNER=alice",
            "-e",
            "DEVBOX_TAGS=tag:devcontainer,tag:alice-container",
            "-e",
            "DEVBOX_RESTART_BACKOFF_MS=200",
            "-e",
            "DEVBOX_ACTIVITY_INTERVAL_MS=300",
        ];
        args.extend_from_slice(extra);
        args.push(&self.image);
        podman(&args).unwrap();
    }

    pub fn control(&self) -> devbox_test_kit::fake_tailscale::Control {
        devbox_test_kit::fake_tailscale::Control::at(self.control_dir.join("control.json"))
    }

    pub fn exec(&self, cmd: &str) -> String {
        podman_quick(&["exec", &self.name, "sh", "-c", cmd]).unwrap()
    }

    pub fn status(&self) -> Option<Status> {
        let out =
            podman_output(&["exec", &self.name, "devbox-entrypoint", "status", "--json"]).ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        let mut last = None;
        poll_until(WAIT, what, || {
            let st = self.status()?;
            let ok = pred(&st);
            last = Some(st.clone());
            ok.then_some(st)
        })
        .unwrap_or_else(|e| panic!("{e}; last status: {last:#?}\nlogs:\n{}", self.logs()))
    }

    /// `podman exec -i NAME devbox-entrypoint deliver-key ARGS` with `key` on stdin.
    pub fn deliver_key(&self, key: &str, args: &[&str]) -> (i32, String, String) {
        let mut a = vec!["exec", "-i", &self.name, "devbox-entrypoint", "deliver-key"];
        a.extend_from_slice(args);
        let out = podman_with_stdin(&a, format!("{key}\n").as_bytes()).unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn logs(&self) -> String {
        let out = podman_output(&["logs", &self.name]).unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for DevBox {
    fn drop(&mut self) {
        devbox_test_kit::podman::remove_container(&self.name);
        let _ = std::fs::remove_dir_all(&self.control_dir);
    }
}
