//! Semantic rules: what the JSON Schema cannot say.
//!
//! The rules read the raw JSON so that they can run even when the shape check found problems
//! elsewhere (every problem is reported in one run). A field of the wrong type is skipped here:
//! the shape check already reports it.

use serde_json::Value;

mod containers;
mod derived;
#[cfg(test)]
mod tests;
mod users;

pub use containers::is_op_reference;
pub use users::is_crypt_hash;

use crate::problem::Problem;
use containers::check_containers;
use derived::check_derived;
use users::check_users;

/// Allowed UIDs: below 1000 are system accounts, 65534 is `nobody`, 65535 is invalid.
pub const UID_MIN: u64 = 1000;
/// See [`UID_MIN`].
pub const UID_MAX: u64 = 65533;
/// Longest user name (Linux `useradd` limit).
pub const NAME_MAX_LEN: usize = 32;
/// Names the orchestrator already uses for system accounts and groups.
pub const RESERVED_NAMES: &[&str] = &[
    "root",
    "bin",
    "daemon",
    "sys",
    "adm",
    "nobody",
    "nogroup",
    "sshd",
    "messagebus",
    "polkituser",
    "nixbld",
    "podman",
    "containers",
    "devbox",
    "dev",
    "tailscale",
    "syncthing",
];
/// Upper bounds that catch typos (an extra zero) rather than policy.
pub const MAX_CONTAINERS: u64 = 1000;
/// See [`MAX_CONTAINERS`].
pub const MAX_DAYS: u64 = 3650;
/// The resource bounds, shared with devboxd (see [`crate::bounds`]).
pub use crate::bounds::{MAX_CPU, MAX_MEMORY_BYTES, MIN_MEMORY_BYTES};

/// Runs every semantic rule on an exported users file.
pub fn check(doc: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(root) = doc.as_object() else {
        return out;
    };
    if let Some(users) = root.get("users").and_then(Value::as_object) {
        check_users(users, &mut out);
    }
    let containers = root.get("containers").and_then(Value::as_object);
    if let Some(containers) = containers {
        check_containers(containers, &mut out);
    }
    if let (Some(users), Some(derived)) = (
        root.get("users").and_then(Value::as_object),
        root.get("derived").and_then(Value::as_object),
    ) {
        check_derived(users, containers, derived, &mut out);
    }
    out
}

/// Whether `name` is a valid user or group name on the orchestrator that can also appear in a
/// Tailscale tag (`tag:{name}-container`): lower-case letter first, then lower-case letters,
/// digits or `-`, not ending in `-`, at most 32 characters.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= NAME_MAX_LEN
        && !name.ends_with('-')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parses a Podman memory size (`<digits><unit>`, unit `b`, `k`, `m` or `g`, either case) into
/// bytes. Returns `None` when it is not of that form or overflows.
pub fn parse_memory(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let (digits, multiplier) = match unit.to_ascii_lowercase() {
        'b' => (&text[..text.len() - 1], 1u64),
        'k' => (&text[..text.len() - 1], 1 << 10),
        'm' => (&text[..text.len() - 1], 1 << 20),
        'g' => (&text[..text.len() - 1], 1 << 30),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// At most 60 characters of user-supplied text, control characters removed.
pub(crate) fn shorten(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).take(60).collect();
    if s.chars().count() > 60 {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}
