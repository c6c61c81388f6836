//! The rule for `derived`: exactly what lib/export-users.nix computes, so a hand edit is caught.

use serde_json::{Map, Value};

use crate::model::naming;
use crate::problem::{child, Problem};

fn mismatch(path: String, what: &str, expected: &Value, hint: &str) -> Problem {
    Problem::new(
        path,
        "derived-mismatch",
        format!("{what} does not match `users`/`containers` (expected {expected})"),
        hint,
    )
}

/// `derived` must be exactly what lib/export-users.nix computes from `users` and `containers`.
pub(super) fn check_derived(
    users: &Map<String, Value>,
    containers: Option<&Map<String, Value>>,
    derived: &Map<String, Value>,
    out: &mut Vec<Problem>,
) {
    let hint = "do not edit `derived`: export users.nix again with \
                `nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile ./users.nix`";
    let mismatch =
        |path: String, what: &str, expected: &Value| mismatch(path, what, expected, hint);
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
        check_per_user(name, per_user.get(name), vault.as_ref(), hint, out);
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

/// One user's `derived.perUser` entry. `vault`: None when it cannot be judged (opVault of the
/// wrong type), Some(None) when there is no 1Password.
fn check_per_user(
    name: &str,
    entry: Option<&Value>,
    vault: Option<&Option<String>>,
    hint: &str,
    out: &mut Vec<Problem>,
) {
    let mismatch =
        |path: String, what: &str, expected: &Value| mismatch(path, what, expected, hint);
    let base = child("/derived/perUser", name);
    let Some(entry) = entry else {
        out.push(Problem::new(
            base,
            "derived-mismatch",
            format!("perUser has no entry for `{name}`"),
            hint,
        ));
        return;
    };
    let Some(entry) = entry.as_object() else {
        return;
    };
    match (vault, entry.get("opReference")) {
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
