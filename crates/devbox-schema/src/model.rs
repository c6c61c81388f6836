//! The exported `users.nix`: what `lib/export-users.nix` prints and what every other part reads.
//!
//! The consumer writes only `users` and `containers`; `derived` is computed by the Nix export so
//! that nobody hand-maintains lists of names, 1Password references or Tailscale tags.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole exported users file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsersFile {
    /// Every person who may use the orchestrator, keyed by Unix user name.
    pub users: BTreeMap<String, User>,
    /// Limits and lifecycle rules for dev containers.
    #[serde(default)]
    pub containers: ContainerPolicy,
    /// Names, references and tags derived from `users` by the Nix export.
    pub derived: Derived,
}

/// One person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct User {
    /// Unix UID on the orchestrator (1000..=65533).
    pub uid: u32,
    /// Full name, used for the Unix account and git.
    pub description: String,
    /// E-mail address, used for git.
    pub email: String,
    /// GitHub user name (for `gh` and git hosting).
    pub git_user: String,
    /// Admins may see and manage every container.
    #[serde(default)]
    pub is_admin: bool,
    /// OpenSSH public keys allowed to log in to the orchestrator.
    pub ssh_keys: Vec<String>,
    /// Extra Unix groups on the orchestrator.
    #[serde(default)]
    pub extra_groups: Vec<String>,
}

/// Limits and lifecycle rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerPolicy {
    /// 1Password vault that holds `{user}-tailscale-authkey` items; null: no 1Password (users
    /// supply their Tailscale keys with `devbox-ctl create --auth-key-stdin`).
    #[serde(default = "defaults::op_vault")]
    pub op_vault: Option<String>,
    /// Containers one user may have.
    #[serde(default = "defaults::max_per_user")]
    pub max_per_user: u32,
    /// Containers on the orchestrator in all.
    #[serde(default = "defaults::max_global")]
    pub max_global: u32,
    /// CPUs per container unless the user asks for fewer.
    #[serde(default = "defaults::default_cpu")]
    pub default_cpu: f64,
    /// Memory per container, e.g. "4G" or "512M".
    #[serde(default = "defaults::default_memory")]
    pub default_memory: String,
    /// A running container without user activity for this many days is stopped.
    #[serde(default = "defaults::idle_stop_days")]
    pub idle_stop_days: u32,
    /// A container stopped for this many days is destroyed, volume included.
    #[serde(default = "defaults::stopped_destroy_days")]
    pub stopped_destroy_days: u32,
    /// Optional URL that receives lifecycle notices as JSON POSTs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_webhook: Option<String>,
    /// Optional 1Password reference of a Tailscale API key, used to delete stale devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tailscale_api_key_ref: Option<String>,
}

impl Default for ContainerPolicy {
    fn default() -> Self {
        Self {
            op_vault: defaults::op_vault(),
            max_per_user: defaults::max_per_user(),
            max_global: defaults::max_global(),
            default_cpu: defaults::default_cpu(),
            default_memory: defaults::default_memory(),
            idle_stop_days: defaults::idle_stop_days(),
            stopped_destroy_days: defaults::stopped_destroy_days(),
            notify_webhook: None,
            tailscale_api_key_ref: None,
        }
    }
}

/// Values derived from `users` by `lib/export-users.nix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Derived {
    /// Every user name, sorted.
    pub all_users: Vec<String>,
    /// The admins' names, sorted.
    pub admin_users: Vec<String>,
    /// Per-user references and tags.
    pub per_user: BTreeMap<String, DerivedUser>,
}

/// What the export derives for one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DerivedUser {
    /// `op://{vault}/{user}-tailscale-authkey/password`; absent when `opVault` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_reference: Option<String>,
    /// `["tag:devcontainer", "tag:{user}-container"]`
    pub tailscale_tags: Vec<String>,
}

/// The naming conventions, in one place (mirrored by lib/naming.nix).
pub mod naming {
    /// The tag every dev container carries.
    pub const CONTAINER_TAG: &str = "tag:devcontainer";

    /// The 1Password reference of a user's Tailscale auth key.
    pub fn op_reference(vault: &str, user: &str) -> String {
        format!("op://{vault}/{user}-tailscale-authkey/password")
    }

    /// The Tailscale tags a user's containers advertise.
    pub fn tailscale_tags(user: &str) -> Vec<String> {
        vec![CONTAINER_TAG.to_string(), format!("tag:{user}-container")]
    }
}

mod defaults {
    pub fn op_vault() -> Option<String> {
        Some("DevBox".to_string())
    }
    pub fn max_per_user() -> u32 {
        5
    }
    pub fn max_global() -> u32 {
        7
    }
    pub fn default_cpu() -> f64 {
        2.0
    }
    pub fn default_memory() -> String {
        "4G".to_string()
    }
    pub fn idle_stop_days() -> u32 {
        7
    }
    pub fn stopped_destroy_days() -> u32 {
        14
    }
}
