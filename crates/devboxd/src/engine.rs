//! The one narrow boundary to the container engine. Everything above it (quotas, ownership, secrets,
//! lifecycle) is engine-agnostic, so a Kubernetes backend (a Pod + PVC per dev container) can be added
//! by implementing this trait.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    #[error("the container engine is not reachable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the container engine failed: {0}")]
    Failed(String),
}

/// What to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub hostname: String,
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub nano_cpus: i64,
    pub memory_bytes: i64,
    /// Named volume mounted at `home_path`.
    pub volume: String,
    pub home_path: String,
    /// tmpfs mount points with their options.
    pub tmpfs: Vec<(String, String)>,
    /// User-namespace mode ("auto"), None for none.
    pub userns: Option<String>,
    /// Extra bind mounts (host path, container path); empty in production (a test hook).
    pub binds: Vec<(String, String)>,
    /// Pids limit, capabilities and no-new-privileges.
    pub confinement: Confinement,
    /// The network to join (the container's own); None: the engine's default network.
    pub network: Option<String>,
}

/// What confines a container's processes beyond cpu and memory (see `crate::bounds`).
#[derive(Debug, Clone, PartialEq)]
pub struct Confinement {
    /// Most processes and threads at once (the cgroup pids controller).
    pub pids_limit: i64,
    /// The only capabilities root in the container has (every other one is dropped).
    pub capabilities: Vec<String>,
    /// No process can gain privileges through exec (setuid binaries, file capabilities).
    pub no_new_privileges: bool,
}

impl Default for Confinement {
    fn default() -> Self {
        Self {
            pids_limit: crate::bounds::DEFAULT_PIDS_LIMIT,
            capabilities: crate::bounds::CONTAINER_CAPABILITIES
                .iter()
                .map(|c| c.to_string())
                .collect(),
            no_new_privileges: true,
        }
    }
}

/// A container network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecord {
    pub name: String,
    /// The host's bridge interface of the network (what the firewall matches).
    pub interface: String,
    pub labels: BTreeMap<String, String>,
}

/// A container's full engine ID. Every call that acts on a container takes one, and only an
/// engine makes one (from an exact lookup, a listing or a create): a bare name cannot be passed
/// by construction. Why: Podman's compat API resolves a reference it does not find as an exact
/// ID or name as a UNIQUE ID PREFIX, so a name whose container is gone may land on another
/// object; a full ID only ever matches itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// For [`Engine`] implementations only (the Podman backend, the test kit's in-memory fake):
    /// `id` must be the engine's full, exact ID of the container. Nothing above the engine
    /// boundary calls it; it is public so an engine outside this crate can be written.
    pub fn from_engine(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The short form, as `podman ps` shows it (logs and messages only, never a reference).
        f.write_str(self.0.get(..12).unwrap_or(&self.0))
    }
}

/// What exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
    pub id: ContainerId,
    /// The exact name (without Podman's leading slash).
    pub name: String,
    /// created, running, exited, ...
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub image: String,
}

impl ContainerRecord {
    pub fn running(&self) -> bool {
        self.state == "running"
    }
}

/// A volume found by its exact name. Only an engine makes one; `remove_volume` takes it, so a
/// volume is removed only after someone looked at exactly that volume and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    name: String,
    labels: Labels,
}

impl Volume {
    /// For [`Engine`] implementations only (see [`ContainerId::from_engine`]): `name` is the
    /// exact name of the volume that carries `labels`.
    pub fn from_engine(name: String, labels: Labels) -> Self {
        Self { name, labels }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }
}

/// A finished exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Labels of a container or volume.
pub type Labels = BTreeMap<String, String>;

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, EngineError>> + Send>>;

/// Create, start, stop, remove, inspect, exec, volumes, list by label: nothing more. Lookups by
/// name are EXACT (an engine that resolves prefixes checks the answer itself); everything that
/// acts takes a [`ContainerId`] or a [`Volume`] one of those lookups returned.
pub trait Engine: Send + Sync + 'static {
    fn ping(&self) -> impl Future<Output = Result<String, EngineError>> + Send;
    fn image_exists(&self, image: &str) -> impl Future<Output = Result<bool, EngineError>> + Send;

    /// The volume named exactly `name`, if any.
    fn volume(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Volume>, EngineError>> + Send;
    fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes exactly `volume`: gone already is success; a volume of that name that now carries
    /// other labels is a conflict (left alone).
    fn remove_volume(
        &self,
        volume: &Volume,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Volumes carrying every one of `labels`: (name, labels).
    fn list_volumes_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<(String, Labels)>, EngineError>> + Send;

    /// Size on disk of every volume Podman can measure, by name.
    fn volume_sizes(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, EngineError>> + Send;

    /// Creates an isolated bridge network with DNS for its own containers.
    fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<NetworkRecord, EngineError>> + Send;
    /// The network of exactly this name.
    fn network(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<NetworkRecord>, EngineError>> + Send;
    /// Removes a network no container uses (refused while one does).
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Networks carrying every one of `labels`.
    fn list_networks_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<NetworkRecord>, EngineError>> + Send;

    fn create(
        &self,
        spec: &ContainerSpec,
    ) -> impl Future<Output = Result<ContainerId, EngineError>> + Send;
    fn start(&self, id: &ContainerId) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn stop(
        &self,
        id: &ContainerId,
        timeout_secs: u32,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes the container (forcefully; it may be running).
    fn remove(&self, id: &ContainerId) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// The container named exactly `name`, if any (whoever made it: callers check labels).
    fn find(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ContainerRecord>, EngineError>> + Send;
    /// The container `id` as it is now (None: gone).
    fn inspect(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<Option<ContainerRecord>, EngineError>> + Send;
    /// Containers carrying every one of `labels`.
    fn list_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<ContainerRecord>, EngineError>> + Send;
    /// Runs `cmd` in the container, feeding `stdin` (if any) and then closing it.
    fn exec(
        &self,
        id: &ContainerId,
        cmd: &[&str],
        stdin: Option<&[u8]>,
        timeout: std::time::Duration,
    ) -> impl Future<Output = Result<ExecOutput, EngineError>> + Send;
    fn logs(&self, id: &ContainerId, follow: bool, tail: Option<u32>) -> ByteStream;
}
