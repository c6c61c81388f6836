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
pub const MAX_DAYS: u64 = 3650;
use crate::bounds::{cpu_in_bounds, memory_in_bounds, MAX_MEMORY_TEXT, MIN_MEMORY_TEXT};
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
    let mut emails: BTreeMap<String, &str> = BTreeMap::new();
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
            } else if let Some(other) = emails.get(&e.to_ascii_lowercase()) {
                // The e-mail is the tailnet login the generated tailnet policy grants access to.
                out.push(Problem::new(
                    child(&base, "email"),
                    "email-duplicate",
                    format!("email `{}` is also the email of `{other}`", shorten(e)),
                    "each person has their own address: it is their tailnet login, and the \
                     tailnet policy lets that login reach this user's containers",
                ));
            } else {
                emails.insert(e.to_ascii_lowercase(), name);
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
        let tailscale_ssh = matches!(user.get("tailscaleSsh"), Some(Value::Bool(true)));
        match user.get("sshKeys") {
            Some(Value::Array(list)) => check_ssh_keys(
                name,
                list,
                tailscale_ssh,
                &child(&base, "sshKeys"),
                &mut keys,
                out,
            ),
            None if !tailscale_ssh => out.push(no_way_in(&child(&base, "sshKeys"))),
            // Another type is a shape problem, reported by the schema check.
            _ => {}
        }
        if let Some(hash) = user.get("initialHashedPassword").and_then(Value::as_str) {
            check_password_hash(hash, &child(&base, "initialHashedPassword"), out);
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

/// A user with neither an SSH key nor Tailscale SSH could never log in to the orchestrator.
fn no_way_in(path: &str) -> Problem {
    Problem::new(
        path,
        "ssh-keys-empty",
        "the user has no SSH public key and no Tailscale SSH access, so they cannot log in",
        "add the user's public key (the line in `~/.ssh/id_ed25519.pub`) to `sshKeys`, or set \
         `tailscaleSsh = true;` for a user who reaches the orchestrator over Tailscale SSH (the \
         host then needs `services.devbox.orchestrator.tailscale.enable = true`); password \
         login over SSH is always off",
    )
}

/// Whether `hash` has the shape of a crypt(3) hash NixOS accepts for a login: yescrypt
/// (`$y$PARAMS$SALT$HASH`), SHA-512 (`$6$[rounds=N$]SALT$HASH`, 86 hash characters) or bcrypt
/// (`$2a$`/`$2b$`/`$2y$`, two-digit cost, 53 characters of salt and hash).
pub fn is_crypt_hash(hash: &str) -> bool {
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
    };
    let parts: Vec<&str> = hash.split('$').collect();
    match parts.as_slice() {
        ["", "y", params, salt, digest] => b64(params) && b64(salt) && b64(digest),
        ["", "6", rounds, salt, digest] => {
            rounds
                .strip_prefix("rounds=")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
                && salt.len() <= 16
                && b64(salt)
                && digest.len() == 86
                && b64(digest)
        }
        ["", "6", salt, digest] => {
            salt.len() <= 16 && b64(salt) && digest.len() == 86 && b64(digest)
        }
        ["", "2a" | "2b" | "2y", cost, rest] => {
            cost.len() == 2
                && cost.bytes().all(|c| c.is_ascii_digit())
                && rest.len() == 53
                && b64(rest)
        }
        _ => false,
    }
}

fn check_password_hash(hash: &str, path: &str, out: &mut Vec<Problem>) {
    // The value is never repeated in the message: it may be a plain password.
    if !is_crypt_hash(hash) {
        out.push(Problem::new(
            path,
            "password-not-a-hash",
            "initialHashedPassword is not a crypt hash (yescrypt `$y$`, SHA-512 `$6$` or bcrypt \
             `$2b$`); a plain password must never be written here",
            "make a hash with `mkpasswd -m yescrypt` (package `whois` or `mkpasswd`) and paste \
             its output; it is for console login only and never overrides a password set later",
        ));
    }
}

fn check_ssh_keys(
    user: &str,
    list: &[Value],
    tailscale_ssh: bool,
    base: &str,
    seen: &mut BTreeMap<Vec<u8>, String>,
    out: &mut Vec<Problem>,
) {
    if list.is_empty() && !tailscale_ssh {
        out.push(no_way_in(base));
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
    let cpu = |field: &str, out: &mut Vec<Problem>| {
        let n = c.get(field).and_then(Value::as_f64)?;
        if cpu_in_bounds(n) {
            return Some(n);
        }
        out.push(Problem::new(
            format!("/containers/{field}"),
            "cpu-out-of-range",
            format!("{field} {n} is not in (0, {MAX_CPU}]"),
            "give the CPUs per container as a positive number such as 2 or 1.5",
        ));
        None
    };
    let default_cpu = cpu("defaultCpu", out);
    let max_cpu = cpu("maxCpu", out);
    if let (Some(d), Some(m)) = (default_cpu, max_cpu) {
        if d > m {
            out.push(Problem::new(
                "/containers/defaultCpu",
                "default-above-max",
                format!("defaultCpu ({d}) is above maxCpu ({m})"),
                "lower defaultCpu or raise maxCpu: every create without --cpu would be refused",
            ));
        }
    }
    let memory = |field: &str, out: &mut Vec<Problem>| {
        let m = c.get(field).and_then(Value::as_str)?;
        let path = format!("/containers/{field}");
        match parse_memory(m) {
            None => {
                out.push(Problem::new(
                    path,
                    "memory-invalid",
                    format!("`{}` is not a memory size", shorten(m)),
                    "write a whole number and a unit b, k, m or g, e.g. \"4G\" or \"512M\"",
                ));
                None
            }
            Some(bytes) if !memory_in_bounds(bytes) => {
                out.push(Problem::new(
                    path,
                    "memory-out-of-range",
                    format!("`{m}` is outside {MIN_MEMORY_TEXT}..={MAX_MEMORY_TEXT} (devboxd refuses more than {MAX_MEMORY_TEXT} per container)"),
                    "a dev container needs at least \"128M\"; check the unit (\"4G\", not \"4\"; at most \"1024G\")",
                ));
                None
            }
            Some(bytes) => Some(bytes),
        }
    };
    let default_memory = memory("defaultMemory", out);
    let max_memory = memory("maxMemory", out);
    if let (Some(d), Some(m)) = (default_memory, max_memory) {
        if d > m {
            out.push(Problem::new(
                "/containers/defaultMemory",
                "default-above-max",
                "defaultMemory is above maxMemory",
                "lower defaultMemory or raise maxMemory: every create without --memory would be refused",
            ));
        }
    }
    if let Some(n) = c.get("maxKeptVolumesPerUser").and_then(Value::as_number) {
        if n.as_u64().is_none_or(|v| v > MAX_CONTAINERS) && (n.is_i64() || n.is_u64()) {
            out.push(Problem::new(
                "/containers/maxKeptVolumesPerUser",
                "limit-out-of-range",
                format!("maxKeptVolumesPerUser {n} is outside 0..={MAX_CONTAINERS}"),
                "set maxKeptVolumesPerUser to the number of kept home volumes one user may have (0: none)",
            ));
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
    if let Some(r) = c.get("notifyWebhook").and_then(Value::as_str) {
        // The URL itself is a secret (whoever has it can post forged notices) and users.json
        // is readable by every user: only a 1Password reference belongs here.
        if !is_op_reference(r) {
            let is_url = r.starts_with("https://") || r.starts_with("http://");
            out.push(Problem::new(
                "/containers/notifyWebhook",
                "webhook-invalid",
                if is_url {
                    "notifyWebhook is the webhook URL itself, which would be readable by every user \
                     (users.json is world-readable) and lets anyone post forged notices"
                } else {
                    "notifyWebhook is not a 1Password secret reference"
                },
                "give the URL to devboxd as a file (NixOS: services.devbox.orchestrator.notifyWebhookFile, \
                 loaded with systemd LoadCredential), or store it in 1Password and write its reference \
                 here, e.g. \"op://DevBox/devbox-webhook/url\"",
            ));
        }
    }
    if let Some(r) = c.get("tailscaleApiKeyRef").and_then(Value::as_str) {
        if !is_op_reference(r) {
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

/// `op://VAULT/ITEM/FIELD` (or with a section: `op://VAULT/ITEM/SECTION/FIELD`).
pub fn is_op_reference(r: &str) -> bool {
    r.strip_prefix("op://")
        .map(|rest| {
            let parts: Vec<&str> = rest.split('/').collect();
            (3..=4).contains(&parts.len()) && parts.iter().all(|p| !p.trim().is_empty())
        })
        .unwrap_or(false)
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
    fn crypt_hashes() {
        // Made with libxcrypt's crypt(3) (what `mkpasswd` calls).
        for ok in [
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79",
            "$6$a6CT5lJYbG066OeK$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.",
            "$6$rounds=10000$a6CT5lJYbG066OeK$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.",
            "$2b$10$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S",
            "$2y$12$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S",
        ] {
            assert!(is_crypt_hash(ok), "{ok}");
        }
        for bad in [
            "",
            "hunter2",
            "correct horse battery staple",
            "!",
            "*",
            "$1$salt$qJH7.N4xYta3aEG/dfqo/0",
            "$y$j9T$salt$",
            "$y$j9T$sa lt$hash",
            "$6$a6CT5lJYbG066OeK$short",
            "$6$rounds=$salt$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.",
            "$2b$1$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S",
            "$2b$10$tooshort",
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79\n",
        ] {
            assert!(!is_crypt_hash(bad), "{bad}");
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
