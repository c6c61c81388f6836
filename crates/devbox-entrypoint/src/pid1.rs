//! The duties of PID 1, in the spirit of tini: collect signals, reap every child (orphans
//! re-parented to us included) until none is left, forward the signals meant for the services,
//! and stop in stages within a grace period, then SIGKILL. Nothing here knows which services
//! run; the supervisor decides what the stages mean for them.
//!
//! Signals arrive on a `signalfd` (blocked for the normal handlers), so the event loop is a
//! plain single-threaded `poll`.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use devbox_contract::RunExit;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::log_event;

/// What a signal asks of PID 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGCHLD: reap (done after every wakeup anyway).
    Reap,
    /// SIGTERM, SIGINT, SIGQUIT: stop in order; again during the stop: kill now.
    Stop(Signal),
    /// SIGUSR1: the doorbell `deliver-key` and `logout` ring.
    Doorbell,
    /// SIGHUP, SIGUSR2, SIGWINCH: for the services.
    Forward(Signal),
}

/// The signals PID 1 handles (every other one keeps its default or is ignored by the kernel
/// for PID 1).
const HANDLED: [Signal; 8] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

pub fn classify(sig: Signal) -> Request {
    match sig {
        Signal::SIGCHLD => Request::Reap,
        Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => Request::Stop(sig),
        Signal::SIGUSR1 => Request::Doorbell,
        other => Request::Forward(other),
    }
}

/// The signals, read from a `signalfd`.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the handled signals and opens the `signalfd`. Outside a container (tests),
    /// becomes a child subreaper, so orphans come to us as they would to PID 1.
    pub fn install(is_pid1: bool) -> std::io::Result<Signals> {
        let mut mask = SigSet::empty();
        for s in HANDLED {
            mask.add(s);
        }
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        if !is_pid1 {
            nix::sys::prctl::set_child_subreaper(true)?;
        }
        Ok(Signals { fd })
    }

    /// Waits up to `timeout` for signals; what they ask, in order of arrival.
    pub fn wait(&self, timeout: Duration) -> Vec<Request> {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => log_event!("entrypoint", "poll failed: {e}"),
        }
        let mut got = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                got.push(classify(sig));
            }
        }
        got
    }
}

/// Reaps every exited child, services and orphans alike, until none is left; `on_exit` sees
/// each. Returns true when no child is left at all (ECHILD).
pub fn reap(mut on_exit: impl FnMut(Pid, WaitStatus)) -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return false,
            Ok(st) => {
                if let Some(pid) = st.pid() {
                    on_exit(pid, st);
                }
            }
            Err(Errno::EINTR) => continue,
            // ECHILD: nothing left to wait for.
            Err(_) => return true,
        }
    }
}

/// Signals every process in the container but PID 1 (only when we are PID 1: elsewhere -1 would
/// be every process of the user).
pub fn signal_everyone(is_pid1: bool, sig: Signal) {
    if is_pid1 {
        let _ = kill(Pid::from_raw(-1), sig);
    }
}

/// How a child ended, for the log and the status.
pub fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by {sig:?}"),
        other => format!("{other:?}"),
    }
}

/// Who is still alive, as the supervisor sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alive {
    /// The services but tailscaled (code-server, Syncthing, nix-daemon).
    pub services: bool,
    pub tailscaled: bool,
    /// A `tailscale up`.
    pub login: bool,
    /// Any child at all (sessions and orphans too); only known as PID 1.
    pub children: bool,
}

/// What the supervisor must do next to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing new; wait.
    Wait,
    /// The services are gone (or had half the grace period): SIGTERM tailscaled, which
    /// carries the sessions and so goes last.
    StopTailscaled,
    /// Our children are gone: SIGTERM everyone left in the container (shells, Zed servers).
    StopEveryone,
    /// The grace period is over: SIGKILL what is left.
    Kill,
    /// Everything is gone.
    Done(RunExit),
}

/// The stop sequence (docs/entrypoint.md, "Signals and stopping"), as pure decisions over time
/// and who is alive.
#[derive(Debug)]
pub struct Shutdown {
    stage: u8,
    stage_deadline: Instant,
    kill_at: Instant,
    killed: bool,
}

impl Shutdown {
    /// Begun at `now` with this grace period; the services were just sent SIGTERM.
    pub fn begin(now: Instant, grace: Duration) -> Self {
        Shutdown {
            stage: 1,
            stage_deadline: now + grace / 2,
            kill_at: now + grace,
            killed: false,
        }
    }

    /// A second stop signal: no more grace.
    pub fn hurry(&mut self, now: Instant) {
        self.kill_at = now;
    }

    /// When the sequence wants to look again (it also polls every 20 ms while stopping).
    pub fn next_wakeup(&self, now: Instant) -> Instant {
        self.stage_deadline
            .min(self.kill_at)
            .min(now + Duration::from_millis(20))
    }

    pub fn step(&mut self, now: Instant, alive: Alive, is_pid1: bool) -> Stage {
        if now >= self.kill_at && !self.killed {
            self.killed = true;
            return Stage::Kill;
        }
        if self.stage == 1 && (!alive.services || now >= self.stage_deadline) {
            self.stage = 2;
            self.stage_deadline = self.kill_at;
            return Stage::StopTailscaled;
        }
        if self.stage == 2 && !alive.services && !alive.tailscaled && !alive.login {
            if is_pid1 && alive.children {
                // Remaining processes (sessions, orphans): ask them once, then wait for them
                // until the kill deadline.
                self.stage = 3;
                return Stage::StopEveryone;
            }
            return Stage::Done(RunExit::Clean);
        }
        if self.stage == 3 && !alive.children {
            return Stage::Done(RunExit::Clean);
        }
        Stage::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn signals_are_classified_like_tini() {
        assert_eq!(classify(Signal::SIGTERM), Request::Stop(Signal::SIGTERM));
        assert_eq!(classify(Signal::SIGQUIT), Request::Stop(Signal::SIGQUIT));
        assert_eq!(classify(Signal::SIGUSR1), Request::Doorbell);
        assert_eq!(classify(Signal::SIGCHLD), Request::Reap);
        assert_eq!(classify(Signal::SIGHUP), Request::Forward(Signal::SIGHUP));
    }

    const GRACE: Duration = Duration::from_secs(3);

    fn alive(services: bool, tailscaled: bool, children: bool) -> Alive {
        Alive {
            services,
            tailscaled,
            login: false,
            children,
        }
    }

    #[test]
    fn stages_go_services_then_tailscaled_then_everyone() {
        let t0 = Instant::now();
        let mut sd = Shutdown::begin(t0, GRACE);
        assert_eq!(sd.step(t0, alive(true, true, true), true), Stage::Wait);
        assert_eq!(
            sd.step(t0, alive(false, true, true), true),
            Stage::StopTailscaled
        );
        assert_eq!(sd.step(t0, alive(false, true, true), true), Stage::Wait);
        assert_eq!(
            sd.step(t0, alive(false, false, true), true),
            Stage::StopEveryone
        );
        assert_eq!(sd.step(t0, alive(false, false, true), true), Stage::Wait);
        assert_eq!(
            sd.step(t0, alive(false, false, false), true),
            Stage::Done(RunExit::Clean)
        );
    }

    #[test]
    fn tailscaled_is_stopped_after_half_the_grace_and_everything_killed_at_its_end() {
        let t0 = Instant::now();
        let mut sd = Shutdown::begin(t0, GRACE);
        let stuck = alive(true, true, true);
        assert_eq!(sd.step(t0 + GRACE / 3, stuck, true), Stage::Wait);
        assert_eq!(sd.step(t0 + GRACE / 2, stuck, true), Stage::StopTailscaled);
        assert_eq!(
            sd.next_wakeup(t0 + GRACE / 2),
            t0 + GRACE / 2 + Duration::from_millis(20)
        );
        assert_eq!(sd.step(t0 + GRACE, stuck, true), Stage::Kill);
        // Killed once only.
        assert_eq!(sd.step(t0 + GRACE, stuck, true), Stage::Wait);
    }

    #[test]
    fn a_second_signal_kills_now_and_outside_pid1_orphans_are_not_waited_for() {
        let t0 = Instant::now();
        let mut sd = Shutdown::begin(t0, GRACE);
        sd.hurry(t0);
        assert_eq!(sd.step(t0, alive(true, true, true), true), Stage::Kill);
        let mut sd = Shutdown::begin(t0, GRACE);
        assert_eq!(
            sd.step(t0, alive(false, true, true), false),
            Stage::StopTailscaled
        );
        assert_eq!(
            sd.step(t0, alive(false, false, true), false),
            Stage::Done(RunExit::Clean)
        );
        // A `tailscale up` still running holds the stop until it is gone.
        let mut sd = Shutdown::begin(t0, GRACE);
        let login = Alive {
            login: true,
            ..alive(false, false, false)
        };
        assert_eq!(sd.step(t0, login, true), Stage::StopTailscaled);
        assert_eq!(sd.step(t0, login, true), Stage::Wait);
    }
}
