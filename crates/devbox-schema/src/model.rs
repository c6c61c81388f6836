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
    /// OpenSSH public keys allowed to log in to the orchestrator. May be empty or absent only
    /// for a user with `tailscaleSsh = true`.
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// The person reaches the orchestrator over Tailscale SSH (the host joins the tailnet with
    /// `services.devbox.orchestrator.tailscale.enable`), so OpenSSH keys are optional.
    #[serde(default)]
    pub tailscale_ssh: bool,
    /// A crypt(3) hash (yescrypt `$y$`, SHA-512 `$6$` or bcrypt `$2b$`) for console login
    /// only (bootstrap); set as the account's initial password, never over a password set later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_hashed_password: Option<String>,
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
    /// Most CPUs one container may be given (`create --cpu`); at most 256.
    #[serde(default = "defaults::max_cpu")]
    pub max_cpu: f64,
    /// Most memory one container may be given (`create --memory`), e.g. "64G"; at most 1024G.
    #[serde(default = "defaults::max_memory")]
    pub max_memory: String,
    /// Kept home volumes (`destroy --keep-volume`) one user may have; 0 forbids keeping.
    #[serde(default = "defaults::max_kept_volumes_per_user")]
    pub max_kept_volumes_per_user: u32,
    /// A running container without user activity for this many days is stopped.
    #[serde(default = "defaults::idle_stop_days")]
    pub idle_stop_days: u32,
    /// A container stopped for this many days is destroyed, volume included.
    #[serde(default = "defaults::stopped_destroy_days")]
    pub stopped_destroy_days: u32,
    /// Optional 1Password reference (`op://VAULT/ITEM/FIELD`) of the URL that receives lifecycle
    /// notices as JSON POSTs. Never the URL itself: this file is readable by every user (give
    /// the URL as a file to devboxd instead: `notifyWebhookFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_webhook: Option<String>,
    /// Optional 1Password reference of a Tailscale API key, used to delete stale devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tailscale_api_key_ref: Option<String>,
    /// The generated tailnet policy lets admins reach (and Tailscale SSH into) every user's
    /// containers. Default false: everyone, admins included, reaches only their own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admins_reach_all: bool,
}

impl Default for ContainerPolicy {
    fn default() -> Self {
        Self {
            op_vault: defaults::op_vault(),
            max_per_user: defaults::max_per_user(),
            max_global: defaults::max_global(),
            default_cpu: defaults::default_cpu(),
            default_memory: defaults::default_memory(),
            max_cpu: defaults::max_cpu(),
            max_memory: defaults::max_memory(),
            max_kept_volumes_per_user: defaults::max_kept_volumes_per_user(),
            idle_stop_days: defaults::idle_stop_days(),
            stopped_destroy_days: defaults::stopped_destroy_days(),
            notify_webhook: None,
            tailscale_api_key_ref: None,
            admins_reach_all: false,
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
    /// The tag every dev container carries (the daemon-entrypoint contract's).
    pub use devbox_contract::tags::CONTAINER_TAG;

    /// The 1Password reference of a user's Tailscale auth key.
    pub fn op_reference(vault: &str, user: &str) -> String {
        format!("op://{vault}/{user}-tailscale-authkey/password")
    }

    /// The Tailscale tags a user's containers advertise.
    pub fn tailscale_tags(user: &str) -> Vec<String> {
        devbox_contract::tags::default_tags(user)
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
    pub fn max_cpu() -> f64 {
        crate::bounds::DEFAULT_MAX_CPU
    }
    pub fn max_memory() -> String {
        crate::bounds::DEFAULT_MAX_MEMORY.to_string()
    }
    pub fn max_kept_volumes_per_user() -> u32 {
        crate::bounds::DEFAULT_MAX_KEPT_VOLUMES_PER_USER
    }
    pub fn idle_stop_days() -> u32 {
        7
    }
    pub fn stopped_destroy_days() -> u32 {
        14
    }
}
