//! PID 1 put together: the PID-1 duties ([`crate::pid1`]: signals, reaping, the stop stages),
//! the services ([`crate::services`]), the Tailscale login ([`crate::login`], acting through
//! [`crate::tailscale`]) and the probes ([`crate::probes`]), driven by one single-threaded
//! event loop; the status report is written from their states.

use std::time::{Duration, Instant};

use devbox_contract::RunExit;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::config::Config;
use crate::helpers::write_atomic;
use crate::log_event;
use crate::login::{Login, LoginWorld};
use crate::passwd::Account;
use crate::pid1::{self, Alive, Request, Shutdown, Signals, Stage};
use crate::prepare::Report;
use crate::probes::{DeviceId, LastActivity};
use crate::services::{service_specs, Service, CODE_SERVER, SYNCTHING, TAILSCALED};
use crate::status::{
    Phase, ServiceState, Status, SyncthingStatus, TailscaleState, TailscaleStatus, ZedStatus,
};
use crate::tailscale;

pub use crate::setup::SetupError;
use crate::setup::{self, io_err};

pub struct Supervisor {
    cfg: Config,
    /// The dev user: runs the user-facing services and owns the home volume.
    account: Account,
    services: Vec<Service>,
    login: Login,
    device_id: DeviceId,
    zed: ZedStatus,
    activity: LastActivity,
    shutdown: Option<Shutdown>,
    started_at: String,
    last_written: String,
    last_write: Option<Instant>,
    no_children: bool,
    is_pid1: bool,
    orphans_reaped: u64,
}

/// Runs PID 1 until stopped; returns the exit code.
pub fn run(cfg: Config) -> Result<RunExit, SetupError> {
    let is_pid1 = nix::unistd::getpid().as_raw() == 1;
    let signals = Signals::install(is_pid1).map_err(io_err("set up signal handling"))?;
    let account = crate::passwd::lookup(std::path::Path::new("/etc/passwd"), &cfg.user)
        .map_err(io_err("read /etc/passwd"))?
        .ok_or_else(|| SetupError::NoUser(cfg.user.clone()))?;
    let mut sup = Supervisor::prepare(cfg, &account, is_pid1)?;
    sup.start_all();
    Ok(sup.event_loop(&signals))
}

/// The container's phase from its parts: stopping, degraded (a crashed service, a failed
/// login), waiting for a key, ready (on the tailnet with an IP and every enabled service
/// running) or starting.
fn phase(stopping: bool, services: &[Service], ts: &TailscaleStatus) -> Phase {
    if stopping {
        return Phase::Stopping;
    }
    let crashed = services
        .iter()
        .any(|s| s.enabled && s.state == ServiceState::Backoff);
    if crashed || ts.state == TailscaleState::Error {
        return Phase::Degraded;
    }
    match ts.state {
        TailscaleState::WaitingForKey | TailscaleState::LoggedOut => Phase::WaitingForKey,
        TailscaleState::Running => {
            let all_up = services
                .iter()
                .all(|s| !s.enabled || s.state == ServiceState::Running);
            if all_up && ts.ip.is_some() {
                Phase::Ready
            } else {
                Phase::Starting
            }
        }
        // (Unknown is only ever read, never a state of this login.)
        TailscaleState::Starting | TailscaleState::Error | TailscaleState::Unknown => {
            Phase::Starting
        }
    }
}

/// Why the home preparation keeps this service from starting, if it does.
fn prep_error(service: &str, report: &Report) -> Option<String> {
    match service {
        CODE_SERVER => report.code_server_error.clone(),
        SYNCTHING => report.syncthing_error.clone(),
        _ => None,
    }
}

impl Supervisor {
    fn prepare(cfg: Config, account: &Account, is_pid1: bool) -> Result<Self, SetupError> {
        setup::run_dir(&cfg)?;
        setup::home_root(&cfg, account)?;
        setup::git_identity(&cfg);
        let report = setup::prepare_home_as_user(account);
        setup::log_report(&report);
        let now = Instant::now();
        let services = service_specs(&cfg, account)
            .into_iter()
            .map(|(spec, enabled)| {
                let prep = prep_error(spec.name, &report);
                Service::new(spec, enabled, prep, cfg.restart_backoff)
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
            services,
            login: Login::new(cfg.restart_backoff, cfg.restart_backoff_max),
            device_id: DeviceId::new(now),
            zed: report.zed,
            activity: LastActivity::load(&cfg, now),
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
        let now = Instant::now();
        for i in 0..self.services.len() {
            if self.services[i].enabled {
                self.start(i, now);
            }
        }
    }

    fn start(&mut self, i: usize, now: Instant) {
        let max = self.cfg.restart_backoff_max;
        if self.services[i].prep_error.is_some() {
            // Try again: the owner may have fixed the file meanwhile.
            let report = setup::prepare_home_as_user(&self.account);
            let s = &mut self.services[i];
            s.prep_error = prep_error(s.name(), &report);
            if let Some(msg) = s.prep_error.clone() {
                s.back_off(msg, now, max);
                return;
            }
        }
        let s = &mut self.services[i];
        s.spawn(now, max);
        if s.name() == TAILSCALED {
            self.login.daemon_changed();
        }
    }

    fn event_loop(&mut self, signals: &Signals) -> RunExit {
        loop {
            for request in signals.wait(self.next_wakeup(Instant::now())) {
                match request {
                    Request::Reap => {}
                    Request::Stop(sig) => self.on_stop_signal(sig),
                    Request::Doorbell => {
                        let mut w = tailscale::Cli::new(&self.cfg, self.alive(true));
                        self.login.doorbell(&mut w);
                    }
                    Request::Forward(sig) => {
                        for s in &self.services {
                            s.signal(sig);
                        }
                    }
                }
            }
            self.reap();
            if self.shutdown.is_some() {
                if let Some(code) = self.shutdown_step() {
                    self.write_status(true);
                    log_event!("entrypoint", "stopped (exit {})", code.code());
                    return code;
                }
            } else {
                self.tick();
            }
            self.write_status(false);
        }
    }

    fn next_wakeup(&self, now: Instant) -> Duration {
        let next = self
            .services
            .iter()
            .filter_map(Service::next_start)
            .chain(self.login.next_wakeup(now))
            .chain([self.activity.next_probe(), now + Duration::from_secs(1)])
            .chain(self.shutdown.as_ref().map(|sd| sd.next_wakeup(now)))
            .min()
            .unwrap_or(now);
        next.saturating_duration_since(now)
            .max(Duration::from_millis(5))
    }

    /// Reaps every exited child and hands each to whoever it belongs to.
    fn reap(&mut self) {
        let mut exits = Vec::new();
        self.no_children = pid1::reap(|pid, st| exits.push((pid, st)));
        let now = Instant::now();
        for (pid, st) in exits {
            self.on_exit(pid, &st, now);
        }
    }

    fn on_exit(&mut self, pid: Pid, st: &WaitStatus, now: Instant) {
        let mut w = tailscale::Cli::new(&self.cfg, self.alive(true));
        if self.login.on_exit(pid, st, now, &mut w) {
            return;
        }
        let (base, max) = (self.cfg.restart_backoff, self.cfg.restart_backoff_max);
        let stopping = self.shutdown.is_some();
        let Some(s) = self.services.iter_mut().find(|s| s.pid == Some(pid)) else {
            self.orphans_reaped += 1;
            return;
        };
        s.exited(st, stopping, now, base, max);
        if !stopping && s.name() == TAILSCALED {
            self.login.daemon_changed();
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.services.len() {
            if self.services[i].due(now) {
                self.start(i, now);
            }
        }
        let mut w = tailscale::Cli::new(&self.cfg, self.alive(true));
        self.login.tick(now, &mut w);
        self.device_id.tick(now, &self.cfg, &self.account);
        if self.activity.due(now, self.cfg.activity_interval) {
            let mut w = tailscale::Cli::new(&self.cfg, self.alive(true));
            self.login.probe(&mut w);
            self.activity.probe(&self.cfg, &self.account);
        }
    }

    fn on_stop_signal(&mut self, sig: Signal) {
        match self.shutdown.as_mut() {
            Some(sd) => {
                log_event!("entrypoint", "second {sig:?}: killing everything now");
                sd.hurry(Instant::now());
            }
            None => self.begin_shutdown(sig),
        }
    }

    fn begin_shutdown(&mut self, sig: Signal) {
        log_event!("entrypoint", "{sig:?} received: stopping services");
        let grace = self.cfg.stop_grace;
        self.shutdown = Some(Shutdown::begin(Instant::now(), grace));
        self.write_status(true);
        let w = tailscale::Cli::new(&self.cfg, self.alive(true));
        if self.cfg.logout_on_stop && self.login.state() == TailscaleState::Running && w.daemon_up()
        {
            // An ephemeral node is removed from the tailnet at once on logout.
            w.logout((grace / 3).min(Duration::from_secs(2)));
            self.login.logged_out_on_stop();
        }
        if let Some(pid) = self.login.up_pid() {
            let _ = kill(pid, Signal::SIGTERM);
        }
        // First the user-facing services, tailscaled last (it carries the sessions).
        for s in self.services.iter_mut().filter(|s| s.name() != TAILSCALED) {
            s.terminate();
        }
    }

    /// Whether tailscaled (`true`) or any other service (`false`) still runs.
    fn alive(&self, tailscaled: bool) -> bool {
        self.services
            .iter()
            .any(|s| s.pid.is_some() && (s.name() == TAILSCALED) == tailscaled)
    }

    /// Advances the stop sequence; returns the exit code when everything is gone.
    fn shutdown_step(&mut self) -> Option<RunExit> {
        let alive = Alive {
            services: self.alive(false),
            tailscaled: self.alive(true),
            login: self.login.up_pid().is_some(),
            children: !self.no_children,
        };
        let is_pid1 = self.is_pid1;
        match self.shutdown.as_mut()?.step(Instant::now(), alive, is_pid1) {
            Stage::Wait => None,
            Stage::StopTailscaled => {
                for s in self.services.iter_mut() {
                    if s.name() == TAILSCALED && s.pid.is_some() {
                        s.terminate();
                    }
                }
                None
            }
            Stage::StopEveryone => {
                pid1::signal_everyone(is_pid1, Signal::SIGTERM);
                None
            }
            Stage::Kill => Some(self.kill_everything()),
            Stage::Done(code) => Some(code),
        }
    }

    /// The grace period is over: SIGKILL for every service, a running login and (as PID 1)
    /// everything else in the container; then collect them.
    fn kill_everything(&mut self) -> RunExit {
        let mut any = false;
        for s in self.services.iter().filter(|s| s.pid.is_some()) {
            log_event!(s.name(), "did not stop within the grace period: SIGKILL");
            s.signal(Signal::SIGKILL);
            any = true;
        }
        if let Some(pid) = self.login.up_pid() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        // Everything else in the container (shells, Zed servers, orphans).
        pid1::signal_everyone(self.is_pid1, Signal::SIGKILL);
        // Collect the killed children (bounded: SIGKILL cannot be ignored).
        let deadline = Instant::now() + Duration::from_millis(500);
        while (self.alive(true) || self.alive(false)) && Instant::now() < deadline {
            self.reap();
            std::thread::sleep(Duration::from_millis(5));
        }
        self.reap();
        if any {
            RunExit::Killed
        } else {
            RunExit::Clean
        }
    }

    pub fn status(&self) -> Status {
        let phase = phase(self.shutdown.is_some(), &self.services, self.login.status());
        let activity = self.activity.get();
        Status {
            phase,
            ready: phase == Phase::Ready,
            hostname: self.cfg.hostname.clone(),
            owner: self.cfg.owner.clone(),
            services: self.services.iter().map(Service::status).collect(),
            tailscale: self.login.status().clone(),
            syncthing: SyncthingStatus {
                enabled: self.cfg.syncthing,
                device_id: self.device_id.get().cloned(),
            },
            zed: Some(self.zed.clone()),
            last_activity: activity.map(|a| a.at.to_string()),
            last_activity_source: activity.map(|a| a.source.clone()),
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
    use crate::services::ServiceSpec;

    fn service(name: &'static str, enabled: bool, state: ServiceState) -> Service {
        let spec = ServiceSpec {
            name,
            program: name.into(),
            args: Vec::new(),
            env: Vec::new(),
            user: None,
            cwd: None,
        };
        let mut s = Service::new(spec, enabled, None, Duration::from_secs(1));
        s.state = state;
        s
    }

    fn ts(state: TailscaleState, ip: Option<&str>) -> TailscaleStatus {
        TailscaleStatus {
            state,
            ip: ip.map(str::to_string),
            ..TailscaleStatus::default()
        }
    }

    #[test]
    fn ready_needs_the_tailnet_with_an_ip_and_every_enabled_service() {
        let up = [
            service(TAILSCALED, true, ServiceState::Running),
            service(SYNCTHING, false, ServiceState::Disabled),
            service(CODE_SERVER, true, ServiceState::Running),
        ];
        let on = ts(TailscaleState::Running, Some("100.64.0.2"));
        assert_eq!(phase(false, &up, &on), Phase::Ready);
        assert_eq!(phase(true, &up, &on), Phase::Stopping);
        let no_ip = ts(TailscaleState::Running, None);
        assert_eq!(phase(false, &up, &no_ip), Phase::Starting);
        let waiting = ts(TailscaleState::WaitingForKey, None);
        assert_eq!(phase(false, &up, &waiting), Phase::WaitingForKey);
        let logged_out = ts(TailscaleState::LoggedOut, None);
        assert_eq!(phase(false, &up, &logged_out), Phase::WaitingForKey);
        let failed = ts(TailscaleState::Error, None);
        assert_eq!(phase(false, &up, &failed), Phase::Degraded);
        let crashed = [
            service(TAILSCALED, true, ServiceState::Running),
            service(CODE_SERVER, true, ServiceState::Backoff),
        ];
        assert_eq!(phase(false, &crashed, &on), Phase::Degraded);
        let starting = [service(CODE_SERVER, true, ServiceState::Starting)];
        assert_eq!(phase(false, &starting, &on), Phase::Starting);
    }
}
