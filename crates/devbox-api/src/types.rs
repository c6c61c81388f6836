//! Request, response and event types. JSON field names are camelCase.

use serde::{Deserialize, Serialize};

/// Socket path the CLI uses unless `--socket` / `DEVBOX_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/devbox/devbox.sock";

/// What went wrong, as a stable machine-readable code. The HTTP status follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The request itself is invalid (bad name, cpu, memory).
    BadRequest,
    /// The caller is not in the users file.
    UnknownUser,
    /// The caller may not act on this container.
    Forbidden,
    /// No such container (or not visible to the caller).
    NotFound,
    /// The name is taken or the container is in the wrong state.
    Conflict,
    /// A per-user or global limit would be exceeded.
    QuotaExceeded,
    /// The user already has a container; creating another needs confirmation.
    NeedsConfirmation,
    /// A dependency (Podman, `op`, the token, the container's entrypoint) is missing or failing.
    Unavailable,
    /// Too many requests of one kind in a short time (1Password reads); the message says when
    /// to try again.
    RateLimited,
    /// A bug or an unexpected state; see the daemon's log.
    Internal,
}

impl ErrorCode {
    /// The HTTP status code for this error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::UnknownUser | ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::NeedsConfirmation => 409,
            ErrorCode::QuotaExceeded | ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The CLI's exit code for this error (documented in docs/controller.md).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::BadRequest => 2,
            ErrorCode::UnknownUser | ErrorCode::Forbidden => 4,
            ErrorCode::NotFound => 5,
            ErrorCode::Conflict | ErrorCode::NeedsConfirmation => 6,
            ErrorCode::QuotaExceeded => 7,
            ErrorCode::Unavailable => 8,
            ErrorCode::RateLimited => 9,
            ErrorCode::Internal => 1,
        }
    }
}

/// The error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    pub code: ErrorCode,
    /// What went wrong and what to do, for humans.
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// One line of a long operation's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A step has begun.
    Step { message: String },
    /// The operation succeeded; `result` depends on the operation.
    Done { result: serde_json::Value },
    /// The operation failed; nothing half-made was left behind.
    Error { error: ApiError },
}

/// Who the daemon thinks the caller is (from SO_PEERCRED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub uid: u32,
    pub user: String,
    pub is_admin: bool,
}

/// `POST /v1/containers`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    pub name: String,
    #[serde(default)]
    pub cpu: Option<f64>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub syncthing: bool,
    /// Start the container after creating it (default true).
    #[serde(default = "yes")]
    pub start: bool,
    /// The caller confirmed creating another container although they already have one.
    #[serde(default)]
    pub confirm_another: bool,
    /// A Tailscale auth key the user supplied (`--auth-key-stdin`); used instead of 1Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<AuthKey>,
}

/// A Tailscale auth key supplied by the user. It travels only in request bodies over the
/// daemon's socket; `Debug` shows `[REDACTED]`, and the value is wiped from memory when dropped.
#[derive(Clone)]
pub struct AuthKey(pub secrecy::SecretString);

impl AuthKey {
    /// Checks the key's shape (see [`crate::validate::validate_auth_key`]).
    pub fn new(key: &str) -> Result<Self, crate::validate::InvalidInput> {
        crate::validate::validate_auth_key(key)?;
        Ok(Self(secrecy::SecretString::from(key.to_string())))
    }

    pub fn secret(&self) -> &secrecy::SecretString {
        &self.0
    }
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey([REDACTED])")
    }
}

impl PartialEq for AuthKey {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Serialize for AuthKey {
    /// The one place the key is written out: the request body to devboxd.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use secrecy::ExposeSecret;
        s.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for AuthKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = secrecy::SecretString::deserialize(d)?;
        use secrecy::ExposeSecret;
        // The error names the rule, never the value.
        crate::validate::validate_auth_key(key.expose_secret())
            .map_err(serde::de::Error::custom)?;
        Ok(Self(key))
    }
}

/// `POST /v1/containers/{name}/start` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// A Tailscale auth key the user supplied; used instead of 1Password from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<AuthKey>,
}

fn yes() -> bool {
    true
}

/// `DELETE /v1/containers/{name}` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyQuery {
    #[serde(default)]
    pub keep_volume: bool,
}

/// `POST /v1/containers/{name}/rotate-key`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// Re-authenticate right away instead of at the next start.
    #[serde(default)]
    pub now: bool,
    /// A Tailscale auth key the user supplied; without it the key comes from 1Password again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<AuthKey>,
}

/// `GET /v1/containers` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Admins: every user's containers (others always see only their own).
    #[serde(default)]
    pub all: bool,
}

/// `GET /v1/containers/{name}/logs` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsQuery {
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines.
    #[serde(default)]
    pub tail: Option<u32>,
}

/// Desired state the daemon keeps for each container (the reconciler brings it back after a reboot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DesiredState {
    Running,
    Stopped,
}

/// A container as `list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    pub name: String,
    pub owner: String,
    /// Podman's state: created, running, exited, ...
    pub state: String,
    pub desired: Option<DesiredState>,
    pub cpu: f64,
    pub memory_bytes: u64,
    pub syncthing: bool,
    /// RFC 3339.
    pub created_at: String,
    pub image: String,
    pub volume: String,
    /// Set when the owner recorded on the container (name and uid) no longer matches users.nix:
    /// why. Such a container is stopped and never started again; an admin destroys it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned: Option<String>,
}

/// The entrypoint's `status --json`: the contract's report, read leniently (a field or state
/// this build does not know does not make the container silent).
pub use devbox_contract::status::{
    Phase, ServiceState, ServiceStatus, Status as EntrypointStatus, SyncthingStatus,
    TailscaleState, TailscaleStatus,
};

/// How to reach a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectInfo {
    pub ssh: String,
    pub code_server: String,
    /// How the owner reads the per-container password of code-server and the Syncthing GUI
    /// (a command, never the password itself).
    #[serde(default)]
    pub password: String,
    pub zed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncthing_device_id: Option<String>,
    /// The Syncthing GUI (user `dev`, the same password), when Syncthing runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncthing_gui: Option<String>,
}

impl ConnectInfo {
    /// The connection hints for a container on the tailnet.
    pub fn for_container(name: &str, syncthing_device_id: Option<String>) -> Self {
        Self {
            ssh: format!("ssh dev@{name}"),
            code_server: format!("http://{name}:8080/"),
            password: format!("ssh dev@{name} cat ~/.config/code-server/config.yaml"),
            zed: format!("zed ssh://dev@{name}/home/dev"),
            syncthing_gui: syncthing_device_id
                .as_ref()
                .map(|_| format!("http://{name}:8384/ (user dev, the same password)")),
            syncthing_device_id,
        }
    }
}

/// `status NAME` and the result of create/start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub container: ContainerInfo,
    /// None when the container is not running or the entrypoint did not answer.
    pub entrypoint: Option<EntrypointStatus>,
    pub connect: ConnectInfo,
    /// The next automatic action (idle stop, destroy) and its warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<PlanItem>,
}

/// One check of `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// `GET /v1/doctor`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub checks: Vec<DoctorCheck>,
}

/// The result of destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyResult {
    pub name: String,
    pub volume_kept: bool,
    pub volume: String,
}

/// What a lifecycle notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// The container will be stopped for inactivity at `deadline`.
    StopWarning,
    /// The stopped container (and its home volume) will be destroyed at `deadline`.
    DestroyWarning,
    /// The container was stopped for inactivity.
    Stopped,
    /// The container and its home volume were destroyed after being stopped too long.
    Destroyed,
    /// Removing the container's device from the tailnet failed; the daemon keeps retrying.
    CleanupFailed,
    /// The container was not started again after devboxd restarted: its key came from the user
    /// and is held in memory only; the user must supply it again.
    KeyNeeded,
}

/// A notice for a container's owner, shown by every `devbox-ctl` command and at SSH login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub container: String,
    pub owner: String,
    pub kind: NoticeKind,
    /// For humans: what happens when and what to do.
    pub message: String,
    /// RFC 3339: when the warned-about action happens (warnings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /v1/notices` and `GET /v1/lifecycle` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllQuery {
    /// Admins: every user's containers.
    #[serde(default)]
    pub all: bool,
}

/// The next automatic action on a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAction {
    /// "stop" or "destroy".
    pub action: String,
    /// RFC 3339.
    pub at: String,
}

/// A warning the daemon sends before an automatic action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedNotice {
    /// RFC 3339.
    pub at: String,
    pub hours_before: u32,
    pub sent: bool,
}

/// One container in `gc --dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    pub name: String,
    pub owner: String,
    pub state: String,
    pub desired: Option<DesiredState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_since: Option<String>,
    /// None: nothing is scheduled (the rule is disabled).
    pub next: Option<PlannedAction>,
    pub notices: Vec<PlannedNotice>,
}

/// A destroyed container whose tailnet device could not be deleted yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCleanupInfo {
    pub name: String,
    pub owner: String,
    /// RFC 3339.
    pub since: String,
    pub attempts: u32,
    pub last_error: String,
}

/// `GET /v1/lifecycle` (`devbox-ctl gc --dry-run`) and the result of `POST /v1/reconcile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePlan {
    /// The daemon's time, RFC 3339.
    pub now: String,
    pub idle_stop_days: u32,
    pub stopped_destroy_days: u32,
    pub containers: Vec<PlanItem>,
    pub pending_cleanups: Vec<PendingCleanupInfo>,
    /// Kept home volumes (state `kept-volume`): destroyed `stoppedDestroyDays` after being kept.
    #[serde(default)]
    pub kept_volumes: Vec<PlanItem>,
}

/// A kept home volume (`destroy --keep-volume`), `GET /v1/volumes?all=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptVolumeInfo {
    /// The container it belonged to: `create NAME` resumes it, `destroy NAME` removes it.
    pub name: String,
    pub volume: String,
    pub owner: String,
    /// RFC 3339: when it was kept (when devboxd first saw it, for one kept before that was
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_since: Option<String>,
    /// RFC 3339: when it is destroyed unless resumed or kept (`keep NAME`); None: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_at: Option<String>,
    /// Size on disk, when Podman could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_info_says_how_to_read_the_password_never_the_password() {
        let c = ConnectInfo::for_container("alice-main", None);
        assert_eq!(
            c.password,
            "ssh dev@alice-main cat ~/.config/code-server/config.yaml"
        );
        assert_eq!(c.syncthing_gui, None);
        let c = ConnectInfo::for_container("alice-main", Some("DEVICE".into()));
        assert_eq!(
            c.syncthing_gui.as_deref(),
            Some("http://alice-main:8384/ (user dev, the same password)")
        );
        // An older daemon's answer (no password hint) still parses.
        let old: ConnectInfo =
            serde_json::from_str(r#"{"ssh":"s","codeServer":"c","zed":"z"}"#).unwrap();
        assert_eq!(old.password, "");
    }
}
