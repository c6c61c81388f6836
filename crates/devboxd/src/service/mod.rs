//! The controller's core: every operation a caller or the reconciler can ask for, above the
//! engine boundary. Authorization (owner or admin), quotas, locks and secret handling live here;
//! Podman stays behind [`Engine`], 1Password behind [`SecretSource`], time behind [`Clock`], so
//! the same core runs against fakes in-process.
//!
//! This file holds what every operation shares: the [`Service`] itself, the labels that say what
//! is ours, authorization, the two lock levels, state-file updates, audit and the test hooks. The
//! operations live by job in the submodules; they call the helpers here, and the reconciler calls
//! the operations (never the other way round):
//!
//! | module | job |
//! |---|---|
//! | `create` | `create` as named steps with one rollback guard |
//! | `power` | start, stop, destroy, rotate-key |
//! | `in_container` | the calls into a running container: deliver-key, status, logout, wait-ready |
//! | `keys` | where a start's Tailscale key comes from; 1Password reads through the rate limits |
//! | `network` | the container's own network and the isolation rules |
//! | `reads` | list, status, logs |
//! | `doctor` | the checks of `devbox-ctl doctor` |
//! | `plan` | the lifecycle plan (`gc --dry-run`) and `keep` |
//! | `notices` | notices for owners and the webhook |
//! | `tailnet_cleanup` | deleting a destroyed container's tailnet devices, retried until done |
//! | `kept` | kept home volumes (`destroy --keep-volume`) |
//! | `reconcile` | the reconciler: desired state, crash recovery, the lifecycle rules |

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use devbox_api::validate::validate_name;
use devbox_api::{ApiError, DesiredState, DoctorCheck, ErrorCode, NoticeKind};
use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::engine::{ContainerRecord, Engine, EngineError};
use crate::lifecycle::Rules;
use crate::secrets::{SecretError, SecretSource};
use crate::state::{ContainerState, StateStore};
use crate::users::{Caller, Users};

mod create;
mod doctor;
mod in_container;
mod kept;
mod keys;
mod network;
mod notices;
mod plan;
mod power;
mod reads;
mod reconcile;
mod tailnet_cleanup;

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

/// The entrypoint inside the container, as the root execs name it: `/proc/1/exe`, never a
/// PATH lookup (why: `devbox_contract::verb::ENTRYPOINT_EXE`). `Verb::command` starts with it.
pub use devbox_api::contract::verb::ENTRYPOINT_EXE as ENTRYPOINT;
/// Where the home volume is mounted and where the entrypoint keeps runtime files (a tmpfs):
/// the contract's.
pub use devbox_api::contract::{HOME_PATH, RUN_PATH};
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

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, e.to_string())
}

/// The controller. Generic over the engine, the secret source and the clock so tests can drive
/// it in-process with fakes; the daemon's one concrete type is `crate::server::Daemon`.
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
    /// `doctor`'s 1Password checks per uid, reused for a minute (see `doctor`).
    doctor_cache: std::sync::Mutex<HashMap<u32, (std::time::Instant, Vec<DoctorCheck>)>>,
}

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

    // ---- What is ours, whose it is, and who may act on it.

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

    async fn ours(&self) -> Result<Vec<ContainerRecord>, ApiError> {
        self.engine
            .list_by_labels(&self.base_labels())
            .await
            .map_err(engine_err)
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

    // ---- The two lock levels: admission (`lock`, create only) and one lock per container.

    /// How many container locks the table holds (for tests: it must not grow with every name
    /// anyone asks about).
    pub fn tracked_container_locks(&self) -> usize {
        self.per_container
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
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

    // ---- The state file: intent and history Podman cannot know.

    fn desired(&self, name: &str) -> Option<DesiredState> {
        self.state
            .load()
            .ok()
            .and_then(|s| s.containers.get(name).map(|c| c.desired))
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

    /// Read-modify-write of the whole state file (notices, cleanups, kept volumes).
    pub(crate) fn update_whole_state(
        &self,
        f: impl FnOnce(&mut crate::state::State),
    ) -> Result<(), ApiError> {
        let _state = self
            .state_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = self.state.load().map_err(internal)?;
        f(&mut s);
        self.state.save(&s).map_err(internal)
    }

    /// Drops a container's state entry (best effort: used on paths that already fail).
    fn forget(&self, name: &str) {
        if let Err(e) = self.update_state(name, |s| {
            s.remove(name);
        }) {
            tracing::error!(container = name, error = %e, "cannot drop state entry");
        }
    }

    /// Drops the warnings (and the "was stopped" notice) of a container whose clock was reset.
    pub(crate) fn drop_warnings(&self, name: &str) {
        let r = self.update_whole_state(|s| {
            s.notices.retain(|n| {
                !(n.container == name
                    && matches!(
                        n.kind,
                        NoticeKind::StopWarning
                            | NoticeKind::DestroyWarning
                            | NoticeKind::Stopped
                            | NoticeKind::KeyNeeded
                    ))
            });
        });
        if let Err(e) = r {
            tracing::error!(container = name, error = %e, "cannot drop notices");
        }
    }

    /// The lifecycle rules as users.nix and the daemon config set them.
    pub fn rules(&self) -> Rules {
        let p = &self.users.file.containers;
        Rules {
            idle_stop_days: p.idle_stop_days,
            stopped_destroy_days: p.stopped_destroy_days,
            stop_notice_hours: self.settings.notice_hours_before_stop.clone(),
            destroy_notice_hours: self.settings.notice_hours_before_destroy.clone(),
        }
    }

    // ---- Home volumes.

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

    // ---- Audit and test hooks.

    fn audit<T>(&self, caller: &Caller, action: &str, name: &str, result: &Result<T, ApiError>) {
        match result {
            Ok(_) => tracing::info!(
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

    /// Audits an action the daemon took on its own (reconciler, rollback).
    fn audit_system(&self, action: &str, name: &str, result: &Result<(), ApiError>) {
        let system = Caller {
            uid: 0,
            user: "devboxd".into(),
            is_admin: true,
        };
        self.audit(&system, action, name, result);
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
}

/// A state entry for a container the state file does not know (lost state file): taken as it
/// is, its clocks starting now.
fn adopted(c: &ContainerRecord, owner: &str, now: Timestamp) -> ContainerState {
    let created = c
        .labels
        .get(LABEL_CREATED)
        .and_then(|t| t.parse().ok())
        .unwrap_or(now);
    let desired = if c.running() {
        DesiredState::Running
    } else {
        DesiredState::Stopped
    };
    ContainerState {
        stopped_since: (!c.running()).then_some(now),
        last_activity: Some(now),
        ..ContainerState::new(owner, desired, created)
    }
}
