//! Semantic rules: what the JSON Schema cannot say.
//!
//! The rules read the raw JSON so that they can run even when the shape check found problems
//! elsewhere (every problem is reported in one run). A field of the wrong type is skipped here:
//! the shape check already reports it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::model::naming;
use crate::problem::{child, index, Problem};
use crate::ssh_key;

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
pub const MAX_CPU: f64 = 256.0;
/// See [`MAX_CONTAINERS`].
pub const MAX_DAYS: u64 = 3650;
/// Smallest memory a dev container can work in.
pub const MIN_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Largest memory accepted (catches an extra zero or a wrong unit).
pub const MAX_MEMORY_BYTES: u64 = 4 * 1024 * 1024 * 1024 * 1024;

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

fn check_users(users: &Map<String, Value>, out: &mut Vec<Problem>) {
    if users.is_empty() {
        out.push(Problem::new(
            "/users",
            "users-empty",
            "there are no users",
            "add at least one user (an admin) under `users`",
        ));
        return;
    }
    let mut uids: BTreeMap<u64, &str> = BTreeMap::new();
    let mut git_users: BTreeMap<String, &str> = BTreeMap::new();
    let mut keys: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let mut any_admin = false;
    let mut admin_flags_known = true;

    for (name, user) in users {
        let base = child("/users", name);
        check_user_name(name, &base, out);
        let Some(user) = user.as_object() else {
            admin_flags_known = false;
            continue;
        };
        match user.get("isAdmin") {
            Some(Value::Bool(true)) => any_admin = true,
            None | Some(Value::Bool(false)) => {}
            Some(_) => admin_flags_known = false,
        }
        if let Some(uid) = user.get("uid").and_then(Value::as_number) {
            let path = child(&base, "uid");
            match uid.as_u64() {
                Some(u) if (UID_MIN..=UID_MAX).contains(&u) => {
                    if let Some(other) = uids.insert(u, name) {
                        out.push(Problem::new(
                            path,
                            "uid-duplicate",
                            format!("uid {u} is also the uid of `{other}`"),
                            "give every user a different uid",
                        ));
                        uids.insert(u, other);
                    }
                }
                _ if uid.is_i64() || uid.is_u64() => out.push(Problem::new(
                    path,
                    "uid-out-of-range",
                    format!("uid {uid} is outside {UID_MIN}..={UID_MAX}"),
                    format!(
                        "pick an unused uid from {UID_MIN} to {UID_MAX} (below {UID_MIN} are \
                         system accounts, 65534 is `nobody`)"
                    ),
                )),
                // A fraction is a shape problem, reported by the schema check.
                _ => {}
            }
        }
        if let Some(d) = user.get("description").and_then(Value::as_str) {
            check_description(d, &child(&base, "description"), out);
        }
        if let Some(e) = user.get("email").and_then(Value::as_str) {
            if !is_valid_email(e) {
                out.push(Problem::new(
                    child(&base, "email"),
                    "email-invalid",
                    format!("`{}` is not an e-mail address", shorten(e)),
                    "write it as `name@example.org`: one `@`, no spaces, a domain with a dot",
                ));
            }
        }
        if let Some(g) = user.get("gitUser").and_then(Value::as_str) {
            let path = child(&base, "gitUser");
            if !is_valid_git_user(g) {
                out.push(Problem::new(
                    path,
                    "git-user-invalid",
                    format!("`{}` is not a GitHub user name", shorten(g)),
                    "use the GitHub login: 1 to 39 letters, digits or single `-`, not starting \
                     or ending with `-`",
                ));
            } else if let Some(other) = git_users.get(&g.to_ascii_lowercase()) {
                out.push(Problem::new(
                    path,
                    "git-user-duplicate",
                    format!("gitUser `{g}` is also the gitUser of `{other}`"),
                    "each person has their own GitHub account; fix the copy-paste",
                ));
            } else {
                git_users.insert(g.to_ascii_lowercase(), name);
            }
        }
        if let Some(list) = user.get("sshKeys").and_then(Value::as_array) {
            check_ssh_keys(name, list, &child(&base, "sshKeys"), &mut keys, out);
        }
        if let Some(list) = user.get("extraGroups").and_then(Value::as_array) {
            check_groups(list, &child(&base, "extraGroups"), out);
        }
    }
    if !any_admin && admin_flags_known {
        out.push(Problem::new(
            "/users",
            "no-admin",
            "no user has `isAdmin = true`",
            "make at least one person an admin, so someone can manage every container",
        ));
    }
}

fn check_user_name(name: &str, base: &str, out: &mut Vec<Problem>) {
    if !is_valid_name(name) {
        out.push(Problem::new(
            base,
            "user-name-invalid",
            format!("`{}` is not a valid user name", shorten(name)),
            format!(
                "rename it: a lower-case letter, then lower-case letters, digits or `-` (not at \
                 the end), at most {NAME_MAX_LEN} characters; it becomes a Unix account and the \
                 Tailscale tag `tag:NAME-container`"
            ),
        ));
    } else if RESERVED_NAMES.contains(&name) {
        out.push(Problem::new(
            base,
            "user-name-reserved",
            format!("`{name}` is a name the system already uses"),
            format!(
                "choose another name; reserved are: {}",
                RESERVED_NAMES.join(", ")
            ),
        ));
    }
}

fn check_description(d: &str, path: &str, out: &mut Vec<Problem>) {
    if d.trim().is_empty() {
        out.push(Problem::new(
            path,
            "description-empty",
            "the description is empty",
            "write the person's full name, e.g. \"Alice Example\"",
        ));
    } else if d.contains(':') || d.chars().any(char::is_control) {
        out.push(Problem::new(
            path,
            "description-invalid",
            "the description contains `:` or a control character (newline, tab, …)",
            "write the full name on one line without `:` (it goes into /etc/passwd)",
        ));
    }
}

fn is_valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    let atom_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    e.len() <= 254
        && atom_ok(local)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain.contains('.')
        && domain.split('.').all(label_ok)
}

fn is_valid_git_user(g: &str) -> bool {
    !g.is_empty()
        && g.len() <= 39
        && !g.starts_with('-')
        && !g.ends_with('-')
        && !g.contains("--")
        && g.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn check_ssh_keys(
    user: &str,
    list: &[Value],
    base: &str,
    seen: &mut BTreeMap<Vec<u8>, String>,
    out: &mut Vec<Problem>,
) {
    if list.is_empty() {
        out.push(Problem::new(
            base,
            "ssh-keys-empty",
            "the user has no SSH public key",
            "add the user's public key (the line in `~/.ssh/id_ed25519.pub`); login is by key only",
        ));
    }
    for (i, key) in list.iter().enumerate() {
        let Some(text) = key.as_str() else { continue };
        let path = index(base, i);
        match ssh_key::parse(text) {
            Ok(parsed) => {
                let here = format!("`{user}` (entry {i})");
                if let Some(first) = seen.get(&parsed.blob) {
                    out.push(Problem::new(
                        path,
                        "ssh-key-duplicate",
                        format!("this {} key is already listed for {first}", parsed.key_type),
                        "a key belongs to one person and is listed once; remove the copy",
                    ));
                } else {
                    seen.insert(parsed.blob, here);
                }
            }
            Err(e) => out.push(Problem::new(path, e.code(), e.to_string(), e.hint())),
        }
    }
}

fn check_groups(list: &[Value], base: &str, out: &mut Vec<Problem>) {
    let mut seen = BTreeSet::new();
    for (i, g) in list.iter().enumerate() {
        let Some(g) = g.as_str() else { continue };
        let path = index(base, i);
        let valid = {
            let mut chars = g.chars();
            matches!(chars.next(), Some('a'..='z' | '_'))
                && g.len() <= NAME_MAX_LEN
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
        };
        if !valid {
            out.push(Problem::new(
                path,
                "group-invalid",
                format!("`{}` is not a valid group name", shorten(g)),
                "a group name starts with a lower-case letter or `_`, then lower-case letters, \
                 digits, `_` or `-`, at most 32 characters",
            ));
        } else if !seen.insert(g) {
            out.push(Problem::new(
                path,
                "group-duplicate",
                format!("group `{g}` is listed twice"),
                "list each group once",
            ));
        }
    }
}

fn check_containers(c: &Map<String, Value>, out: &mut Vec<Problem>) {
    if let Some(v) = c.get("opVault").and_then(Value::as_str) {
        let valid = !v.trim().is_empty()
            && v.trim() == v
            && v.len() <= 100
            && v.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || " -_.".contains(ch));
        if !valid {
            out.push(Problem::new(
                "/containers/opVault",
                "op-vault-invalid",
                format!("`{}` cannot be used in an op:// reference", shorten(v)),
                "name the 1Password vault with letters, digits, spaces, `-`, `_` or `.` \
                 (no `/`, no leading or trailing space), e.g. \"DevBox\"",
            ));
        }
    }
    let per_user = count(c, "maxPerUser", out);
    let global = count(c, "maxGlobal", out);
    if let (Some(p), Some(g)) = (per_user, global) {
        if p > g {
            out.push(Problem::new(
                "/containers/maxPerUser",
                "max-per-user-above-global",
                format!("maxPerUser ({p}) is larger than maxGlobal ({g})"),
                "lower maxPerUser or raise maxGlobal: one user can never have more containers \
                 than the whole host",
            ));
        }
    }
    if let Some(n) = c.get("defaultCpu").and_then(Value::as_f64) {
        if !(n > 0.0 && n <= MAX_CPU) {
            out.push(Problem::new(
                "/containers/defaultCpu",
                "cpu-out-of-range",
                format!("defaultCpu {n} is not in (0, {MAX_CPU}]"),
                "give the CPUs per container as a positive number such as 2 or 1.5",
            ));
        }
    }
    if let Some(m) = c.get("defaultMemory").and_then(Value::as_str) {
        let path = "/containers/defaultMemory";
        match parse_memory(m) {
            None => out.push(Problem::new(
                path,
                "memory-invalid",
                format!("`{}` is not a memory size", shorten(m)),
                "write a whole number and a unit b, k, m or g, e.g. \"4G\" or \"512M\"",
            )),
            Some(bytes) if !(MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&bytes) => {
                out.push(Problem::new(
                    path,
                    "memory-out-of-range",
                    format!("`{m}` is outside 256M..=4096G"),
                    "a dev container needs at least \"256M\"; check the unit (\"4G\", not \"4\")",
                ))
            }
            Some(_) => {}
        }
    }
    let idle = days(c, "idleStopDays", out);
    let destroy = days(c, "stoppedDestroyDays", out);
    if let (Some(i), Some(d)) = (idle, destroy) {
        if d < i {
            out.push(Problem::new(
                "/containers/stoppedDestroyDays",
                "destroy-before-idle-stop",
                format!("stoppedDestroyDays ({d}) is shorter than idleStopDays ({i})"),
                "a stopped container (and its home volume) must be kept at least as long as a \
                 running one may sit idle; raise stoppedDestroyDays",
            ));
        }
    }
    if let Some(url) = c.get("notifyWebhook").and_then(Value::as_str) {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if !matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
        {
            out.push(Problem::new(
                "/containers/notifyWebhook",
                "webhook-invalid",
                "notifyWebhook is not an http(s) URL",
                "write a full URL such as \"https://hooks.example.org/devbox\", or remove it",
            ));
        }
    }
    if let Some(r) = c.get("tailscaleApiKeyRef").and_then(Value::as_str) {
        let ok = r
            .strip_prefix("op://")
            .map(|rest| {
                let parts: Vec<&str> = rest.split('/').collect();
                (3..=4).contains(&parts.len()) && parts.iter().all(|p| !p.trim().is_empty())
            })
            .unwrap_or(false);
        if !ok {
            out.push(Problem::new(
                "/containers/tailscaleApiKeyRef",
                "op-reference-invalid",
                "tailscaleApiKeyRef is not a 1Password secret reference",
                "write it as op://VAULT/ITEM/FIELD, e.g. \"op://DevBox/tailscale-api-key/credential\" \
                 (the reference, never the key itself)",
            ));
        }
    }
}

/// A container limit: a whole number from 1 to [`MAX_CONTAINERS`].
fn count(c: &Map<String, Value>, field: &str, out: &mut Vec<Problem>) -> Option<u64> {
    let n = c.get(field)?.as_number()?;
    match n.as_u64() {
        Some(v) if (1..=MAX_CONTAINERS).contains(&v) => Some(v),
        _ if n.is_i64() || n.is_u64() => {
            out.push(Problem::new(
                format!("/containers/{field}"),
                "limit-out-of-range",
                format!("{field} {n} is outside 1..={MAX_CONTAINERS}"),
                format!("set {field} to a number of containers of at least 1"),
            ));
            None
        }
        _ => None,
    }
}

/// A day count: a whole number from 1 to [`MAX_DAYS`].
fn days(c: &Map<String, Value>, field: &str, out: &mut Vec<Problem>) -> Option<u64> {
    let n = c.get(field)?.as_number()?;
    match n.as_u64() {
        Some(v) if (1..=MAX_DAYS).contains(&v) => Some(v),
        _ if n.is_i64() || n.is_u64() => {
            out.push(Problem::new(
                format!("/containers/{field}"),
                "days-out-of-range",
                format!("{field} {n} is outside 1..={MAX_DAYS}"),
                format!("set {field} to a positive number of days"),
            ));
            None
        }
        _ => None,
    }
}

/// `derived` must be exactly what lib/export-users.nix computes from `users` and `containers`.
fn check_derived(
    users: &Map<String, Value>,
    containers: Option<&Map<String, Value>>,
    derived: &Map<String, Value>,
    out: &mut Vec<Problem>,
) {
    let hint = "do not edit `derived`: export users.nix again with \
                `nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile ./users.nix`";
    let mismatch = |path: String, what: &str, expected: &Value| {
        Problem::new(
            path,
            "derived-mismatch",
            format!("{what} does not match `users`/`containers` (expected {expected})"),
            hint,
        )
    };
    let names: Vec<Value> = users.keys().map(|n| Value::from(n.as_str())).collect();
    if let Some(v) = derived.get("allUsers") {
        let expected = Value::Array(names);
        if v.is_array() && *v != expected {
            out.push(mismatch("/derived/allUsers".into(), "allUsers", &expected));
        }
    }
    let admins_known = users
        .values()
        .all(|u| matches!(u.get("isAdmin"), None | Some(Value::Bool(_))));
    if let Some(v) = derived.get("adminUsers") {
        let expected = Value::Array(
            users
                .iter()
                .filter(|(_, u)| u.get("isAdmin") == Some(&Value::Bool(true)))
                .map(|(n, _)| Value::from(n.as_str()))
                .collect(),
        );
        if admins_known && v.is_array() && *v != expected {
            out.push(mismatch(
                "/derived/adminUsers".into(),
                "adminUsers",
                &expected,
            ));
        }
    }
    // Outer None: the vault cannot be judged (wrong type); Some(None): no 1Password.
    let vault = match containers.and_then(|c| c.get("opVault")) {
        None => Some(Some("DevBox".to_string())),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(Value::Null) => Some(None),
        Some(_) => None,
    };
    let Some(per_user) = derived.get("perUser").and_then(Value::as_object) else {
        return;
    };
    for name in users.keys() {
        let base = child("/derived/perUser", name);
        let Some(entry) = per_user.get(name) else {
            out.push(Problem::new(
                base,
                "derived-mismatch",
                format!("perUser has no entry for `{name}`"),
                hint,
            ));
            continue;
        };
        let Some(entry) = entry.as_object() else {
            continue;
        };
        match (&vault, entry.get("opReference")) {
            (Some(Some(vault)), Some(Value::String(r))) => {
                let expected = naming::op_reference(vault, name);
                if *r != expected {
                    out.push(mismatch(
                        child(&base, "opReference"),
                        "opReference",
                        &Value::from(expected),
                    ));
                }
            }
            (Some(Some(vault)), None) => out.push(mismatch(
                child(&base, "opReference"),
                "opReference",
                &Value::from(naming::op_reference(vault, name)),
            )),
            (Some(None), Some(_)) => out.push(Problem::new(
                child(&base, "opReference"),
                "derived-mismatch",
                "opReference is set although containers.opVault is null (no 1Password)",
                hint,
            )),
            _ => {}
        }
        if let Some(tags @ Value::Array(_)) = entry.get("tailscaleTags") {
            let expected = Value::from(naming::tailscale_tags(name));
            if *tags != expected {
                out.push(mismatch(
                    child(&base, "tailscaleTags"),
                    "tailscaleTags",
                    &expected,
                ));
            }
        }
    }
    for name in per_user.keys() {
        if !users.contains_key(name) {
            out.push(Problem::new(
                child("/derived/perUser", name),
                "derived-mismatch",
                format!("perUser has an entry for `{name}`, who is not in `users`"),
                hint,
            ));
        }
    }
}

/// At most 60 characters of user-supplied text, control characters removed.
fn shorten(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).take(60).collect();
    if s.chars().count() > 60 {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "alice",
            "bob2",
            "a",
            "mary-jane",
            "x123456789012345678901234567890y",
        ] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "2bob",
            "-x",
            "x-",
            "al ice",
            "al_ice",
            "alice$",
            "al.ice",
            "é",
            "x1234567890123456789012345678901y",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("4G"), Some(4 << 30));
        assert_eq!(parse_memory("512m"), Some(512 << 20));
        assert_eq!(parse_memory("1024k"), Some(1 << 20));
        assert_eq!(parse_memory("100b"), Some(100));
        for bad in [
            "",
            "G",
            "4",
            "4GB",
            "4.5G",
            "-4G",
            " 4G",
            "4 G",
            "99999999999999999999G",
        ] {
            assert_eq!(parse_memory(bad), None, "{bad}");
        }
        assert_eq!(parse_memory("18446744073709551615G"), None);
        assert_eq!(parse_memory("é"), None);
    }

    #[test]
    fn emails() {
        for ok in ["alice@example.org", "a.b+c@sub.example.co.uk", "x@y.z"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.org",
            "alice@example",
            "alice@@example.org",
            "al ice@example.org",
            "alice@exa mple.org",
            "alice@-example.org",
            "alice@example..org",
            ".alice@example.org",
            "a..b@example.org",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn git_users() {
        assert!(is_valid_git_user("alice-example"));
        assert!(is_valid_git_user("A1"));
        for bad in ["", "-a", "a-", "a--b", "a_b", "a b", &"x".repeat(40)] {
            assert!(!is_valid_git_user(bad), "{bad}");
        }
    }

    #[test]
    fn shorten_cuts_and_cleans() {
        assert_eq!(shorten("a\nb"), "ab");
        assert_eq!(shorten(&"x".repeat(61)).chars().count(), 61);
    }
}
