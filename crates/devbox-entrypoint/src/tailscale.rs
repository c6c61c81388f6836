//! The login's world in the container ([`LoginWorld`]): the key and the flags in the run dir,
//! and the `tailscale` CLI talking to our tailscaled over its socket.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::Config;
use crate::helpers::{last_line, run_with_timeout};
use crate::log_event;
use crate::login::{Backend, LoginWorld, UpStart};

/// The run dir and the `tailscale` CLI, for one turn of the event loop.
pub struct Cli<'a> {
    cfg: &'a Config,
    /// Whether the supervisor has a tailscaled process.
    daemon_alive: bool,
}

impl<'a> Cli<'a> {
    pub fn new(cfg: &'a Config, daemon_alive: bool) -> Self {
        Cli { cfg, daemon_alive }
    }

    fn tailscale(&self) -> Command {
        let mut cmd = Command::new("tailscale");
        cmd.arg(format!(
            "--socket={}",
            self.cfg.tailscaled_socket().display()
        ));
        cmd
    }

    fn up_log(&self) -> std::path::PathBuf {
        self.cfg.run_dir.join("tailscale-up.log")
    }

    /// `tailscale logout`, bounded by `timeout`: an ephemeral node leaves the tailnet at once.
    pub fn logout(&self, timeout: Duration) {
        let mut cmd = self.tailscale();
        match run_with_timeout(cmd.arg("logout"), timeout) {
            Ok(o) if o.success => log_event!("tailscale", "logged out"),
            Ok(o) => log_event!(
                "tailscale",
                "logout failed: {}",
                last_line(&o.stderr).unwrap_or_default()
            ),
            Err(e) => log_event!("tailscale", "logout failed: {e}"),
        }
    }

    fn up_args(&self, force_reauth: bool) -> Vec<String> {
        let mut args = vec![
            format!("--socket={}", self.cfg.tailscaled_socket().display()),
            "up".to_string(),
            // The key stays in its tmpfs file; only the file's path is on the command line.
            format!("--auth-key=file:{}", self.cfg.key_file().display()),
            "--hostname".into(),
            self.cfg.hostname.clone(),
            "--advertise-tags".into(),
            self.cfg.tags.join(","),
            "--ssh".into(),
            "--timeout=60s".into(),
        ];
        if force_reauth {
            args.push("--force-reauth".into());
        }
        if let Some(url) = &self.cfg.login_server {
            args.push(format!("--login-server={url}"));
        }
        args
    }
}

impl LoginWorld for Cli<'_> {
    fn logged_out(&self) -> bool {
        self.cfg.logged_out_flag().exists()
    }

    fn key_present(&self) -> bool {
        self.cfg.key_file().exists()
    }

    fn take_reauth_request(&mut self) -> bool {
        std::fs::remove_file(self.cfg.reauth_flag()).is_ok()
    }

    fn daemon_up(&self) -> bool {
        // Connectable, not just present: a crashed daemon leaves its socket file behind.
        self.daemon_alive
            && std::os::unix::net::UnixStream::connect(self.cfg.tailscaled_socket()).is_ok()
    }

    fn start_up(&mut self, force_reauth: bool) -> UpStart {
        let log_path = self.up_log();
        let log = match std::fs::File::create(&log_path) {
            Ok(f) => f,
            Err(e) => {
                log_event!("tailscale-up", "cannot create {}: {e}", log_path.display());
                return UpStart::NoLogFile;
            }
        };
        let Ok(log2) = log.try_clone() else {
            return UpStart::NoLogFile;
        };
        let spawned = crate::helpers::unblock_signals_in_child(&mut Command::new("tailscale"))
            .args(self.up_args(force_reauth))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn();
        match spawned {
            Ok(child) => {
                let pid = Pid::from_raw(child.id() as i32);
                // Reaped by PID 1's waitpid(-1), not through `child`.
                drop(child);
                log_event!(
                    "tailscale-up",
                    "logging in as {} with tags {} (pid {pid})",
                    self.cfg.hostname,
                    self.cfg.tags.join(",")
                );
                UpStart::Started(pid)
            }
            Err(e) => UpStart::Failed(format!("cannot run tailscale: {e}")),
        }
    }

    fn kill(&mut self, pid: Pid, signal: Signal) {
        let _ = kill(pid, signal);
    }

    /// Deletes the auth key from the tmpfs once it serves nothing: after a successful login
    /// (tailscaled resumes from its state file; a lost login waits for a new key from the
    /// controller) or when it arrives while already logged in.
    fn delete_key(&mut self, why: &str) {
        match std::fs::remove_file(self.cfg.key_file()) {
            Ok(()) => log_event!("tailscale", "auth key deleted ({why})"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log_event!("tailscale", "cannot delete the auth key: {e}"),
        }
    }

    fn backend(&mut self) -> Option<Backend> {
        let mut cmd = self.tailscale();
        let out = run_with_timeout(cmd.args(["status", "--json"]), Duration::from_secs(1)).ok()?;
        parse_status(&out.stdout)
    }

    /// Passes the output on to the log, line by line.
    fn up_output(&mut self) -> String {
        let mut output = String::new();
        if let Ok(f) = std::fs::File::open(self.up_log()) {
            let _ = f.take(64 * 1024).read_to_string(&mut output);
        }
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            crate::logging::event("tailscale-up", line);
        }
        output
    }
}

/// The backend's state, IPv4 address and DNS name from `tailscale status --json`.
pub fn parse_status(json: &str) -> Option<Backend> {
    let v = serde_json::from_str::<serde_json::Value>(json).ok()?;
    Some(Backend {
        state: v["BackendState"].as_str().unwrap_or("unknown").to_string(),
        ip: v["Self"]["TailscaleIPs"]
            .as_array()
            .and_then(|ips| {
                ips.iter()
                    .filter_map(|i| i.as_str())
                    .find(|i| i.contains('.'))
            })
            .map(str::to_string),
        hostname: v["Self"]["DNSName"]
            .as_str()
            .map(|n| n.trim_end_matches('.').to_string())
            .filter(|n| !n.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_gives_state_ipv4_and_name() {
        let b = parse_status(
            r#"{"BackendState":"Running","Self":{"TailscaleIPs":["fd7a:115c::2","100.64.0.2"],
                "DNSName":"alice-main.tailnet.ts.net."}}"#,
        )
        .unwrap();
        assert!(b.running());
        assert_eq!(b.ip.as_deref(), Some("100.64.0.2"));
        assert_eq!(b.hostname.as_deref(), Some("alice-main.tailnet.ts.net"));
        let b = parse_status(r#"{"BackendState":"NeedsLogin","Self":{"DNSName":""}}"#).unwrap();
        assert!(!b.running());
        assert_eq!(b.hostname, None);
        assert_eq!(parse_status("not json"), None);
    }
}
