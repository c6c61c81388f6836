//! The benchmark's world: a private `podman system service`, a Unix group and user, a users
//! file, the FAKE `op` with a local store, and devboxd with its own instance label, socket and
//! state dir — the same set-up as scripts/demo.sh and devboxd's tests. Everything it makes is
//! removed on drop (also when a phase fails).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use devbox_test_kit::podman::podman_output;
use devbox_test_kit::{bin_path, poll_until, unique_name};

pub const MAX_CONTAINERS: u32 = 7;

/// Who and how many: the users of the world and the users file's limits.
#[derive(Debug, Clone, Copy)]
pub struct WorldSpec {
    /// Benchmark users; the first is an admin (it runs `gc` and owns the classic run's containers).
    pub users: usize,
    pub max_per_user: u32,
    pub max_global: u32,
}

impl WorldSpec {
    /// The classic run: one user, the product's default limit of 7.
    pub const CLASSIC: WorldSpec = WorldSpec {
        users: 1,
        max_per_user: MAX_CONTAINERS,
        max_global: MAX_CONTAINERS,
    };
}

/// A benchmark Unix user (in the users file, with its own 1Password item).
#[derive(Debug, Clone)]
pub struct BenchUser {
    pub name: String,
    pub uid: u32,
}

pub struct World {
    pub dir: PathBuf,
    pub instance: String,
    /// The first user (an admin); `ctl` runs as this user.
    pub user: String,
    pub uid: u32,
    pub users: Vec<BenchUser>,
    pub group: String,
    pub gid: u32,
    pub image: String,
    pub key: String,
    pub socket: PathBuf,
    pub ctl: PathBuf,
    pub daemon_log: PathBuf,
    pub podman_socket: PathBuf,
    config: PathBuf,
    users_file: PathBuf,
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
    pub fn new(image: &str, spec: WorldSpec) -> Result<World> {
        let instance = unique_name("bench");
        let dir = std::env::temp_dir().join(format!("devbox-{instance}"));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        let seq = std::process::id();
        let mut w = World {
            dir: dir.clone(),
            instance,
            user: format!("dbxbench{seq}"),
            uid: 0,
            users: Vec::new(),
            group: format!("dbxbg{seq}"),
            gid: 0,
            image: image.to_string(),
            key: format!("tskey-auth-bench{}", unique_name("k").replace('-', "")),
            socket: dir.join("run/devbox.sock"),
            ctl: dir.join("devbox-ctl"),
            daemon_log: dir.join("devboxd.log"),
            podman_socket: dir.join("podman.sock"),
            config: dir.join("devboxd.json"),
            users_file: dir.join("users.json"),
            podman_service: None,
            daemon: None,
        };
        // From here on, Drop cleans up whatever was made.
        w.add_group_and_users(spec.users, seq)?;
        w.start_podman_service()?;
        // The users file needs an admin; the first benchmark user is it (its own containers take
        // the owner's path through the daemon either way).
        w.write_users_file(spec.max_per_user, spec.max_global)?;
        let token_file = w.write_op_store()?;
        w.write_config(&token_file)?;
        // devbox-ctl where the benchmark user can run it (the target dir may be private).
        fs::copy(bin_path("devbox-ctl")?, &w.ctl)?;
        fs::set_permissions(&w.ctl, fs::Permissions::from_mode(0o755))?;
        w.start_daemon()?;
        Ok(w)
    }

    /// The Unix group and `count` (at least one) users in it; the first is `self.user`.
    fn add_group_and_users(&mut self, count: usize, seq: u32) -> Result<()> {
        run_ok(Command::new("groupadd").arg(&self.group), "groupadd")?;
        self.gid = nix::unistd::Group::from_name(&self.group)?
            .context("the new group is missing")?
            .gid
            .as_raw();
        for i in 0..count.max(1) {
            // user names: dbxbench<pid> for the first (as before), dbxb<i>x<pid> for the others.
            let name = if i == 0 {
                self.user.clone()
            } else {
                format!("dbxb{i}x{seq}")
            };
            run_ok(
                Command::new("useradd").args([
                    "-M",
                    "-N",
                    "-s",
                    "/usr/sbin/nologin",
                    "-G",
                    &self.group,
                    &name,
                ]),
                "useradd",
            )?;
            let uid = nix::unistd::User::from_name(&name)?
                .context("the new user is missing")?
                .uid
                .as_raw();
            self.users.push(BenchUser { name, uid });
        }
        self.uid = self.users[0].uid;
        Ok(())
    }

    /// A private `podman system service` on `self.podman_socket`; returns once it accepts.
    fn start_podman_service(&mut self) -> Result<()> {
        self.podman_service = Some(
            Command::new("podman")
                .args(["system", "service", "--time=0"])
                .arg(format!("unix://{}", self.podman_socket.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting `podman system service`")?,
        );
        let podman_socket = &self.podman_socket;
        poll_until(Duration::from_secs(30), "Podman's API socket", || {
            std::os::unix::net::UnixStream::connect(podman_socket).ok()
        })?;
        Ok(())
    }

    /// The fake `op`'s side: a service-account token file (returned) and the store holding each
    /// user's auth key under the reference the users file names.
    fn write_op_store(&self) -> Result<PathBuf> {
        let token = format!("ops_bench{}", unique_name("t").replace('-', ""));
        let creds = self.dir.join("creds");
        fs::create_dir_all(&creds)?;
        let token_file = creds.join("op-service-account-token");
        fs::write(&token_file, format!("{token}\n"))?;
        fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600))?;
        let store = self.dir.join("op-store.json");
        let items: serde_json::Map<String, serde_json::Value> = self
            .users
            .iter()
            .map(|u| {
                (
                    format!("op://DevBox/{}-tailscale-authkey/password", u.name),
                    self.key.clone().into(),
                )
            })
            .collect();
        fs::write(
            &store,
            serde_json::json!({"token": token, "items": items}).to_string(),
        )?;
        fs::set_permissions(&store, fs::Permissions::from_mode(0o600))?;
        Ok(token_file)
    }

    /// devboxd's config file (and the directory its socket goes in).
    fn write_config(&self, token_file: &Path) -> Result<()> {
        let run_dir = self.dir.join("run");
        fs::create_dir_all(&run_dir)?;
        fs::set_permissions(&run_dir, fs::Permissions::from_mode(0o755))?;
        let config = serde_json::json!({
            "usersFile": self.users_file,
            "socketPath": self.socket,
            "socketGroup": self.group,
            "podmanSocket": self.podman_socket,
            "image": self.image,
            "stateDir": self.dir.join("state"),
            "opCommand": bin_path("fake-op")?,
            "opTokenFile": token_file,
            "instance": self.instance,
            "readyTimeoutSecs": 60,
        });
        fs::write(&self.config, config.to_string())?;
        Ok(())
    }

    /// (Re)writes the users file with these limits; devboxd reads it when it starts.
    pub fn write_users_file(&self, max_per_user: u32, max_global: u32) -> Result<()> {
        let mut users = serde_json::Map::new();
        let mut per_user = serde_json::Map::new();
        for (i, u) in self.users.iter().enumerate() {
            users.insert(
                u.name.clone(),
                serde_json::json!({
                    "uid": u.uid, "description": "Benchmark user", "email": format!("{}@example.org", u.name),
                    "gitUser": u.name, "isAdmin": i == 0, "sshKeys": [ssh_key(i)], "extraGroups": []
                }),
            );
            per_user.insert(
                u.name.clone(),
                serde_json::json!({
                    "opReference": format!("op://DevBox/{}-tailscale-authkey/password", u.name),
                    "tailscaleTags": ["tag:devcontainer", format!("tag:{}-container", u.name)]
                }),
            );
        }
        // The export lists users sorted by name (lib/export-users.nix); the daemon checks that.
        let mut names: Vec<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
        names.sort_unstable();
        let doc = serde_json::json!({
            "users": users,
            "containers": {
                "opVault": "DevBox", "maxPerUser": max_per_user, "maxGlobal": max_global,
                "defaultCpu": 2, "defaultMemory": "4G", "idleStopDays": 7, "stoppedDestroyDays": 14
            },
            "derived": {
                "allUsers": names, "adminUsers": [&self.user],
                "perUser": per_user
            }
        });
        fs::write(&self.users_file, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", self.users_file.display()))
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
        self.ctl_as(0, args)
    }

    /// `ctl` as the `i`-th benchmark user.
    pub fn ctl_as(&self, i: usize, args: &[&str]) -> Result<Output> {
        let user = self
            .users
            .get(i)
            .with_context(|| format!("no benchmark user #{i}"))?;
        let out = Command::new(&self.ctl)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .uid(user.uid)
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

/// An ed25519 public key line the users validator accepts, distinct for each user (a key is
/// listed once in a users file). Not a real key: 32 bytes derived from `i`.
fn ssh_key(i: usize) -> String {
    use base64::Engine as _;
    let mut blob = Vec::with_capacity(51);
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend((0..32u8).map(|b| b.wrapping_mul(7).wrapping_add(i as u8)));
    format!(
        "ssh-ed25519 {} bench{i}@example.invalid",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
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
        for u in &self.users {
            let _ = Command::new("userdel").arg(&u.name).output();
        }
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
