//! What PID 1 looks at now and then, besides its children: Syncthing's device ID (once it has
//! made its keys) and the user's last activity (persisted on the home volume).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::activity::{self, Activity};
use crate::config::Config;
use crate::helpers::run_with_timeout;
use crate::log_event;
use crate::passwd::Account;
use crate::services::SYNCTHING;

/// Makes `cmd` run as the dev user (when PID 1 is someone else, i.e. root).
pub fn as_user<'a>(cmd: &'a mut Command, account: &Account) -> &'a mut Command {
    use std::os::unix::process::CommandExt;
    if nix::unistd::geteuid().as_raw() != account.uid {
        cmd.uid(account.uid).gid(account.gid);
    }
    cmd
}

/// Syncthing's device ID: asked every 500 ms until known (it exists once Syncthing made its
/// certificate), then never again.
#[derive(Debug)]
pub struct DeviceId {
    id: Option<String>,
    next_try: Instant,
}

impl DeviceId {
    pub fn new(now: Instant) -> Self {
        DeviceId {
            id: None,
            next_try: now,
        }
    }

    pub fn get(&self) -> Option<&String> {
        self.id.as_ref()
    }

    pub fn tick(&mut self, now: Instant, cfg: &Config, account: &Account) {
        if !cfg.syncthing || self.id.is_some() || now < self.next_try {
            return;
        }
        self.next_try = now + Duration::from_millis(500);
        self.id = read_device_id(cfg, account);
        if let Some(id) = &self.id {
            log_event!(SYNCTHING, "device ID {id}");
        }
    }
}

fn read_device_id(cfg: &Config, account: &Account) -> Option<String> {
    // Read below the home without following links (the volume is the dev user's).
    crate::homefs::read_file(&cfg.home, &cfg.syncthing_home.join("cert.pem"), 0).ok()?;
    for args in crate::syncthing::device_id_commands(cfg) {
        // As the dev user: Syncthing reads (and may write) its home on the volume.
        let out = run_with_timeout(
            as_user(&mut Command::new("syncthing"), account)
                .args(&args)
                .current_dir("/"),
            Duration::from_secs(5),
        );
        if let Ok(out) = out {
            let id = out.stdout.trim();
            if out.success && crate::syncthing::is_device_id(id) {
                return Some(id.to_string());
            }
        }
    }
    None
}

/// The user's last activity, probed every `DEVBOX_ACTIVITY_INTERVAL_MS` and kept on the volume.
#[derive(Debug)]
pub struct LastActivity {
    seen: Option<Activity>,
    next_probe: Instant,
}

impl LastActivity {
    /// What the volume remembers; the first probe half a second after the start.
    pub fn load(cfg: &Config, now: Instant) -> Self {
        LastActivity {
            seen: activity::load(&cfg.home, &cfg.activity_file()),
            next_probe: now + Duration::from_millis(500),
        }
    }

    pub fn get(&self) -> Option<&Activity> {
        self.seen.as_ref()
    }

    pub fn next_probe(&self) -> Instant {
        self.next_probe
    }

    /// Whether a probe is due; if so, the next one is scheduled.
    pub fn due(&mut self, now: Instant, interval: Duration) -> bool {
        if now < self.next_probe {
            return false;
        }
        self.next_probe = now + interval;
        true
    }

    /// Looks for user activity; a newer one is saved on the volume (as the dev user's file).
    pub fn probe(&mut self, cfg: &Config, account: &Account) {
        let Some(seen) = activity::probe(cfg, Path::new("/proc")) else {
            return;
        };
        if self.seen.as_ref().is_some_and(|a| seen.at <= a.at) {
            return;
        }
        let owner = (account.uid, account.gid);
        if let Err(e) = activity::save(&cfg.home, &cfg.activity_file(), &seen, owner) {
            log_event!("entrypoint", "cannot persist last activity: {e}");
        }
        self.seen = Some(seen);
    }
}
