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
    /// Seconds between reconciler passes (idle stop, stopped destroy, notices, tailnet cleanup
    /// retries). The first pass runs at start.
    #[serde(default = "defaults::reconcile_interval_secs")]
    pub reconcile_interval_secs: u64,
    /// Hours before an idle auto-stop at which the owner is warned (once per deadline each).
    #[serde(default = "defaults::notice_hours_before_stop")]
    pub notice_hours_before_stop: Vec<u32>,
    /// Hours before an auto-destroy at which the owner is warned (once per deadline each).
    #[serde(default = "defaults::notice_hours_before_destroy")]
    pub notice_hours_before_destroy: Vec<u32>,
    /// Most processes and threads in one container (cgroup pids limit): a fork bomb in one
    /// container cannot take the host's process table.
    #[serde(default = "defaults::pids_limit")]
    pub pids_limit: i64,
    /// Set no-new-privileges on every container (setuid binaries such as sudo do not raise
    /// privileges). Turn off only for an image that offers sudo to `dev`.
    #[serde(default = "defaults::no_new_privileges")]
    pub no_new_privileges: bool,
    /// File holding the notice webhook's URL (a secret: whoever has it can post notices); default
    /// `$CREDENTIALS_DIRECTORY/notify-webhook-url` when that exists (systemd `LoadCredential`).
    /// Alternatively users.nix `notifyWebhook` names it in 1Password (`op://...`).
    #[serde(default)]
    pub notify_webhook_file: Option<PathBuf>,
    /// Limits and brief cache of 1Password reads (per user and for the service account).
    #[serde(default)]
    pub op_rate_limit: crate::oplimit::OpRateLimit,
    /// Base URL of the Tailscale API (device cleanup when users.nix sets tailscaleApiKeyRef).
    #[serde(default = "defaults::tailscale_api_url")]
    pub tailscale_api_url: String,
    /// The tailnet of the API calls; "-" is the API key's default tailnet.
    #[serde(default = "defaults::tailnet")]
    pub tailnet: String,
    /// Network isolation (on by default): every container on a network of its own, and
    /// devboxd's nftables table lets it reach only the internet (plus `allowedLanCidrs`). Off:
    /// containers share Podman's default network and reach each other and the host.
    #[serde(default = "defaults::network_isolation")]
    pub network_isolation: bool,
    /// Private ranges (LAN, VPN) containers may reach, e.g. `["192.168.1.0/24"]`. Default none:
    /// containers reach the internet only.
    #[serde(default)]
    pub allowed_lan_cidrs: Vec<String>,
    /// Let containers reach 169.254.0.0/16 (cloud instance metadata at 169.254.169.254, which
    /// often hands out the host's cloud credentials). Default false.
    #[serde(default)]
    pub allow_cloud_metadata: bool,
    /// The nftables CLI that installs the isolation rules.
    #[serde(default = "defaults::nft_command")]
    pub nft_command: PathBuf,
    /// TEST HOOKS ONLY. Enables `testClockFile`, `faultInjection` and `testBindMounts`; the
    /// daemon refuses those fields unless this is true. Never set it in production.
    #[serde(default)]
    pub test_hooks: bool,
    /// TEST HOOK: a file holding an RFC 3339 time the daemon uses as "now" (the wall clock when
    /// the file is missing), so lifecycle rules can be tested without waiting days.
    #[serde(default)]
    pub test_clock_file: Option<PathBuf>,
    /// TEST HOOK: `crash-after:STEP` kills the daemon (SIGKILL) right after STEP of a create,
    /// stop or destroy, to test crash safety. Steps are listed in docs/lifecycle.md.
    /// `pause-after:STEP:MILLIS` makes the daemon wait there instead (widens a race window).
    #[serde(default)]
    pub fault_injection: Option<String>,
    /// TEST HOOK: extra bind mounts `HOST:CONTAINER` for every container (a shared fake tailnet).
    #[serde(default)]
    pub test_bind_mounts: Vec<String>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {source}. Fields (camelCase): usersFile, socketPath, socketGroup, podmanSocket, image, stateDir, opCommand, opTokenFile, instance, readyTimeoutSecs, userns, reconcileIntervalSecs, noticeHoursBeforeStop, noticeHoursBeforeDestroy, notifyWebhookFile, tailscaleApiUrl, tailnet, pidsLimit, noNewPrivileges, opRateLimit, networkIsolation, allowedLanCidrs, allowCloudMetadata, nftCommand (test hooks: testHooks, testClockFile, faultInjection, testBindMounts)")]
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

    /// Every rule across fields, each failure saying what to write instead.
    fn validate(&self) -> Result<(), String> {
        self.validate_containers()?;
        self.validate_tailscale()?;
        self.validate_network()?;
        self.validate_test_hooks()
    }

    /// The image, instance, timeouts, user namespaces, limits and notices.
    fn validate_containers(&self) -> Result<(), String> {
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
        if !(crate::bounds::MIN_PIDS_LIMIT..=crate::bounds::MAX_PIDS_LIMIT)
            .contains(&self.pids_limit)
        {
            return Err(format!(
                "`pidsLimit` must be between {} and {} (processes and threads per container)",
                crate::bounds::MIN_PIDS_LIMIT,
                crate::bounds::MAX_PIDS_LIMIT
            ));
        }
        self.op_rate_limit.validate()?;
        if self.reconcile_interval_secs == 0 || self.reconcile_interval_secs > 86_400 {
            return Err("`reconcileIntervalSecs` must be between 1 and 86400".into());
        }
        for (field, hours) in [
            ("noticeHoursBeforeStop", &self.notice_hours_before_stop),
            (
                "noticeHoursBeforeDestroy",
                &self.notice_hours_before_destroy,
            ),
        ] {
            if hours.iter().any(|h| *h == 0 || *h > 24 * 365) {
                return Err(format!(
                    "`{field}` entries must be hours between 1 and 8760, e.g. [72, 24]"
                ));
            }
        }
        if let Some(f) = &self.notify_webhook_file {
            if !f.is_absolute() {
                return Err("`notifyWebhookFile` must be an absolute path".into());
            }
        }
        Ok(())
    }

    /// The Tailscale API: its URL (plain http only to this machine) and tailnet.
    fn validate_tailscale(&self) -> Result<(), String> {
        if !(self.tailscale_api_url.starts_with("https://")
            || self.tailscale_api_url.starts_with("http://"))
        {
            return Err(
                "`tailscaleApiUrl` must be an http(s) URL, e.g. https://api.tailscale.com".into(),
            );
        }
        if let Some(rest) = self.tailscale_api_url.strip_prefix("http://") {
            // The API key (admin over the whole tailnet) is in every request: clear text only
            // to this machine (a local proxy or a test server).
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(""),
                None => authority.split(':').next().unwrap_or(""),
            };
            if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
                return Err(format!(
                    "`tailscaleApiUrl` {host:?} is plain http: the Tailscale API key would cross the network in clear text; use https:// (plain http only to 127.0.0.1, localhost or [::1])"
                ));
            }
        }
        if self.tailnet.is_empty() || self.tailnet.contains('/') {
            return Err("`tailnet` must be a tailnet name or \"-\" (the API key's tailnet)".into());
        }
        Ok(())
    }

    /// Network isolation and its refinements.
    fn validate_network(&self) -> Result<(), String> {
        for c in &self.allowed_lan_cidrs {
            c.parse::<crate::firewall::Cidr>()
                .map_err(|e| format!("`allowedLanCidrs`: {e}"))?;
        }
        if !self.network_isolation
            && (!self.allowed_lan_cidrs.is_empty() || self.allow_cloud_metadata)
        {
            return Err("`allowedLanCidrs` and `allowCloudMetadata` refine network isolation, which `networkIsolation: false` turns off; remove them or turn isolation back on".into());
        }
        Ok(())
    }

    /// Test hooks are refused unless `testHooks` says so, and must be well-formed.
    fn validate_test_hooks(&self) -> Result<(), String> {
        if !self.test_hooks
            && (self.test_clock_file.is_some()
                || self.fault_injection.is_some()
                || !self.test_bind_mounts.is_empty())
        {
            return Err("`testClockFile`, `faultInjection` and `testBindMounts` are test hooks and are refused unless `testHooks` is true; remove them from a production config".into());
        }
        if let Some(f) = &self.fault_injection {
            let pause_ok = f
                .strip_prefix("pause-after:")
                .and_then(|r| r.rsplit_once(':'))
                .is_some_and(|(_, ms)| ms.parse::<u64>().is_ok());
            if !f.starts_with("crash-after:") && !pause_ok {
                return Err(
                    "`faultInjection` must be `crash-after:STEP` or `pause-after:STEP:MILLIS`"
                        .into(),
                );
            }
        }
        for m in &self.test_bind_mounts {
            match m.split_once(':') {
                Some((h, c)) if h.starts_with('/') && c.starts_with('/') => {}
                _ => {
                    return Err(format!(
                        "`testBindMounts` entry {m:?} must be HOST:CONTAINER with absolute paths"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Where the webhook URL is read from, if anywhere.
    pub fn webhook_file(&self) -> Option<PathBuf> {
        self.notify_webhook_file.clone().or_else(|| {
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(|d| PathBuf::from(d).join("notify-webhook-url"))
                .filter(|p| p.exists())
        })
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
    /// Two full `tailscale up` attempts of the entrypoint (it gives one 90 s): see
    /// docs/controller.md for the reasoning. A timeout keeps the container, so this only bounds
    /// how long create/start block.
    pub fn ready_timeout_secs() -> u64 {
        180
    }
    pub fn userns() -> String {
        "auto".into()
    }
    pub fn pids_limit() -> i64 {
        crate::bounds::DEFAULT_PIDS_LIMIT
    }
    pub fn no_new_privileges() -> bool {
        true
    }
    pub fn network_isolation() -> bool {
        true
    }
    pub fn nft_command() -> PathBuf {
        PathBuf::from("nft")
    }
    pub fn reconcile_interval_secs() -> u64 {
        300
    }
    pub fn notice_hours_before_stop() -> Vec<u32> {
        vec![24]
    }
    pub fn notice_hours_before_destroy() -> Vec<u32> {
        vec![72, 24]
    }
    pub fn tailscale_api_url() -> String {
        "https://api.tailscale.com".into()
    }
    pub fn tailnet() -> String {
        "-".into()
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

    #[test]
    fn the_tailscale_api_key_never_goes_out_in_clear_text() {
        // The API key (an admin credential for the whole tailnet) rides in every request.
        for bad in [
            "http://api.tailscale.com",
            "http://10.0.0.5:8080",
            "http://localhost.evil.org",
        ] {
            let (_d, p) = write(&format!(r#"{{"usersFile":"u","tailscaleApiUrl":"{bad}"}}"#));
            let e = Config::load(&p).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains("https"), "{bad}: {e}");
        }
        for good in [
            "https://api.tailscale.com",
            "http://127.0.0.1:8080",
            "http://localhost:1234/",
            "http://[::1]:80",
        ] {
            let (_d, p) = write(&format!(
                r#"{{"usersFile":"u","tailscaleApiUrl":"{good}"}}"#
            ));
            assert!(Config::load(&p).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn lifecycle_defaults_and_test_hooks_are_refused_unless_enabled() {
        let (_d, p) = write(r#"{"usersFile":"u"}"#);
        let c = Config::load(&p).unwrap();
        assert_eq!(c.reconcile_interval_secs, 300);
        assert_eq!(c.notice_hours_before_stop, vec![24]);
        assert_eq!(c.notice_hours_before_destroy, vec![72, 24]);
        assert_eq!(c.tailscale_api_url, "https://api.tailscale.com");
        assert_eq!(c.tailnet, "-");
        assert!(!c.test_hooks);
        for hook in [
            r#""testClockFile":"/x""#,
            r#""faultInjection":"crash-after:create-volume""#,
            r#""faultInjection":"pause-after:read-authorized:2000""#,
            r#""testBindMounts":["/a:/b"]"#,
        ] {
            let (_d, p) = write(&format!(r#"{{"usersFile":"u",{hook}}}"#));
            let e = Config::load(&p).unwrap_err().to_string();
            assert!(e.contains("test hooks") && e.contains("testHooks"), "{e}");
            let (_d, p) = write(&format!(r#"{{"usersFile":"u","testHooks":true,{hook}}}"#));
            assert!(Config::load(&p).is_ok(), "{hook}");
        }
        for bad in [
            r#""reconcileIntervalSecs":0"#,
            r#""pidsLimit":10"#,
            r#""noticeHoursBeforeDestroy":[72,0]"#,
            r#""tailscaleApiUrl":"ftp://x""#,
            r#""tailnet":"a/b""#,
            r#""testHooks":true,"faultInjection":"boom""#,
            r#""testHooks":true,"faultInjection":"pause-after:read-authorized""#,
            r#""testHooks":true,"faultInjection":"pause-after:read-authorized:soon""#,
            r#""testHooks":true,"testBindMounts":["relative:/b"]"#,
        ] {
            let (_d, p) = write(&format!(r#"{{"usersFile":"u",{bad}}}"#));
            assert!(Config::load(&p).is_err(), "{bad} accepted");
        }
    }
}
