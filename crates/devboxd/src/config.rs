//! The daemon's JSON configuration (`devboxd --config FILE`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// The exported users JSON (`lib/export-users.nix`).
    pub users_file: PathBuf,
    #[serde(default = "defaults::socket_path")]
    pub socket_path: PathBuf,
    /// Group that owns the socket (mode 0660); its members may use devbox-ctl.
    #[serde(default = "defaults::socket_group")]
    pub socket_group: String,
    /// Podman's Docker-compatible API socket.
    #[serde(default = "defaults::podman_socket")]
    pub podman_socket: PathBuf,
    /// The dev-container image.
    #[serde(default = "defaults::image")]
    pub image: String,
    #[serde(default = "defaults::state_dir")]
    pub state_dir: PathBuf,
    /// The 1Password CLI.
    #[serde(default = "defaults::op_command")]
    pub op_command: PathBuf,
    /// File holding the 1Password service-account token; default
    /// `$CREDENTIALS_DIRECTORY/op-service-account-token` (systemd `LoadCredential`).
    #[serde(default)]
    pub op_token_file: Option<PathBuf>,
    /// Label value separating several daemons that share one Podman (tests, staging). Each daemon
    /// sees, counts and manages only containers with its own instance label.
    #[serde(default = "defaults::instance")]
    pub instance: String,
    /// Seconds to wait for a started container's entrypoint to report ready.
    #[serde(default = "defaults::ready_timeout_secs")]
    pub ready_timeout_secs: u64,
    /// "auto": every container runs in its own user namespace (container root is an unprivileged
    /// host id), with a stable id range per home volume; "": no user namespace.
    #[serde(default = "defaults::userns")]
    pub userns: String,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {source}. Fields (camelCase): usersFile, socketPath, socketGroup, podmanSocket, image, stateDir, opCommand, opTokenFile, instance, readyTimeoutSecs, userns")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Config = serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.image.trim().is_empty() {
            return Err("`image` is empty; name the dev-container image, e.g. localhost/devbox-devcontainer:latest".into());
        }
        if self.instance.is_empty()
            || !self
                .instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err("`instance` must be non-empty letters, digits, '-', '_' or '.'".into());
        }
        if self.ready_timeout_secs == 0 || self.ready_timeout_secs > 3600 {
            return Err("`readyTimeoutSecs` must be between 1 and 3600".into());
        }
        if !(self.userns.is_empty() || self.userns == "auto") {
            return Err(
                "`userns` must be \"auto\" (own user namespace per container) or \"\" (none)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Where the service-account token is read from.
    pub fn token_file(&self) -> Option<PathBuf> {
        self.op_token_file.clone().or_else(|| {
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(|d| PathBuf::from(d).join("op-service-account-token"))
        })
    }
}

mod defaults {
    use std::path::PathBuf;
    pub fn socket_path() -> PathBuf {
        PathBuf::from(devbox_api::DEFAULT_SOCKET)
    }
    pub fn socket_group() -> String {
        "devbox".into()
    }
    pub fn podman_socket() -> PathBuf {
        PathBuf::from("/run/podman/podman.sock")
    }
    pub fn image() -> String {
        "localhost/devbox-devcontainer:latest".into()
    }
    pub fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/devbox")
    }
    pub fn op_command() -> PathBuf {
        PathBuf::from("op")
    }
    pub fn instance() -> String {
        "default".into()
    }
    pub fn ready_timeout_secs() -> u64 {
        60
    }
    pub fn userns() -> String {
        "auto".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn defaults_fill_in() {
        let (_d, p) = write(r#"{"usersFile":"/etc/devbox/users.json"}"#);
        let c = Config::load(&p).unwrap();
        assert_eq!(c.socket_path, PathBuf::from("/run/devbox/devbox.sock"));
        assert_eq!(c.socket_group, "devbox");
        assert_eq!(c.podman_socket, PathBuf::from("/run/podman/podman.sock"));
        assert_eq!(c.image, "localhost/devbox-devcontainer:latest");
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/devbox"));
        assert_eq!(c.op_command, PathBuf::from("op"));
        assert_eq!(c.userns, "auto");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let (_d, p) = write(r#"{"usersFile":"u","sockedPath":"x"}"#);
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("sockedPath"), "{e}");
        let (_d, p) = write(r#"{"usersFile":"u","readyTimeoutSecs":0}"#);
        assert!(Config::load(&p)
            .unwrap_err()
            .to_string()
            .contains("readyTimeoutSecs"));
        let (_d, p) = write(r#"{"usersFile":"u","instance":"a b"}"#);
        assert!(Config::load(&p)
            .unwrap_err()
            .to_string()
            .contains("instance"));
        let e = Config::load(Path::new("/nonexistent/devbox.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }
}
