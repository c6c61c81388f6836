//! The rules for `containers`: limits, resources, lifetimes and secret references.

use serde_json::{Map, Value};

use super::{parse_memory, shorten, MAX_CONTAINERS, MAX_CPU, MAX_DAYS};
use crate::bounds::{cpu_in_bounds, memory_in_bounds, MAX_MEMORY_TEXT, MIN_MEMORY_TEXT};
use crate::problem::Problem;

pub(super) fn check_containers(c: &Map<String, Value>, out: &mut Vec<Problem>) {
    check_op_vault(c, out);
    check_limits(c, out);
    check_cpu(c, out);
    check_memory(c, out);
    check_lifetimes(c, out);
    check_references(c, out);
}

fn check_op_vault(c: &Map<String, Value>, out: &mut Vec<Problem>) {
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
}

/// How many containers per user, in all, and kept home volumes per user.
fn check_limits(c: &Map<String, Value>, out: &mut Vec<Problem>) {
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
}

fn check_cpu(c: &Map<String, Value>, out: &mut Vec<Problem>) {
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
}

fn check_memory(c: &Map<String, Value>, out: &mut Vec<Problem>) {
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
}

fn check_lifetimes(c: &Map<String, Value>, out: &mut Vec<Problem>) {
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
}

/// Secrets are named by 1Password references here, never written in (users.json is world-readable).
fn check_references(c: &Map<String, Value>, out: &mut Vec<Problem>) {
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
