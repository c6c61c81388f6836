//! The controller's operations: create, start, stop, destroy, rotate-key, list, status, logs, doctor.
//! Authorization (owner or admin), quotas and secret handling live here, above the engine boundary.
//! Every mutation holds one lock from quota check to commit, so concurrent requests cannot exceed a
//! limit, and every failing mutation undoes what it made (no orphan volume, container or key file).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use devbox_api::validate::{parse_memory, validate_cpu, validate_name};
use devbox_api::{
    ApiError, AuthKey, ConnectInfo, ContainerInfo, ContainerStatus, CreateRequest, DesiredState,
    DestroyResult, DoctorCheck, DoctorReport, EntrypointStatus, ErrorCode,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::engine::{ByteStream, ContainerId, ContainerRecord, ContainerSpec, Engine, EngineError};
use crate::secrets::{SecretError, SecretSource};
use crate::state::{ContainerState, KeySource, PendingCreate, StateStore};
use crate::users::{Caller, Users};

mod kept;
mod reconcile;

pub const LABEL_MANAGED: &str = "devbox.managed";
pub const LABEL_INSTANCE: &str = "devbox.instance";
pub const LABEL_OWNER: &str = "devbox.owner";
/// The owner's uid when the container (or volume) was made: a name alone is not an identity (a
/// user removed from users.nix and another added with the same name is another person).
pub const LABEL_OWNER_UID: &str = "devbox.owner-uid";
pub const LABEL_NAME: &str = "devbox.name";
pub const LABEL_CREATED: &str = "devbox.created-at";
pub const LABEL_OPTIONS: &str = "devbox.options";
/// On the home volume: the first host uid/gid of the container's user namespace.
pub const LABEL_UID_BASE: &str = "devbox.uid-base";

/// User namespaces: each home volume gets its own host id range, recorded on the volume, so a
/// container re-created on a kept volume gets the same mapping and the files keep their owners
/// (Podman's plain `userns=auto` may pick another range, leaving the files to an unmapped owner).
/// The ranges sit below Podman's own `containers` subuid range so they never overlap it.
pub const USERNS_BASE: u64 = 1_000_000_000;
pub const USERNS_SIZE: u64 = 65_536;
/// How many ranges fit below 2^31.
pub const USERNS_SLOTS: u64 = 16_000;

/// Where the home volume is mounted and where the entrypoint keeps runtime files (a tmpfs).
pub const HOME_PATH: &str = "/home/dev";
pub const RUN_PATH: &str = "/run/devbox";
/// The entrypoint inside the container, as the root execs (deliver-key with the key on stdin,
/// status, logout) name it: the program PID 1 was started from. Not a PATH lookup and not an
/// image path: the container user can neither rename nor replace what /proc/1/exe points to,
/// so a planted `devbox-entrypoint` never receives the key (docs/security.md).
pub const ENTRYPOINT: &str = "/proc/1/exe";
/// Seconds Podman waits after SIGTERM before SIGKILL on stop.
pub const STOP_TIMEOUT_SECS: u32 = 10;

/// The options recorded on the container (label `devbox.options`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub cpu: f64,
    pub memory_bytes: u64,
    pub syncthing: bool,
}

/// Settings the service needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub image: String,
    pub instance: String,
    pub ready_timeout: Duration,
    /// Run containers in their own user namespace (container root is not host root).
    pub userns: bool,
    /// Warning lead times (hours) before an idle auto-stop and before an auto-destroy.
    pub notice_hours_before_stop: Vec<u32>,
    pub notice_hours_before_destroy: Vec<u32>,
    /// Tailscale API base URL and tailnet ("-": the API key's own).
    pub tailscale_api_url: String,
    pub tailnet: String,
    /// TEST HOOK: `crash-after:STEP` (see `fault_point`).
    pub fault_injection: Option<String>,
    /// TEST HOOK: extra bind mounts for every container.
    pub binds: Vec<(String, String)>,
    /// Pids limit, capabilities, no-new-privileges of every container.
    pub confinement: crate::engine::Confinement,
    /// Limits and cache of 1Password reads.
    pub op_rate_limit: crate::oplimit::OpRateLimit,
    /// The file holding the notice webhook's URL (a secret), if any.
    pub notify_webhook_file: Option<std::path::PathBuf>,
    /// Network isolation (None: off, containers on Podman's default network).
    pub firewall: Option<Arc<crate::firewall::Firewall>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            image: "localhost/devbox-devcontainer:latest".into(),
            instance: "default".into(),
            ready_timeout: Duration::from_secs(180),
            userns: true,
            notice_hours_before_stop: vec![24],
            notice_hours_before_destroy: vec![72, 24],
            tailscale_api_url: "https://api.tailscale.com".into(),
            tailnet: "-".into(),
            fault_injection: None,
            binds: vec![],
            confinement: Default::default(),
            op_rate_limit: Default::default(),
            notify_webhook_file: None,
            firewall: None,
        }
    }
}

/// Reports the steps of a long operation to the caller.
pub trait Progress: Send + Sync {
    fn step(&self, message: &str);
}

impl<F: Fn(&str) + Send + Sync> Progress for F {
    fn step(&self, message: &str) {
        self(message)
    }
}

/// The container's own network (see crate::firewall).
pub fn network_name(container: &str) -> String {
    format!("devbox-net-{container}")
}

pub fn volume_name(container: &str) -> String {
    format!("devbox-home-{container}")
}

fn engine_err(e: EngineError) -> ApiError {
    match e {
        EngineError::Unavailable(m) => ApiError::new(
            ErrorCode::Unavailable,
            format!("Podman is not available: {m}. An admin should check `systemctl status podman.socket` and `devbox-ctl doctor`"),
        ),
        EngineError::NotFound(m) => ApiError::new(ErrorCode::NotFound, format!("Podman: {m}")),
        EngineError::Conflict(m) => ApiError::new(ErrorCode::Conflict, format!("Podman: {m}")),
        EngineError::Failed(m) => ApiError::new(
            ErrorCode::Internal,
            format!("Podman failed: {m}. See `journalctl -u devboxd`"),
        ),
    }
}

fn secret_err(e: SecretError) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        format!("could not fetch your Tailscale auth key: {e}"),
    )
}

fn bad(e: devbox_api::validate::InvalidInput) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, e.to_string())
}

/// A start needs the key the user supplied, and devboxd no longer holds it (it restarted).
fn key_not_held(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!("{name} uses a Tailscale auth key you supplied, and devboxd no longer holds it (such keys are kept in memory only, and devboxd restarted since); supply it again with `devbox-ctl start {name} --auth-key-stdin`, or go back to your 1Password key with `devbox-ctl rotate-key {name}` and then `devbox-ctl start {name}`"),
    )
}

/// `devbox-entrypoint deliver-key`'s exit code for "key delivered, no login result yet".
const DELIVERED_LOGIN_PENDING: i64 = 4;

/// The outcome of waiting for a container to get ready.
enum Ready {
    Yes(EntrypointStatus),
    /// Timed out while the container runs: what is still pending, for the user.
    NotYet(String),
}

/// What keeps a container from being ready, in words: the services not running yet, the
/// tailnet login, Syncthing's device ID.
fn pending_services(s: &EntrypointStatus) -> String {
    let mut parts: Vec<String> = Vec::new();
    if s.tailscale.state != "running" {
        let mut t = format!("tailnet login ({})", s.tailscale.state);
        if let Some(e) = &s.tailscale.error {
            t.push_str(&format!(": {e}"));
        }
        parts.push(t);
    }
    for svc in &s.services {
        if svc.state != "running" && svc.state != "disabled" {
            let mut t = format!("{} ({})", svc.name, svc.state);
            if let Some(e) = &svc.last_error {
                t.push_str(&format!(", last error: {e}"));
            }
            parts.push(t);
        }
    }
    if s.syncthing.enabled && s.syncthing.device_id.is_none() {
        parts.push("Syncthing device ID".into());
    }
    if parts.is_empty() {
        format!("phase {}", s.phase)
    } else {
        parts.join(", ")
    }
}

/// Replaces every occurrence of the secret in text that came back from the container.
fn scrub(text: &[u8], secret: &SecretString) -> String {
    let t = String::from_utf8_lossy(text).to_string();
    let s = secret.expose_secret();
    if s.is_empty() {
        t
    } else {
        t.replace(s, "[redacted]")
    }
}

pub struct Service<E: Engine, S: SecretSource, C: Clock> {
    pub engine: E,
    pub secrets: S,
    pub clock: C,
    pub users: Users,
    pub settings: Settings,
    pub state: StateStore,
    /// Admission: quota checks and the making of a container are serialized by this lock, so
    /// concurrent creates cannot exceed a limit.
    lock: Mutex<()>,
    /// Every operation on one container holds that container's lock for its whole duration, so
    /// a slow start of one container does not hold up everyone else.
    per_container: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Serializes read-modify-write of the state file.
    state_lock: std::sync::Mutex<()>,
    /// One reconciler pass at a time.
    reconcile_lock: Mutex<()>,
    /// The Tailscale API (device cleanup) and the webhook client.
    tailnet: crate::tailnet::TailscaleApi,
    /// Rate limits and brief cache of 1Password reads.
    op_gate: crate::oplimit::OpGate,
    /// Auth keys users supplied (`--auth-key-stdin`), per container: held in memory only (never
    /// written to disk), so restarts of the container while the daemon runs can use them.
    held_keys: std::sync::Mutex<HashMap<String, SecretString>>,
    /// `doctor`'s 1Password checks per uid, reused for [`DOCTOR_OP_CACHE`].
    doctor_cache: std::sync::Mutex<HashMap<u32, (std::time::Instant, Vec<DoctorCheck>)>>,
}

/// How long one caller's 1Password checks of `doctor` are reused.
const DOCTOR_OP_CACHE: Duration = Duration::from_secs(60);

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    pub fn new(
        engine: E,
        secrets: S,
        clock: C,
        users: Users,
        settings: Settings,
        state: StateStore,
    ) -> Self {
        let settings_api_url = settings.tailscale_api_url.clone();
        let settings_tailnet = settings.tailnet.clone();
        let op_gate = crate::oplimit::OpGate::new(settings.op_rate_limit.clone());
        Self {
            op_gate,
            engine,
            secrets,
            clock,
            users,
            settings,
            state,
            lock: Mutex::new(()),
            per_container: std::sync::Mutex::new(HashMap::new()),
            state_lock: std::sync::Mutex::new(()),
            reconcile_lock: Mutex::new(()),
            held_keys: std::sync::Mutex::new(HashMap::new()),
            doctor_cache: std::sync::Mutex::new(HashMap::new()),
            tailnet: crate::tailnet::TailscaleApi {
                http: crate::tailnet::Http::new(),
                base: settings_api_url,
                tailnet: settings_tailnet,
            },
        }
    }

    fn base_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_INSTANCE.to_string(), self.settings.instance.clone()),
        ])
    }

    fn is_ours(&self, c: &ContainerRecord) -> bool {
        self.base_labels()
            .iter()
            .all(|(k, v)| c.labels.get(k) == Some(v))
    }

    /// Whether `c` was made by `caller` (by name AND uid).
    fn owned_by(&self, c: &ContainerRecord, caller: &Caller) -> bool {
        c.labels.get(LABEL_OWNER) == Some(&caller.user)
            && c.labels.get(LABEL_OWNER_UID) == Some(&caller.uid.to_string())
    }

    /// Why the owner recorded on a container or volume is no longer who users.nix says (None:
    /// it still is). Such a container is stopped and never started again: its key would be
    /// fetched for whoever has that name now, or not exist.
    pub(crate) fn orphaned(&self, labels: &BTreeMap<String, String>) -> Option<String> {
        let owner = labels.get(LABEL_OWNER).map(String::as_str).unwrap_or("");
        let name = labels.get(LABEL_NAME).map(String::as_str).unwrap_or("NAME");
        let Some(user) = self.users.file.users.get(owner) else {
            return Some(format!(
                "orphaned: its owner {owner:?} is no longer in users.nix; an admin may destroy it (`devbox-ctl destroy {name}`)"
            ));
        };
        match labels.get(LABEL_OWNER_UID) {
            Some(uid) if *uid == user.uid.to_string() => None,
            Some(uid) => Some(format!(
                "orphaned: it was made for {owner:?} with uid {uid}, but users.nix now gives {owner:?} uid {}; an admin may destroy it (`devbox-ctl destroy {name}`)",
                user.uid
            )),
            None => Some(format!(
                "orphaned: it records no owner uid, so its owner {owner:?} cannot be verified; an admin may destroy it (`devbox-ctl destroy {name}`)"
            )),
        }
    }

    /// The managed container named exactly `name` (None: there is none). The one lookup by name
    /// an operation makes: everything after it uses the record's full ID.
    async fn resolve(&self, name: &str) -> Result<Option<ContainerRecord>, ApiError> {
        Ok(self
            .engine
            .find(name)
            .await
            .map_err(engine_err)?
            .filter(|c| {
                c.name == name
                    && self.is_ours(c)
                    && c.labels.get(LABEL_NAME).map(String::as_str) == Some(name)
            }))
    }

    fn audit(&self, caller: &Caller, action: &str, name: &str, result: &Result<(), ApiError>) {
        match result {
            Ok(()) => tracing::info!(
                target: "devbox::audit",
                uid = caller.uid, user = %caller.user, action, container = name, result = "ok",
                "audit"
            ),
            Err(e) => tracing::warn!(
                target: "devbox::audit",
                uid = caller.uid, user = %caller.user, action, container = name, result = "error",
                code = ?e.code, error = %e.message,
                "audit"
            ),
        }
    }

    fn info(&self, c: &ContainerRecord, desired: Option<DesiredState>) -> ContainerInfo {
        let opts: Option<Options> = c
            .labels
            .get(LABEL_OPTIONS)
            .and_then(|o| serde_json::from_str(o).ok());
        ContainerInfo {
            name: c.name.clone(),
            owner: c.labels.get(LABEL_OWNER).cloned().unwrap_or_default(),
            state: c.state.clone(),
            desired,
            cpu: opts.as_ref().map(|o| o.cpu).unwrap_or_default(),
            memory_bytes: opts.as_ref().map(|o| o.memory_bytes).unwrap_or_default(),
            syncthing: opts.as_ref().map(|o| o.syncthing).unwrap_or_default(),
            created_at: c.labels.get(LABEL_CREATED).cloned().unwrap_or_default(),
            image: c.image.clone(),
            volume: volume_name(&c.name),
            orphaned: self.orphaned(&c.labels),
        }
    }

    fn desired(&self, name: &str) -> Option<DesiredState> {
        self.state
            .load()
            .ok()
            .and_then(|s| s.containers.get(name).map(|c| c.desired))
    }

    /// Finds a managed container and checks the caller may act on it.
    async fn authorize(&self, caller: &Caller, name: &str) -> Result<ContainerRecord, ApiError> {
        validate_name(name).map_err(bad)?;
        let Some(c) = self.resolve(name).await? else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("there is no dev container named {name:?}; `devbox-ctl list` shows yours"),
            ));
        };
        let owner = c.labels.get(LABEL_OWNER).map(String::as_str).unwrap_or("");
        if !caller.is_admin && owner == caller.user && !self.owned_by(&c, caller) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("the dev container {name:?} was made for another uid of the name {owner:?} (users.nix gives you uid {}); ask an admin to destroy it", caller.uid),
            ));
        }
        if !caller.is_admin && !self.owned_by(&c, caller) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("the dev container {name:?} belongs to another user; you may only manage your own (admins may manage all)"),
            ));
        }
        Ok(c)
    }

    async fn ours(&self) -> Result<Vec<ContainerRecord>, ApiError> {
        self.engine
            .list_by_labels(&self.base_labels())
            .await
            .map_err(engine_err)
    }

    /// How many container locks the table holds (for tests: it must not grow with every name
    /// anyone asks about).
    pub fn tracked_container_locks(&self) -> usize {
        self.per_container
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// How many user-supplied keys devboxd holds in memory (for tests: a create that failed
    /// must not keep one).
    pub fn held_key_count(&self) -> usize {
        self.held_keys().len()
    }

    /// The lock of one container (created on first use).
    fn container_lock(&self, name: &str) -> Arc<Mutex<()>> {
        let mut map = self
            .per_container
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(name) {
            // Forget the locks nobody holds or waits for (only the table has them: clones are
            // made under this lock), so the table does not grow with every name ever asked about.
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(name.to_string()).or_default().clone()
    }

    /// Takes the container's lock for `caller`, refusing a caller who may not act on it BEFORE
    /// queueing (strangers cannot keep the owner waiting). Callers check again under the lock.
    async fn lock_authorized(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, ApiError> {
        self.authorize(caller, name).await?;
        Ok(self.container_lock(name).lock_owned().await)
    }

    fn update_state(
        &self,
        name: &str,
        f: impl FnOnce(&mut BTreeMap<String, ContainerState>),
    ) -> Result<(), ApiError> {
        let _state = self
            .state_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = self
            .state
            .load()
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        f(&mut s.containers);
        self.state.save(&s).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("{e} (while recording {name})"))
        })
    }

    /// The owner's git identity from users.nix, for the entrypoint to write into git's system
    /// config (name = the full name, e-mail, GitHub login). Not secrets.
    fn git_identity_env(&self, owner: &str) -> Vec<(String, String)> {
        let Some(u) = self.users.file.users.get(owner) else {
            return vec![];
        };
        vec![
            ("DEVBOX_GIT_NAME".into(), u.description.clone()),
            ("DEVBOX_GIT_EMAIL".into(), u.email.clone()),
            ("DEVBOX_GIT_USER".into(), u.git_user.clone()),
        ]
    }

    // ---------------------------------------------------------------- keys

    fn held_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, SecretString>> {
        self.held_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn hold_key(&self, name: &str, key: &SecretString) {
        self.held_keys().insert(name.to_string(), key.clone());
    }

    pub(crate) fn held_key(&self, name: &str) -> Option<SecretString> {
        self.held_keys().get(name).cloned()
    }

    pub(crate) fn forget_key(&self, name: &str) {
        self.held_keys().remove(name);
    }

    pub(crate) fn key_source(&self, name: &str) -> KeySource {
        self.state
            .load()
            .ok()
            .and_then(|s| s.containers.get(name).map(|e| e.key_source))
            .unwrap_or_default()
    }

    /// Reads `owner`'s key from 1Password, for `caller` (rate limited per caller; `fresh`
    /// skips the brief cache).
    async fn key_from_1password(
        &self,
        caller: &Caller,
        owner: &str,
        fresh: bool,
        progress: &dyn Progress,
    ) -> Result<SecretString, ApiError> {
        let reference = self.users.op_reference(owner).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "this orchestrator has no 1Password vault (users.nix `containers.opVault` is null); supply your Tailscale auth key with `--auth-key-stdin`",
            )
        })?;
        progress.step("Fetching the Tailscale auth key from 1Password");
        self.read_secret(caller, &reference, fresh).await
    }

    /// The key a start of `name` uses: the one supplied with the request, else the one the user
    /// supplied earlier (while devboxd still holds it), else 1Password's.
    async fn start_key(
        &self,
        caller: &Caller,
        name: &str,
        owner: &str,
        supplied: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<(SecretString, KeySource), ApiError> {
        if let Some(k) = supplied {
            progress.step("Using the Tailscale auth key you supplied");
            return Ok((k.secret().clone(), KeySource::User));
        }
        if self.key_source(name) == KeySource::User {
            return self
                .held_key(name)
                .map(|k| (k, KeySource::User))
                .ok_or_else(|| key_not_held(name));
        }
        Ok((
            self.key_from_1password(caller, owner, false, progress)
                .await?,
            KeySource::OnePassword,
        ))
    }

    // ---------------------------------------------------------------- create

    pub async fn create(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let result = self.create_inner(caller, req, progress).await;
        self.audit(
            caller,
            "create",
            &req.name,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        result
    }

    async fn create_inner(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let name = req.name.as_str();
        validate_name(name).map_err(bad)?;
        let policy = &self.users.file.containers;
        let cpu = validate_cpu(req.cpu.unwrap_or(policy.default_cpu)).map_err(bad)?;
        let memory =
            parse_memory(req.memory.as_deref().unwrap_or(&policy.default_memory)).map_err(bad)?;
        crate::bounds::check_admin_maxima(policy, cpu, memory)?;
        let memory_i64 = i64::try_from(memory)
            .map_err(|_| ApiError::new(ErrorCode::BadRequest, "memory too large"))?;

        progress.step("Checking name and quotas");
        // A first, unlocked pass answers quickly (taken name, quota, confirmation) before the
        // 1Password round trip; the pass under the admission lock below is the authoritative one.
        self.admit(caller, req).await?;
        // Fetch the key before making anything, so a 1Password failure leaves nothing behind.
        // A key the user supplied is used instead of 1Password, also for later starts.
        let (key, key_source) = match (&req.auth_key, req.start) {
            (Some(k), _) => {
                progress.step("Using the Tailscale auth key you supplied");
                (Some(k.secret().clone()), KeySource::User)
            }
            (None, true) => (
                Some(
                    self.key_from_1password(caller, &caller.user, false, progress)
                        .await?,
                ),
                KeySource::OnePassword,
            ),
            (None, false) => (None, KeySource::OnePassword),
        };

        // Lock order: admission, then the container (other operations take only the latter).
        let admission = self.lock.lock().await;
        let container_lock = self.container_lock(name);
        let _container = container_lock.lock().await;
        let existing_volume = self.admit(caller, req).await?;
        let volume = volume_name(name);

        let options = Options {
            cpu,
            memory_bytes: memory,
            syncthing: req.syncthing,
        };
        let now = self.clock.now();
        let mut labels = self.base_labels();
        labels.insert(LABEL_OWNER.into(), caller.user.clone());
        labels.insert(LABEL_OWNER_UID.into(), caller.uid.to_string());
        labels.insert(LABEL_NAME.into(), name.to_string());
        labels.insert(LABEL_CREATED.into(), now.to_string());
        labels.insert(
            LABEL_OPTIONS.into(),
            serde_json::to_string(&options)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
        );

        let uid_base = if !self.settings.userns {
            None
        } else if let Some(base) = existing_volume
            .as_ref()
            .and_then(|v| v.labels().get(LABEL_UID_BASE))
            .and_then(|b| b.parse::<u64>().ok())
        {
            Some(base)
        } else {
            Some(self.free_uid_base().await?)
        };

        // Write-ahead: record the create before making anything, so a daemon that dies in the
        // middle undoes it at its next start (reconcile_at_start).
        let created_volume = existing_volume.is_none();
        self.update_state(name, |s| {
            s.insert(
                name.to_string(),
                ContainerState {
                    owner: caller.user.clone(),
                    desired: DesiredState::Stopped,
                    created_at: now,
                    stopped_since: None,
                    last_activity: None,
                    key_delivered_at: None,
                    last_started: None,
                    key_source: Default::default(),
                    notices_sent: vec![],
                    pending_create: Some(PendingCreate { created_volume }),
                    destroying: None,
                },
            );
        })?;
        self.fault_point("create-journaled");
        let made_volume = if existing_volume.is_some() {
            progress.step(&format!("Reusing your kept home volume {volume}"));
            Ok(false)
        } else {
            progress.step(&format!("Creating home volume {volume}"));
            let mut vlabels = self.base_labels();
            vlabels.insert(LABEL_OWNER.into(), caller.user.clone());
            vlabels.insert(LABEL_OWNER_UID.into(), caller.uid.to_string());
            vlabels.insert(LABEL_NAME.into(), name.to_string());
            if let Some(base) = uid_base {
                vlabels.insert(LABEL_UID_BASE.into(), base.to_string());
            }
            self.engine
                .create_volume(&volume, &vlabels)
                .await
                .map(|()| true)
        };
        if let Err(e) = made_volume {
            self.forget(name);
            return Err(engine_err(e));
        }
        self.fault_point("create-volume");
        let network = match self.make_network(name, &caller.user, progress).await {
            Ok(n) => n,
            Err(e) => {
                progress.step("Failed; removing what was made");
                self.undo_create(name, &caller.user, None, created_volume)
                    .await;
                self.forget(name);
                return Err(e);
            }
        };
        self.fault_point("create-network");

        let spec = ContainerSpec {
            name: name.to_string(),
            image: self.settings.image.clone(),
            hostname: name.to_string(),
            env: vec![
                ("DEVBOX_HOSTNAME".into(), name.to_string()),
                ("DEVBOX_OWNER".into(), caller.user.clone()),
                (
                    "DEVBOX_TAGS".into(),
                    self.users.tags(&caller.user).join(","),
                ),
                ("DEVBOX_SYNCTHING".into(), req.syncthing.to_string()),
            ]
            .into_iter()
            .chain(self.git_identity_env(&caller.user))
            .collect(),
            labels,
            nano_cpus: (cpu * 1e9).round() as i64,
            memory_bytes: memory_i64,
            volume: volume.clone(),
            home_path: HOME_PATH.into(),
            tmpfs: vec![(RUN_PATH.into(), "rw,nosuid,nodev,size=16m,mode=0755".into())],
            binds: self.settings.binds.clone(),
            network,
            userns: uid_base.map(|b| {
                format!("auto:uidmapping=0:{b}:{USERNS_SIZE},gidmapping=0:{b}:{USERNS_SIZE}")
            }),
            confinement: self.settings.confinement.clone(),
        };
        progress.step(&format!(
            "Creating container {name} ({cpu} CPU, {})",
            devbox_api::validate::format_memory(memory)
        ));
        let id = match self.engine.create(&spec).await {
            Ok(id) => id,
            Err(e) => {
                progress.step("Failed; removing what was made");
                self.undo_create(name, &caller.user, None, created_volume)
                    .await;
                self.forget(name);
                return Err(engine_err(e));
            }
        };
        self.fault_point("create-container");
        // The container exists and carries its labels, so the quota counts it: others may go on.
        drop(admission);
        if let Some(k) = req.auth_key.as_ref() {
            self.hold_key(name, k.secret());
        }
        let made = async {
            let ready = match (&key, req.start) {
                (Some(key), true) => self.bring_up(&id, name, key, progress).await?,
                _ => None,
            };
            self.fault_point("create-started");
            let desired = if req.start {
                DesiredState::Running
            } else {
                DesiredState::Stopped
            };
            self.update_state(name, |s| {
                s.insert(
                    name.to_string(),
                    ContainerState {
                        owner: caller.user.clone(),
                        desired,
                        created_at: now,
                        stopped_since: (!req.start).then_some(now),
                        last_activity: Some(now),
                        key_delivered_at: req.start.then_some(now),
                        last_started: req.start.then_some(now),
                        key_source,
                        notices_sent: vec![],
                        pending_create: None,
                        destroying: None,
                    },
                );
            })?;
            Ok(ready)
        }
        .await;
        let ready = match made {
            Ok(ready) => ready,
            Err(e) => {
                progress.step("Failed; removing what was made");
                self.undo_create(name, &caller.user, Some(&id), created_volume)
                    .await;
                self.forget(name);
                self.forget_key(name);
                return Err(e);
            }
        };
        self.status_with(
            &id,
            Some(if req.start {
                DesiredState::Running
            } else {
                DesiredState::Stopped
            }),
            ready,
        )
        .await
    }

    /// Reads a secret through the 1Password limits: a value read less than `cacheSecs` ago is
    /// reused (unless `fresh`); otherwise the read is taken from the caller's bucket (the
    /// daemon's own reads, uid 0, only from the team's) and the team's, or refused with when to
    /// try again.
    pub(crate) async fn read_secret(
        &self,
        caller: &Caller,
        reference: &str,
        fresh: bool,
    ) -> Result<SecretString, ApiError> {
        let now = std::time::Instant::now();
        if !fresh {
            if let Some(v) = self.op_gate.cached(reference, now) {
                tracing::debug!(user = %caller.user, "1Password read answered from the cache");
                return Ok(v);
            }
        }
        let user = (caller.uid != 0).then_some(caller.user.as_str());
        if let Err(t) = self.op_gate.admit(user, now) {
            let l = self.op_gate.limits();
            let secs = t.retry_after_secs();
            tracing::warn!(target: "devbox::audit", user = %caller.user, uid = caller.uid, retry_after_secs = secs, throttled = ?t, "1Password read refused by the rate limit");
            let message = match t {
                crate::oplimit::Throttled::User { .. } => format!(
                    "too many 1Password reads from you in a short time (the team shares one service account: {} at once, then one every {} s per user); try again in {secs} s",
                    l.user_burst, l.user_refill_secs
                ),
                crate::oplimit::Throttled::Global { .. } => format!(
                    "the team's 1Password service account is at devboxd's read limit ({} at once, then one every {} s); try again in {secs} s",
                    l.global_burst, l.global_refill_secs
                ),
            };
            return Err(ApiError::new(ErrorCode::RateLimited, message));
        }
        let v = self.secrets.read(reference).await.map_err(secret_err)?;
        self.op_gate.remember(reference, &v, now);
        Ok(v)
    }

    /// Drops a container's state entry (best effort: used on paths that already fail).
    fn forget(&self, name: &str) {
        if let Err(e) = self.update_state(name, |s| {
            s.remove(name);
        }) {
            tracing::error!(container = name, error = %e, "cannot drop state entry");
        }
    }

    /// The lowest id range no managed volume (of any daemon instance) uses.
    async fn free_uid_base(&self) -> Result<u64, ApiError> {
        let managed = BTreeMap::from([(LABEL_MANAGED.to_string(), "true".to_string())]);
        let used: std::collections::BTreeSet<u64> = self
            .engine
            .list_volumes_by_labels(&managed)
            .await
            .map_err(engine_err)?
            .iter()
            .filter_map(|(_, l)| l.get(LABEL_UID_BASE)?.parse().ok())
            .collect();
        (0..USERNS_SLOTS)
            .map(|k| USERNS_BASE + k * USERNS_SIZE)
            .find(|b| !used.contains(b))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::QuotaExceeded,
                    "no free user-namespace range is left for a new home volume; remove kept volumes nobody needs",
                )
            })
    }

    /// Name, quota, confirmation, kept-volume ownership and image checks of a create. Returns
    /// the existing (kept) home volume of that name.
    async fn admit(
        &self,
        caller: &Caller,
        req: &CreateRequest,
    ) -> Result<Option<crate::engine::Volume>, ApiError> {
        let name = req.name.as_str();
        let policy = &self.users.file.containers;
        // Any container of exactly that name (devbox's or not) takes the name.
        if let Some(existing) = self.engine.find(name).await.map_err(engine_err)? {
            let msg = if self.is_ours(&existing) && self.owned_by(&existing, caller) {
                format!("you already have a dev container named {name:?}; use `devbox-ctl start {name}` or `devbox-ctl status {name}`, or pick another name")
            } else {
                format!("the name {name:?} is taken on this orchestrator (names are tailnet hostnames and must be unique); pick another name")
            };
            return Err(ApiError::new(ErrorCode::Conflict, msg));
        }
        let all = self.ours().await?;
        let mine: Vec<&ContainerRecord> = all.iter().filter(|c| self.owned_by(c, caller)).collect();
        if mine.len() >= policy.max_per_user as usize {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "you already have {} dev containers, the per-user limit is {}; destroy one first (`devbox-ctl destroy NAME`)",
                    mine.len(),
                    policy.max_per_user
                ),
            ));
        }
        if all.len() >= policy.max_global as usize {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the orchestrator already runs {} dev containers, the limit is {}; ask an admin to free one",
                    all.len(),
                    policy.max_global
                ),
            ));
        }
        if !mine.is_empty() && !req.confirm_another {
            let names: Vec<&str> = mine.iter().map(|c| c.name.as_str()).collect();
            return Err(ApiError::new(
                ErrorCode::NeedsConfirmation,
                format!(
                    "you already have a dev container: {}. To create another one anyway, confirm at the prompt or pass --another",
                    names.join(", ")
                ),
            ));
        }
        let volume = volume_name(name);
        let existing_volume = self.engine.volume(&volume).await.map_err(engine_err)?;
        if let Some(v) = &existing_volume {
            let labels = v.labels();
            // A kept home is reused only by the person it was made for (name AND uid).
            if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true")
                || labels.get(LABEL_OWNER) != Some(&caller.user)
                || labels.get(LABEL_OWNER_UID) != Some(&caller.uid.to_string())
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a volume {volume:?} exists that is not your kept devbox home; pick another name or ask an admin"),
                ));
            }
        } else {
            // A new home volume while the kept ones are at the cap: clean up first (each
            // takes disk and a user-namespace range).
            self.check_kept_cap(caller, &caller.user, &format!("create {name}"))
                .await?;
        }
        if !self
            .engine
            .image_exists(&self.settings.image)
            .await
            .map_err(engine_err)?
        {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("the dev-container image {} is not on this orchestrator; an admin should load it (see `devbox-ctl doctor`)", self.settings.image),
            ));
        }
        Ok(existing_volume)
    }

    /// Removes what a create of `owner`'s `name` made: the container `id` (if it was made) and
    /// the home volume if the create made it (only after checking it is that create's volume).
    /// The caller holds the container's lock.
    async fn undo_create(
        &self,
        name: &str,
        owner: &str,
        id: Option<&ContainerId>,
        created_volume: bool,
    ) {
        if let Some(id) = id {
            if let Err(e) = self.engine.remove(id).await {
                if !matches!(e, EngineError::NotFound(_)) {
                    tracing::error!(container = name, %id, error = %e, "rollback: cannot remove container");
                }
            }
        }
        if created_volume {
            if let Err(e) = self.remove_home_volume(name, owner).await {
                tracing::error!(container = name, error = %e, "rollback: cannot remove volume");
            }
        }
        self.remove_network_of(name).await;
    }

    /// Creates the container's own network and lets the firewall know its bridge. None when
    /// network isolation is off.
    async fn make_network(
        &self,
        name: &str,
        owner: &str,
        progress: &dyn Progress,
    ) -> Result<Option<String>, ApiError> {
        if self.settings.firewall.is_none() {
            return Ok(None);
        }
        let net = network_name(name);
        progress.step(&format!(
            "Creating network {net} (reaches the internet only)"
        ));
        if let Some(existing) = self.engine.network(&net).await.map_err(engine_err)? {
            if !self
                .base_labels()
                .iter()
                .all(|(k, v)| existing.labels.get(k) == Some(v))
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a Podman network named {net} exists that this devboxd does not manage; an admin should remove or rename it (`podman network rm {net}`), or pick another container name"),
                ));
            }
            // Left behind by a create or destroy that did not finish: start afresh.
            self.engine.remove_network(&net).await.map_err(engine_err)?;
        }
        let mut labels = self.base_labels();
        labels.insert(LABEL_OWNER.into(), owner.to_string());
        labels.insert(LABEL_NAME.into(), name.to_string());
        self.engine
            .create_network(&net, &labels)
            .await
            .map_err(engine_err)?;
        self.refresh_firewall().await?;
        Ok(Some(net))
    }

    /// Removes the container's own network if this daemon made it (best effort: the
    /// reconciler sweeps what is left), then drops its bridge from the firewall.
    async fn remove_network_of(&self, name: &str) {
        if self.settings.firewall.is_none() {
            return;
        }
        let net = network_name(name);
        match self.engine.network(&net).await {
            Ok(Some(n))
                if self
                    .base_labels()
                    .iter()
                    .all(|(k, v)| n.labels.get(k) == Some(v)) =>
            {
                match self.engine.remove_network(&net).await {
                    Ok(()) | Err(EngineError::NotFound(_)) => {}
                    Err(e) => {
                        tracing::warn!(network = %net, error = %e, "cannot remove network yet; the reconciler retries")
                    }
                }
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(network = %net, error = %e, "cannot inspect network; the reconciler retries");
                return;
            }
        }
        if let Err(e) = self.refresh_firewall().await {
            tracing::error!(error = %e, "cannot update the isolation rules");
        }
    }

    /// Installs the isolation rules for this instance's networks as they are now. Runs before
    /// every container start, so rules lost (host reboot, a flushed ruleset) come back before
    /// any container runs without them.
    pub(crate) async fn refresh_firewall(&self) -> Result<(), ApiError> {
        let Some(fw) = &self.settings.firewall else {
            return Ok(());
        };
        let bridges: Vec<String> = self
            .engine
            .list_networks_by_labels(&self.base_labels())
            .await
            .map_err(engine_err)?
            .into_iter()
            .map(|n| n.interface)
            .collect();
        fw.apply(&bridges).await.map_err(|e| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("cannot install the network isolation rules: {e}. An admin should check `devbox-ctl doctor` and `journalctl -u devboxd`"),
            )
        })
    }

    /// Removes the home volume of `owner`'s container `name`: the volume of exactly that name,
    /// and only if its labels say it is that (managed, this instance, that owner and name).
    /// The caller holds the container's lock. Returns whether a volume was removed.
    async fn remove_home_volume(&self, name: &str, owner: &str) -> Result<bool, ApiError> {
        let volume = volume_name(name);
        let Some(v) = self.engine.volume(&volume).await.map_err(engine_err)? else {
            return Ok(false);
        };
        let l = v.labels();
        let is_it = self
            .base_labels()
            .iter()
            .all(|(k, val)| l.get(k) == Some(val))
            && l.get(LABEL_OWNER).map(String::as_str) == Some(owner)
            && l.get(LABEL_NAME).map(String::as_str) == Some(name);
        if !is_it {
            tracing::warn!(
                volume,
                owner,
                "not removing a volume that is not this container's home (other labels)"
            );
            return Ok(false);
        }
        match self.engine.remove_volume(&v).await {
            Ok(()) | Err(EngineError::NotFound(_)) => Ok(true),
            Err(e) => Err(engine_err(e)),
        }
    }

    /// Starts the container, delivers the key and waits for the entrypoint to report ready.
    /// `Ok(None)`: still starting when the ready timeout ran out (the container is kept running
    /// and the caller was told what is pending and how to follow it).
    async fn bring_up(
        &self,
        id: &ContainerId,
        name: &str,
        key: &SecretString,
        progress: &dyn Progress,
    ) -> Result<Option<EntrypointStatus>, ApiError> {
        self.refresh_firewall().await?;
        progress.step(&format!("Starting {name}"));
        self.engine.start(id).await.map_err(engine_err)?;
        progress.step("Delivering the Tailscale key into the container");
        self.deliver_key(id, key, false).await?;
        progress.step("Waiting for the container to join the tailnet and start its services");
        self.wait_ready_or_tell(id, name, progress).await
    }

    /// Waits for ready; when the timeout runs out first, says what is still pending and how to
    /// follow it, and answers `None`: a slow first start (a Tailscale login over a slow link,
    /// code-server's first start on a loaded host) is not a failure to roll back.
    async fn wait_ready_or_tell(
        &self,
        id: &ContainerId,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<Option<EntrypointStatus>, ApiError> {
        match self.wait_ready(id).await? {
            Ready::Yes(s) => Ok(Some(s)),
            Ready::NotYet(pending) => {
                tracing::warn!(container = name, pending = %pending, "not ready within the ready timeout; kept running");
                progress.step(&format!(
                    "{name} is not ready after {}s and keeps starting in the background (still pending: {pending}). Follow it with `devbox-ctl logs -f {name}`; `devbox-ctl status {name}` shows the phase",
                    self.settings.ready_timeout.as_secs()
                ));
                Ok(None)
            }
        }
    }

    async fn deliver_key(
        &self,
        id: &ContainerId,
        key: &SecretString,
        reauth: bool,
    ) -> Result<(), ApiError> {
        // The entrypoint waits for the login result; it must answer before our exec timeout (30 s).
        // No longer than the ready timeout: a slow login is then followed by wait_ready.
        let wait = self
            .settings
            .ready_timeout
            .as_secs()
            .clamp(1, 20)
            .to_string();
        let mut cmd = vec![ENTRYPOINT, "deliver-key", "--timeout-secs", wait.as_str()];
        if reauth {
            cmd.push("--reauth");
        }
        // The entrypoint may need a moment after start before exec works.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .engine
                .exec(
                    id,
                    &cmd,
                    Some(key.expose_secret().as_bytes()),
                    Duration::from_secs(30),
                )
                .await;
            match out {
                // 4: delivered, the login has no result yet (a slow control plane): not an
                // error; readiness is waited for next.
                Ok(o) if o.exit_code == 0 || o.exit_code == DELIVERED_LOGIN_PENDING => {
                    return Ok(())
                }
                Ok(o) => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "the container refused the key (exit {}): {}",
                            o.exit_code,
                            scrub(&o.stderr, key).trim()
                        ),
                    ))
                }
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(container = %id, error = %e, "deliver-key: retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(engine_err(e)),
            }
        }
    }

    /// Asks the entrypoint for its status.
    async fn entrypoint_status(&self, id: &ContainerId) -> Result<EntrypointStatus, String> {
        let out = self
            .engine
            .exec(
                id,
                &[ENTRYPOINT, "status", "--json"],
                None,
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code != 0 {
            return Err(format!(
                "status exited {}: {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad status JSON: {e}"))
    }

    /// Polls until the entrypoint reports ready; returns that status (create/start answer with
    /// it instead of asking again: one exec less, ~100 ms, measured by devbox-bench), or what is
    /// still pending when the ready timeout runs out. An error only when the container stopped.
    async fn wait_ready(&self, id: &ContainerId) -> Result<Ready, ApiError> {
        let deadline = tokio::time::Instant::now() + self.settings.ready_timeout;
        // The entrypoint is usually ready 100-300 ms after the key: look again soon, then every
        // 400 ms (few exec sessions). A flat 400 ms added ~150 ms to every start (devbox-bench).
        let mut pause = Duration::from_millis(100);
        let mut last;
        let mut pending = "the entrypoint's first status report".to_string();
        loop {
            match self.entrypoint_status(id).await {
                // With Syncthing, ready also means its device ID is known (create prints it).
                Ok(s) if s.ready && (!s.syncthing.enabled || s.syncthing.device_id.is_some()) => {
                    return Ok(Ready::Yes(s))
                }
                Ok(s) => {
                    pending = pending_services(&s);
                    last = format!("phase {:?}", s.phase);
                    if s.ready {
                        last.push_str(", Syncthing device ID not known yet");
                    }
                    if let Some(err) = &s.tailscale.error {
                        last.push_str(&format!(", tailscale: {err}"));
                    }
                    for svc in s.services.iter().filter(|s| s.last_error.is_some()) {
                        last.push_str(&format!(
                            ", {}: {}",
                            svc.name,
                            svc.last_error.as_deref().unwrap_or("")
                        ));
                    }
                }
                Err(e) => last = e,
            }
            match self.engine.inspect(id).await {
                Ok(None) => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!("the container was removed while starting; last status: {last}"),
                    ))
                }
                Ok(Some(c)) if !c.running() => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "the container stopped while starting (state {}); last status: {last}",
                            c.state
                        ),
                    ))
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!(container = %id, last = %last, "ready timeout");
                return Ok(Ready::NotYet(pending));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(400));
        }
    }

    /// The status of the container `id` (resolved and authorized by the caller), with the
    /// entrypoint's report if the caller already has a fresh one.
    async fn status_with(
        &self,
        id: &ContainerId,
        desired: Option<DesiredState>,
        known: Option<EntrypointStatus>,
    ) -> Result<ContainerStatus, ApiError> {
        let c = self
            .engine
            .inspect(id)
            .await
            .map_err(engine_err)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    "the dev container no longer exists (it was destroyed meanwhile); `devbox-ctl list` shows yours",
                )
            })?;
        let name = c.name.as_str();
        let entrypoint = if !c.running() {
            None
        } else if known.is_some() {
            known
        } else {
            self.entrypoint_status(id).await.ok()
        };
        let device = entrypoint
            .as_ref()
            .and_then(|e| e.syncthing.device_id.clone());
        let lifecycle = self
            .state
            .load()
            .ok()
            .map(|s| self.plan_item(&c, s.containers.get(name)));
        Ok(ContainerStatus {
            container: self.info(&c, desired),
            entrypoint,
            connect: ConnectInfo::for_container(name, device),
            lifecycle,
        })
    }

    // ------------------------------------------------------ start/stop/destroy

    pub async fn start(
        &self,
        caller: &Caller,
        name: &str,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let result = async {
            let _container = self.lock_authorized(caller, name).await?;
            self.start_locked(caller, name, auth_key, progress).await
        }
        .await;
        self.audit(
            caller,
            "start",
            name,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let (id, ready) = result?;
        self.status_with(&id, Some(DesiredState::Running), ready)
            .await
    }

    /// Start, with the container's lock held by the caller. Returns the container's ID and the
    /// entrypoint's ready report (None: it was running already).
    async fn start_locked(
        &self,
        caller: &Caller,
        name: &str,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<(ContainerId, Option<EntrypointStatus>), ApiError> {
        let c = self.authorize(caller, name).await?;
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        // Never with someone else's key (or a fallback reference): only its verified owner's.
        if let Some(why) = self.orphaned(&c.labels) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("{name} is not started: {why}"),
            ));
        }
        let id = c.id.clone();
        let mut ready = None;
        let mut source = self.key_source(name);
        if !c.running() {
            let (key, from) = self
                .start_key(caller, name, &owner, auth_key, progress)
                .await?;
            source = from;
            // A node left behind by a container that died without logging out would make the
            // new one `NAME-1`: remove it first (when the Tailscale API is configured).
            if let Err(e) = self.delete_tailnet_devices(name, &owner).await {
                tracing::warn!(container = name, error = %e, "could not remove stale tailnet devices before start");
            }
            match self.bring_up(&id, name, &key, progress).await {
                Ok(status) => ready = status,
                Err(e) => {
                    // Leave it as it was: stopped.
                    let _ = self.engine.stop(&id, STOP_TIMEOUT_SECS).await;
                    return Err(e);
                }
            }
        } else {
            progress.step(&format!("{name} is already running"));
            if auth_key.is_some() {
                progress.step(&format!("Keeping the key you supplied for the next start of {name} (`devbox-ctl rotate-key {name} --auth-key-stdin` delivers it now)"));
            }
        }
        if let Some(k) = auth_key {
            self.hold_key(name, k.secret());
            source = KeySource::User;
        }
        let now = self.clock.now();
        let by_owner = caller.user == owner;
        self.update_state(name, |s| {
            let e = s.entry(name.to_string()).or_insert_with(|| ContainerState {
                owner: owner.clone(),
                desired: DesiredState::Running,
                created_at: now,
                stopped_since: None,
                last_activity: None,
                key_delivered_at: None,
                last_started: None,
                key_source: Default::default(),
                notices_sent: vec![],
                pending_create: None,
                destroying: None,
            });
            e.desired = DesiredState::Running;
            e.stopped_since = None;
            e.key_delivered_at = Some(now);
            // Every start (owner, admin, reconciler) restarts the idle clock; only the owner's
            // also counts as their activity.
            e.last_started = Some(now);
            e.key_source = source;
            if by_owner {
                e.last_activity = Some(now);
            }
        })?;
        self.drop_warnings(name);
        Ok((id, ready))
    }

    async fn logout(&self, id: &ContainerId, name: &str) {
        match self
            .engine
            .exec(id, &[ENTRYPOINT, "logout"], None, Duration::from_secs(10))
            .await
        {
            Ok(o) if o.exit_code == 0 => {}
            Ok(o) => tracing::warn!(
                container = name,
                exit = o.exit_code,
                "tailscale logout failed"
            ),
            Err(e) => tracing::warn!(container = name, error = %e, "tailscale logout failed"),
        }
    }

    /// TEST HOOK (`faultInjection: "pause-after:STEP:MILLIS"`, refused unless `testHooks`): the
    /// daemon waits MILLIS ms right after STEP, so a test can race another request into it.
    pub(crate) async fn pause_point(&self, step: &str) {
        let pause = self
            .settings
            .fault_injection
            .as_deref()
            .and_then(|f| f.strip_prefix("pause-after:"))
            .and_then(|r| r.rsplit_once(':'))
            .filter(|(s, _)| *s == step)
            .and_then(|(_, ms)| ms.parse::<u64>().ok());
        if let Some(ms) = pause {
            tracing::warn!(step, ms, "fault injection: pausing after this step");
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// TEST HOOK (`faultInjection: "crash-after:STEP"`, refused unless `testHooks`): the daemon
    /// kills itself with SIGKILL right after STEP, to prove the reconciler converges after a crash.
    pub(crate) fn fault_point(&self, step: &str) {
        if self
            .settings
            .fault_injection
            .as_deref()
            .and_then(|f| f.strip_prefix("crash-after:"))
            == Some(step)
        {
            tracing::error!(step, "fault injection: crashing (SIGKILL) after this step");
            let _ =
                nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
            std::process::abort();
        }
    }

    pub async fn stop(
        &self,
        caller: &Caller,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<ContainerInfo, ApiError> {
        let result = async {
            let _container = self.lock_authorized(caller, name).await?;
            self.stop_locked(caller, name, progress).await
        }
        .await;
        self.audit(
            caller,
            "stop",
            name,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let id = result?;
        let c = self
            .engine
            .inspect(&id)
            .await
            .map_err(engine_err)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("the container {name:?} vanished"),
                )
            })?;
        Ok(self.info(&c, Some(DesiredState::Stopped)))
    }

    /// Stop, with the container's lock held by the caller. The intent (desired stopped) is
    /// recorded first, so a daemon that dies in the middle finishes the stop when it restarts.
    async fn stop_locked(
        &self,
        caller: &Caller,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<ContainerId, ApiError> {
        let c = self.authorize(caller, name).await?;
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        let now = self.clock.now();
        self.update_state(name, |s| {
            let e = s.entry(name.to_string()).or_insert_with(|| ContainerState {
                owner,
                desired: DesiredState::Stopped,
                created_at: now,
                stopped_since: None,
                last_activity: None,
                key_delivered_at: None,
                last_started: None,
                key_source: Default::default(),
                notices_sent: vec![],
                pending_create: None,
                destroying: None,
            });
            e.desired = DesiredState::Stopped;
            e.stopped_since.get_or_insert(now);
        })?;
        self.drop_warnings(name);
        self.fault_point("stop-recorded");
        if c.running() {
            progress.step("Logging out of the tailnet");
            self.logout(&c.id, name).await;
            self.fault_point("stop-logged-out");
            progress.step(&format!("Stopping {name}"));
            self.engine
                .stop(&c.id, STOP_TIMEOUT_SECS)
                .await
                .map_err(engine_err)?;
        } else {
            progress.step(&format!("{name} is not running"));
        }
        Ok(c.id)
    }

    pub async fn destroy(
        &self,
        caller: &Caller,
        name: &str,
        keep_volume: bool,
        progress: &dyn Progress,
    ) -> Result<DestroyResult, ApiError> {
        let result = async {
            let _container = match self.lock_authorized(caller, name).await {
                Ok(g) => g,
                Err(e) if e.code == ErrorCode::NotFound && validate_name(name).is_ok() => {
                    // No container: maybe a kept home volume of that name, to remove for good.
                    return match self
                        .destroy_kept(caller, name, keep_volume, progress)
                        .await?
                    {
                        Some(r) => Ok(r),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
            self.destroy_locked(caller, name, keep_volume, progress)
                .await
        }
        .await;
        self.audit(
            caller,
            "destroy",
            name,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        result
    }

    /// Destroy, with the container's lock held by the caller. Recorded first (write-ahead), so
    /// the reconciler finishes a destroy the daemon did not.
    async fn destroy_locked(
        &self,
        caller: &Caller,
        name: &str,
        keep_volume: bool,
        progress: &dyn Progress,
    ) -> Result<DestroyResult, ApiError> {
        let c = self.authorize(caller, name).await?;
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        if keep_volume {
            self.check_kept_cap(caller, &owner, &format!("keep the home volume of {name}"))
                .await?;
        }
        let now = self.clock.now();
        self.update_state(name, |s| {
            let e = s.entry(name.to_string()).or_insert_with(|| ContainerState {
                owner: owner.clone(),
                desired: DesiredState::Stopped,
                created_at: now,
                stopped_since: Some(now),
                last_activity: None,
                key_delivered_at: None,
                last_started: None,
                key_source: Default::default(),
                notices_sent: vec![],
                pending_create: None,
                destroying: None,
            });
            e.destroying = Some(keep_volume);
        })?;
        self.fault_point("destroy-recorded");
        if c.running() {
            progress.step("Logging out of the tailnet (removes the ephemeral node)");
            self.logout(&c.id, name).await;
            self.fault_point("destroy-logged-out");
        }
        self.finish_destroy(name, &owner, keep_volume, Some(c.id), progress)
            .await
    }

    /// The idempotent rest of a destroy: container, volume (unless kept), tailnet devices, state.
    /// `id`: the container as the caller resolved it under the container's lock (None: resolve
    /// it here, as `owner`'s managed container of exactly that name, if it still exists).
    async fn finish_destroy(
        &self,
        name: &str,
        owner: &str,
        keep_volume: bool,
        id: Option<ContainerId>,
        progress: &dyn Progress,
    ) -> Result<DestroyResult, ApiError> {
        let id = match id {
            Some(id) => Some(id),
            None => self
                .resolve(name)
                .await?
                .filter(|c| c.labels.get(LABEL_OWNER).map(String::as_str) == Some(owner))
                .map(|c| c.id),
        };
        if let Some(id) = &id {
            progress.step(&format!("Removing container {name}"));
            match self.engine.remove(id).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(engine_err(e)),
            }
        }
        self.fault_point("destroy-container-removed");
        self.remove_network_of(name).await;
        let volume = volume_name(name);
        if !keep_volume {
            if self.remove_home_volume(name, owner).await? {
                progress.step(&format!("Removed home volume {volume}"));
            }
            self.fault_point("destroy-volume-removed");
        } else {
            progress.step(&format!("Keeping home volume {volume}"));
            // Its auto-destroy clock starts now.
            self.record_kept(name, owner);
        }
        if self.users.file.containers.tailscale_api_key_ref.is_some() {
            progress.step("Deleting the tailnet device through the Tailscale API");
            if let Err(e) = self.delete_tailnet_devices(name, owner).await {
                progress.step(&format!(
                    "Could not delete the tailnet device yet ({e}); devboxd retries until it succeeds"
                ));
                self.record_cleanup_failure(name, owner, &e);
            }
        }
        self.update_state(name, |s| {
            s.remove(name);
        })?;
        self.forget_key(name);
        self.drop_warnings(name);
        Ok(DestroyResult {
            name: name.to_string(),
            volume_kept: keep_volume,
            volume,
        })
    }

    pub async fn rotate_key(
        &self,
        caller: &Caller,
        name: &str,
        now: bool,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let result = async {
            let _container = self.lock_authorized(caller, name).await?;
            let c = self.authorize(caller, name).await?;
            let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
            if let Some(why) = self.orphaned(&c.labels) {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("no key is delivered to {name}: {why}"),
                ));
            }
            // Rotating without a key goes back to 1Password; with one, that key is used from now on.
            let source = if auth_key.is_some() {
                KeySource::User
            } else {
                KeySource::OnePassword
            };
            if !c.running() {
                // Nothing to deliver: record where the next start takes its key from.
                match (auth_key, self.key_source(name)) {
                    (Some(k), _) => {
                        progress.step(&format!("Keeping the key you supplied for the next start of {name}"));
                        self.hold_key(name, k.secret());
                    }
                    (None, KeySource::User) => {
                        progress.step(&format!("{name} uses your 1Password key again from its next start"));
                        self.forget_key(name);
                    }
                    (None, KeySource::OnePassword) => {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            format!("{name} is not running; every start fetches the current key from 1Password, so `devbox-ctl start {name}` is all you need"),
                        ));
                    }
                }
                self.update_state(name, |s| {
                    if let Some(e) = s.get_mut(name) {
                        e.key_source = source;
                    }
                })?;
                return Ok(c.id);
            }
            let key = match auth_key {
                Some(k) => k.secret().clone(),
                // Fresh: rotate-key exists to deliver the key as it is in 1Password now.
                None => self.key_from_1password(caller, &owner, true, progress).await?,
            };
            progress.step("Delivering the new key into the container");
            self.deliver_key(&c.id, &key, now).await?;
            match auth_key {
                Some(k) => self.hold_key(name, k.secret()),
                None => self.forget_key(name),
            }
            let t = self.clock.now();
            self.update_state(name, |s| {
                if let Some(e) = s.get_mut(name) {
                    e.key_delivered_at = Some(t);
                    e.key_source = source;
                }
            })?;
            if now {
                progress.step("Waiting for the container to re-authenticate");
                self.wait_ready_or_tell(&c.id, name, progress).await?;
            }
            Ok(c.id)
        }
        .await;
        self.audit(
            caller,
            "rotate-key",
            name,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let id = result?;
        self.status_with(&id, self.desired(name), None).await
    }

    // ------------------------------------------------------------- reads

    pub async fn list(&self, caller: &Caller, all: bool) -> Result<Vec<ContainerInfo>, ApiError> {
        if all && !caller.is_admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only admins may list every user's containers; drop --all to see yours",
            ));
        }
        let state = self.state.load().unwrap_or_default();
        let mut list: Vec<ContainerInfo> = self
            .ours()
            .await?
            .iter()
            .filter(|c| all || self.owned_by(c, caller))
            .map(|c| self.info(c, state.containers.get(&c.name).map(|s| s.desired)))
            .collect();
        list.sort_by(|a, b| (&a.owner, &a.name).cmp(&(&b.owner, &b.name)));
        Ok(list)
    }

    pub async fn status(&self, caller: &Caller, name: &str) -> Result<ContainerStatus, ApiError> {
        let c = self.authorize(caller, name).await?;
        self.pause_point("read-authorized").await;
        self.status_with(&c.id, self.desired(name), None).await
    }

    pub async fn logs(
        &self,
        caller: &Caller,
        name: &str,
        follow: bool,
        tail: Option<u32>,
    ) -> Result<ByteStream, ApiError> {
        let c = self.authorize(caller, name).await?;
        self.pause_point("read-authorized").await;
        Ok(self.engine.logs(&c.id, follow, tail))
    }

    /// Doctor: the isolation rules install (nft runs, devboxd may change the ruleset).
    async fn network_check(&self) -> DoctorCheck {
        let Some(fw) = &self.settings.firewall else {
            return DoctorCheck {
                name: "network".into(),
                ok: true,
                detail: "network isolation is OFF (networkIsolation: false): containers share Podman's default network and reach each other and the host".into(),
                fix: None,
            };
        };
        match self.refresh_firewall().await {
            Ok(()) => DoctorCheck {
                name: "network".into(),
                ok: true,
                detail: format!(
                    "isolation rules installed (nftables table inet {}); containers reach the internet{}",
                    fw.table,
                    if fw.allowed_lan.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " and {}",
                            fw.allowed_lan
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
                fix: None,
            },
            Err(e) => DoctorCheck {
                name: "network".into(),
                ok: false,
                detail: e.message,
                fix: Some("install nftables (nftCommand), run devboxd with CAP_NET_ADMIN (the NixOS module does), or set networkIsolation: false (containers then reach each other)".into()),
            },
        }
    }

    /// The 1Password checks of `doctor`: the token works (`op user get --me`), then the caller's
    /// item exists and is readable (read and dropped: the value is never shown).
    async fn doctor_1password<F>(&self, caller: &Caller, op_check: F) -> Vec<DoctorCheck>
    where
        F: std::future::Future<Output = Result<String, SecretError>> + Send,
    {
        let check = |name: &str, ok: bool, detail: String, fix: Option<String>| DoctorCheck {
            name: name.into(),
            ok,
            detail,
            fix,
        };
        let Some(vault) = self.users.file.containers.op_vault.clone() else {
            return vec![check(
                "1password",
                true,
                "not used: users.nix has no opVault; users supply their Tailscale keys with `--auth-key-stdin`".into(),
                None,
            )];
        };
        let token = match op_check.await {
            Ok(detail) => check(
                "1password",
                true,
                format!("{detail}; the service-account token works"),
                None,
            ),
            Err(e) => {
                let fix = match &e {
                    SecretError::OpMissing { .. } => "install the 1Password CLI (`op` 2.18 or later, for service accounts) on the orchestrator, or set `opCommand` in the devboxd config".to_string(),
                    SecretError::TokenRefused { .. } => format!("the token is wrong, expired or revoked: an admin creates a new service-account token in 1Password (Developer > Service Accounts) with read access to the vault {vault:?}, puts it in the credential file and restarts devboxd"),
                    SecretError::OpTimeout { .. } => "1Password did not answer: check the orchestrator's network (DNS, proxy) and 1Password's status page".to_string(),
                    _ => "an admin provides the service-account token: systemd `LoadCredential=op-service-account-token:PATH` for devboxd (the NixOS module's token file option), or `opTokenFile` in the devboxd config".to_string(),
                };
                return vec![check("1password", false, e.to_string(), Some(fix))];
            }
        };
        let mut out = vec![token];
        if !self.users.file.users.contains_key(&caller.user) {
            return out;
        }
        let Some(reference) = self.users.op_reference(&caller.user) else {
            return out;
        };
        out.push(match self.secrets.read(&reference).await {
            Ok(_) => check(
                "your-key",
                true,
                format!("{reference} exists and is readable (the value is not shown)"),
                None,
            ),
            Err(e) => {
                let fix = match &e {
                    SecretError::Empty { .. } => "put your Tailscale auth key (reusable, ephemeral, tagged) into the item's password field".to_string(),
                    _ => format!(
                        "ask an admin to create the item `{}-tailscale-authkey` in the vault {vault:?} with a reusable, ephemeral auth key tagged {} in its password field, and to give the service account read access to that vault; or supply your own key: `devbox-ctl create NAME --auth-key-stdin`",
                        caller.user,
                        self.users.tags(&caller.user).join(",")
                    ),
                };
                check("your-key", false, e.to_string(), Some(fix))
            }
        });
        out
    }

    pub async fn doctor<F>(&self, caller: &Caller, op_check: F) -> DoctorReport
    where
        F: std::future::Future<Output = Result<String, SecretError>> + Send,
    {
        let mut checks = Vec::new();
        let podman = self.engine.ping().await;
        checks.push(match &podman {
            Ok(v) => DoctorCheck {
                name: "podman".into(),
                ok: true,
                detail: format!("Podman {v} answers on its API socket"),
                fix: None,
            },
            Err(e) => DoctorCheck {
                name: "podman".into(),
                ok: false,
                detail: e.to_string(),
                fix: Some("start Podman's API service: `systemctl enable --now podman.socket` (or set podmanSocket in the devboxd config)".into()),
            },
        });
        if podman.is_ok() {
            let image = &self.settings.image;
            checks.push(match self.engine.image_exists(image).await {
                Ok(true) => DoctorCheck {
                    name: "image".into(),
                    ok: true,
                    detail: format!("{image} is present"),
                    fix: None,
                },
                Ok(false) => DoctorCheck {
                    name: "image".into(),
                    ok: false,
                    detail: format!("{image} is not present"),
                    fix: Some("load the dev-container image (`podman load`) or set `image` in the devboxd config".into()),
                },
                Err(e) => DoctorCheck {
                    name: "image".into(),
                    ok: false,
                    detail: e.to_string(),
                    fix: None,
                },
            });
        }
        if podman.is_ok() {
            checks.push(self.network_check().await);
        }
        // Each check calls the shared service account (rate limited by 1Password): a caller's
        // answer is reused for a minute, so a loop of `doctor` cannot use up the limit.
        let cached = self
            .doctor_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&caller.uid)
            .filter(|(at, _)| at.elapsed() < DOCTOR_OP_CACHE)
            .map(|(at, c)| {
                let ago = at.elapsed().as_secs();
                c.iter()
                    .cloned()
                    .map(|mut c| {
                        c.detail
                            .push_str(&format!(" (checked {ago} s ago; again after a minute)"));
                        c
                    })
                    .collect::<Vec<_>>()
            });
        let op_checks = match cached {
            Some(c) => c,
            None => {
                let c = self.doctor_1password(caller, op_check).await;
                let mut cache = self
                    .doctor_cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.retain(|_, (at, _)| at.elapsed() < DOCTOR_OP_CACHE);
                cache.insert(caller.uid, (std::time::Instant::now(), c.clone()));
                c
            }
        };
        checks.extend(op_checks);
        checks.push(match self.state.load() {
            Ok(s) => DoctorCheck {
                name: "state".into(),
                ok: true,
                detail: format!(
                    "{} ({} containers recorded)",
                    self.state.path().display(),
                    s.containers.len()
                ),
                fix: None,
            },
            Err(e) => DoctorCheck {
                name: "state".into(),
                ok: false,
                detail: e.to_string(),
                fix: Some("check stateDir in the devboxd config".into()),
            },
        });
        DoctorReport { checks }
    }
}
