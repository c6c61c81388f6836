//! FAKE Tailscale control plane and node state, shared by the `fake-tailscale` and
//! `fake-tailscaled` binaries and by tests (as the fake Tailscale API: list and delete devices).
//!
//! The control plane is one JSON file (path from `FAKE_TAILSCALE_CONTROL`, default
//! [`DEFAULT_CONTROL_PATH`]) guarded by `flock` on a sibling `.lock` file, so containers and
//! tests sharing a bind-mounted file see one consistent tailnet. It models what the real one
//! does observably: auth keys own tags (a key asking for other tags is rejected), ephemeral
//! nodes are removed on logout, an offline node keeps its name so a new node taking the same
//! hostname gets `NAME-1`.
//!
//! When the control file does not exist the tailnet is *permissive*: every key that starts with
//! `tskey-auth-` is a reusable, ephemeral key owning every tag. Tests that check tag ownership
//! register keys explicitly with [`Control::register_key`].

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::{KitError, Result};

pub const CONTROL_ENV: &str = "FAKE_TAILSCALE_CONTROL";
pub const DEFAULT_CONTROL_PATH: &str = "/var/lib/fake-tailscale/control.json";
pub const FAKE_VERSION: &str = "1.78.1-fake";
pub const TAILNET_SUFFIX: &str = "fake-tailnet.ts.net";

/// An auth key as the control plane knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeySpec {
    pub tags: Vec<String>,
    pub ephemeral: bool,
    pub reusable: bool,
    #[serde(default)]
    pub used: bool,
}

/// A device (node) in the tailnet, as the Tailscale API lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: String,
    /// The hostname the node asked for.
    pub hostname: String,
    /// The name the control plane gave it (hostname, or hostname-N on collision).
    pub name: String,
    pub addresses: Vec<String>,
    pub tags: Vec<String>,
    pub ephemeral: bool,
    pub online: bool,
    #[serde(default)]
    pub ssh: bool,
}

/// The whole fake control plane.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ControlState {
    #[serde(default)]
    pub keys: BTreeMap<String, KeySpec>,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub next_id: u64,
    /// The control plane answers a login only after this long (a login over a slow or loaded
    /// link); 0: at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub login_delay_ms: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Why the control plane refused a login (messages as the real CLI prints them).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    #[error("backend error: invalid key: unable to validate API key")]
    InvalidKey,
    #[error("backend error: requested tags [{0}] are invalid or not permitted")]
    TagsNotPermitted(String),
}

impl ControlState {
    /// Looks up a key; the permissive default applies when the file did not exist.
    fn key(&self, key: &str, permissive: bool) -> Option<KeySpec> {
        match self.keys.get(key) {
            Some(k) => Some(k.clone()),
            None if permissive && key.starts_with("tskey-auth-") => Some(KeySpec {
                tags: Vec::new(),
                ephemeral: true,
                reusable: true,
                used: false,
            }),
            None => None,
        }
    }

    /// Registers a node: validates the key and its tags, picks a free name.
    /// `existing` is the node's current device id (re-authentication keeps it).
    pub fn login(
        &mut self,
        key: &str,
        hostname: &str,
        tags: &[String],
        ssh: bool,
        existing: Option<&str>,
        permissive: bool,
    ) -> Result<Device, LoginError> {
        let spec = self.key(key, permissive).ok_or(LoginError::InvalidKey)?;
        if spec.used && !spec.reusable {
            return Err(LoginError::InvalidKey);
        }
        let allowed_all = permissive && !self.keys.contains_key(key);
        let refused: Vec<&str> = tags
            .iter()
            .filter(|t| !allowed_all && !spec.tags.contains(t))
            .map(String::as_str)
            .collect();
        if !refused.is_empty() {
            return Err(LoginError::TagsNotPermitted(refused.join(" ")));
        }
        if let Some(k) = self.keys.get_mut(key) {
            k.used = true;
        }
        // The node keeps its id on re-auth; otherwise a new node.
        if let Some(id) = existing {
            self.devices.retain(|d| d.id != id);
        }
        let taken = |name: &str, devs: &[Device]| devs.iter().any(|d| d.name == name);
        let mut name = hostname.to_string();
        let mut n = 1;
        while taken(&name, &self.devices) {
            name = format!("{hostname}-{n}");
            n += 1;
        }
        let id = match existing {
            Some(id) => id.to_string(),
            None => {
                self.next_id += 1;
                format!("fake-node-{}", self.next_id)
            }
        };
        let num: u64 = id
            .rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(self.next_id);
        let dev = Device {
            id,
            hostname: hostname.to_string(),
            name,
            addresses: vec![format!("100.64.{}.{}", (num / 250) % 250, num % 250 + 1)],
            tags: tags.to_vec(),
            ephemeral: spec.ephemeral,
            online: true,
            ssh,
        };
        self.devices.push(dev.clone());
        Ok(dev)
    }

    /// A node logs out: an ephemeral node is removed at once, another one goes offline.
    pub fn logout(&mut self, id: &str) {
        let ephemeral = self.devices.iter().any(|d| d.id == id && d.ephemeral);
        if ephemeral {
            self.devices.retain(|d| d.id != id);
        } else {
            self.set_online(id, false);
        }
    }

    pub fn set_online(&mut self, id: &str, online: bool) {
        for d in self.devices.iter_mut().filter(|d| d.id == id) {
            d.online = online;
        }
    }
}

/// Handle on a control-plane file.
#[derive(Debug, Clone)]
pub struct Control {
    path: PathBuf,
}

impl Control {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Control { path: path.into() }
    }

    /// The control plane named by `FAKE_TAILSCALE_CONTROL` or the default path.
    pub fn from_env() -> Self {
        Control::at(std::env::var(CONTROL_ENV).unwrap_or_else(|_| DEFAULT_CONTROL_PATH.to_string()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the state under an exclusive lock and saves it atomically. `f` gets
    /// whether the tailnet is permissive (no control file existed).
    pub fn update<T>(&self, f: impl FnOnce(&mut ControlState, bool) -> T) -> Result<T> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| KitError::io(format!("create {}", dir.display()), e))?;
        }
        let lock_path = self.path.with_extension("lock");
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| KitError::io(format!("open {}", lock_path.display()), e))?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, e)| KitError::io("flock control plane", e.into()))?;
        let permissive = self.is_permissive();
        let state = match fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| KitError::Other(format!("corrupt {}: {e}", self.path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ControlState::default(),
            Err(e) => return Err(KitError::io(format!("read {}", self.path.display()), e)),
        };
        let mut state = state;
        let out = f(&mut state, permissive);
        if permissive {
            // Created without keys: stays permissive for the next reader.
            let _ = fs::write(self.path.with_extension("permissive"), b"");
        }
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| KitError::Other(format!("serialize control plane: {e}")))?;
        let tmp = self.path.with_extension("tmp");
        let mut file = fs::File::create(&tmp)
            .map_err(|e| KitError::io(format!("write {}", tmp.display()), e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| KitError::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, &self.path)
            .map_err(|e| KitError::io(format!("rename {}", tmp.display()), e))?;
        Ok(out)
    }

    /// Makes every login take `ms` milliseconds (see [`ControlState::login_delay_ms`]).
    pub fn set_login_delay(&self, ms: u64) -> Result<()> {
        self.update(|s, _| s.login_delay_ms = ms)
    }

    /// Whether the control plane accepts any `tskey-auth-*` key (no file yet, or created
    /// without registered keys).
    pub fn is_permissive(&self) -> bool {
        !self.path.exists() || self.path.with_extension("permissive").exists()
    }

    /// Registers an auth key owning `tags` (turns the tailnet strict: only known keys work).
    pub fn register_key(&self, key: &str, tags: &[&str], ephemeral: bool) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| KitError::io(format!("create {}", dir.display()), e))?;
        }
        let _ = fs::remove_file(self.path.with_extension("permissive"));
        if !self.path.exists() {
            let text = serde_json::to_string(&ControlState::default())
                .map_err(|e| KitError::Other(e.to_string()))?;
            fs::write(&self.path, text)
                .map_err(|e| KitError::io(format!("write {}", self.path.display()), e))?;
        }
        self.update(|s, _| {
            s.keys.insert(
                key.to_string(),
                KeySpec {
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                    ephemeral,
                    reusable: true,
                    used: false,
                },
            );
        })
    }

    /// Fake API: `GET /api/v2/tailnet/-/devices`.
    pub fn list_devices(&self) -> Result<Vec<Device>> {
        self.update(|s, _| s.devices.clone())
    }

    /// Fake API: `DELETE /api/v2/device/{id}`; returns whether it existed.
    pub fn delete_device(&self, id: &str) -> Result<bool> {
        self.update(|s, _| {
            let before = s.devices.len();
            s.devices.retain(|d| d.id != id);
            before != s.devices.len()
        })
    }
}

/// The local state of one fake tailscaled (what the real one keeps in memory / its state file).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    /// "NoState", "NeedsLogin", "Running", "Stopped".
    pub backend_state: String,
    pub device: Option<Device>,
    /// The control plane this node is logged in to.
    pub control: Option<PathBuf>,
    /// `--state=PATH` of the daemon (None for `--state=mem:`): kept in sync with this state.
    #[serde(default)]
    pub state_path: Option<PathBuf>,
}

/// Where the fake tailscaled keeps its node state: beside its socket.
pub fn node_state_path(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".fake-node.json");
    PathBuf::from(p)
}

pub fn read_node(socket: &Path) -> Option<NodeState> {
    fs::read_to_string(node_state_path(socket))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Saves the node state beside the socket and, like the real daemon, in its `--state` file.
pub fn write_node(socket: &Path, node: &NodeState) -> Result<()> {
    let text = serde_json::to_string(node).map_err(|e| KitError::Other(e.to_string()))?;
    let mut paths = vec![node_state_path(socket)];
    paths.extend(node.state_path.clone());
    for path in paths {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &text).map_err(|e| KitError::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, &path)
            .map_err(|e| KitError::io(format!("rename {}", path.display()), e))?;
    }
    Ok(())
}

/// What a daemon starting with `--state=STATE` knows: nothing for `mem:`, else the saved
/// login, still valid if the control plane still has the device (it comes back online).
pub fn resume_node(state: &str) -> NodeState {
    let fresh = |state_path: Option<PathBuf>| NodeState {
        backend_state: "NeedsLogin".into(),
        device: None,
        control: None,
        state_path,
    };
    if state == "mem:" {
        return fresh(None);
    }
    let path = PathBuf::from(state);
    let saved: Option<NodeState> = fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let Some(NodeState {
        device: Some(dev),
        control: Some(control),
        ..
    }) = saved
    else {
        return fresh(Some(path));
    };
    let still_there = Control::at(&control)
        .update(|s, _| {
            let found = s.devices.iter().any(|d| d.id == dev.id);
            s.set_online(&dev.id, true);
            found
        })
        .unwrap_or(false);
    if !still_there {
        return fresh(Some(path));
    }
    NodeState {
        backend_state: "Running".into(),
        device: Some(dev),
        control: Some(control),
        state_path: Some(path),
    }
}

/// `tailscale status --json` in the real program's shape (the fields people read).
pub fn status_json(node: &NodeState) -> serde_json::Value {
    let (ips, self_node) = match &node.device {
        Some(d) if node.backend_state == "Running" => (
            d.addresses.clone(),
            serde_json::json!({
                "ID": d.id,
                "PublicKey": format!("nodekey:{}", d.id),
                "HostName": d.hostname,
                "DNSName": format!("{}.{TAILNET_SUFFIX}.", d.name),
                "OS": "linux",
                "TailscaleIPs": d.addresses,
                "Tags": d.tags,
                "Online": true,
                "Active": false,
            }),
        ),
        _ => (
            Vec::new(),
            serde_json::json!({
                "ID": "", "PublicKey": "nodekey:0000", "HostName": "", "DNSName": "",
                "OS": "linux", "TailscaleIPs": null, "Online": false, "Active": false,
            }),
        ),
    };
    serde_json::json!({
        "Version": FAKE_VERSION,
        "TUN": false,
        "BackendState": node.backend_state,
        "AuthURL": "",
        "TailscaleIPs": if ips.is_empty() { serde_json::Value::Null } else { serde_json::json!(ips) },
        "Self": self_node,
        "Health": [],
        "MagicDNSSuffix": TAILNET_SUFFIX,
        "CurrentTailnet": { "Name": "fake-tailnet", "MagicDNSSuffix": TAILNET_SUFFIX, "MagicDNSEnabled": true },
        "Peer": {},
        "User": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> ControlState {
        let mut s = ControlState::default();
        s.keys.insert(
            "tskey-auth-alice".into(),
            KeySpec {
                tags: vec!["tag:devcontainer".into(), "tag:alice-container".into()],
                ephemeral: true,
                reusable: true,
                used: false,
            },
        );
        s
    }

    #[test]
    fn tags_not_owned_by_the_key_are_refused() {
        let mut s = strict();
        let err = s
            .login(
                "tskey-auth-alice",
                "box",
                &["tag:devcontainer".into(), "tag:bob-container".into()],
                true,
                None,
                false,
            )
            .unwrap_err();
        assert_eq!(
            err,
            LoginError::TagsNotPermitted("tag:bob-container".into())
        );
        assert!(err.to_string().contains("invalid or not permitted"));
        assert_eq!(
            s.login("tskey-auth-nope", "box", &[], true, None, false),
            Err(LoginError::InvalidKey)
        );
        assert!(s.devices.is_empty());
    }

    #[test]
    fn hostname_collision_gets_suffix_and_ephemeral_logout_frees_it() {
        let mut s = strict();
        let tags = vec!["tag:alice-container".to_string()];
        let a = s
            .login("tskey-auth-alice", "box", &tags, true, None, false)
            .unwrap();
        s.set_online(&a.id, false);
        let b = s
            .login("tskey-auth-alice", "box", &tags, true, None, false)
            .unwrap();
        assert_eq!(a.name, "box");
        assert_eq!(b.name, "box-1");
        assert_ne!(a.addresses, b.addresses);
        s.logout(&a.id);
        s.logout(&b.id);
        assert!(s.devices.is_empty());
        let c = s
            .login("tskey-auth-alice", "box", &tags, true, None, false)
            .unwrap();
        assert_eq!(c.name, "box");
    }

    #[test]
    fn control_file_round_trip_and_api() {
        let dir = tempfile_dir();
        let control = Control::at(dir.join("control.json"));
        assert!(control.is_permissive());
        control
            .register_key("tskey-auth-k", &["tag:devcontainer"], true)
            .unwrap();
        assert!(!control.is_permissive());
        let dev = control
            .update(|s, p| {
                s.login(
                    "tskey-auth-k",
                    "h",
                    &["tag:devcontainer".into()],
                    true,
                    None,
                    p,
                )
            })
            .unwrap()
            .unwrap();
        assert_eq!(control.list_devices().unwrap(), vec![dev.clone()]);
        assert!(control.delete_device(&dev.id).unwrap());
        assert!(!control.delete_device(&dev.id).unwrap());
        let _ = fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(crate::unique_name("kit-control"));
        fs::create_dir_all(&d).unwrap();
        d
    }
}
