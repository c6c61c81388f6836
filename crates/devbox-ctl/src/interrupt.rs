//! Ctrl-C only stops watching: a change already sent to devboxd is finished (or undone) by the
//! daemon. What is in flight is remembered so the message can name it.

/// The change devboxd is making for us right now (e.g. `create web`), for the Ctrl-C message.
static IN_FLIGHT: std::sync::Mutex<Option<(String, String)>> = std::sync::Mutex::new(None);

pub fn in_flight(what: &str, name: &str) {
    if let Ok(mut g) = IN_FLIGHT.lock() {
        *g = Some((what.to_string(), name.to_string()));
    }
}

/// Ctrl-C: stop watching. A change already sent is finished (or undone) by devboxd, not by us.
pub fn interrupted() -> ! {
    let op = IN_FLIGHT.lock().ok().and_then(|g| g.clone());
    say!("");
    match op {
        Some((what, name)) if name.is_empty() => say!(
            "devbox-ctl: interrupted; devboxd carries on with `{what}` by itself"
        ),
        Some((what, name)) => say!(
            "devbox-ctl: interrupted; devboxd carries on with `{what} {name}` by itself; `devbox-ctl status {name}` shows how it went"
        ),
        None => {}
    }
    std::process::exit(130)
}
