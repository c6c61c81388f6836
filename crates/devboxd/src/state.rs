//! The daemon's own small state, persisted crash-safely (write to a temporary file, fsync, rename,
//! fsync the directory): per container the desired state and lifecycle timestamps. Podman's labels
//! remain the source of truth for what exists; this file only adds intent and history.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use devbox_api::DesiredState;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot read the state file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write the state file {path}: {reason}. Check the state directory is writable")]
    Write { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub owner: String,
    pub desired: DesiredState,
    pub created_at: Timestamp,
    #[serde(default)]
    pub stopped_since: Option<Timestamp>,
    #[serde(default)]
    pub last_activity: Option<Timestamp>,
    #[serde(default)]
    pub key_delivered_at: Option<Timestamp>,
    /// The last start by anyone (owner, admin, reconciler): the idle clock never runs from
    /// before it, so a container is never stopped for idleness right after it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_started: Option<Timestamp>,
    /// Where the container's Tailscale key comes from; `user` when its owner (or an admin)
    /// supplied one with `--auth-key-stdin`. Only the source is recorded, never the key.
    #[serde(default, skip_serializing_if = "KeySource::is_one_password")]
    pub key_source: KeySource,
    /// Lifecycle notices already sent (for the next issue's auto-stop/destroy rules).
    #[serde(default)]
    pub notices_sent: Vec<String>,
    /// Set while a create is in progress (a write-ahead journal): if the daemon dies in the
    /// middle, the reconciler at the next start removes what the create made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,
    /// Set (write-ahead) when a destroy begins: the reconciler finishes it if the daemon dies in
    /// the middle. The value: keep the home volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroying: Option<bool>,
}

impl ContainerState {
    /// A fresh entry: `owner`'s container, `desired`, made at `created_at`, with no history yet
    /// (no activity, start, key delivery, notices; not pending). Callers set what they know with
    /// struct update syntax.
    pub fn new(owner: &str, desired: DesiredState, created_at: Timestamp) -> Self {
        Self {
            owner: owner.to_string(),
            desired,
            created_at,
            stopped_since: None,
            last_activity: None,
            key_delivered_at: None,
            last_started: None,
            key_source: KeySource::default(),
            notices_sent: vec![],
            pending_create: None,
            destroying: None,
        }
    }
}

/// Where a container's Tailscale auth key comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// Read from 1Password at every start (the default).
    #[default]
    OnePassword,
    /// Supplied by the user; held in the daemon's memory only (see docs/controller.md).
    User,
}

impl KeySource {
    pub fn is_one_password(&self) -> bool {
        *self == KeySource::OnePassword
    }
}

/// What an unfinished create may have made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// The create made the home volume (false: it reused a kept one, which must survive).
    pub created_volume: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(default)]
    pub containers: BTreeMap<String, ContainerState>,
    /// Notices for owners (warnings before automatic actions, what was done, failed cleanups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<devbox_api::Notice>,
    /// Destroyed containers whose tailnet device is not deleted yet: retried by the reconciler.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tailnet_cleanups: BTreeMap<String, PendingCleanup>,
    /// Kept home volumes by container name: when they were kept (the auto-destroy clock) and
    /// the warnings sent. Podman says which volumes exist; this only adds the clock.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept_volumes: BTreeMap<String, KeptVolumeState>,
}

/// The lifecycle of one kept home volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptVolumeState {
    pub owner: String,
    pub kept_since: Timestamp,
    #[serde(default)]
    pub notices_sent: Vec<String>,
}

/// A tailnet device cleanup still to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCleanup {
    pub owner: String,
    pub since: Timestamp,
    pub attempts: u32,
    pub last_error: String,
}

/// The state file.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("state.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> Result<State, StateError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StateError::Read {
                path: self.path.clone(),
                reason: format!("{e}; move the file aside and restart devboxd to rebuild it from Podman's labels"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(StateError::Read {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let werr = |e: std::io::Error| StateError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            // Owners, container names and notices of every user: for the daemon only.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(werr)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(state).map_err(|e| StateError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        {
            // Never through a planted file or symlink: remove it, then create a new file (O_EXCL
            // does not follow a symlink), readable by the daemon only.
            match std::fs::remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(werr(e)),
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(werr)?;
            f.write_all(&text).map_err(werr)?;
            f.sync_all().map_err(werr)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(werr)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(werr)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(&dir.path().join("sub"));
        assert_eq!(store.load().unwrap(), State::default());
        let mut s = State::default();
        s.containers.insert(
            "a".into(),
            ContainerState::new("alice", DesiredState::Running, Timestamp::UNIX_EPOCH),
        );
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        assert!(!store.path().with_extension("json.tmp").exists());
    }

    #[test]
    fn save_never_follows_a_planted_symlink_and_keeps_the_file_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(&dir.path().join("state"));
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, store.path().with_extension("json.tmp")).unwrap();
        store.save(&State::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(store.load().unwrap(), State::default());
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "state.json mode {mode:o}");
        // A state directory the daemon creates itself is private too.
        let fresh = StateStore::new(&dir.path().join("fresh"));
        fresh.save(&State::default()).unwrap();
        let mode = std::fs::metadata(dir.path().join("fresh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "state dir mode {mode:o}");
    }

    #[test]
    fn corrupt_file_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        std::fs::write(store.path(), "{not json").unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("move the file aside"), "{e}");
    }
}
