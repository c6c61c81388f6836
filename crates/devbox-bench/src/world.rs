//! The benchmark's world: a private `podman system service`, a Unix group and user, a users
//! file, the FAKE `op` with a local store, and devboxd with its own instance label, socket and
//! state dir — the same set-up as scripts/demo.sh and devboxd's tests. Everything it makes is
//! removed on drop (also when a phase fails).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use devbox_test_kit::podman::podman_output;
use devbox_test_kit::{bin_path, poll_until, unique_name};

pub const MAX_CONTAINERS: u32 = 7;

pub struct World {
    pub dir: PathBuf,
    pub instance: String,
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
    pub image: String,
    pub key: String,
    pub socket: PathBuf,
    pub ctl: PathBuf,
    pub daemon_log: PathBuf,
    pub podman_socket: PathBuf,
    config: PathBuf,
    podman_service: Option<Child>,
    daemon: Option<Child>,
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

impl World {
    pub fn new(image: &str) -> Result<World> {
        let instance = unique_name("bench");
        let dir = std::env::temp_dir().join(format!("devbox-{instance}"));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        let seq = std::process::id();
        let group = format!("dbxbg{seq}");
        let user = format!("dbxbench{seq}");
        let mut w = World {
            dir: dir.clone(),
            instance,
            user: user.clone(),
            uid: 0,
            group: group.clone(),
            gid: 0,
            image: image.to_string(),
            key: format!("tskey-auth-bench{}", unique_name("k").replace('-', "")),
            socket: dir.join("run/devbox.sock"),
            ctl: dir.join("devbox-ctl"),
            daemon_log: dir.join("devboxd.log"),
            podman_socket: dir.join("podman.sock"),
            config: dir.join("devboxd.json"),
            podman_service: None,
            daemon: None,
        };
        // From here on, Drop cleans up whatever was made.
        run_ok(Command::new("groupadd").arg(&group), "groupadd")?;
        w.gid = nix::unistd::Group::from_name(&group)?
            .context("the new group is missing")?
            .gid
            .as_raw();
        run_ok(
            Command::new("useradd").args([
                "-M",
                "-N",
                "-s",
                "/usr/sbin/nologin",
                "-G",
                &group,
                &user,
            ]),
            "useradd",
        )?;
        w.uid = nix::unistd::User::from_name(&user)?
            .context("the new user is missing")?
            .uid
            .as_raw();

        let podman_socket = dir.join("podman.sock");
        w.podman_service = Some(
            Command::new("podman")
                .args(["system", "service", "--time=0"])
                .arg(format!("unix://{}", podman_socket.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting `podman system service`")?,
        );
        poll_until(Duration::from_secs(30), "Podman's API socket", || {
            std::os::unix::net::UnixStream::connect(&podman_socket).ok()
        })?;

        // The users file needs an admin; the benchmark user is it (its own containers take the
        // owner's path through the daemon either way).
        let users = serde_json::json!({
            "users": { &user: {
                "uid": w.uid, "description": "Benchmark user", "email": "bench@example.org",
                "gitUser": "bench", "isAdmin": true, "sshKeys": [ssh_key()], "extraGroups": []
            }},
            "containers": {
                "opVault": "DevBox", "maxPerUser": MAX_CONTAINERS, "maxGlobal": MAX_CONTAINERS,
                "defaultCpu": 2, "defaultMemory": "4G", "idleStopDays": 7, "stoppedDestroyDays": 14
            },
            "derived": {
                "allUsers": [&user], "adminUsers": [&user],
                "perUser": { &user: {
                    "opReference": format!("op://DevBox/{user}-tailscale-authkey/password"),
                    "tailscaleTags": ["tag:devcontainer", format!("tag:{user}-container")]
                }}
            }
        });
        let users_file = dir.join("users.json");
        fs::write(&users_file, serde_json::to_string_pretty(&users)?)?;
        let token = format!("ops_bench{}", unique_name("t").replace('-', ""));
        let creds = dir.join("creds");
        fs::create_dir_all(&creds)?;
        let token_file = creds.join("op-service-account-token");
        fs::write(&token_file, format!("{token}\n"))?;
        fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600))?;
        let store = dir.join("op-store.json");
        fs::write(
            &store,
            serde_json::json!({"token": token, "items": {
                format!("op://DevBox/{user}-tailscale-authkey/password"): w.key
            }})
            .to_string(),
        )?;
        fs::set_permissions(&store, fs::Permissions::from_mode(0o600))?;
        let run_dir = dir.join("run");
        fs::create_dir_all(&run_dir)?;
        fs::set_permissions(&run_dir, fs::Permissions::from_mode(0o755))?;
        let config = serde_json::json!({
            "usersFile": users_file,
            "socketPath": w.socket,
            "socketGroup": group,
            "podmanSocket": podman_socket,
            "image": image,
            "stateDir": dir.join("state"),
            "opCommand": bin_path("fake-op")?,
            "opTokenFile": token_file,
            "instance": w.instance,
            "readyTimeoutSecs": 60,
        });
        fs::write(&w.config, config.to_string())?;
        // devbox-ctl where the benchmark user can run it (the target dir may be private).
        fs::copy(bin_path("devbox-ctl")?, &w.ctl)?;
        fs::set_permissions(&w.ctl, fs::Permissions::from_mode(0o755))?;
        w.start_daemon()?;
        Ok(w)
    }

    /// Spawns devboxd and returns once its socket accepts connections.
    pub fn start_daemon(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.daemon_log)?;
        let child = Command::new(bin_path("devboxd")?)
            .arg("--config")
            .arg(&self.config)
            // DEVBOXD_LOG=debug shows each engine step (for profiling); info by default.
            .env(
                "DEVBOXD_LOG",
                std::env::var("DEVBOXD_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("FAKE_OP_STORE", self.dir.join("op-store.json"))
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting devboxd")?;
        self.daemon = Some(child);
        let socket = self.socket.clone();
        let r = poll_until(Duration::from_secs(20), "devboxd's socket", || {
            std::os::unix::net::UnixStream::connect(&socket).ok()
        });
        if r.is_err() {
            bail!(
                "devboxd did not start: {}",
                fs::read_to_string(&self.daemon_log).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// SIGTERM to devboxd, waits until it has exited.
    pub fn stop_daemon(&mut self) -> Result<()> {
        if let Some(mut c) = self.daemon.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id())?);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            poll_until(Duration::from_secs(30), "devboxd to exit", || {
                c.try_wait().ok().flatten()
            })?;
        }
        Ok(())
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Runs `devbox-ctl --socket S ARGS` as the benchmark user (uid set directly, no runuser, so
    /// only the CLI's own cost is measured); fails on a non-zero exit.
    pub fn ctl(&self, args: &[&str]) -> Result<Output> {
        let out = Command::new(&self.ctl)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .uid(self.uid)
            .gid(self.gid)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .context("running devbox-ctl")?;
        if !out.status.success() {
            bail!(
                "devbox-ctl {} failed ({}): {} {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out)
    }

    /// Lines of the daemon log (it grows across restarts; callers remember an offset).
    pub fn daemon_log_text(&self) -> String {
        fs::read_to_string(&self.daemon_log).unwrap_or_default()
    }
}

/// An ed25519 public key line the users validator accepts.
fn ssh_key() -> String {
    // "ssh-ed25519" blob: length-prefixed type and 32 key bytes, base64 (fixed, not a real key).
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAhQH7HtuvNifaSW9dPRB84nII1PRUfRJ5AZtFodeJx bench@example.invalid".to_string()
}

/// Removes every container and volume carrying `label=value`.
pub fn remove_labelled(label: &str, value: &str) {
    let filter = format!("label={label}={value}");
    if let Ok(out) = podman_output(&["ps", "-a", "-q", "--filter", &filter]) {
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = podman_output(&["rm", "-f", "-t", "0", id]);
        }
    }
    if let Ok(out) = podman_output(&["volume", "ls", "-q", "--filter", &filter]) {
        for v in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = podman_output(&["volume", "rm", "-f", v]);
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop_daemon();
        remove_labelled("devbox.instance", &self.instance);
        remove_labelled("devbox.instance", &crate::raw::raw_instance(&self.instance));
        remove_labelled("devbox.instance", &format!("{}-api", self.instance));
        if let Some(mut p) = self.podman_service.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = Command::new("userdel").arg(&self.user).output();
        let _ = Command::new("groupdel").arg(&self.group).output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Milliseconds `f` took, with its result.
pub fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let v = f()?;
    Ok((v, start.elapsed().as_secs_f64() * 1000.0))
}

/// VmRSS and VmHWM of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<(f64, f64)> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_rss(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
}

pub fn parse_rss(status: &str) -> Option<(f64, f64)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_proc_status_text() {
        let text = "Name:\tdevboxd\nVmHWM:\t   12345 kB\nVmRSS:\t    9876 kB\nThreads:\t3\n";
        assert_eq!(parse_rss(text), Some((9876.0, 12345.0)));
        assert_eq!(parse_rss("Name:\tx\n"), None);
        assert_eq!(parse_rss("VmRSS:\tlots kB\nVmHWM:\t1 kB\n"), None);
    }

    #[test]
    fn rss_of_this_process_is_plausible() {
        let (rss, hwm) = rss_kib(std::process::id()).unwrap();
        assert!(rss > 100.0 && hwm >= rss, "rss {rss} hwm {hwm}");
    }
}
