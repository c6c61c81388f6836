//! Configuration from the environment, validated in one step that reports every bad setting.
//!
//! Every variable is documented in docs/entrypoint.md. No secret is ever taken from the
//! environment: the Tailscale auth key arrives as a file (see [`crate::keys`]).

use std::path::PathBuf;
use std::time::Duration;

use devbox_contract::env as var;
/// Variables that look like an auth key passed the wrong way; refused outright.
pub use devbox_contract::env::FORBIDDEN_SECRET_VARS;

/// The validated configuration of the entrypoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Container name = tailnet hostname (`DEVBOX_HOSTNAME`).
    pub hostname: String,
    /// Owning user (`DEVBOX_OWNER`).
    pub owner: String,
    /// Tags to advertise (`DEVBOX_TAGS`).
    pub tags: Vec<String>,
    pub syncthing: bool,
    pub code_server: bool,
    /// Run `nix-daemon` as root (`DEVBOX_NIX_DAEMON`): the image's multi-user Nix, where the
    /// dev user builds through the daemon and cannot write the store itself.
    pub nix_daemon: bool,
    /// Unix user the user-facing services run as (`DEVBOX_USER`, default `dev`).
    pub user: String,
    pub home: PathBuf,
    pub run_dir: PathBuf,
    pub state_dir: PathBuf,
    pub code_server_bind: String,
    pub code_server_port: u16,
    pub syncthing_home: PathBuf,
    pub sync_folder: PathBuf,
    pub syncthing_gui: String,
    pub syncthing_listen: String,
    pub zed_server_binary: PathBuf,
    pub zed_channel: String,
    pub zed_version: Option<String>,
    pub tailscale_statedir: PathBuf,
    pub stop_grace: Duration,
    pub restart_backoff: Duration,
    pub restart_backoff_max: Duration,
    pub activity_interval: Duration,
    /// A session process (SSH, Zed) older than this no longer counts as activity.
    pub session_max_age: Duration,
    pub logout_on_stop: bool,
    /// A self-hosted control server (Headscale) for `tailscale up --login-server`.
    pub login_server: Option<String>,
    /// The owner's git identity (`DEVBOX_GIT_NAME`, `DEVBOX_GIT_EMAIL`, `DEVBOX_GIT_USER`), see
    /// [`crate::gitconfig`].
    pub git_name: Option<String>,
    pub git_email: Option<String>,
    pub git_user: Option<String>,
}

/// The files in the run dir (tmpfs) through which PID 1 and the helper commands the
/// controller runs (`deliver-key`, `logout`, `status`) talk: one list for both sides.
pub mod run_files {
    /// The Tailscale auth key (0400), only while a login needs it.
    pub const KEY: &str = "tailscale-authkey";
    pub const STATUS: &str = "status.json";
    /// PID 1's pid, for the doorbell (SIGUSR1).
    pub const PID: &str = "entrypoint.pid";
    /// `deliver-key --reauth` asks for a forced re-authentication (written before the key).
    pub const REAUTH: &str = "reauth-requested";
    /// `logout` asks PID 1 to stay logged out until the next key.
    pub const LOGGED_OUT: &str = "logged-out";
    pub const TAILSCALED_SOCKET: &str = "tailscaled.sock";
}

impl Config {
    pub fn key_file(&self) -> PathBuf {
        self.run_dir.join(run_files::KEY)
    }
    pub fn status_file(&self) -> PathBuf {
        self.run_dir.join(run_files::STATUS)
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join(run_files::PID)
    }
    pub fn reauth_flag(&self) -> PathBuf {
        self.run_dir.join(run_files::REAUTH)
    }
    pub fn logged_out_flag(&self) -> PathBuf {
        self.run_dir.join(run_files::LOGGED_OUT)
    }
    pub fn tailscaled_socket(&self) -> PathBuf {
        self.run_dir.join(run_files::TAILSCALED_SOCKET)
    }
    pub fn activity_file(&self) -> PathBuf {
        self.state_dir.join("last-activity.json")
    }
}

/// Every problem found in the environment, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_user_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_tag(s: &str) -> bool {
    s.strip_prefix("tag:").is_some_and(|t| {
        t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    get: &'a F,
    errors: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn opt(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
    fn string(&self, name: &str, default: &str) -> String {
        self.opt(name).unwrap_or_else(|| default.to_string())
    }
    fn path(&mut self, name: &str, default: &str) -> PathBuf {
        let v = self.string(name, default);
        // Derived defaults of a bad setting are not reported again.
        if !v.starts_with('/') && self.opt(name).is_some() {
            self.errors.push(format!(
                "{name}={v:?} must be an absolute path (default {default})"
            ));
        }
        PathBuf::from(v)
    }
    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.opt(name).as_deref() {
            None => default,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                self.errors
                    .push(format!("{name}={other:?} must be `true` or `false`"));
                default
            }
        }
    }
    fn millis(&mut self, name: &str, default: u64, min: u64, max: u64) -> Duration {
        match self.opt(name) {
            None => Duration::from_millis(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Duration::from_millis(n),
                _ => {
                    self.errors.push(format!(
                        "{name}={v:?} must be a number of milliseconds between {min} and {max}"
                    ));
                    Duration::from_millis(default)
                }
            },
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads and validates the configuration from `get` (an environment lookup). Every bad
    /// setting is reported, not only the first.
    pub fn from_lookup<F: Fn(&str) -> Option<String>>(get: F) -> Result<Config, ConfigErrors> {
        let mut r = Reader {
            get: &get,
            errors: Vec::new(),
        };
        for var in FORBIDDEN_SECRET_VARS {
            if get(var).is_some() {
                r.errors.push(format!(
                    "{var} is set: secrets must never be passed in the environment; deliver the \
                     Tailscale key with `devbox-entrypoint deliver-key` on stdin"
                ));
            }
        }
        let mut c = Config::blank();
        r.identity(&mut c);
        r.switches(&mut c);
        r.paths(&mut c);
        r.services(&mut c);
        r.zed(&mut c);
        r.timing(&mut c);
        r.tailscale(&mut c);
        r.git(&mut c);
        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        Ok(c)
    }

    /// The starting point the reader fills in; never handed out unvalidated.
    fn blank() -> Config {
        Config {
            hostname: String::new(),
            owner: String::new(),
            tags: Vec::new(),
            syncthing: false,
            code_server: true,
            nix_daemon: false,
            user: String::new(),
            home: PathBuf::new(),
            run_dir: PathBuf::new(),
            state_dir: PathBuf::new(),
            code_server_bind: String::new(),
            code_server_port: 8080,
            syncthing_home: PathBuf::new(),
            sync_folder: PathBuf::new(),
            syncthing_gui: String::new(),
            syncthing_listen: String::new(),
            zed_server_binary: PathBuf::new(),
            zed_channel: String::new(),
            zed_version: None,
            tailscale_statedir: PathBuf::new(),
            stop_grace: Duration::ZERO,
            restart_backoff: Duration::ZERO,
            restart_backoff_max: Duration::ZERO,
            activity_interval: Duration::ZERO,
            session_max_age: Duration::ZERO,
            logout_on_stop: true,
            login_server: None,
            git_name: None,
            git_email: None,
            git_user: None,
        }
    }
}

/// The sections of the configuration, each read and checked on its own.
impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    /// Who the container is: hostname, owner, tags.
    fn identity(&mut self, c: &mut Config) {
        c.hostname = self.opt(var::HOSTNAME).unwrap_or_default();
        if c.hostname.is_empty() {
            self.errors.push(format!(
                "{} is not set: it must be the container name (the tailnet hostname)",
                var::HOSTNAME
            ));
        } else if !is_dns_label(&c.hostname) {
            self.errors.push(format!(
                "{}={:?} is not a valid hostname: use 1-63 lowercase \
                 letters, digits and '-', not starting or ending with '-'",
                var::HOSTNAME,
                c.hostname
            ));
        }
        c.owner = self.opt(var::OWNER).unwrap_or_default();
        if c.owner.is_empty() {
            self.errors.push(format!(
                "{} is not set: it must be the owning user's name",
                var::OWNER
            ));
        } else if !is_user_name(&c.owner) {
            self.errors.push(format!(
                "{}={:?} is not a valid user name: lowercase letters, digits, \
                 '_' and '-', starting with a letter or '_', at most 32",
                var::OWNER,
                c.owner
            ));
        }
        c.tags = match self.opt(var::TAGS) {
            Some(v) => self.tags(&v),
            None if is_user_name(&c.owner) => devbox_contract::tags::default_tags(&c.owner),
            None => Vec::new(),
        };
    }

    fn tags(&mut self, v: &str) -> Vec<String> {
        let tags: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if tags.is_empty() {
            self.errors.push(format!(
                "{} is empty: give comma-separated tags like \
                 tag:devcontainer,tag:alice-container",
                var::TAGS
            ));
        }
        for t in &tags {
            if !is_tag(t) {
                self.errors.push(format!(
                    "{}: {t:?} is not a Tailscale tag (tag:NAME, NAME of \
                     letters, digits and '-', starting with a letter)",
                    var::TAGS
                ));
            }
        }
        tags
    }

    /// Which services run, and as whom.
    fn switches(&mut self, c: &mut Config) {
        c.syncthing = self.boolean(var::SYNCTHING, false);
        c.code_server = self.boolean(var::CODE_SERVER, true);
        c.nix_daemon = self.boolean(var::NIX_DAEMON, false);
        c.user = self.string(var::USER, "dev");
        if !is_user_name(&c.user) {
            self.errors.push(format!(
                "{}={:?} is not a valid user name",
                var::USER,
                c.user
            ));
        }
    }

    /// Where things are; the defaults derive from the home and the run dir.
    fn paths(&mut self, c: &mut Config) {
        c.home = self.path(var::HOME, devbox_contract::HOME_PATH);
        let home = c.home.to_string_lossy().into_owned();
        c.run_dir = self.path(var::RUN_DIR, devbox_contract::RUN_PATH);
        c.state_dir = self.path(var::STATE_DIR, &format!("{home}/.local/state/devbox"));
        c.syncthing_home = self.path(var::SYNCTHING_HOME, &format!("{home}/.config/syncthing"));
        c.sync_folder = self.path(var::SYNC_FOLDER, &format!("{home}/sync"));
        let run = c.run_dir.to_string_lossy().into_owned();
        c.tailscale_statedir = self.path(var::TAILSCALE_STATEDIR, &format!("{run}/tailscale"));
    }

    /// code-server's and Syncthing's addresses.
    fn services(&mut self, c: &mut Config) {
        c.code_server_bind = self.string(var::CODE_SERVER_BIND, "127.0.0.1");
        if c.code_server_bind.parse::<std::net::IpAddr>().is_err() {
            self.errors.push(format!(
                "{}={:?} must be an IP address (e.g. 127.0.0.1)",
                var::CODE_SERVER_BIND,
                c.code_server_bind
            ));
        }
        c.code_server_port = match self.opt(var::CODE_SERVER_PORT) {
            None => 8080,
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p >= 1 => p,
                _ => {
                    self.errors.push(format!(
                        "{}={v:?} must be a port number 1-65535",
                        var::CODE_SERVER_PORT
                    ));
                    8080
                }
            },
        };
        c.syncthing_gui = self.string(var::SYNCTHING_GUI_ADDRESS, "127.0.0.1:8384");
        if c.syncthing_gui.parse::<std::net::SocketAddr>().is_err() {
            self.errors.push(format!(
                "{}={:?} must be IP:PORT (e.g. 127.0.0.1:8384)",
                var::SYNCTHING_GUI_ADDRESS,
                c.syncthing_gui
            ));
        }
        c.syncthing_listen = self.string(var::SYNCTHING_LISTEN, "tcp://0.0.0.0:22000");
        if !c.syncthing_listen.starts_with("tcp://") && !c.syncthing_listen.starts_with("quic://") {
            self.errors.push(format!(
                "{}={:?} must be a tcp:// or quic:// address",
                var::SYNCTHING_LISTEN,
                c.syncthing_listen
            ));
        }
    }

    fn zed(&mut self, c: &mut Config) {
        c.zed_server_binary = self.path(var::ZED_SERVER_BINARY, "/opt/devbox/zed-remote-server");
        c.zed_channel = self.string(var::ZED_CHANNEL, "stable");
        if !["stable", "preview", "nightly", "dev"].contains(&c.zed_channel.as_str()) {
            self.errors.push(format!(
                "{}={:?} must be one of stable, preview, nightly, dev",
                var::ZED_CHANNEL,
                c.zed_channel
            ));
        }
        c.zed_version = self.opt(var::ZED_VERSION);
        if let Some(v) = c.zed_version.as_ref().filter(|v| !is_version(v)) {
            self.errors.push(format!(
                "{}={v:?} must look like 0.170.4 (digits, letters, '.', '+', '-')",
                var::ZED_VERSION
            ));
        }
    }

    /// Grace periods, backoff, probe intervals.
    fn timing(&mut self, c: &mut Config) {
        c.stop_grace = self.millis(var::STOP_GRACE_MS, 3000, 100, 60_000);
        c.restart_backoff = self.millis(var::RESTART_BACKOFF_MS, 1000, 50, 60_000);
        c.restart_backoff_max = self.millis(var::RESTART_BACKOFF_MAX_MS, 30_000, 50, 600_000);
        if c.restart_backoff_max < c.restart_backoff {
            self.errors.push(format!(
                "{} must not be smaller than {}",
                var::RESTART_BACKOFF_MAX_MS,
                var::RESTART_BACKOFF_MS
            ));
        }
        c.activity_interval = self.millis(var::ACTIVITY_INTERVAL_MS, 10_000, 200, 600_000);
        let day_ms = 24 * 3600 * 1000;
        c.session_max_age = Duration::from_secs(
            self.millis(var::SESSION_MAX_AGE_MS, day_ms / 2, 1000, 7 * day_ms)
                .as_secs(),
        );
    }

    fn tailscale(&mut self, c: &mut Config) {
        c.logout_on_stop = self.boolean(var::LOGOUT_ON_STOP, true);
        c.login_server = self.opt(var::TAILSCALE_LOGIN_SERVER);
        if let Some(url) = &c.login_server {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.chars().any(|c| c.is_whitespace() || c == '@');
            if !ok {
                self.errors.push(format!(
                    "{}={url:?} must be an http(s) URL without \
                     credentials, e.g. https://headscale.example.org",
                    var::TAILSCALE_LOGIN_SERVER
                ));
            }
        }
    }

    /// Plain text for git's config file: one line, no control characters, bounded.
    fn git(&mut self, c: &mut Config) {
        c.git_name = self.opt(var::GIT_NAME);
        c.git_email = self.opt(var::GIT_EMAIL);
        c.git_user = self.opt(var::GIT_USER);
        for (name, v) in [
            (var::GIT_NAME, &c.git_name),
            (var::GIT_EMAIL, &c.git_email),
            (var::GIT_USER, &c.git_user),
        ] {
            if v.as_ref()
                .is_some_and(|v| v.len() > 256 || v.chars().any(char::is_control))
            {
                self.errors.push(format!(
                    "{name} must be one line of at most 256 characters without control characters"
                ));
            }
        }
        if let Some(e) = &c.git_email {
            if e.split('@').count() != 2 || e.chars().any(char::is_whitespace) {
                self.errors.push(format!(
                    "{}={e:?} must be an e-mail address (local@domain)",
                    var::GIT_EMAIL
                ));
            }
        }
        if let Some(u) = &c.git_user {
            if !u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                self.errors.push(format!(
                    "{}={u:?} must be a GitHub login (letters, digits, '-')",
                    var::GIT_USER
                ));
            }
        }
    }
}

/// A version string safe to put into a file name.
pub fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'+' || b == b'-')
}

/// Reads the settings a helper command (status, deliver-key, logout) needs; it must work even
/// when the container's identity variables are missing, so only paths are read here.
pub fn run_dir_from_env() -> PathBuf {
    std::env::var(var::RUN_DIR)
        .ok()
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(devbox_contract::RUN_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn minimal_environment_gives_documented_defaults() {
        let c = cfg(&[("DEVBOX_HOSTNAME", "alice-main"), ("DEVBOX_OWNER", "alice")]).unwrap();
        assert_eq!(c.tags, vec!["tag:devcontainer", "tag:alice-container"]);
        assert!(!c.syncthing);
        assert!(c.code_server);
        assert_eq!(c.code_server_port, 8080);
        assert_eq!(c.home, PathBuf::from("/home/dev"));
        assert_eq!(c.key_file(), PathBuf::from("/run/devbox/tailscale-authkey"));
        assert_eq!(c.state_dir, PathBuf::from("/home/dev/.local/state/devbox"));
        assert_eq!(
            c.syncthing_home,
            PathBuf::from("/home/dev/.config/syncthing")
        );
        assert_eq!(c.sync_folder, PathBuf::from("/home/dev/sync"));
        assert_eq!(c.syncthing_gui, "127.0.0.1:8384");
        assert_eq!(c.stop_grace, Duration::from_millis(3000));
        assert_eq!(c.login_server, None);
        let bad = cfg(&[
            ("DEVBOX_HOSTNAME", "a"),
            ("DEVBOX_OWNER", "alice"),
            (
                "DEVBOX_TAILSCALE_LOGIN_SERVER",
                "https://user:pw@hs.example.org",
            ),
        ])
        .unwrap_err();
        assert!(bad.to_string().contains("without credentials"), "{bad}");
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let err = cfg(&[
            ("DEVBOX_HOSTNAME", "Alice_Main"),
            ("DEVBOX_TAGS", "tag:devcontainer,devcontainer"),
            ("DEVBOX_SYNCTHING", "maybe"),
            ("DEVBOX_CODE_SERVER_PORT", "99999"),
            ("DEVBOX_HOME", "relative/home"),
            ("DEVBOX_ZED_CHANNEL", "beta"),
            ("DEVBOX_STOP_GRACE_MS", "0"),
            ("TS_AUTHKEY", "tskey-auth-CANARY"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "DEVBOX_HOSTNAME=\"Alice_Main\"",
            "DEVBOX_OWNER is not set",
            "\"devcontainer\" is not a Tailscale tag",
            "DEVBOX_SYNCTHING=\"maybe\"",
            "DEVBOX_CODE_SERVER_PORT=\"99999\"",
            "DEVBOX_HOME=\"relative/home\" must be an absolute path",
            "DEVBOX_ZED_CHANNEL=\"beta\"",
            "DEVBOX_STOP_GRACE_MS",
            "TS_AUTHKEY is set",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert_eq!(err.0.len(), 9, "{text}");
        // The secret's value is never echoed.
        assert!(!text.contains("CANARY"));
    }

    #[test]
    fn validators() {
        assert!(is_dns_label("a"));
        assert!(is_dns_label("alice-main-2"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_tag("tag:alice-container"));
        assert!(!is_tag("tag:"));
        assert!(!is_tag("tag:1abc"));
        assert!(is_version("0.170.4"));
        assert!(!is_version("../../etc"));
        assert!(is_user_name("_svc"));
        assert!(!is_user_name("Alice"));
    }
}
