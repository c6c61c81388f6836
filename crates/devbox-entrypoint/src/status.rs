//! The status report of a dev container: the JSON that `devbox-entrypoint status --json`
//! prints and the controller reads (camelCase). PID 1 writes it atomically to
//! `$DEVBOX_RUN_DIR/status.json` on every change; the `status` command reads it back.

use serde::{Deserialize, Serialize};

/// Phase of the container as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// No Tailscale auth key delivered yet; the other services run.
    WaitingForKey,
    /// A key is there and Tailscale or a service is still coming up.
    Starting,
    /// On the tailnet and every enabled service running.
    Ready,
    /// A service is crash-looping or Tailscale failed (see `services` / `tailscale.error`).
    Degraded,
    /// Shutting down (SIGTERM received).
    Stopping,
}

/// State of one supervised service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    Starting,
    Running,
    /// Exited; waiting for its backoff delay before the next restart.
    Backoff,
    Stopping,
    Stopped,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub name: String,
    pub state: ServiceState,
    /// How often the supervisor restarted it since the container started.
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Tailscale login state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TailscaleState {
    WaitingForKey,
    Starting,
    Running,
    /// `tailscale up` failed; retried with backoff; see `error`.
    Error,
    LoggedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TailscaleStatus {
    pub state: TailscaleState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Completed `tailscale up` attempts (successful or not) since the container started.
    #[serde(default)]
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncthingStatus {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// What `devbox-entrypoint status --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub phase: Phase,
    /// True when `phase` is `ready`.
    pub ready: bool,
    pub hostname: String,
    pub owner: String,
    pub services: Vec<ServiceStatus>,
    pub tailscale: TailscaleStatus,
    pub syncthing: SyncthingStatus,
    /// The pre-provisioned Zed remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zed: Option<crate::zed::ZedStatus>,
    /// Last user activity (RFC 3339), persisted on the home volume; null if never.
    pub last_activity: Option<String>,
    /// What the last activity was (e.g. "ssh-session", "code-server", "zed", "syncthing").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_source: Option<String>,
    /// Orphaned processes PID 1 reaped since it started.
    #[serde(default)]
    pub orphans_reaped: u64,
    /// When PID 1 last wrote this report (RFC 3339).
    pub updated_at: String,
    /// PID 1's pid namespace view of when it started (RFC 3339).
    pub started_at: String,
}

impl Status {
    /// The service with this name, if any.
    pub fn service(&self, name: &str) -> Option<&ServiceStatus> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_camel_case_and_round_trips() {
        let s = Status {
            phase: Phase::WaitingForKey,
            ready: false,
            hostname: "alice-main".into(),
            owner: "alice".into(),
            services: vec![ServiceStatus {
                name: "code-server".into(),
                state: ServiceState::Running,
                restarts: 2,
                pid: Some(7),
                last_error: Some("exited with status 1".into()),
            }],
            tailscale: TailscaleStatus {
                state: TailscaleState::WaitingForKey,
                ip: None,
                hostname: None,
                error: None,
                attempts: 0,
            },
            syncthing: SyncthingStatus {
                enabled: true,
                device_id: Some("ABC".into()),
            },
            zed: None,
            last_activity: None,
            last_activity_source: None,
            orphans_reaped: 0,
            updated_at: "2026-01-01T00:00:00Z".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["phase"], "waiting-for-key");
        assert_eq!(v["services"][0]["lastError"], "exited with status 1");
        assert_eq!(v["services"][0]["state"], "running");
        assert_eq!(v["tailscale"]["state"], "waiting-for-key");
        assert_eq!(v["syncthing"]["deviceId"], "ABC");
        assert!(v["lastActivity"].is_null());
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
