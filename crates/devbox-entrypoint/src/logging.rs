//! One line per event, to stdout (the container log): `TIME [service] message`.
//! Nothing that reaches this module may contain a secret.

use std::io::Write;

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

/// Logs one event of `service` (use "entrypoint" for PID 1 itself).
pub fn event(service: &str, msg: &str) {
    let mut out = std::io::stdout().lock();
    for line in msg.lines() {
        let _ = writeln!(out, "{} [{service}] {line}", now_rfc3339());
    }
    let _ = out.flush();
}

#[macro_export]
macro_rules! log_event {
    ($service:expr, $($arg:tt)*) => {
        $crate::logging::event($service, &format!($($arg)*))
    };
}
