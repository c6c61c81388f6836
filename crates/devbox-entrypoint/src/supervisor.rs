//! PID 1: starts the services, reaps every zombie, forwards signals, restarts crashed services
//! with backoff, logs in to Tailscale when a key is delivered, reports status, and stops
//! everything in order on SIGTERM (grace period, then SIGKILL).
//!
//! Single-threaded event loop on a `signalfd` (plus one thread per service output stream that
//! prefixes each line with the service name). Children are spawned with `std::process` and
//! reaped here with `waitpid(-1, WNOHANG)` until none is left, which also reaps orphans
//! re-parented to PID 1.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::activity::{self, Activity};
use crate::config::Config;
use crate::helpers::{last_line, run_with_timeout, write_atomic};
use crate::log_event;
use crate::passwd::Account;
use crate::status::{
    Phase, ServiceState, ServiceStatus, Status, SyncthingStatus, TailscaleState, TailscaleStatus,
};
use crate::zed::ZedStatus;

/// Exit codes of `devbox-entrypoint run`.
pub mod exit {
    /// Stopped on request; every service exited within the grace period.
    pub const CLEAN: i32 = 0;
    /// Stopped on request, but something had to be SIGKILLed after the grace period.
    pub const KILLED: i32 = 1;
    /// The environment is invalid (every problem is printed).
    pub const CONFIG: i32 = 2;
    /// The container cannot be set up (missing user, unwritable run dir, ...).
    pub const SETUP: i32 = 70;
}

/// Setup failures before the loop runs.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("user {0:?} is not in /etc/passwd: the image must have the dev user (DEVBOX_USER)")]
    NoUser(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SetupError {
    let context = context.into();
    move |source| SetupError::Io { context, source }
}

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

#[derive(Debug)]
struct Service {
    spec: ServiceSpec,
    enabled: bool,
    /// Why the home preparation for this service failed (it is not started without it).
    prep_error: Option<String>,
    state: ServiceState,
    pid: Option<Pid>,
    starts: u32,
    delay: Duration,
    next_start: Option<Instant>,
    started: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct UpTask {
    pid: Option<Pid>,
    started: Option<Instant>,
    next_attempt: Option<Instant>,
    delay: Option<Duration>,
    force_reauth: bool,
}

#[derive(Debug)]
struct Shutdown {
    stage: u8,
    stage_deadline: Instant,
    kill_at: Instant,
    killed: bool,
}

const TAILSCALED: &str = "tailscaled";
const CODE_SERVER: &str = "code-server";
const SYNCTHING: &str = "syncthing";
const NIX_DAEMON: &str = "nix-daemon";
/// A service that ran this long before exiting restarts after the base delay again.
const STABLE_AFTER: Duration = Duration::from_secs(10);
const UP_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Supervisor {
    cfg: Config,
    /// The dev user: runs the user-facing services and owns the home volume.
    account: Account,
    services: Vec<Service>,
    ts: TailscaleStatus,
    up: UpTask,
    device_id: Option<String>,
    next_device_id_try: Instant,
    zed: ZedStatus,
    activity: Option<Activity>,
    next_probe: Instant,
    shutdown: Option<Shutdown>,
    started_at: String,
    last_written: String,
    last_write: Option<Instant>,
    no_children: bool,
    is_pid1: bool,
    orphans_reaped: u64,
}

/// Runs PID 1 until stopped; returns the exit code.
pub fn run(cfg: Config) -> Result<i32, SetupError> {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| io_err("block signals")(e.into()))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| io_err("signalfd")(e.into()))?;
    let is_pid1 = nix::unistd::getpid().as_raw() == 1;
    if !is_pid1 {
        // Outside a container (tests): adopt orphans like PID 1 would.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| io_err("set child subreaper")(e.into()))?;
    }
    let account = crate::passwd::lookup(std::path::Path::new("/etc/passwd"), &cfg.user)
        .map_err(io_err("read /etc/passwd"))?
        .ok_or_else(|| SetupError::NoUser(cfg.user.clone()))?;
    let mut sup = Supervisor::prepare(cfg, &account, is_pid1)?;
    sup.start_all();
    Ok(sup.event_loop(&sfd))
}

/// Makes `cmd` run as the dev user (when PID 1 is someone else, i.e. root).
fn as_user<'a>(cmd: &'a mut Command, account: &Account) -> &'a mut Command {
    if nix::unistd::geteuid().as_raw() != account.uid {
        cmd.uid(account.uid).gid(account.gid);
    }
    cmd
}

/// Runs `devbox-entrypoint prepare-home` as the dev user (this same program, through
/// /proc/self/exe, so nothing on PATH is involved) and reads its report. A failure to run it
/// at all is reported against the services that need it.
fn prepare_as_user(account: &Account) -> crate::prepare::Report {
    let mut cmd = Command::new("/proc/self/exe");
    as_user(&mut cmd, account)
        .arg("prepare-home")
        .env("HOME", &account.home)
        .current_dir("/");
    let failed = |why: String| crate::prepare::Report {
        zed: ZedStatus {
            provisioned: false,
            path: None,
            version: None,
            error: Some(why.clone()),
        },
        code_server_error: Some(why.clone()),
        syncthing_error: Some(why),
        notes: Vec::new(),
    };
    match run_with_timeout(&mut cmd, Duration::from_secs(30)) {
        Ok(out) if out.success => match serde_json::from_str(&out.stdout) {
            Ok(report) => report,
            Err(e) => failed(format!("the home preparation printed no report: {e}")),
        },
        Ok(out) => failed(format!(
            "the home preparation as {} failed: {}",
            account.name,
            last_line(&out.stderr).unwrap_or_default()
        )),
        Err(e) => failed(format!("cannot run the home preparation: {e}")),
    }
}

/// The service command lines for this configuration.
pub fn service_specs(cfg: &Config, account: &Account) -> Vec<(ServiceSpec, bool)> {
    let user_env = vec![
        ("HOME".to_string(), cfg.home.to_string_lossy().into_owned()),
        ("USER".to_string(), account.name.clone()),
        ("LOGNAME".to_string(), account.name.clone()),
        ("SHELL".to_string(), account.shell.clone()),
    ];
    let data = cfg.home.join(".local/share/code-server");
    let tailscaled = ServiceSpec {
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
    };
    let code_server = ServiceSpec {
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
        env: user_env.clone(),
        user: Some((account.uid, account.gid)),
        cwd: Some(cfg.home.clone()),
    };
    let mut st_env = user_env;
    st_env.push(("STNOUPGRADE".into(), "1".into()));
    st_env.push(("STNODEFAULTFOLDER".into(), "1".into()));
    // One process instead of Syncthing's monitor + child: PID 1 is the monitor, and a
    // signal reaches the process that has to exit.
    st_env.push(("STMONITORED".into(), "1".into()));
    let syncthing = ServiceSpec {
        name: SYNCTHING,
        program: "syncthing".into(),
        args: crate::syncthing::args(cfg),
        env: st_env,
        user: Some((account.uid, account.gid)),
        cwd: Some(cfg.home.clone()),
    };
    let mut specs = vec![
        (tailscaled, true),
        (code_server, cfg.code_server),
        (syncthing, cfg.syncthing),
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

fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by {sig:?}"),
        other => format!("{other:?}"),
    }
}

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

impl Supervisor {
    fn prepare(cfg: Config, account: &Account, is_pid1: bool) -> Result<Self, SetupError> {
        let run_dir = cfg.run_dir.clone();
        std::fs::create_dir_all(&run_dir)
            .map_err(io_err(format!("create {}", run_dir.display())))?;
        std::fs::create_dir_all(&cfg.tailscale_statedir).map_err(io_err(format!(
            "create {}",
            cfg.tailscale_statedir.display()
        )))?;
        for stale in [cfg.reauth_flag(), cfg.logged_out_flag(), cfg.status_file()] {
            let _ = std::fs::remove_file(stale);
        }
        write_atomic(
            &cfg.pid_file(),
            nix::unistd::getpid().to_string().as_bytes(),
            0o644,
        )
        .map_err(io_err("write pid file"))?;
        // The home volume: a fresh volume is root's; the dev user must own it. Only its root
        // is touched as root (through a descriptor; it is a mount point dev cannot replace);
        // everything inside is prepared by a child running as dev.
        std::fs::create_dir_all(&cfg.home)
            .map_err(io_err(format!("create {}", cfg.home.display())))?;
        if crate::homefs::give_dir(&cfg.home, (account.uid, account.gid)).map_err(io_err(
            format!("give {} to {}", cfg.home.display(), account.name),
        ))? {
            log_event!(
                "entrypoint",
                "gave {} to {}",
                cfg.home.display(),
                account.name
            );
        }
        // Directories an older entrypoint made as root (`~/.config`) go back to dev, through
        // descriptors (no symlink followed), or dev could not manage its own configuration.
        match crate::homefs::give_root_dirs(
            &cfg.home,
            &[".config", ".local", ".local/state", ".local/share"],
            (account.uid, account.gid),
        ) {
            Ok(given) if !given.is_empty() => log_event!(
                "entrypoint",
                "gave {} (made by an older entrypoint as root) to {}",
                given.join(", "),
                account.name
            ),
            Ok(_) => {}
            Err(e) => log_event!(
                "entrypoint",
                "cannot give root's directories in the home to {}: {e}",
                account.name
            ),
        }
        // Not fatal: a container without an author is better than no container.
        match crate::gitconfig::write(&cfg) {
            Ok(()) if cfg.git_name.is_some() || cfg.git_email.is_some() => {
                log_event!(
                    "git",
                    "identity written to {}",
                    crate::gitconfig::path(&cfg.run_dir).display()
                )
            }
            Ok(()) => {}
            Err(e) => log_event!("git", "cannot write the git identity: {e}"),
        }
        let report = prepare_as_user(account);
        let zed = report.zed.clone();
        match (&zed.path, &zed.error) {
            (Some(p), _) => log_event!("zed", "remote server provisioned at {p}"),
            (_, Some(e)) => log_event!("zed", "not provisioned: {e}"),
            _ => {}
        }
        for note in &report.notes {
            log_event!("entrypoint", "{note}");
        }
        let activity = activity::load(&cfg.home, &cfg.activity_file());
        let services = service_specs(&cfg, account)
            .into_iter()
            .map(|(spec, enabled)| Service {
                prep_error: match spec.name {
                    CODE_SERVER => report.code_server_error.clone(),
                    SYNCTHING => report.syncthing_error.clone(),
                    _ => None,
                },
                spec,
                enabled,
                state: if enabled {
                    ServiceState::Starting
                } else {
                    ServiceState::Disabled
                },
                pid: None,
                starts: 0,
                delay: cfg.restart_backoff,
                next_start: None,
                started: None,
                last_error: None,
            })
            .collect();
        log_event!(
            "entrypoint",
            "starting {} for {} (tags {}, syncthing {})",
            cfg.hostname,
            cfg.owner,
            cfg.tags.join(","),
            if cfg.syncthing { "on" } else { "off" }
        );
        Ok(Supervisor {
            ts: TailscaleStatus {
                state: TailscaleState::WaitingForKey,
                ip: None,
                hostname: None,
                error: None,
                attempts: 0,
            },
            services,
            up: UpTask::default(),
            device_id: None,
            next_device_id_try: Instant::now(),
            zed,
            activity,
            next_probe: Instant::now() + Duration::from_millis(500),
            shutdown: None,
            started_at: crate::logging::now_rfc3339(),
            last_written: String::new(),
            last_write: None,
            no_children: false,
            is_pid1,
            orphans_reaped: 0,
            account: account.clone(),
            cfg,
        })
    }

    fn start_all(&mut self) {
        for i in 0..self.services.len() {
            if self.services[i].enabled {
                self.start(i);
            }
        }
    }

    fn start(&mut self, i: usize) {
        if self.services[i].prep_error.is_some() {
            // Try again: the owner may have fixed the file meanwhile.
            let report = prepare_as_user(&self.account);
            let s = &mut self.services[i];
            s.prep_error = match s.spec.name {
                CODE_SERVER => report.code_server_error,
                SYNCTHING => report.syncthing_error,
                _ => None,
            };
            if let Some(msg) = s.prep_error.clone() {
                log_event!(s.spec.name, "{msg}; retrying in {:?}", s.delay);
                s.last_error = Some(msg);
                s.state = ServiceState::Backoff;
                s.next_start = Some(Instant::now() + s.delay);
                s.delay = (s.delay * 2).min(self.cfg.restart_backoff_max);
                return;
            }
        }
        let s = &mut self.services[i];
        let mut cmd = Command::new(&s.spec.program);
        crate::helpers::unblock_signals_in_child(&mut cmd);
        cmd.args(&s.spec.args)
            .envs(s.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = s.spec.user {
            cmd.uid(uid).gid(gid);
        }
        if let Some(cwd) = &s.spec.cwd {
            cmd.current_dir(cwd);
        }
        let name = s.spec.name;
        match cmd.spawn() {
            Ok(mut child) => {
                let pid = Pid::from_raw(child.id() as i32);
                forward_output(name, child.stdout.take());
                forward_output(name, child.stderr.take());
                // The child is reaped by the loop's waitpid(-1), not through `child`.
                drop(child);
                s.starts += 1;
                s.pid = Some(pid);
                s.state = ServiceState::Running;
                s.started = Some(Instant::now());
                s.next_start = None;
                if s.starts > 1 {
                    log_event!(name, "restarted (restart {}), pid {pid}", s.starts - 1);
                } else {
                    log_event!(name, "started, pid {pid}");
                }
            }
            Err(e) => {
                let msg = format!("cannot start {}: {e}", s.spec.program);
                log_event!(name, "{msg}; retrying in {:?}", s.delay);
                s.last_error = Some(msg);
                s.state = ServiceState::Backoff;
                s.next_start = Some(Instant::now() + s.delay);
                s.delay = (s.delay * 2).min(self.cfg.restart_backoff_max);
            }
        }
        if name == TAILSCALED {
            self.tailscale_reset_after_daemon_change();
        }
    }

    fn tailscale_reset_after_daemon_change(&mut self) {
        // A new daemon: check the login again (`up` with the same flags is a no-op for a
        // daemon that resumed its state, and logs in one that did not).
        if self.ts.state == TailscaleState::Running {
            self.ts.state = TailscaleState::Starting;
        }
        self.ts.ip = None;
        self.up.next_attempt = None;
    }

    fn event_loop(&mut self, sfd: &SignalFd) -> i32 {
        loop {
            let timeout = self.next_wakeup();
            let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => log_event!("entrypoint", "poll failed: {e}"),
            }
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD => {}
                    Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => {
                        if self.shutdown.is_some() {
                            log_event!("entrypoint", "second {sig:?}: killing everything now");
                            if let Some(sd) = self.shutdown.as_mut() {
                                sd.kill_at = Instant::now();
                            }
                        } else {
                            self.begin_shutdown(sig);
                        }
                    }
                    Signal::SIGUSR1 => self.doorbell(),
                    other => self.forward(other),
                }
            }
            self.reap();
            if self.shutdown.is_some() {
                if let Some(code) = self.shutdown_step() {
                    self.write_status(true);
                    log_event!("entrypoint", "stopped (exit {code})");
                    return code;
                }
            } else {
                self.tick();
            }
            self.write_status(false);
        }
    }

    fn next_wakeup(&self) -> Duration {
        let now = Instant::now();
        let mut next = now + Duration::from_secs(1);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = next.min(t);
            }
        };
        for s in &self.services {
            consider(s.next_start);
        }
        // A past retry time that is not acted on (no key, tailscaled down) must not spin the
        // loop; the 1 s tick picks it up once the login can run.
        consider(self.up.next_attempt.filter(|t| *t > now));
        consider(Some(self.next_probe));
        if let Some(sd) = &self.shutdown {
            consider(Some(sd.stage_deadline));
            consider(Some(sd.kill_at));
            consider(Some(now + Duration::from_millis(20)));
        }
        next.saturating_duration_since(now)
            .max(Duration::from_millis(5))
    }

    fn forward(&self, sig: Signal) {
        for s in &self.services {
            if let Some(pid) = s.pid {
                let _ = kill(pid, sig);
            }
        }
    }

    /// Reaps every exited child, services and orphans alike, until none is left.
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    self.no_children = false;
                    break;
                }
                Ok(st) => {
                    if let Some(pid) = st.pid() {
                        self.on_exit(pid, &st);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(_) => {
                    // ECHILD: nothing left to wait for.
                    self.no_children = true;
                    break;
                }
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, st: &WaitStatus) {
        if self.up.pid == Some(pid) {
            self.on_up_exit(st);
            return;
        }
        let Some(i) = self.services.iter().position(|s| s.pid == Some(pid)) else {
            self.orphans_reaped += 1;
            return;
        };
        let stopping = self.shutdown.is_some();
        let base = self.cfg.restart_backoff;
        let max = self.cfg.restart_backoff_max;
        let s = &mut self.services[i];
        let what = describe(st);
        s.pid = None;
        let name = s.spec.name;
        if stopping {
            s.state = ServiceState::Stopped;
            log_event!(name, "stopped ({what})");
        } else {
            let ran = s.started.map(|t| t.elapsed()).unwrap_or_default();
            let (delay, next) = restart_delay(s.delay, ran, base, max);
            s.delay = next;
            s.state = ServiceState::Backoff;
            s.next_start = Some(Instant::now() + delay);
            s.last_error = Some(what.clone());
            log_event!(name, "{what} after {ran:.1?}; restarting in {delay:?}");
            if name == TAILSCALED {
                self.tailscale_reset_after_daemon_change();
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.services.len() {
            let s = &self.services[i];
            if s.state == ServiceState::Backoff && s.next_start.is_some_and(|t| now >= t) {
                self.start(i);
            }
        }
        self.maybe_tailscale_up(now);
        if self.cfg.syncthing && self.device_id.is_none() && now >= self.next_device_id_try {
            self.next_device_id_try = now + Duration::from_millis(500);
            self.read_device_id();
        }
        if now >= self.next_probe {
            self.next_probe = now + self.cfg.activity_interval;
            self.probe();
        }
    }

    fn tailscaled_running(&self) -> bool {
        self.services
            .iter()
            .any(|s| s.spec.name == TAILSCALED && s.pid.is_some())
            // Connectable, not just present: a crashed daemon leaves its socket file behind.
            && std::os::unix::net::UnixStream::connect(self.cfg.tailscaled_socket()).is_ok()
    }

    fn maybe_tailscale_up(&mut self, now: Instant) {
        if let (Some(pid), Some(started)) = (self.up.pid, self.up.started) {
            if started.elapsed() > UP_TIMEOUT {
                log_event!("tailscale-up", "no answer after {UP_TIMEOUT:?}; killing it");
                let _ = kill(pid, Signal::SIGKILL);
            }
            return;
        }
        if self.cfg.logged_out_flag().exists() {
            self.ts.state = TailscaleState::LoggedOut;
            self.ts.ip = None;
            return;
        }
        if !self.cfg.key_file().exists() {
            // The key is deleted once used, so a restarted tailscaled is not logged in again
            // with it: it resumes the login from its state file (in the tmpfs). Ask it.
            if self.ts.state == TailscaleState::Starting {
                if !self.tailscaled_running() {
                    return;
                }
                self.refresh_tailscale_identity();
                if self.ts.state == TailscaleState::Running {
                    log_event!("tailscale", "tailscaled resumed its login");
                    return;
                }
            }
            if self.ts.state != TailscaleState::Running {
                self.ts.state = TailscaleState::WaitingForKey;
            }
            return;
        }
        // (The request is written before the key, so a key seen here has its request too.)
        if std::fs::remove_file(self.cfg.reauth_flag()).is_ok() {
            self.up.force_reauth = true;
        }
        let needed = self.ts.state != TailscaleState::Running || self.up.force_reauth;
        if !needed {
            self.delete_key("not needed: already on the tailnet");
            return;
        }
        let due = self.up.next_attempt.is_none_or(|t| now >= t);
        if !needed || !due || !self.tailscaled_running() {
            if self.ts.state == TailscaleState::WaitingForKey {
                self.ts.state = TailscaleState::Starting;
            }
            return;
        }
        let log_path = self.cfg.run_dir.join("tailscale-up.log");
        let log = match std::fs::File::create(&log_path) {
            Ok(f) => f,
            Err(e) => {
                log_event!("tailscale-up", "cannot create {}: {e}", log_path.display());
                return;
            }
        };
        let Ok(log2) = log.try_clone() else {
            return;
        };
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
        if self.up.force_reauth {
            args.push("--force-reauth".into());
        }
        if let Some(url) = &self.cfg.login_server {
            args.push(format!("--login-server={url}"));
        }
        match crate::helpers::unblock_signals_in_child(&mut Command::new("tailscale"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
        {
            Ok(child) => {
                let pid = Pid::from_raw(child.id() as i32);
                drop(child);
                log_event!(
                    "tailscale-up",
                    "logging in as {} with tags {} (pid {pid})",
                    self.cfg.hostname,
                    self.cfg.tags.join(",")
                );
                self.up.pid = Some(pid);
                self.up.started = Some(Instant::now());
                if self.ts.state != TailscaleState::Running {
                    self.ts.state = TailscaleState::Starting;
                }
            }
            Err(e) => {
                self.ts.state = TailscaleState::Error;
                self.ts.error = Some(format!("cannot run tailscale: {e}"));
                self.schedule_up_retry();
            }
        }
    }

    fn schedule_up_retry(&mut self) {
        let delay = self.up.delay.unwrap_or(self.cfg.restart_backoff);
        self.up.next_attempt = Some(Instant::now() + delay);
        self.up.delay = Some((delay * 2).min(self.cfg.restart_backoff_max.max(delay)));
        log_event!("tailscale-up", "retrying in {delay:?}");
    }

    fn on_up_exit(&mut self, st: &WaitStatus) {
        self.up.pid = None;
        self.up.started = None;
        self.ts.attempts += 1;
        let mut output = String::new();
        if let Ok(f) = std::fs::File::open(self.cfg.run_dir.join("tailscale-up.log")) {
            let _ = f.take(64 * 1024).read_to_string(&mut output);
        }
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            crate::logging::event("tailscale-up", line);
        }
        if matches!(st, WaitStatus::Exited(_, 0)) {
            self.delete_key("used: tailscaled keeps the login in its state");
            self.up.force_reauth = false;
            self.up.delay = None;
            self.up.next_attempt = None;
            self.ts.state = TailscaleState::Running;
            self.ts.error = None;
            self.refresh_tailscale_identity();
            log_event!(
                "tailscale-up",
                "on the tailnet as {} ({})",
                self.ts.hostname.as_deref().unwrap_or("?"),
                self.ts.ip.as_deref().unwrap_or("no IP yet")
            );
        } else {
            let err =
                last_line(&output).unwrap_or_else(|| format!("tailscale up {}", describe(st)));
            log_event!("tailscale-up", "failed: {err}");
            self.ts.state = TailscaleState::Error;
            self.ts.error = Some(err);
            self.schedule_up_retry();
        }
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

    /// Reads IP and DNS name from `tailscale status --json`; notices a lost login.
    fn refresh_tailscale_identity(&mut self) {
        let out = run_with_timeout(
            Command::new("tailscale")
                .arg(format!(
                    "--socket={}",
                    self.cfg.tailscaled_socket().display()
                ))
                .args(["status", "--json"]),
            Duration::from_secs(1),
        );
        let Ok(out) = out else {
            return;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
            return;
        };
        if v["BackendState"].as_str() != Some("Running") {
            if self.ts.state == TailscaleState::Starting && !self.cfg.key_file().exists() {
                self.ts.state = TailscaleState::WaitingForKey;
            }
            if self.ts.state == TailscaleState::Running {
                log_event!(
                    "tailscale",
                    "backend is {}; logging in again",
                    v["BackendState"].as_str().unwrap_or("unknown")
                );
                self.ts.state = TailscaleState::Starting;
                self.ts.ip = None;
            }
            return;
        }
        self.ts.state = TailscaleState::Running;
        self.ts.ip = v["Self"]["TailscaleIPs"]
            .as_array()
            .and_then(|ips| {
                ips.iter()
                    .filter_map(|i| i.as_str())
                    .find(|i| i.contains('.'))
            })
            .map(str::to_string);
        self.ts.hostname = v["Self"]["DNSName"]
            .as_str()
            .map(|n| n.trim_end_matches('.').to_string())
            .filter(|n| !n.is_empty());
    }

    fn doorbell(&mut self) {
        if self.cfg.logged_out_flag().exists() {
            log_event!("tailscale", "logged out on request; waiting for a new key");
            self.ts.state = TailscaleState::LoggedOut;
            self.ts.ip = None;
            return;
        }
        if std::fs::remove_file(self.cfg.reauth_flag()).is_ok() {
            self.up.force_reauth = true;
        }
        log_event!(
            "tailscale",
            "key delivered{}",
            if self.up.force_reauth {
                " (re-authenticating)"
            } else {
                ""
            }
        );
        if self.ts.state == TailscaleState::LoggedOut {
            self.ts.state = TailscaleState::Starting;
        }
        self.up.next_attempt = None;
        self.up.delay = None;
    }

    fn read_device_id(&mut self) {
        if crate::homefs::read_file(&self.cfg.home, &self.cfg.syncthing_home.join("cert.pem"), 0)
            .is_err()
        {
            return;
        }
        for args in crate::syncthing::device_id_commands(&self.cfg) {
            // As the dev user: Syncthing reads (and may write) its home on the volume.
            let out = run_with_timeout(
                as_user(&mut Command::new("syncthing"), &self.account)
                    .args(&args)
                    .current_dir("/"),
                Duration::from_secs(5),
            );
            if let Ok(out) = out {
                let id = out.stdout.trim();
                if out.success && crate::syncthing::is_device_id(id) {
                    log_event!(SYNCTHING, "device ID {id}");
                    self.device_id = Some(id.to_string());
                    return;
                }
            }
        }
    }

    fn probe(&mut self) {
        if self.ts.state == TailscaleState::Running && self.up.pid.is_none() {
            self.refresh_tailscale_identity();
        }
        if let Some(seen) = activity::probe(&self.cfg, std::path::Path::new("/proc")) {
            if self.activity.as_ref().is_none_or(|a| seen.at > a.at) {
                if let Err(e) = activity::save(
                    &self.cfg.home,
                    &self.cfg.activity_file(),
                    &seen,
                    (self.account.uid, self.account.gid),
                ) {
                    log_event!("entrypoint", "cannot persist last activity: {e}");
                }
                self.activity = Some(seen);
            }
        }
    }

    fn begin_shutdown(&mut self, sig: Signal) {
        log_event!("entrypoint", "{sig:?} received: stopping services");
        let now = Instant::now();
        let grace = self.cfg.stop_grace;
        self.shutdown = Some(Shutdown {
            stage: 1,
            stage_deadline: now + grace / 2,
            kill_at: now + grace,
            killed: false,
        });
        self.write_status(true);
        if self.cfg.logout_on_stop
            && self.ts.state == TailscaleState::Running
            && self.tailscaled_running()
        {
            // An ephemeral node is removed from the tailnet at once on logout.
            let out = run_with_timeout(
                Command::new("tailscale")
                    .arg(format!(
                        "--socket={}",
                        self.cfg.tailscaled_socket().display()
                    ))
                    .arg("logout"),
                (grace / 3).min(Duration::from_secs(2)),
            );
            match out {
                Ok(o) if o.success => log_event!("tailscale", "logged out"),
                Ok(o) => log_event!(
                    "tailscale",
                    "logout failed: {}",
                    last_line(&o.stderr).unwrap_or_default()
                ),
                Err(e) => log_event!("tailscale", "logout failed: {e}"),
            }
            self.ts.state = TailscaleState::LoggedOut;
            self.ts.ip = None;
        }
        if let Some(pid) = self.up.pid {
            let _ = kill(pid, Signal::SIGTERM);
        }
        // First the user-facing services, tailscaled last (it carries the sessions).
        for s in self.services.iter_mut() {
            match (s.spec.name, s.pid) {
                (TAILSCALED, _) => {}
                (_, Some(pid)) => {
                    s.state = ServiceState::Stopping;
                    let _ = kill(pid, Signal::SIGTERM);
                }
                (_, None) if s.enabled => s.state = ServiceState::Stopped,
                _ => {}
            }
        }
    }

    fn alive(&self, tailscaled: bool) -> bool {
        self.services
            .iter()
            .any(|s| s.pid.is_some() && (s.spec.name == TAILSCALED) == tailscaled)
    }

    /// Advances the stop sequence; returns the exit code when everything is gone.
    fn shutdown_step(&mut self) -> Option<i32> {
        let now = Instant::now();
        let sd = self.shutdown.as_mut()?;
        if now >= sd.kill_at && !sd.killed {
            sd.killed = true;
            let mut any = false;
            for s in self.services.iter() {
                if let Some(pid) = s.pid {
                    log_event!(s.spec.name, "did not stop within the grace period: SIGKILL");
                    let _ = kill(pid, Signal::SIGKILL);
                    any = true;
                }
            }
            if let Some(pid) = self.up.pid {
                let _ = kill(pid, Signal::SIGKILL);
            }
            if self.is_pid1 {
                // Everything else in the container (shells, Zed servers, orphans).
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            }
            // Collect the killed children (bounded: SIGKILL cannot be ignored).
            let deadline = Instant::now() + Duration::from_millis(500);
            while (self.alive(true) || self.alive(false)) && Instant::now() < deadline {
                self.reap();
                std::thread::sleep(Duration::from_millis(5));
            }
            self.reap();
            let sd_killed = any;
            return Some(if sd_killed { exit::KILLED } else { exit::CLEAN });
        }
        let alive_user = self.alive(false);
        let alive_ts = self.alive(true);
        let sd = self.shutdown.as_mut()?;
        if sd.stage == 1 && (!alive_user || now >= sd.stage_deadline) {
            sd.stage = 2;
            sd.stage_deadline = sd.kill_at;
            for s in self
                .services
                .iter_mut()
                .filter(|s| s.spec.name == TAILSCALED)
            {
                if let Some(pid) = s.pid {
                    s.state = ServiceState::Stopping;
                    let _ = kill(pid, Signal::SIGTERM);
                }
            }
            return None;
        }
        if sd.stage == 2 && !alive_user && !alive_ts && self.up.pid.is_none() {
            if self.is_pid1 && !self.no_children {
                // Remaining processes (sessions, orphans): ask them once, then wait for them
                // until the kill deadline.
                sd.stage = 3;
                let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
                return None;
            }
            return Some(exit::CLEAN);
        }
        if sd.stage == 3 && self.no_children {
            return Some(exit::CLEAN);
        }
        None
    }

    fn phase(&self) -> Phase {
        if self.shutdown.is_some() {
            return Phase::Stopping;
        }
        let crashed = self
            .services
            .iter()
            .any(|s| s.enabled && s.state == ServiceState::Backoff);
        if crashed || self.ts.state == TailscaleState::Error {
            return Phase::Degraded;
        }
        match self.ts.state {
            TailscaleState::WaitingForKey | TailscaleState::LoggedOut => Phase::WaitingForKey,
            TailscaleState::Starting | TailscaleState::Error => Phase::Starting,
            TailscaleState::Running => {
                let all_up = self
                    .services
                    .iter()
                    .all(|s| !s.enabled || s.state == ServiceState::Running);
                if all_up && self.ts.ip.is_some() {
                    Phase::Ready
                } else {
                    Phase::Starting
                }
            }
        }
    }

    pub fn status(&self) -> Status {
        let phase = self.phase();
        Status {
            phase,
            ready: phase == Phase::Ready,
            hostname: self.cfg.hostname.clone(),
            owner: self.cfg.owner.clone(),
            services: self
                .services
                .iter()
                .map(|s| ServiceStatus {
                    name: s.spec.name.to_string(),
                    state: s.state,
                    restarts: s.starts.saturating_sub(1),
                    pid: s.pid.map(|p| p.as_raw()),
                    last_error: s.last_error.clone(),
                })
                .collect(),
            tailscale: self.ts.clone(),
            syncthing: SyncthingStatus {
                enabled: self.cfg.syncthing,
                device_id: self.device_id.clone(),
            },
            zed: Some(self.zed.clone()),
            last_activity: self.activity.as_ref().map(|a| a.at.to_string()),
            last_activity_source: self.activity.as_ref().map(|a| a.source.clone()),
            orphans_reaped: self.orphans_reaped,
            updated_at: crate::logging::now_rfc3339(),
            started_at: self.started_at.clone(),
        }
    }

    /// Writes the status file when it changed (or every few seconds, to show liveness).
    fn write_status(&mut self, force: bool) {
        let mut st = self.status();
        let updated = std::mem::take(&mut st.updated_at);
        let Ok(key) = serde_json::to_string(&st) else {
            return;
        };
        let stale = self
            .last_write
            .is_none_or(|t| t.elapsed() > Duration::from_secs(5));
        if !force && !stale && key == self.last_written {
            return;
        }
        st.updated_at = updated;
        if let Ok(text) = serde_json::to_string_pretty(&st) {
            if let Err(e) = write_atomic(&self.cfg.status_file(), text.as_bytes(), 0o644) {
                log_event!("entrypoint", "cannot write status: {e}");
            }
        }
        self.last_written = key;
        self.last_write = Some(Instant::now());
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
    fn wait_status_descriptions() {
        let pid = Pid::from_raw(7);
        assert_eq!(
            describe(&WaitStatus::Exited(pid, 3)),
            "exited with status 3"
        );
        assert_eq!(
            describe(&WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            "killed by SIGKILL"
        );
    }
}
