//! The status report of a dev container: the JSON that `devbox-entrypoint status --json` prints
//! and the daemon reads (camelCase). PID 1 writes it atomically to `$DEVBOX_RUN_DIR/status.json`
//! on every change; the `status` command reads it back.
//!
//! Reading is lenient, writing is complete: every field has a default and every state enum has
//! an [`Unknown`](Phase::Unknown) variant for a value this build does not know, so a daemon
//! reads the report of an older or newer entrypoint (an image built at another time) instead
//! of calling the container silent. The entrypoint never writes `unknown`.

use serde::{Deserialize, Serialize};

/// The kebab-case names on the wire, for messages (`{}`) and for comparisons with a name.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name on the wire (`"waiting-for-key"`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                    $ty::Unknown => "unknown",
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// Phase of the container as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Read only: a phase this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

wire_names!(Phase {
    WaitingForKey => "waiting-for-key",
    Starting => "starting",
    Ready => "ready",
    Degraded => "degraded",
    Stopping => "stopping",
});

/// State of one supervised service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    Starting,
    Running,
    /// Exited; waiting for its backoff delay before the next restart.
    Backoff,
    Stopping,
    Stopped,
    Disabled,
    /// Read only: a state this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

wire_names!(ServiceState {
    Starting => "starting",
    Running => "running",
    Backoff => "backoff",
    Stopping => "stopping",
    Stopped => "stopped",
    Disabled => "disabled",
});

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceStatus {
    pub name: String,
    pub state: ServiceState,
    /// How often the supervisor restarted it since the container started.
    pub restarts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Tailscale login state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TailscaleState {
    WaitingForKey,
    Starting,
    Running,
    /// `tailscale up` failed; retried with backoff; see `error`.
    Error,
    LoggedOut,
    /// Read only: a state this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

wire_names!(TailscaleState {
    WaitingForKey => "waiting-for-key",
    Starting => "starting",
    Running => "running",
    Error => "error",
    LoggedOut => "logged-out",
});

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TailscaleStatus {
    pub state: TailscaleState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Completed `tailscale up` attempts (successful or not) since the container started.
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncthingStatus {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// The pre-provisioned Zed remote server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ZedStatus {
    pub provisioned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `devbox-entrypoint status --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    pub phase: Phase,
    /// True when `phase` is `ready`.
    pub ready: bool,
    pub hostname: String,
    pub owner: String,
    pub services: Vec<ServiceStatus>,
    pub tailscale: TailscaleStatus,
    pub syncthing: SyncthingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zed: Option<ZedStatus>,
    /// Last user activity (RFC 3339), persisted on the home volume; null if never.
    pub last_activity: Option<String>,
    /// What the last activity was (e.g. "ssh-session", "code-server", "zed", "syncthing").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_source: Option<String>,
    /// Orphaned processes PID 1 reaped since it started.
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

    fn sample() -> Status {
        Status {
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
                ..Default::default()
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
        }
    }

    #[test]
    fn json_shape_is_camel_case_and_round_trips() {
        let s = sample();
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

    #[test]
    fn a_report_from_another_version_still_reads() {
        // Fields missing, fields unknown, a state this build does not know.
        let s: Status = serde_json::from_str(
            r#"{"phase":"hibernating","ready":false,"newField":1,
                "services":[{"name":"x","state":"paused"}],
                "tailscale":{"state":"running","ip":"100.64.0.2"}}"#,
        )
        .unwrap();
        assert_eq!(s.phase, Phase::Unknown);
        assert_eq!(s.services[0].state, ServiceState::Unknown);
        assert_eq!(s.tailscale.state, TailscaleState::Running);
        assert_eq!(s.tailscale.attempts, 0);
        assert_eq!(s.syncthing, SyncthingStatus::default());
    }

    #[test]
    fn wire_names_match_serde() {
        for p in [
            Phase::WaitingForKey,
            Phase::Starting,
            Phase::Ready,
            Phase::Degraded,
            Phase::Stopping,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for t in [
            TailscaleState::WaitingForKey,
            TailscaleState::Starting,
            TailscaleState::Running,
            TailscaleState::Error,
            TailscaleState::LoggedOut,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for s in [
            ServiceState::Starting,
            ServiceState::Running,
            ServiceState::Backoff,
            ServiceState::Stopping,
            ServiceState::Stopped,
            ServiceState::Disabled,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(ServiceState::Running, "running");
        assert_eq!(TailscaleState::LoggedOut.to_string(), "logged-out");
    }
}
