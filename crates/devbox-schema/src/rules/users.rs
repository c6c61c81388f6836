//! The rules for `users`: names, uids, identities (e-mail, GitHub user), a way in (SSH keys or
//! Tailscale SSH), password hashes and groups, each unique where it identifies a person.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{is_valid_name, shorten, NAME_MAX_LEN, RESERVED_NAMES, UID_MAX, UID_MIN};
use crate::problem::{child, index, Problem};
use crate::ssh_key;

pub(super) fn check_users(users: &Map<String, Value>, out: &mut Vec<Problem>) {
    if users.is_empty() {
        out.push(Problem::new(
            "/users",
            "users-empty",
            "there are no users",
            "add at least one user (an admin) under `users`",
        ));
        return;
    }
    let mut seen = Seen::default();
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
        check_user(name, user, &base, &mut seen, out);
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

/// What identifies a person, with the user who has it: each must be unique across users.
#[derive(Default)]
struct Seen<'a> {
    uids: BTreeMap<u64, &'a str>,
    git_users: BTreeMap<String, &'a str>,
    emails: BTreeMap<String, &'a str>,
    keys: BTreeMap<Vec<u8>, String>,
}

/// The rules for one user's fields (the name and admin flag are checked by the caller).
fn check_user<'a>(
    name: &'a str,
    user: &Map<String, Value>,
    base: &str,
    seen: &mut Seen<'a>,
    out: &mut Vec<Problem>,
) {
    if let Some(uid) = user.get("uid").and_then(Value::as_number) {
        check_uid(name, uid, &child(base, "uid"), seen, out);
    }
    if let Some(d) = user.get("description").and_then(Value::as_str) {
        check_description(d, &child(base, "description"), out);
    }
    if let Some(e) = user.get("email").and_then(Value::as_str) {
        check_email(name, e, &child(base, "email"), seen, out);
    }
    if let Some(g) = user.get("gitUser").and_then(Value::as_str) {
        check_git_user(name, g, &child(base, "gitUser"), seen, out);
    }
    let tailscale_ssh = matches!(user.get("tailscaleSsh"), Some(Value::Bool(true)));
    match user.get("sshKeys") {
        Some(Value::Array(list)) => check_ssh_keys(
            name,
            list,
            tailscale_ssh,
            &child(base, "sshKeys"),
            &mut seen.keys,
            out,
        ),
        None if !tailscale_ssh => out.push(no_way_in(&child(base, "sshKeys"))),
        // Another type is a shape problem, reported by the schema check.
        _ => {}
    }
    if let Some(hash) = user.get("initialHashedPassword").and_then(Value::as_str) {
        check_password_hash(hash, &child(base, "initialHashedPassword"), out);
    }
    if let Some(list) = user.get("extraGroups").and_then(Value::as_array) {
        check_groups(list, &child(base, "extraGroups"), out);
    }
}

fn check_uid<'a>(
    name: &'a str,
    uid: &serde_json::Number,
    path: &str,
    seen: &mut Seen<'a>,
    out: &mut Vec<Problem>,
) {
    match uid.as_u64() {
        Some(u) if (UID_MIN..=UID_MAX).contains(&u) => {
            if let Some(other) = seen.uids.get(&u) {
                out.push(Problem::new(
                    path,
                    "uid-duplicate",
                    format!("uid {u} is also the uid of `{other}`"),
                    "give every user a different uid",
                ));
            } else {
                seen.uids.insert(u, name);
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

fn check_email<'a>(
    name: &'a str,
    e: &str,
    path: &str,
    seen: &mut Seen<'a>,
    out: &mut Vec<Problem>,
) {
    if !is_valid_email(e) {
        out.push(Problem::new(
            path,
            "email-invalid",
            format!("`{}` is not an e-mail address", shorten(e)),
            "write it as `name@example.org`: one `@`, no spaces, a domain with a dot",
        ));
    } else if let Some(other) = seen.emails.get(&e.to_ascii_lowercase()) {
        // The e-mail is the tailnet login the generated tailnet policy grants access to.
        out.push(Problem::new(
            path,
            "email-duplicate",
            format!("email `{}` is also the email of `{other}`", shorten(e)),
            "each person has their own address: it is their tailnet login, and the \
             tailnet policy lets that login reach this user's containers",
        ));
    } else {
        seen.emails.insert(e.to_ascii_lowercase(), name);
    }
}

fn check_git_user<'a>(
    name: &'a str,
    g: &str,
    path: &str,
    seen: &mut Seen<'a>,
    out: &mut Vec<Problem>,
) {
    if !is_valid_git_user(g) {
        out.push(Problem::new(
            path,
            "git-user-invalid",
            format!("`{}` is not a GitHub user name", shorten(g)),
            "use the GitHub login: 1 to 39 letters, digits or single `-`, not starting \
             or ending with `-`",
        ));
    } else if let Some(other) = seen.git_users.get(&g.to_ascii_lowercase()) {
        out.push(Problem::new(
            path,
            "git-user-duplicate",
            format!("gitUser `{g}` is also the gitUser of `{other}`"),
            "each person has their own GitHub account; fix the copy-paste",
        ));
    } else {
        seen.git_users.insert(g.to_ascii_lowercase(), name);
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

pub(super) fn is_valid_email(e: &str) -> bool {
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

pub(super) fn is_valid_git_user(g: &str) -> bool {
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
