//! Configuration from the environment, validated in one step that reports every bad setting.
//!
//! Every variable is documented in docs/entrypoint.md. No secret is ever taken from the
//! environment: the Tailscale auth key arrives as a file (see [`crate::keys`]).

use std::path::PathBuf;
use std::time::Duration;

/// Variables that look like an auth key passed the wrong way; refused outright.
pub const FORBIDDEN_SECRET_VARS: &[&str] = &[
    "TS_AUTHKEY",
    "TS_AUTH_KEY",
    "TAILSCALE_AUTHKEY",
    "DEVBOX_TAILSCALE_AUTHKEY",
    "DEVBOX_AUTHKEY",
    "OP_SERVICE_ACCOUNT_TOKEN",
];

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

impl Config {
    pub fn key_file(&self) -> PathBuf {
        self.run_dir.join("tailscale-authkey")
    }
    pub fn status_file(&self) -> PathBuf {
        self.run_dir.join("status.json")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join("entrypoint.pid")
    }
    pub fn reauth_flag(&self) -> PathBuf {
        self.run_dir.join("reauth-requested")
    }
    pub fn logged_out_flag(&self) -> PathBuf {
        self.run_dir.join("logged-out")
    }
    pub fn tailscaled_socket(&self) -> PathBuf {
        self.run_dir.join("tailscaled.sock")
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

    /// Reads and validates the configuration from `get` (an environment lookup).
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
        let hostname = r.opt("DEVBOX_HOSTNAME").unwrap_or_default();
        if hostname.is_empty() {
            r.errors.push(
                "DEVBOX_HOSTNAME is not set: it must be the container name (the tailnet hostname)"
                    .into(),
            );
        } else if !is_dns_label(&hostname) {
            r.errors.push(format!(
                "DEVBOX_HOSTNAME={hostname:?} is not a valid hostname: use 1-63 lowercase \
                 letters, digits and '-', not starting or ending with '-'"
            ));
        }
        let owner = r.opt("DEVBOX_OWNER").unwrap_or_default();
        if owner.is_empty() {
            r.errors
                .push("DEVBOX_OWNER is not set: it must be the owning user's name".into());
        } else if !is_user_name(&owner) {
            r.errors.push(format!(
                "DEVBOX_OWNER={owner:?} is not a valid user name: lowercase letters, digits, \
                 '_' and '-', starting with a letter or '_', at most 32"
            ));
        }
        let tags: Vec<String> = match r.opt("DEVBOX_TAGS") {
            Some(v) => {
                let tags: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                if tags.is_empty() {
                    r.errors.push(
                        "DEVBOX_TAGS is empty: give comma-separated tags like \
                         tag:devcontainer,tag:alice-container"
                            .into(),
                    );
                }
                for t in &tags {
                    if !is_tag(t) {
                        r.errors.push(format!(
                            "DEVBOX_TAGS: {t:?} is not a Tailscale tag (tag:NAME, NAME of \
                             letters, digits and '-', starting with a letter)"
                        ));
                    }
                }
                tags
            }
            None if is_user_name(&owner) => vec![
                "tag:devcontainer".to_string(),
                format!("tag:{owner}-container"),
            ],
            None => Vec::new(),
        };
        let syncthing = r.boolean("DEVBOX_SYNCTHING", false);
        let code_server = r.boolean("DEVBOX_CODE_SERVER", true);
        let nix_daemon = r.boolean("DEVBOX_NIX_DAEMON", false);
        let user = r.string("DEVBOX_USER", "dev");
        if !is_user_name(&user) {
            r.errors
                .push(format!("DEVBOX_USER={user:?} is not a valid user name"));
        }
        let home = r.path("DEVBOX_HOME", "/home/dev");
        let home_s = home.to_string_lossy().into_owned();
        let run_dir = r.path("DEVBOX_RUN_DIR", "/run/devbox");
        let state_dir = r.path("DEVBOX_STATE_DIR", &format!("{home_s}/.local/state/devbox"));
        let code_server_bind = r.string("DEVBOX_CODE_SERVER_BIND", "127.0.0.1");
        if code_server_bind.parse::<std::net::IpAddr>().is_err() {
            r.errors.push(format!(
                "DEVBOX_CODE_SERVER_BIND={code_server_bind:?} must be an IP address (e.g. 127.0.0.1)"
            ));
        }
        let code_server_port = match r.opt("DEVBOX_CODE_SERVER_PORT") {
            None => 8080,
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p >= 1 => p,
                _ => {
                    r.errors.push(format!(
                        "DEVBOX_CODE_SERVER_PORT={v:?} must be a port number 1-65535"
                    ));
                    8080
                }
            },
        };
        let syncthing_home = r.path(
            "DEVBOX_SYNCTHING_HOME",
            &format!("{home_s}/.config/syncthing"),
        );
        let sync_folder = r.path("DEVBOX_SYNC_FOLDER", &format!("{home_s}/sync"));
        let syncthing_gui = r.string("DEVBOX_SYNCTHING_GUI_ADDRESS", "127.0.0.1:8384");
        if syncthing_gui.parse::<std::net::SocketAddr>().is_err() {
            r.errors.push(format!(
                "DEVBOX_SYNCTHING_GUI_ADDRESS={syncthing_gui:?} must be IP:PORT (e.g. 127.0.0.1:8384)"
            ));
        }
        let syncthing_listen = r.string("DEVBOX_SYNCTHING_LISTEN", "tcp://0.0.0.0:22000");
        if !syncthing_listen.starts_with("tcp://") && !syncthing_listen.starts_with("quic://") {
            r.errors.push(format!(
                "DEVBOX_SYNCTHING_LISTEN={syncthing_listen:?} must be a tcp:// or quic:// address"
            ));
        }
        let zed_server_binary = r.path("DEVBOX_ZED_SERVER_BINARY", "/opt/devbox/zed-remote-server");
        let zed_channel = r.string("DEVBOX_ZED_CHANNEL", "stable");
        if !["stable", "preview", "nightly", "dev"].contains(&zed_channel.as_str()) {
            r.errors.push(format!(
                "DEVBOX_ZED_CHANNEL={zed_channel:?} must be one of stable, preview, nightly, dev"
            ));
        }
        let zed_version = r.opt("DEVBOX_ZED_VERSION");
        if let Some(v) = &zed_version {
            if !is_version(v) {
                r.errors.push(format!(
                    "DEVBOX_ZED_VERSION={v:?} must look like 0.170.4 (digits, letters, '.', '+', '-')"
                ));
            }
        }
        let run_s = run_dir.to_string_lossy().into_owned();
        let tailscale_statedir = r.path("DEVBOX_TAILSCALE_STATEDIR", &format!("{run_s}/tailscale"));
        let stop_grace = r.millis("DEVBOX_STOP_GRACE_MS", 3000, 100, 60_000);
        let restart_backoff = r.millis("DEVBOX_RESTART_BACKOFF_MS", 1000, 50, 60_000);
        let restart_backoff_max = r.millis("DEVBOX_RESTART_BACKOFF_MAX_MS", 30_000, 50, 600_000);
        if restart_backoff_max < restart_backoff {
            r.errors.push(
                "DEVBOX_RESTART_BACKOFF_MAX_MS must not be smaller than DEVBOX_RESTART_BACKOFF_MS"
                    .into(),
            );
        }
        let activity_interval = r.millis("DEVBOX_ACTIVITY_INTERVAL_MS", 10_000, 200, 600_000);
        let session_max_age = Duration::from_secs(
            r.millis(
                "DEVBOX_SESSION_MAX_AGE_MS",
                12 * 3600 * 1000,
                1000,
                7 * 24 * 3600 * 1000,
            )
            .as_secs(),
        );
        let logout_on_stop = r.boolean("DEVBOX_LOGOUT_ON_STOP", true);
        let login_server = r.opt("DEVBOX_TAILSCALE_LOGIN_SERVER");
        if let Some(url) = &login_server {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.chars().any(|c| c.is_whitespace() || c == '@');
            if !ok {
                r.errors.push(format!(
                    "DEVBOX_TAILSCALE_LOGIN_SERVER={url:?} must be an http(s) URL without \
                     credentials, e.g. https://headscale.example.org"
                ));
            }
        }
        // Plain text for git's config file: one line, no control characters, bounded.
        let git_name = r.opt("DEVBOX_GIT_NAME");
        let git_email = r.opt("DEVBOX_GIT_EMAIL");
        let git_user = r.opt("DEVBOX_GIT_USER");
        for (var, v) in [
            ("DEVBOX_GIT_NAME", &git_name),
            ("DEVBOX_GIT_EMAIL", &git_email),
            ("DEVBOX_GIT_USER", &git_user),
        ] {
            if let Some(v) = v {
                if v.len() > 256 || v.chars().any(char::is_control) {
                    r.errors.push(format!(
                        "{var} must be one line of at most 256 characters without control characters"
                    ));
                }
            }
        }
        if let Some(e) = &git_email {
            if e.split('@').count() != 2 || e.chars().any(char::is_whitespace) {
                r.errors.push(format!(
                    "DEVBOX_GIT_EMAIL={e:?} must be an e-mail address (local@domain)"
                ));
            }
        }
        if let Some(u) = &git_user {
            if !u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                r.errors.push(format!(
                    "DEVBOX_GIT_USER={u:?} must be a GitHub login (letters, digits, '-')"
                ));
            }
        }
        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        Ok(Config {
            hostname,
            owner,
            tags,
            syncthing,
            code_server,
            nix_daemon,
            user,
            home,
            run_dir,
            state_dir,
            code_server_bind,
            code_server_port,
            syncthing_home,
            sync_folder,
            syncthing_gui,
            syncthing_listen,
            zed_server_binary,
            zed_channel,
            zed_version,
            tailscale_statedir,
            stop_grace,
            restart_backoff,
            restart_backoff_max,
            activity_interval,
            session_max_age,
            logout_on_stop,
            login_server,
            git_name,
            git_email,
            git_user,
        })
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
    std::env::var("DEVBOX_RUN_DIR")
        .ok()
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/devbox"))
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
