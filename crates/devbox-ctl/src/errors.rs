//! What a failure becomes: the exit code, the one-line message and, for `--json`, the API error
//! code. Errors the CLI finds itself carry an [`ErrorCode`] like the daemon's.

use devbox_api::{ClientError, ErrorCode};

/// An error found by the CLI itself, with the API error code (and so the exit code) it maps to;
/// the code is not part of the message.
#[derive(Debug)]
struct Exit(ErrorCode, String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

pub fn fail(code: ErrorCode, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Exit(code, msg.to_string()))
}

pub fn invalid(msg: impl std::fmt::Display) -> anyhow::Error {
    fail(ErrorCode::BadRequest, msg)
}

pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return c.exit_code();
        }
        if let Some(Exit(code, _)) = cause.downcast_ref::<Exit>() {
            return code.exit_code();
        }
    }
    1
}

/// The error and its causes, like `{e:#}`, but without repeating a cause that an outer
/// message already quotes (e.g. the OS error inside "cannot reach devboxd at …").
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The machine-readable code of an error for `--json`: the API's codes, plus
/// `daemon-unreachable`; an error without one is `internal`.
pub fn error_code(e: &anyhow::Error) -> serde_json::Value {
    e.chain()
        .find_map(|c| {
            if let Some(Exit(code, _)) = c.downcast_ref::<Exit>() {
                return serde_json::to_value(code).ok();
            }
            match c.downcast_ref::<ClientError>() {
                Some(ClientError::Api(a)) => serde_json::to_value(a.code).ok(),
                Some(ClientError::Connect { .. }) => Some("daemon-unreachable".into()),
                Some(ClientError::Protocol(_)) => Some("internal".into()),
                None => None,
            }
        })
        .unwrap_or_else(|| "internal".into())
}

/// `devbox-ctl logs NAME | head`: the reader went away, so there is nothing to report.
pub fn broken_pipe(e: &anyhow::Error) -> Option<&std::io::Error> {
    e.chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .filter(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_side_errors_carry_a_code_and_exit_code() {
        let e = invalid("bad");
        assert_eq!(exit_code(&e), 2);
        assert_eq!(error_code(&e), "bad-request");
        assert_eq!(describe(&e), "bad", "the code is not part of the message");
        let e = fail(ErrorCode::NeedsConfirmation, "not destroyed");
        assert_eq!(
            (exit_code(&e), error_code(&e)),
            (6, "needs-confirmation".into())
        );
        let e =
            anyhow::Error::new(std::io::Error::other("denied")).context("cannot read x: denied");
        assert_eq!(
            describe(&e),
            "cannot read x: denied",
            "a quoted cause is not repeated"
        );
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("writing x");
        assert_eq!(describe(&e), "writing x: disk full");
        let e = anyhow::anyhow!("something odd");
        assert_eq!((exit_code(&e), error_code(&e)), (1, "internal".into()));
    }
}
