//! The tailnet policy generated from users.nix (`devbox-schema tailnet-policy`).
//!
//! Tailscale's policy file format (also read by Headscale), using only its `tagOwners`, `acls`
//! and `ssh` sections. Tailscale denies by default, so the policy is the list of what is
//! allowed:
//!
//! - every user reaches their own containers (`tag:{user}-container`, every port) and
//!   Tailscale SSH into them as `dev`;
//! - admins reach every container (`tag:devcontainer`) only when `containers.adminsReachAll`;
//! - every user reaches the orchestrator (`tag:devbox-orchestrator` unless renamed) on port 22
//!   and Tailscale SSH into it as their own Unix user, never as anyone else;
//! - containers reach nothing: no rule has a tag as its source;
//! - the devbox tags are owned by the users.nix admins, who create the tagged auth keys.
//!
//! A person is identified on the tailnet by their users.nix `email` (their tailnet login).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{naming, UsersFile};

/// The tag of the orchestrator host when it joins the tailnet (issue 17).
pub const ORCHESTRATOR_TAG: &str = "tag:devbox-orchestrator";
/// The user Tailscale SSH logs in as inside a dev container.
pub const CONTAINER_SSH_USER: &str = "dev";

/// A tailnet policy file (the subset devbox writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Tag -> who may apply it to a device (and create auth keys carrying it).
    pub tag_owners: BTreeMap<String, Vec<String>>,
    /// Network access rules.
    pub acls: Vec<AclRule>,
    /// Tailscale SSH rules.
    pub ssh: Vec<SshRule>,
}

/// One `acls` entry: `src` may open connections to `dst` (`TARGET:PORTS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclRule {
    pub action: String,
    pub src: Vec<String>,
    pub dst: Vec<String>,
}

/// One `ssh` entry: `src` may Tailscale-SSH into `dst` as one of `users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshRule {
    pub action: String,
    pub src: Vec<String>,
    pub dst: Vec<String>,
    pub users: Vec<String>,
}

/// Whether `tag` is a Tailscale tag devbox can write: `tag:` then a letter, then letters,
/// digits or `-`.
pub fn is_valid_tag(tag: &str) -> bool {
    tag.strip_prefix("tag:").is_some_and(|n| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && n.len() <= 64
    })
}

fn accept(src: Vec<String>, dst: Vec<String>) -> AclRule {
    AclRule {
        action: "accept".into(),
        src,
        dst,
    }
}

fn ssh(src: Vec<String>, dst: &str, user: &str) -> SshRule {
    SshRule {
        action: "accept".into(),
        src,
        dst: vec![dst.to_string()],
        users: vec![user.to_string()],
    }
}

/// The policy for a validated users file. `orchestrator_tag`: the orchestrator host's tag,
/// None when the orchestrator is not on the tailnet.
pub fn tailnet_policy(users: &UsersFile, orchestrator_tag: Option<&str>) -> Policy {
    let admins: Vec<String> = users
        .users
        .values()
        .filter(|u| u.is_admin)
        .map(|u| u.email.clone())
        .collect();
    let mut tag_owners = BTreeMap::new();
    tag_owners.insert(naming::CONTAINER_TAG.to_string(), admins.clone());
    let mut acls = vec![];
    let mut rules = vec![];
    for (name, user) in &users.users {
        let tag = user_tag(name);
        tag_owners.insert(tag.clone(), admins.clone());
        acls.push(accept(vec![user.email.clone()], vec![format!("{tag}:*")]));
        rules.push(ssh(vec![user.email.clone()], &tag, CONTAINER_SSH_USER));
    }
    if users.containers.admins_reach_all && !admins.is_empty() {
        acls.push(accept(
            admins.clone(),
            vec![format!("{}:*", naming::CONTAINER_TAG)],
        ));
        rules.push(ssh(
            admins.clone(),
            naming::CONTAINER_TAG,
            CONTAINER_SSH_USER,
        ));
    }
    if let Some(host_tag) = orchestrator_tag {
        tag_owners.insert(host_tag.to_string(), admins.clone());
        let everyone: Vec<String> = users.users.values().map(|u| u.email.clone()).collect();
        acls.push(accept(everyone, vec![format!("{host_tag}:22")]));
        for (name, user) in &users.users {
            // As themselves only: the Unix account users.nix makes for them.
            rules.push(ssh(vec![user.email.clone()], host_tag, name));
        }
    }
    Policy {
        tag_owners,
        acls,
        ssh: rules,
    }
}

/// `tag:{user}-container`, as lib/naming.nix writes it.
fn user_tag(user: &str) -> String {
    devbox_contract::tags::user_container_tag(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked() {
        assert!(is_valid_tag("tag:devbox-orchestrator"));
        assert!(is_valid_tag("tag:a1"));
        for bad in ["devbox", "tag:", "tag:1x", "tag:a b", "tag:a:22", "tag:a_b"] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }
}
