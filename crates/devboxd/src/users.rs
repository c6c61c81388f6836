//! Who may use the daemon: the validated users export, and the mapping uid -> user.

use std::path::{Path, PathBuf};

use devbox_schema::UsersFile;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum UsersError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the users file {path} is invalid: {message}. Regenerate it with `nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile ./users.nix`")]
    Invalid { path: PathBuf, message: String },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub user: String,
    /// Admins and root may act on every container.
    pub is_admin: bool,
}

impl Caller {
    /// The daemon itself (reconciler).
    pub fn system() -> Self {
        Self {
            uid: 0,
            user: "root".into(),
            is_admin: true,
        }
    }
}

/// The users file, loaded and validated.
#[derive(Debug, Clone)]
pub struct Users {
    pub file: UsersFile,
}

impl Users {
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| UsersError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: UsersFile = devbox_schema::validate_text(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::BTreeMap::new();
        for (name, u) in &file.users {
            if u.uid == 0 {
                return Err(format!(
                    "user {name:?} has uid 0; root is not a devbox user"
                ));
            }
            if let Some(other) = seen.insert(u.uid, name) {
                return Err(format!("users {other:?} and {name:?} share uid {}", u.uid));
            }
            if !file.derived.per_user.contains_key(name) {
                return Err(format!("user {name:?} has no entry in derived.perUser"));
            }
        }
        if file.containers.max_per_user == 0 || file.containers.max_global == 0 {
            return Err("containers.maxPerUser and containers.maxGlobal must be at least 1".into());
        }
        Ok(Self { file })
    }

    /// Identifies a peer uid. Root is always an admin; unknown uids are refused.
    pub fn caller(&self, uid: u32) -> Option<Caller> {
        if uid == 0 {
            return Some(Caller::system());
        }
        self.file
            .users
            .iter()
            .find(|(_, u)| u.uid == uid)
            .map(|(name, u)| Caller {
                uid,
                user: name.clone(),
                is_admin: u.is_admin,
            })
    }

    /// The 1Password reference of a user's Tailscale key; None when users.nix has no vault.
    pub fn op_reference(&self, user: &str) -> Option<String> {
        let vault = self.file.containers.op_vault.as_deref()?;
        Some(
            self.file
                .derived
                .per_user
                .get(user)
                .and_then(|d| d.op_reference.clone())
                .unwrap_or_else(|| devbox_schema::model::naming::op_reference(vault, user)),
        )
    }

    /// The Tailscale tags of a user's containers.
    pub fn tags(&self, user: &str) -> Vec<String> {
        self.file
            .derived
            .per_user
            .get(user)
            .map(|d| d.tailscale_tags.clone())
            .unwrap_or_else(|| devbox_schema::model::naming::tailscale_tags(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        serde_json::json!({
            "users": {
                "alice": {"uid": 1001, "description": "Alice A", "email": "alice@example.org", "gitUser": "a", "sshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAhQH7HtuvNifaSW9dPRB84nII1PRUfRJ5AZtFodeJx a@x"], "isAdmin": false},
                "bob": {"uid": 1002, "description": "Bob B", "email": "bob@example.org", "gitUser": "b", "sshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICYPvzFrdD87/ShDVuR41wzyF+JvJ/3nrKfxvRDKQTDF b@x"], "isAdmin": true}
            },
            "derived": {
                "allUsers": ["alice", "bob"], "adminUsers": ["bob"],
                "perUser": {
                    "alice": {"opReference": "op://DevBox/alice-tailscale-authkey/password", "tailscaleTags": ["tag:devcontainer", "tag:alice-container"]},
                    "bob": {"opReference": "op://DevBox/bob-tailscale-authkey/password", "tailscaleTags": ["tag:devcontainer", "tag:bob-container"]}
                }
            }
        })
        .to_string()
    }

    #[test]
    fn uid_maps_to_user_root_is_admin_unknown_is_none() {
        let u = Users::parse(&sample()).unwrap();
        assert_eq!(u.caller(1001).unwrap().user, "alice");
        assert!(!u.caller(1001).unwrap().is_admin);
        assert!(u.caller(1002).unwrap().is_admin);
        assert!(u.caller(0).unwrap().is_admin);
        assert_eq!(u.caller(4242), None);
        assert_eq!(
            u.op_reference("alice").as_deref(),
            Some("op://DevBox/alice-tailscale-authkey/password")
        );
    }

    #[test]
    fn a_users_file_without_a_vault_has_no_1password_references() {
        let mut v: serde_json::Value = serde_json::from_str(&sample()).unwrap();
        v["containers"]["opVault"] = serde_json::Value::Null;
        for u in ["alice", "bob"] {
            v["derived"]["perUser"][u]
                .as_object_mut()
                .unwrap()
                .remove("opReference");
        }
        let u = Users::parse(&v.to_string()).unwrap();
        assert_eq!(u.op_reference("alice"), None);
        // A reference left in `derived` without a vault is refused (not silently used).
        v["derived"]["perUser"]["alice"]["opReference"] =
            "op://DevBox/alice-tailscale-authkey/password".into();
        assert!(Users::parse(&v.to_string()).is_err());
    }

    #[test]
    fn duplicate_uids_are_refused() {
        let s = sample().replace("1002", "1001");
        assert!(Users::parse(&s).is_err());
        assert!(Users::parse("{}").is_err());
    }
}
