//! The supervised services (tailscaled, code-server, Syncthing, nix-daemon): their command
//! lines, starting them with their output passed to the log, restarts with backoff, and the
//! signals the stop sequence sends them. Reaping is PID 1's ([`crate::pid1`]); this module
//! is told which pid exited.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::config::Config;
use crate::log_event;
use crate::passwd::Account;
use crate::status::{ServiceState, ServiceStatus};

pub const TAILSCALED: &str = "tailscaled";
pub const CODE_SERVER: &str = "code-server";
pub const SYNCTHING: &str = "syncthing";
pub const NIX_DAEMON: &str = "nix-daemon";
/// A service that ran this long before exiting restarts after the base delay again.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How to run one service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: &'static str,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Run as this uid/gid (supplementary groups are dropped by std when switching from root).
    pub user: Option<(u32, u32)>,
    pub cwd: Option<PathBuf>,
}

/// The service command lines for this configuration, each with whether it is enabled.
pub fn service_specs(cfg: &Config, account: &Account) -> Vec<(ServiceSpec, bool)> {
    let mut specs = vec![
        (tailscaled(cfg), true),
        (code_server(cfg, account), cfg.code_server),
        (syncthing(cfg, account), cfg.syncthing),
    ];
    if cfg.nix_daemon {
        // Multi-user Nix: the store is root's; `dev` builds through this daemon (Nix's `auto`
        // store picks the daemon socket when the store is not writable), builds run as the
        // image's nixbld users.
        specs.push((
            ServiceSpec {
                name: NIX_DAEMON,
                program: "nix-daemon".into(),
                args: Vec::new(),
                env: Vec::new(),
                user: None,
                cwd: Some(PathBuf::from("/")),
            },
            true,
        ));
    }
    specs
}

fn user_env(cfg: &Config, account: &Account) -> Vec<(String, String)> {
    vec![
        ("HOME".to_string(), cfg.home.to_string_lossy().into_owned()),
        ("USER".to_string(), account.name.clone()),
        ("LOGNAME".to_string(), account.name.clone()),
        ("SHELL".to_string(), account.shell.clone()),
    ]
}

fn tailscaled(cfg: &Config) -> ServiceSpec {
    ServiceSpec {
        name: TAILSCALED,
        program: "tailscaled".into(),
        args: vec![
            "--tun=userspace-networking".into(),
            // State in the tmpfs: a crashed daemon comes back as the same node, a restarted
            // container starts afresh (and logs in with the key delivered again).
            format!(
                "--state={}",
                cfg.tailscale_statedir.join("tailscaled.state").display()
            ),
            format!("--statedir={}", cfg.tailscale_statedir.display()),
            format!("--socket={}", cfg.tailscaled_socket().display()),
        ],
        env: Vec::new(),
        user: None,
        cwd: None,
    }
}

fn code_server(cfg: &Config, account: &Account) -> ServiceSpec {
    let data = cfg.home.join(".local/share/code-server");
    ServiceSpec {
        name: CODE_SERVER,
        program: "code-server".into(),
        args: vec![
            "--bind-addr".into(),
            format!("{}:{}", cfg.code_server_bind, cfg.code_server_port),
            // Reached only over the tailnet (no published port), where Tailscale ACLs gate
            // access; the password (in code-server's own config file, never on argv) is the
            // second lock.
            "--auth".into(),
            "password".into(),
            "--config".into(),
            crate::prepare::code_server_config(cfg)
                .to_string_lossy()
                .into_owned(),
            "--disable-telemetry".into(),
            "--disable-update-check".into(),
            "--user-data-dir".into(),
            data.to_string_lossy().into_owned(),
            "--extensions-dir".into(),
            data.join("extensions").to_string_lossy().into_owned(),
            cfg.home.to_string_lossy().into_owned(),
        ],
        env: user_env(cfg, account),
        user: Some((account.uid, account.gid)),
        cwd: Some(cfg.home.clone()),
    }
}

fn syncthing(cfg: &Config, account: &Account) -> ServiceSpec {
    let mut env = user_env(cfg, account);
    env.push(("STNOUPGRADE".into(), "1".into()));
    env.push(("STNODEFAULTFOLDER".into(), "1".into()));
    // One process instead of Syncthing's monitor + child: PID 1 is the monitor, and a
    // signal reaches the process that has to exit.
    env.push(("STMONITORED".into(), "1".into()));
    ServiceSpec {
        name: SYNCTHING,
        program: "syncthing".into(),
        args: crate::syncthing::args(cfg),
        env,
        user: Some((account.uid, account.gid)),
        cwd: Some(cfg.home.clone()),
    }
}

/// Restart backoff: (delay before this restart, delay for the next one). The delay doubles
/// up to `max`; a service that ran [`STABLE_AFTER`] starts over at `base`.
pub fn restart_delay(
    current: Duration,
    ran: Duration,
    base: Duration,
    max: Duration,
) -> (Duration, Duration) {
    let now = if ran >= STABLE_AFTER { base } else { current };
    (now, (now * 2).min(max))
}

/// Passes a service's output to the log, one line at a time, with its name.
fn forward_output(name: &'static str, stream: Option<impl Read + Send + 'static>) {
    if let Some(stream) = stream {
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        crate::logging::event(name, line.trim_end());
                    }
                }
            }
        });
    }
}

/// One service and where it is in its life.
#[derive(Debug)]
pub struct Service {
    pub spec: ServiceSpec,
    pub enabled: bool,
    /// Why the home preparation for this service failed (it is not started without it).
    pub prep_error: Option<String>,
    pub state: ServiceState,
    pub pid: Option<Pid>,
    starts: u32,
    delay: Duration,
    next_start: Option<Instant>,
    started: Option<Instant>,
    last_error: Option<String>,
}

impl Service {
    pub fn new(
        spec: ServiceSpec,
        enabled: bool,
        prep_error: Option<String>,
        base: Duration,
    ) -> Self {
        Service {
            spec,
            enabled,
            prep_error,
            state: if enabled {
                ServiceState::Starting
            } else {
                ServiceState::Disabled
            },
            pid: None,
            starts: 0,
            delay: base,
            next_start: None,
            started: None,
            last_error: None,
        }
    }

    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// Not started (a failed preparation or spawn): try again after the backoff delay.
    pub fn back_off(&mut self, why: String, now: Instant, max: Duration) {
        log_event!(self.spec.name, "{why}; retrying in {:?}", self.delay);
        self.last_error = Some(why);
        self.state = ServiceState::Backoff;
        self.next_start = Some(now + self.delay);
        self.delay = (self.delay * 2).min(max);
    }

    /// Starts the service; a failure to start it at all backs off like a crash.
    pub fn spawn(&mut self, now: Instant, max: Duration) {
        let mut cmd = Command::new(&self.spec.program);
        crate::helpers::unblock_signals_in_child(&mut cmd);
        cmd.args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = self.spec.user {
            cmd.uid(uid).gid(gid);
        }
        if let Some(cwd) = &self.spec.cwd {
            cmd.current_dir(cwd);
        }
        let name = self.spec.name;
        match cmd.spawn() {
            Ok(mut child) => {
                let pid = Pid::from_raw(child.id() as i32);
                forward_output(name, child.stdout.take());
                forward_output(name, child.stderr.take());
                // The child is reaped by PID 1's waitpid(-1), not through `child`.
                drop(child);
                self.starts += 1;
                self.pid = Some(pid);
                self.state = ServiceState::Running;
                self.started = Some(now);
                self.next_start = None;
                if self.starts > 1 {
                    log_event!(name, "restarted (restart {}), pid {pid}", self.starts - 1);
                } else {
                    log_event!(name, "started, pid {pid}");
                }
            }
            Err(e) => {
                let why = format!("cannot start {}: {e}", self.spec.program);
                self.back_off(why, now, max);
            }
        }
    }

    /// The service's process ended: stopped (while stopping) or crashed (restart after the
    /// backoff delay).
    pub fn exited(
        &mut self,
        st: &WaitStatus,
        stopping: bool,
        now: Instant,
        base: Duration,
        max: Duration,
    ) {
        let what = crate::pid1::describe(st);
        self.pid = None;
        let name = self.spec.name;
        if stopping {
            self.state = ServiceState::Stopped;
            log_event!(name, "stopped ({what})");
            return;
        }
        let ran = self
            .started
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default();
        let (delay, next) = restart_delay(self.delay, ran, base, max);
        self.delay = next;
        self.state = ServiceState::Backoff;
        self.next_start = Some(now + delay);
        self.last_error = Some(what.clone());
        log_event!(name, "{what} after {ran:.1?}; restarting in {delay:?}");
    }

    /// In backoff and its delay is over.
    pub fn due(&self, now: Instant) -> bool {
        self.state == ServiceState::Backoff && self.next_start.is_some_and(|t| now >= t)
    }

    pub fn next_start(&self) -> Option<Instant> {
        self.next_start
    }

    /// SIGTERM for the stop sequence (a service not running counts as stopped).
    pub fn terminate(&mut self) {
        match self.pid {
            Some(pid) => {
                self.state = ServiceState::Stopping;
                let _ = kill(pid, Signal::SIGTERM);
            }
            None if self.enabled => self.state = ServiceState::Stopped,
            None => {}
        }
    }

    pub fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid {
            let _ = kill(pid, sig);
        }
    }

    pub fn status(&self) -> ServiceStatus {
        ServiceStatus {
            name: self.spec.name.to_string(),
            state: self.state,
            restarts: self.starts.saturating_sub(1),
            pid: self.pid.map(|p| p.as_raw()),
            last_error: self.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_backoff_doubles_to_the_cap_and_resets_after_a_stable_run() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(30));
        let quick = Duration::from_millis(100);
        let mut cur = base;
        let mut seen = Vec::new();
        for _ in 0..7 {
            let (now, next) = restart_delay(cur, quick, base, max);
            seen.push(now.as_secs());
            cur = next;
        }
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 30, 30]);
        // Ran long enough: back to the base delay.
        assert_eq!(
            restart_delay(cur, STABLE_AFTER, base, max),
            (base, base * 2)
        );
    }

    #[test]
    fn code_server_needs_its_password_file_and_nix_daemon_runs_only_when_asked() {
        let account = Account {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            home: PathBuf::from("/home/dev"),
            shell: "/bin/sh".into(),
        };
        let cfg = |nix: &'static str| {
            Config::from_lookup(move |k| match k {
                "DEVBOX_HOSTNAME" => Some("a-b".into()),
                "DEVBOX_OWNER" => Some("alice".into()),
                "DEVBOX_NIX_DAEMON" => Some(nix.into()),
                _ => None,
            })
            .unwrap()
        };
        let specs = service_specs(&cfg("false"), &account);
        assert!(specs.iter().all(|(s, _)| s.name != NIX_DAEMON));
        let cs = &specs.iter().find(|(s, _)| s.name == CODE_SERVER).unwrap().0;
        let argv = cs.args.join(" ");
        assert!(argv.contains("--auth password"), "{argv}");
        assert!(
            argv.contains("--config /home/dev/.config/code-server/config.yaml"),
            "{argv}"
        );
        assert_eq!(cs.user, Some((1000, 1000)));
        let specs = service_specs(&cfg("true"), &account);
        let (nd, enabled) = specs.iter().find(|(s, _)| s.name == NIX_DAEMON).unwrap();
        assert!(*enabled);
        assert_eq!(nd.user, None, "the daemon owns the store: root");
        assert!(Config::from_lookup(|k| match k {
            "DEVBOX_HOSTNAME" => Some("a-b".into()),
            "DEVBOX_OWNER" => Some("alice".into()),
            "DEVBOX_NIX_DAEMON" => Some("perhaps".into()),
            _ => None,
        })
        .is_err());
    }

    #[test]
    fn a_crash_backs_off_and_a_stop_does_not() {
        let spec = ServiceSpec {
            name: CODE_SERVER,
            program: "code-server".into(),
            args: Vec::new(),
            env: Vec::new(),
            user: None,
            cwd: None,
        };
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(30));
        let t0 = Instant::now();
        let mut s = Service::new(spec, true, None, base);
        assert_eq!(s.state, ServiceState::Starting);
        let pid = Pid::from_raw(9);
        s.exited(&WaitStatus::Exited(pid, 1), false, t0, base, max);
        assert_eq!(s.state, ServiceState::Backoff);
        assert!(!s.due(t0));
        assert!(s.due(t0 + base));
        assert_eq!(
            s.status().last_error.as_deref(),
            Some("exited with status 1")
        );
        s.exited(&WaitStatus::Exited(pid, 0), true, t0, base, max);
        assert_eq!(s.state, ServiceState::Stopped);
    }
}
