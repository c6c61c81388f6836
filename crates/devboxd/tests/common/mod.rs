//! Fixtures for devboxd's host tests: a private `podman system service`, a devboxd with its own
//! instance label, socket, state dir, users file and fake `op` store, real Unix users created
//! with useradd, and `devbox-ctl` run as those users with runuser.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[allow(unused_imports)] // not every test binary has host tests
pub use devbox_test_kit::host_test;
use devbox_test_kit::{bin_path, poll_until, unique_name};

pub const MIB: u64 = 1024 * 1024;

/// `podman system service` on a private socket, shared by every test of this test binary that
/// runs at the same time, and killed when the last of them drops it.
///
/// One service per process, not per test: two `podman system service` processes of Podman 4.3
/// taking storage locks in opposite orders were seen to deadlock each other (and with them every
/// `podman` command on the machine) when several tests of one binary ran in parallel.
pub struct PodmanService {
    // None for `dead()`: nothing listens on the socket.
    shared: Option<std::sync::Arc<SharedPodman>>,
    pub socket: PathBuf,
}

pub struct SharedPodman {
    child: std::sync::Mutex<Child>,
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Drop for SharedPodman {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

static SHARED_PODMAN: std::sync::Mutex<std::sync::Weak<SharedPodman>> =
    std::sync::Mutex::new(std::sync::Weak::new());

impl PodmanService {
    /// The binary's shared service, started if no running test holds it.
    /// (`_dir` is kept in the signature for the tests; the socket lives in a dir of its own.)
    pub fn start(_dir: &Path) -> Self {
        let mut slot = SHARED_PODMAN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = slot.upgrade() {
            let socket = shared.socket.clone();
            return Self {
                shared: Some(shared),
                socket,
            };
        }
        let dir = tempfile::Builder::new()
            .prefix("devboxd-podman-")
            .tempdir()
            .expect("tempdir for the podman socket");
        let socket = dir.path().join("podman.sock");
        let child = devbox_test_kit::host_program("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start podman system service");
        let shared = std::sync::Arc::new(SharedPodman {
            child: std::sync::Mutex::new(child),
            _dir: dir,
            socket: socket.clone(),
        });
        let s = socket.clone();
        poll_until(Duration::from_secs(30), "podman API socket", || {
            std::os::unix::net::UnixStream::connect(&s).ok()
        })
        .expect("podman service socket");
        *slot = std::sync::Arc::downgrade(&shared);
        Self {
            shared: Some(shared),
            socket,
        }
    }

    /// A stand-in for a stopped service: nothing listens on its socket path.
    pub fn dead(dir: &Path) -> Self {
        Self {
            shared: None,
            socket: dir.join("podman.sock"),
        }
    }
}

/// A real Unix user, removed on drop.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub admin: bool,
}

static USER_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl TestUser {
    /// Creates `dbx<role><pid><seq>` (valid user name, ≤ 32 chars) in `group`.
    pub fn create(role: &str, group: &str, admin: bool) -> Self {
        let seq = USER_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("dbx{role}{}x{seq}", std::process::id());
        let out = devbox_test_kit::host_program("useradd")
            .args(["-M", "-N", "-s", "/usr/sbin/nologin", "-G", group, &name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let uid = nix::unistd::User::from_name(&name)
            .unwrap()
            .unwrap()
            .uid
            .as_raw();
        Self { name, uid, admin }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = devbox_test_kit::host_program("userdel")
            .arg(&self.name)
            .output();
    }
}

/// A Unix group, removed on drop.
pub struct TestGroup {
    pub name: String,
}

impl TestGroup {
    pub fn create() -> Self {
        let name = format!(
            "dbxg{}x{}",
            std::process::id(),
            USER_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let out = devbox_test_kit::host_program("groupadd")
            .arg(&name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "groupadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { name }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = devbox_test_kit::host_program("groupdel")
            .arg(&self.name)
            .output();
    }
}

/// An ed25519 public key line the users validator accepts (unique per seed).
pub fn ssh_key(seed: u32) -> String {
    use base64::Engine as _;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    let mut key = [7u8; 32];
    key[..4].copy_from_slice(&seed.to_be_bytes());
    key[4..8].copy_from_slice(&std::process::id().to_be_bytes());
    blob.extend_from_slice(&key);
    format!(
        "ssh-ed25519 {} test@example.invalid",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

pub struct Options {
    pub max_per_user: u32,
    pub max_global: u32,
    pub default_memory: String,
    /// Keys in the fake 1Password, by user (None: the item is missing).
    pub with_keys: bool,
    pub op_token: bool,
    pub ready_timeout_secs: u64,
    pub image: Option<String>,
    pub op_delay_ms: u64,
    /// Merged into the daemon config (e.g. test hooks).
    pub extra_config: serde_json::Value,
    /// Merged into users.json's `containers` (lifecycle policy, webhook, API key reference).
    pub extra_policy: serde_json::Value,
    /// More items in the fake 1Password (reference, value).
    pub extra_items: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_per_user: 5,
            max_global: 7,
            default_memory: "4G".into(),
            with_keys: true,
            op_token: true,
            ready_timeout_secs: 30,
            image: None,
            op_delay_ms: 0,
            extra_config: serde_json::Value::Null,
            extra_policy: serde_json::Value::Null,
            extra_items: vec![],
        }
    }
}

/// The whole world of one test: Podman API service, group, users, daemon.
pub struct World {
    pub dir: tempfile::TempDir,
    pub instance: String,
    pub podman: PodmanService,
    pub group: TestGroup,
    pub users: Vec<TestUser>,
    pub daemon: Option<Child>,
    pub socket: PathBuf,
    pub ctl: PathBuf,
    pub image: String,
    /// Tailscale key per user name, as stored in the fake 1Password.
    pub keys: Vec<(String, String)>,
    pub op_log: PathBuf,
    pub daemon_log: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub op_delay_ms: u64,
}

pub fn testbed_image() -> String {
    devbox_test_kit::testbed::ensure_image().expect("testbed image")
}

impl World {
    /// `roles`: (role, admin) — e.g. [("a", false), ("b", false), ("m", true)].
    pub fn new(roles: &[(&str, bool)], opts: Options) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("devboxd-test-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let instance = unique_name("t");
        let podman = PodmanService::start(dir.path());
        let group = TestGroup::create();
        let users: Vec<TestUser> = roles
            .iter()
            .map(|(r, admin)| TestUser::create(r, &group.name, *admin))
            .collect();
        let image = opts.image.clone().unwrap_or_else(testbed_image);

        // users.json as lib/export-users.nix prints it.
        let mut u = serde_json::Map::new();
        let mut per_user = serde_json::Map::new();
        for (i, t) in users.iter().enumerate() {
            u.insert(
                t.name.clone(),
                serde_json::json!({
                    "uid": t.uid, "description": format!("Test User {i}"),
                    "email": format!("{}@example.org", t.name), "gitUser": t.name,
                    "isAdmin": t.admin, "sshKeys": [ssh_key(i as u32)], "extraGroups": []
                }),
            );
            per_user.insert(
                t.name.clone(),
                serde_json::json!({
                    "opReference": format!("op://DevBox/{}-tailscale-authkey/password", t.name),
                    "tailscaleTags": ["tag:devcontainer", format!("tag:{}-container", t.name)]
                }),
            );
        }
        let mut all: Vec<String> = users.iter().map(|t| t.name.clone()).collect();
        all.sort();
        let mut admins: Vec<String> = users
            .iter()
            .filter(|t| t.admin)
            .map(|t| t.name.clone())
            .collect();
        admins.sort();
        let mut users_json = serde_json::json!({
            "users": u,
            "containers": {
                "opVault": "DevBox", "maxPerUser": opts.max_per_user, "maxGlobal": opts.max_global,
                "defaultCpu": 2, "defaultMemory": opts.default_memory,
                "idleStopDays": 7, "stoppedDestroyDays": 14
            },
            "derived": {"allUsers": all, "adminUsers": admins, "perUser": per_user}
        });
        if let serde_json::Value::Object(extra) = &opts.extra_policy {
            for (k, v) in extra {
                users_json["containers"][k] = v.clone();
            }
        }
        let users_file = dir.path().join("users.json");
        std::fs::write(
            &users_file,
            serde_json::to_string_pretty(&users_json).unwrap(),
        )
        .unwrap();

        let keys: Vec<(String, String)> = users
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    format!(
                        "tskey-auth-CANARY{}{}",
                        t.uid,
                        unique_name("k").replace('-', "")
                    ),
                )
            })
            .collect();
        let mut items = serde_json::Map::new();
        if opts.with_keys {
            for (name, key) in &keys {
                items.insert(
                    format!("op://DevBox/{name}-tailscale-authkey/password"),
                    serde_json::Value::String(key.clone()),
                );
            }
        }
        for (reference, value) in &opts.extra_items {
            items.insert(reference.clone(), serde_json::Value::String(value.clone()));
        }
        let token = format!("ops_TOKENCANARY{}", std::process::id());
        let store = dir.path().join("op-store.json");
        std::fs::write(
            &store,
            serde_json::json!({"token": token, "items": items}).to_string(),
        )
        .unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir_all(&creds).unwrap();
        let token_file = creds.join("op-service-account-token");
        if opts.op_token {
            std::fs::write(&token_file, format!("{token}\n")).unwrap();
        }
        let run_dir = dir.path().join("run");
        let state_dir = dir.path().join("state");
        let socket = run_dir.join("devbox.sock");
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut config = serde_json::json!({
            "usersFile": users_file,
            "socketPath": socket,
            "socketGroup": group.name,
            "podmanSocket": podman.socket,
            "image": image,
            "stateDir": state_dir,
            "opCommand": bin_path("fake-op").unwrap(),
            "opTokenFile": token_file,
            "instance": instance,
            "readyTimeoutSecs": opts.ready_timeout_secs,
            // Tests count 1Password reads and rotate keys between starts: no cache, and limits
            // no test reaches unless it sets its own (tests/bounds.rs does).
            "opRateLimit": {"userBurst": 1000, "globalBurst": 1000, "cacheSecs": 0},
        });
        if let serde_json::Value::Object(extra) = &opts.extra_config {
            for (k, v) in extra {
                config[k] = v.clone();
            }
        }
        let config_file = dir.path().join("devboxd.json");
        std::fs::write(&config_file, config.to_string()).unwrap();

        // devbox-ctl where every test user can run it (the target dir may sit under /root).
        let ctl = dir.path().join("devbox-ctl");
        std::fs::copy(bin_path("devbox-ctl").unwrap(), &ctl).unwrap();
        std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();

        let op_log = dir.path().join("op.log");
        let daemon_log = dir.path().join("devboxd.log");
        let mut w = World {
            dir,
            instance,
            podman,
            group,
            users,
            daemon: None,
            socket,
            ctl,
            image,
            keys,
            op_log,
            daemon_log,
            state_dir,
            run_dir,
            op_delay_ms: 0,
        };
        w.start_daemon(&config_file, opts.op_delay_ms);
        w.op_delay_ms = opts.op_delay_ms;
        w
    }

    /// Starts the daemon again with the same config (after `stop_daemon`).
    pub fn restart_daemon(&mut self) {
        let config = self.dir.path().join("devboxd.json");
        self.start_daemon(&config, self.op_delay_ms);
    }

    fn start_daemon(&mut self, config: &Path, op_delay_ms: u64) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.daemon_log)
            .unwrap();
        let child = Command::new(bin_path("devboxd").unwrap())
            .arg("--config")
            .arg(config)
            .env("DEVBOXD_LOG", "debug")
            .env("FAKE_OP_STORE", self.dir.path().join("op-store.json"))
            .env("FAKE_OP_LOG", &self.op_log)
            .env("FAKE_OP_DELAY_MS", op_delay_ms.to_string())
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let s = self.socket.clone();
        let daemon_log = self.daemon_log.clone();
        let mut exited = false;
        let child = self.daemon.as_mut().unwrap();
        let r = poll_until(Duration::from_secs(20), "devboxd socket", || {
            if matches!(child.try_wait(), Ok(Some(_))) {
                exited = true;
                return Some(());
            }
            std::os::unix::net::UnixStream::connect(&s).ok().map(|_| ())
        });
        if r.is_err() || exited {
            panic!(
                "devboxd did not start: {}",
                std::fs::read_to_string(&daemon_log).unwrap_or_default()
            );
        }
    }

    /// Changes one field of the daemon config (takes effect at the next restart).
    pub fn set_config(&self, key: &str, value: serde_json::Value) {
        let path = self.dir.path().join("devboxd.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if value.is_null() {
            config.as_object_mut().unwrap().remove(key);
        } else {
            config[key] = value;
        }
        std::fs::write(&path, config.to_string()).unwrap();
    }

    /// SIGKILL, as a crash or a power cut would.
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until the daemon exits on its own (a fault-injection crash); true if it did.
    pub fn wait_daemon_exit(&mut self, timeout: Duration) -> bool {
        let Some(c) = self.daemon.as_mut() else {
            return true;
        };
        let exited = poll_until(timeout, "devboxd exit", || {
            c.try_wait().ok().flatten().map(|_| ())
        })
        .is_ok();
        if exited {
            self.daemon = None;
        }
        exited
    }

    pub fn stop_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }

    pub fn user(&self, i: usize) -> &TestUser {
        &self.users[i]
    }

    pub fn key_of(&self, user: &str) -> &str {
        &self.keys.iter().find(|(n, _)| n == user).unwrap().1
    }

    /// A container name unique to this test.
    pub fn name(&self, base: &str) -> String {
        let n = format!("{base}-{}", self.instance);
        n.chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string()
    }

    /// Runs devbox-ctl as root.
    pub fn ctl_root(&self, args: &[&str]) -> Output {
        Command::new(&self.ctl)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs devbox-ctl as a test user (runuser: real uid, real supplementary groups).
    pub fn ctl_as(&self, user: &TestUser, args: &[&str]) -> Output {
        self.ctl_as_env(user, args, &[])
    }

    pub fn ctl_as_env(&self, user: &TestUser, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = devbox_test_kit::host_program("runuser");
        cmd.arg("-u")
            .arg(&user.name)
            .arg("--")
            .arg(&self.ctl)
            .arg("--socket")
            .arg(&self.socket);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs devbox-ctl as a test user with `input` on its stdin (a pipe).
    pub fn ctl_as_stdin(&self, user: &TestUser, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = devbox_test_kit::host_program("runuser")
            .arg("-u")
            .arg(&user.name)
            .arg("--")
            .arg(&self.ctl)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The CLI may fail before reading (bad arguments): a closed pipe is not the test's error.
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// Runs devbox-ctl as a test user on a pseudo-terminal and types `input` only once `prompt`
    /// was shown (typed earlier, the terminal would echo it before the prompt turns echo off).
    /// Returns everything the terminal showed, and the exit status.
    pub fn ctl_as_tty_after(
        &self,
        user: &TestUser,
        args: &[&str],
        prompt: &str,
        input: &str,
    ) -> (String, std::process::ExitStatus) {
        use std::io::{Read, Write};
        let mut line = format!(
            "runuser -u {} -- {} --socket {}",
            user.name,
            self.ctl.display(),
            self.socket.display()
        );
        for a in args {
            line.push(' ');
            line.push_str(a);
        }
        let mut child = devbox_test_kit::host_program("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = shown.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut stdin = child.stdin.take().unwrap();
        poll_until(Duration::from_secs(60), "the prompt", || {
            String::from_utf8_lossy(&shown.lock().unwrap())
                .contains(prompt)
                .then_some(())
        })
        .unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        reader.join().unwrap();
        let text = String::from_utf8_lossy(&shown.lock().unwrap()).to_string();
        (text, status)
    }

    /// Runs devbox-ctl as a test user on a pseudo-terminal (util-linux `script`), typing `input`.
    pub fn ctl_as_tty(&self, user: &TestUser, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut line = format!(
            "runuser -u {} -- {} --socket {}",
            user.name,
            self.ctl.display(),
            self.socket.display()
        );
        for a in args {
            line.push(' ');
            line.push_str(a);
        }
        let mut child = devbox_test_kit::host_program("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The terminal buffers what is typed until the prompt reads it; stdin stays open until
        // the command is done (an early EOF would end `script`'s session).
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.daemon_log).unwrap_or_default()
    }

    /// Names of this world's containers, from Podman directly.
    pub fn podman_containers(&self) -> Vec<String> {
        let out = Command::new("timeout")
            .args([
                "120",
                "podman",
                "ps",
                "-a",
                "--format",
                "{{.Names}}",
                "--filter",
            ])
            .arg(format!("label=devbox.instance={}", self.instance))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Names of this world's volumes.
    pub fn podman_volumes(&self) -> Vec<String> {
        let out = Command::new("timeout")
            .args([
                "120",
                "podman",
                "volume",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
            ])
            .arg(format!("label=devbox.instance={}", self.instance))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_daemon();
        // A failing test shows what the daemon did (the harness prints a failing test's output).
        if std::thread::panicking() {
            eprintln!(
                "---- devboxd log of instance {} ----\n{}---- end of devboxd log ----",
                self.instance,
                self.daemon_log()
            );
        }
        for c in self.podman_containers() {
            let _ = Command::new("timeout")
                .args(["120", "podman", "rm", "-f", "-t", "2", &c])
                .output();
        }
        for v in self.podman_volumes() {
            let _ = Command::new("timeout")
                .args(["120", "podman", "volume", "rm", "-f", &v])
                .output();
        }
        // The containers' own networks and this instance's isolation rules.
        let networks = Command::new("timeout")
            .args(["120", "podman", "network", "ls", "-q", "--filter"])
            .arg(format!("label=devbox.instance={}", self.instance))
            .output();
        if let Ok(out) = networks {
            for n in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("timeout")
                    .args(["120", "podman", "network", "rm", "-f", n])
                    .output();
            }
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "inet"])
            .arg(devboxd::firewall::table_name(&self.instance))
            .output();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Asserts failure with `code` and returns stderr.
#[track_caller]
pub fn fails(o: Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}
