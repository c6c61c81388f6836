//! FAKE 1Password CLI (`op`), for tests only: the real one needs a 1Password account and network.
//!
//! Models the observable behaviour nix-devbox relies on:
//! - `op --version` prints a version.
//! - `op read [--no-newline|-n] op://VAULT/ITEM/FIELD` prints the field's value (with a trailing
//!   newline unless `-n`), exit 0.
//! - Authentication is by `OP_SERVICE_ACCOUNT_TOKEN` only (as with a service account): missing
//!   -> "not currently signed in" error, wrong token -> "invalid service account token", exit 1.
//! - Unknown item -> "could not read secret ... isn't an item", exit 1; malformed reference ->
//!   "invalid secret reference", exit 1.
//! - `op user get --me [--format json]`: what 1Password's service-account docs give to check the
//!   token ("make sure the service account is configured"): the account's ID, name, state and
//!   `SERVICE_ACCOUNT` type, exit 0; no token / a wrong one: the same errors as `read`. The
//!   store's optional `"serviceAccount": "NAME"` names it (default `devbox`).
//!
//! Configuration (environment):
//! - `FAKE_OP_STORE`: JSON file `{"token": "EXPECTED-TOKEN", "items": {"op://v/i/f": "value"}}`.
//!   Without `token` any non-empty token is accepted.
//! - `FAKE_OP_LOG`: if set, each invocation appends one JSON line `{"argv": [...], "pid": N,
//!   "tokenPresent": bool}` — never the token itself.
//! - `FAKE_OP_DELAY_MS`: sleep this long before answering (to widen race windows in tests);
//!   the store's optional `"delays": {"op://v/i/f": MS}` slows the read of one item only.

use std::io::Write;
use std::process::ExitCode;

fn timestamp() -> String {
    // The real CLI prefixes errors with "[ERROR] YYYY/MM/DD HH:MM:SS"; the time is not checked.
    "[ERROR] 2026/01/01 00:00:00".to_string()
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("{} {msg}", timestamp());
    ExitCode::from(1)
}

fn log(args: &[String], token_present: bool) {
    let Ok(path) = std::env::var("FAKE_OP_LOG") else {
        return;
    };
    let line = serde_json::json!({
        "argv": args,
        "pid": std::process::id(),
        "tokenPresent": token_present,
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// The store, once the token is accepted (the same checks for every command).
fn authenticate(token: &str) -> Result<serde_json::Value, ExitCode> {
    if token.is_empty() {
        return Err(fail(
            "You are not currently signed in. Please run `op signin --help` for instructions",
        ));
    }
    let store: serde_json::Value = match std::env::var("FAKE_OP_STORE") {
        Ok(path) => match std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            Some(v) => v,
            None => return Err(fail(&format!("fake-op: cannot read FAKE_OP_STORE {path}"))),
        },
        Err(_) => serde_json::json!({}),
    };
    if let Some(expected) = store.get("token").and_then(|t| t.as_str()) {
        if expected != token {
            return Err(fail(
                "invalid service account token: the token is malformed or was revoked",
            ));
        }
    }
    Ok(store)
}

/// `op user get --me [--format json|--format=json]`.
fn user_get_me(args: &[String], token: &str) -> ExitCode {
    let mut json = false;
    let mut me = false;
    let mut i = 0;
    match args.first().map(String::as_str) {
        Some("get") => i += 1,
        Some(other) => return fail(&format!("unknown command \"{other}\" for \"op user\"")),
        None => return fail("op user: a subcommand is required"),
    }
    while i < args.len() {
        match args[i].as_str() {
            "--me" => me = true,
            "--format=json" => json = true,
            "--format" if args.get(i + 1).map(String::as_str) == Some("json") => {
                json = true;
                i += 1;
            }
            s if s.starts_with('-') => return fail(&format!("unknown flag: {s}")),
            _ => return fail("fake-op: only `op user get --me` is modelled"),
        }
        i += 1;
    }
    if !me {
        return fail("fake-op: only `op user get --me` is modelled");
    }
    let store = match authenticate(token) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = store
        .get("serviceAccount")
        .and_then(|v| v.as_str())
        .unwrap_or("devbox");
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": "FAKESERVICEACCOUNTID0000000",
                "name": name,
                "email": format!("{name}@fake.1password.invalid"),
                "type": "SERVICE_ACCOUNT",
                "state": "ACTIVE",
            })
        );
    } else {
        println!("ID:      FAKESERVICEACCOUNTID0000000\nName:    {name}\nState:   ACTIVE\nType:    SERVICE_ACCOUNT");
    }
    ExitCode::SUCCESS
}

fn valid_reference(r: &str) -> bool {
    let Some(rest) = r.strip_prefix("op://") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    (parts.len() == 3 || parts.len() == 4) && parts.iter().all(|p| !p.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let token = std::env::var("OP_SERVICE_ACCOUNT_TOKEN").unwrap_or_default();
    log(&args, !token.is_empty());
    if let Some(ms) = std::env::var("FAKE_OP_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    match args.first().map(String::as_str) {
        Some("--version") => {
            println!("2.30.0-fake");
            return ExitCode::SUCCESS;
        }
        Some("user") => return user_get_me(&args[1..], &token),
        Some("read") => {}
        Some(other) => return fail(&format!("unknown command \"{other}\" for \"op\"")),
        None => {
            eprintln!("1Password CLI (FAKE)\n\nUsage:  op [command]");
            return ExitCode::from(1);
        }
    }
    let mut no_newline = false;
    let mut reference = None;
    for a in &args[1..] {
        match a.as_str() {
            "-n" | "--no-newline" => no_newline = true,
            s if s.starts_with('-') => return fail(&format!("unknown flag: {s}")),
            s if reference.is_none() => reference = Some(s.to_string()),
            _ => return fail("accepts 1 arg(s), received more"),
        }
    }
    let Some(reference) = reference else {
        return fail("accepts 1 arg(s), received 0");
    };
    let store = match authenticate(&token) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !valid_reference(&reference) {
        return fail(&format!(
            "could not read secret {reference}: invalid secret reference: must be of the form op://<vault>/<item>/[section/]<field>"
        ));
    }
    if let Some(ms) = store
        .get("delays")
        .and_then(|d| d.get(&reference))
        .and_then(|v| v.as_u64())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    match store
        .get("items")
        .and_then(|i| i.get(&reference))
        .and_then(|v| v.as_str())
    {
        Some(value) => {
            let mut out = std::io::stdout();
            let _ = if no_newline {
                write!(out, "{value}")
            } else {
                writeln!(out, "{value}")
            };
            ExitCode::SUCCESS
        }
        None => {
            let item = reference.split('/').nth(3).unwrap_or("");
            let vault = reference.split('/').nth(2).unwrap_or("");
            fail(&format!(
                "could not read secret {reference}: \"{item}\" isn't an item in the \"{vault}\" vault. Specify the item with its UUID, name, or domain."
            ))
        }
    }
}
