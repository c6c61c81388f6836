//! The Tailscale login as a state machine: when to run `tailscale up`, when to give up on one
//! that hangs, how to back off after a failure, when a key is used up, when the login is lost.
//!
//! No I/O here: everything the login looks at (the key file, the logout and re-auth flags,
//! whether tailscaled answers, `tailscale status`) and everything it does (start or kill
//! `tailscale up`, delete the key) goes through [`LoginWorld`]. PID 1 implements it with the run
//! dir and the `tailscale` CLI ([`crate::tailscale::Cli`]); the tests below with a struct, so
//! every path runs without a process. Time is passed in (`now`), never read.
//!
//! Driven by the supervisor: [`Login::tick`] on every loop turn, [`Login::on_exit`] for every
//! reaped child, [`Login::doorbell`] on SIGUSR1 (`deliver-key`, `logout`), [`Login::probe`] at
//! each activity probe, [`Login::daemon_changed`] when tailscaled (re)starts or exits;
//! [`Login::next_wakeup`] says when it wants the next tick.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::helpers::last_line;
use crate::log_event;
use crate::status::{TailscaleState, TailscaleStatus};

/// A `tailscale up` that has not finished after this long is killed and counts as failed
/// (it runs with `--timeout=60s`; this catches one that hangs anyway).
pub const UP_TIMEOUT: Duration = Duration::from_secs(90);

/// What `tailscale status --json` said about the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backend {
    /// `BackendState` as tailscaled says it ("Running", "NeedsLogin", ...).
    pub state: String,
    /// The node's IPv4 address on the tailnet.
    pub ip: Option<String>,
    /// The node's DNS name, without the trailing dot.
    pub hostname: Option<String>,
}

impl Backend {
    pub fn running(&self) -> bool {
        self.state == "Running"
    }
}

/// How starting `tailscale up` went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpStart {
    Started(Pid),
    /// Its log file could not be made: nothing was run; tried again at the next tick.
    NoLogFile,
    /// It could not be run (the message says why): a failed attempt, retried with backoff.
    Failed(String),
}

/// What the login looks at and acts on.
pub trait LoginWorld {
    /// `logout` asked to stay logged out until the next key.
    fn logged_out(&self) -> bool;
    /// An auth key is in the run dir.
    fn key_present(&self) -> bool;
    /// Takes (removes) a re-auth request of `deliver-key --reauth`; whether there was one.
    fn take_reauth_request(&mut self) -> bool;
    /// tailscaled runs and answers on its socket.
    fn daemon_up(&self) -> bool;
    /// Starts `tailscale up` with the key file (`--force-reauth` when asked).
    fn start_up(&mut self, force_reauth: bool) -> UpStart;
    fn kill(&mut self, pid: Pid, signal: Signal);
    /// Deletes the auth key, saying why in the log.
    fn delete_key(&mut self, why: &str);
    /// Asks tailscaled (`tailscale status --json`); None: no usable answer.
    fn backend(&mut self) -> Option<Backend>;
    /// What the finished `tailscale up` printed.
    fn up_output(&mut self) -> String;
}

/// A running `tailscale up`.
#[derive(Debug, Clone, Copy)]
struct Up {
    pid: Pid,
    started: Instant,
}

#[derive(Debug)]
pub struct Login {
    status: TailscaleStatus,
    up: Option<Up>,
    /// No attempt before this (backoff after a failure).
    next_attempt: Option<Instant>,
    /// The next backoff delay; None: the base delay.
    delay: Option<Duration>,
    /// The next `tailscale up` re-authenticates (key rotation).
    force_reauth: bool,
    base: Duration,
    max: Duration,
}

impl Login {
    /// A login waiting for its key; failed attempts back off from `base`, doubling up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Login {
            status: TailscaleStatus {
                state: TailscaleState::WaitingForKey,
                ..TailscaleStatus::default()
            },
            up: None,
            next_attempt: None,
            delay: None,
            force_reauth: false,
            base,
            max,
        }
    }

    pub fn status(&self) -> &TailscaleStatus {
        &self.status
    }

    pub fn state(&self) -> TailscaleState {
        self.status.state
    }

    /// The running `tailscale up`, if any.
    pub fn up_pid(&self) -> Option<Pid> {
        self.up.map(|u| u.pid)
    }

    /// When the login wants to be looked at again: a retry that is due later, or the end of a
    /// running `tailscale up`'s time. A retry already due that cannot run yet (no key,
    /// tailscaled down) is left to the supervisor's regular tick, or the loop would spin.
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let retry = self.next_attempt.filter(|t| *t > now);
        let timeout = self.up.map(|u| u.started + UP_TIMEOUT).filter(|t| *t > now);
        match (retry, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// tailscaled was (re)started or exited: check the login again (`up` with the same flags
    /// is a no-op for a daemon that resumed its state, and logs in one that did not).
    pub fn daemon_changed(&mut self) {
        if self.status.state == TailscaleState::Running {
            self.status.state = TailscaleState::Starting;
        }
        self.status.ip = None;
        self.next_attempt = None;
    }

    /// One look at the world: kill a hung `tailscale up`, notice a logout, a resumed login, a
    /// key not needed, or start `tailscale up` when one is due.
    pub fn tick(&mut self, now: Instant, w: &mut impl LoginWorld) {
        if let Some(up) = self.up {
            if now.saturating_duration_since(up.started) > UP_TIMEOUT {
                log_event!("tailscale-up", "no answer after {UP_TIMEOUT:?}; killing it");
                w.kill(up.pid, Signal::SIGKILL);
            }
            return;
        }
        if w.logged_out() {
            self.status.state = TailscaleState::LoggedOut;
            self.status.ip = None;
            return;
        }
        if !w.key_present() {
            self.without_key(w);
            return;
        }
        // (The request is written before the key, so a key seen here has its request too.)
        if w.take_reauth_request() {
            self.force_reauth = true;
        }
        if self.status.state == TailscaleState::Running && !self.force_reauth {
            w.delete_key("not needed: already on the tailnet");
            return;
        }
        let due = self.next_attempt.is_none_or(|t| now >= t);
        if !due || !w.daemon_up() {
            if self.status.state == TailscaleState::WaitingForKey {
                self.status.state = TailscaleState::Starting;
            }
            return;
        }
        self.start_up(now, w);
    }

    /// No key: the key is deleted once used, so a restarted tailscaled is not logged in again
    /// with it; it resumes the login from its state file (in the tmpfs). Ask it.
    fn without_key(&mut self, w: &mut impl LoginWorld) {
        if self.status.state == TailscaleState::Starting {
            if !w.daemon_up() {
                return;
            }
            self.refresh(w);
            if self.status.state == TailscaleState::Running {
                log_event!("tailscale", "tailscaled resumed its login");
                return;
            }
        }
        if self.status.state != TailscaleState::Running {
            self.status.state = TailscaleState::WaitingForKey;
        }
    }

    fn start_up(&mut self, now: Instant, w: &mut impl LoginWorld) {
        match w.start_up(self.force_reauth) {
            UpStart::Started(pid) => {
                self.up = Some(Up { pid, started: now });
                if self.status.state != TailscaleState::Running {
                    self.status.state = TailscaleState::Starting;
                }
            }
            UpStart::NoLogFile => {}
            UpStart::Failed(why) => {
                self.status.state = TailscaleState::Error;
                self.status.error = Some(why);
                self.schedule_retry(now);
            }
        }
    }

    fn schedule_retry(&mut self, now: Instant) {
        let delay = self.delay.unwrap_or(self.base);
        self.next_attempt = Some(now + delay);
        self.delay = Some((delay * 2).min(self.max.max(delay)));
        log_event!("tailscale-up", "retrying in {delay:?}");
    }

    /// A reaped child: whether it was our `tailscale up` (then its outcome is taken in).
    pub fn on_exit(
        &mut self,
        pid: Pid,
        st: &WaitStatus,
        now: Instant,
        w: &mut impl LoginWorld,
    ) -> bool {
        if self.up_pid() != Some(pid) {
            return false;
        }
        self.up = None;
        self.status.attempts += 1;
        let output = w.up_output();
        if matches!(st, WaitStatus::Exited(_, 0)) {
            w.delete_key("used: tailscaled keeps the login in its state");
            self.force_reauth = false;
            self.delay = None;
            self.next_attempt = None;
            self.status.state = TailscaleState::Running;
            self.status.error = None;
            self.refresh(w);
            log_event!(
                "tailscale-up",
                "on the tailnet as {} ({})",
                self.status.hostname.as_deref().unwrap_or("?"),
                self.status.ip.as_deref().unwrap_or("no IP yet")
            );
        } else {
            let err = last_line(&output)
                .unwrap_or_else(|| format!("tailscale up {}", crate::pid1::describe(st)));
            log_event!("tailscale-up", "failed: {err}");
            self.status.state = TailscaleState::Error;
            self.status.error = Some(err);
            self.schedule_retry(now);
        }
        true
    }

    /// Takes in tailscaled's view: IP and DNS name, or a lost login.
    pub fn refresh(&mut self, w: &mut impl LoginWorld) {
        let Some(b) = w.backend() else {
            return;
        };
        if !b.running() {
            if self.status.state == TailscaleState::Starting && !w.key_present() {
                self.status.state = TailscaleState::WaitingForKey;
            }
            if self.status.state == TailscaleState::Running {
                log_event!("tailscale", "backend is {}; logging in again", b.state);
                self.status.state = TailscaleState::Starting;
                self.status.ip = None;
            }
            return;
        }
        self.status.state = TailscaleState::Running;
        self.status.ip = b.ip;
        self.status.hostname = b.hostname;
    }

    /// The periodic probe: is a running login still there?
    pub fn probe(&mut self, w: &mut impl LoginWorld) {
        if self.status.state == TailscaleState::Running && self.up.is_none() {
            self.refresh(w);
        }
    }

    /// SIGUSR1 from `deliver-key` or `logout`: a new key is tried at once, a logout holds.
    pub fn doorbell(&mut self, w: &mut impl LoginWorld) {
        if w.logged_out() {
            log_event!("tailscale", "logged out on request; waiting for a new key");
            self.status.state = TailscaleState::LoggedOut;
            self.status.ip = None;
            return;
        }
        if w.take_reauth_request() {
            self.force_reauth = true;
        }
        log_event!(
            "tailscale",
            "key delivered{}",
            if self.force_reauth {
                " (re-authenticating)"
            } else {
                ""
            }
        );
        if self.status.state == TailscaleState::LoggedOut {
            self.status.state = TailscaleState::Starting;
        }
        self.next_attempt = None;
        self.delay = None;
    }

    /// PID 1 logged the node out while stopping.
    pub fn logged_out_on_stop(&mut self) {
        self.status.state = TailscaleState::LoggedOut;
        self.status.ip = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The world as a struct: flags to set, and a record of what the login did.
    #[derive(Default)]
    struct World {
        logged_out: bool,
        key: bool,
        reauth: bool,
        daemon: bool,
        backend: Option<Backend>,
        output: String,
        spawn_fails: bool,
        next_pid: i32,
        started: Vec<(Pid, bool)>,
        killed: Vec<(Pid, Signal)>,
        deleted: Vec<String>,
    }

    impl LoginWorld for World {
        fn logged_out(&self) -> bool {
            self.logged_out
        }
        fn key_present(&self) -> bool {
            self.key
        }
        fn take_reauth_request(&mut self) -> bool {
            std::mem::take(&mut self.reauth)
        }
        fn daemon_up(&self) -> bool {
            self.daemon
        }
        fn start_up(&mut self, force_reauth: bool) -> UpStart {
            if self.spawn_fails {
                return UpStart::Failed("cannot run tailscale: not found".into());
            }
            self.next_pid += 1;
            let pid = Pid::from_raw(100 + self.next_pid);
            self.started.push((pid, force_reauth));
            UpStart::Started(pid)
        }
        fn kill(&mut self, pid: Pid, signal: Signal) {
            self.killed.push((pid, signal));
        }
        fn delete_key(&mut self, why: &str) {
            self.key = false;
            self.deleted.push(why.to_string());
        }
        fn backend(&mut self) -> Option<Backend> {
            self.backend.clone()
        }
        fn up_output(&mut self) -> String {
            std::mem::take(&mut self.output)
        }
    }

    const BASE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(30);

    fn running_backend() -> Option<Backend> {
        Some(Backend {
            state: "Running".into(),
            ip: Some("100.64.0.2".into()),
            hostname: Some("alice-main.tailnet.ts.net".into()),
        })
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn waits_for_a_key_and_for_tailscaled_then_logs_in_and_deletes_the_key() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World::default();
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::WaitingForKey);
        assert!(w.started.is_empty());
        // A key, but tailscaled is not up yet: starting, nothing run.
        w.key = true;
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::Starting);
        assert!(w.started.is_empty());
        w.daemon = true;
        l.tick(t0, &mut w);
        assert_eq!(w.started.len(), 1);
        let pid = l.up_pid().unwrap();
        // While it runs, nothing else is started.
        l.tick(t0 + secs(5), &mut w);
        assert_eq!(w.started.len(), 1);
        w.backend = running_backend();
        assert!(l.on_exit(pid, &WaitStatus::Exited(pid, 0), t0 + secs(6), &mut w));
        assert_eq!(l.state(), TailscaleState::Running);
        assert_eq!(l.status().ip.as_deref(), Some("100.64.0.2"));
        assert_eq!(l.status().attempts, 1);
        assert_eq!(l.up_pid(), None);
        assert!(!w.key, "the used key is deleted");
        assert_eq!(w.deleted.len(), 1);
    }

    #[test]
    fn a_failed_login_is_retried_with_doubling_backoff_and_reports_the_last_line() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, Duration::from_secs(3));
        let mut w = World {
            key: true,
            daemon: true,
            ..World::default()
        };
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..4 {
            l.tick(now, &mut w);
            let pid = l.up_pid().expect("an attempt is running");
            w.output = "logging in\nrequested tags [tag:x] are invalid or not permitted\n".into();
            assert!(l.on_exit(pid, &WaitStatus::Exited(pid, 1), now, &mut w));
            assert_eq!(l.state(), TailscaleState::Error);
            let next = l.next_wakeup(now).unwrap();
            delays.push(next - now);
            // Not before the backoff.
            l.tick(next - Duration::from_millis(1), &mut w);
            assert_eq!(l.up_pid(), None);
            now = next;
        }
        assert_eq!(delays, vec![secs(1), secs(2), secs(3), secs(3)]);
        assert_eq!(
            l.status().error.as_deref(),
            Some("requested tags [tag:x] are invalid or not permitted")
        );
        assert_eq!(l.status().attempts, 4);
        assert!(w.key, "a key that did not work yet is kept");
        // A new key resets the backoff: tried at once.
        l.doorbell(&mut w);
        l.tick(now, &mut w);
        assert!(l.up_pid().is_some());
    }

    #[test]
    fn a_hung_tailscale_up_is_killed_after_90s_twice_and_counts_as_failed() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World {
            key: true,
            daemon: true,
            ..World::default()
        };
        l.tick(t0, &mut w);
        let first = l.up_pid().unwrap();
        assert_eq!(l.next_wakeup(t0), Some(t0 + UP_TIMEOUT));
        l.tick(t0 + UP_TIMEOUT, &mut w);
        assert!(w.killed.is_empty(), "not before its 90 s are over");
        l.tick(t0 + UP_TIMEOUT + secs(1), &mut w);
        assert_eq!(w.killed, vec![(first, Signal::SIGKILL)]);
        let t1 = t0 + UP_TIMEOUT + secs(1);
        let killed = WaitStatus::Signaled(first, Signal::SIGKILL, false);
        assert!(l.on_exit(first, &killed, t1, &mut w));
        assert_eq!(l.state(), TailscaleState::Error);
        assert_eq!(
            l.status().error.as_deref(),
            Some("tailscale up killed by SIGKILL")
        );
        // The second attempt after the base delay, and it hangs too.
        l.tick(t1 + BASE, &mut w);
        let second = l.up_pid().unwrap();
        assert_ne!(first, second);
        l.tick(t1 + BASE + UP_TIMEOUT + secs(1), &mut w);
        assert_eq!(w.killed.last(), Some(&(second, Signal::SIGKILL)));
        let t2 = t1 + BASE + UP_TIMEOUT + secs(1);
        let killed = WaitStatus::Signaled(second, Signal::SIGKILL, false);
        assert!(l.on_exit(second, &killed, t2, &mut w));
        assert_eq!(l.status().attempts, 2);
        assert_eq!(l.next_wakeup(t2), Some(t2 + BASE * 2));
    }

    #[test]
    fn a_tailscale_that_cannot_run_is_an_error_with_backoff() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World {
            key: true,
            daemon: true,
            spawn_fails: true,
            ..World::default()
        };
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::Error);
        assert_eq!(
            l.status().error.as_deref(),
            Some("cannot run tailscale: not found")
        );
        assert_eq!(l.next_wakeup(t0), Some(t0 + BASE));
        assert_eq!(l.status().attempts, 0, "nothing ran");
    }

    #[test]
    fn other_children_are_not_the_logins() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World::default();
        let pid = Pid::from_raw(4242);
        assert!(!l.on_exit(pid, &WaitStatus::Exited(pid, 0), t0, &mut w));
        assert_eq!(l.status().attempts, 0);
    }

    #[test]
    fn a_key_delivered_while_on_the_tailnet_is_deleted_unless_reauth_is_asked() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World {
            key: true,
            daemon: true,
            backend: running_backend(),
            ..World::default()
        };
        l.tick(t0, &mut w);
        let pid = l.up_pid().unwrap();
        l.on_exit(pid, &WaitStatus::Exited(pid, 0), t0, &mut w);
        // A second key, no --reauth: not stored for nothing.
        w.key = true;
        l.doorbell(&mut w);
        l.tick(t0, &mut w);
        assert!(!w.key);
        assert_eq!(w.started.len(), 1);
        // With --reauth: a forced re-authentication, then back to normal logins.
        w.key = true;
        w.reauth = true;
        l.doorbell(&mut w);
        l.tick(t0, &mut w);
        assert_eq!(w.started.last().map(|s| s.1), Some(true));
        let pid = l.up_pid().unwrap();
        l.on_exit(pid, &WaitStatus::Exited(pid, 0), t0, &mut w);
        w.key = true;
        l.daemon_changed();
        l.tick(t0, &mut w);
        assert_eq!(w.started.last().map(|s| s.1), Some(false));
    }

    #[test]
    fn a_restarted_tailscaled_resumes_its_login_without_a_key() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World {
            key: true,
            daemon: true,
            backend: running_backend(),
            ..World::default()
        };
        l.tick(t0, &mut w);
        let pid = l.up_pid().unwrap();
        l.on_exit(pid, &WaitStatus::Exited(pid, 0), t0, &mut w);
        // tailscaled crashed: not running, no IP; nothing asked while it is down.
        l.daemon_changed();
        w.daemon = false;
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::Starting);
        assert_eq!(l.status().ip, None);
        // Back, and it resumed from its state file: running again, no new `up`.
        w.daemon = true;
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::Running);
        assert_eq!(w.started.len(), 1);
        // Had it lost the login (node deleted), the container waits for a new key.
        l.daemon_changed();
        w.backend = Some(Backend {
            state: "NeedsLogin".into(),
            ..Backend::default()
        });
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::WaitingForKey);
    }

    #[test]
    fn a_lost_login_is_noticed_by_the_probe() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World {
            key: true,
            daemon: true,
            backend: running_backend(),
            ..World::default()
        };
        l.tick(t0, &mut w);
        let pid = l.up_pid().unwrap();
        l.on_exit(pid, &WaitStatus::Exited(pid, 0), t0, &mut w);
        w.backend = Some(Backend {
            state: "NeedsLogin".into(),
            ..Backend::default()
        });
        l.probe(&mut w);
        assert_eq!(l.state(), TailscaleState::Starting);
        assert_eq!(l.status().ip, None);
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::WaitingForKey);
    }

    #[test]
    fn logout_holds_until_the_next_key() {
        let t0 = Instant::now();
        let mut l = Login::new(BASE, MAX);
        let mut w = World {
            daemon: true,
            logged_out: true,
            ..World::default()
        };
        l.doorbell(&mut w);
        assert_eq!(l.state(), TailscaleState::LoggedOut);
        w.key = true;
        l.tick(t0, &mut w);
        assert_eq!(l.state(), TailscaleState::LoggedOut);
        assert!(w.started.is_empty());
        // The next key clears the flag (deliver-key does) and rings.
        w.logged_out = false;
        l.doorbell(&mut w);
        assert_eq!(l.state(), TailscaleState::Starting);
        l.tick(t0, &mut w);
        assert_eq!(w.started.len(), 1);
    }
}
