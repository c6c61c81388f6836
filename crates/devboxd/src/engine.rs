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

/// What exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
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

/// Create, start, stop, remove, inspect, exec, volumes, list by label: nothing more.
pub trait Engine: Send + Sync + 'static {
    fn ping(&self) -> impl Future<Output = Result<String, EngineError>> + Send;
    fn image_exists(&self, image: &str) -> impl Future<Output = Result<bool, EngineError>> + Send;

    fn volume_labels(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, String>>, EngineError>> + Send;
    fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Volumes carrying every one of `labels`: (name, labels).
    fn list_volumes_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<(String, Labels)>, EngineError>> + Send;

    /// Size on disk of every volume Podman can measure, by name.
    fn volume_sizes(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, EngineError>> + Send;

    fn create(&self, spec: &ContainerSpec) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn start(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn stop(
        &self,
        name: &str,
        timeout_secs: u32,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes the container (forcefully; it may be running).
    fn remove(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn inspect(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ContainerRecord>, EngineError>> + Send;
    /// Containers carrying every one of `labels`.
    fn list_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<ContainerRecord>, EngineError>> + Send;
    /// Runs `cmd` in the container, feeding `stdin` (if any) and then closing it.
    fn exec(
        &self,
        name: &str,
        cmd: &[&str],
        stdin: Option<&[u8]>,
        timeout: std::time::Duration,
    ) -> impl Future<Output = Result<ExecOutput, EngineError>> + Send;
    fn logs(&self, name: &str, follow: bool, tail: Option<u32>) -> ByteStream;
}
