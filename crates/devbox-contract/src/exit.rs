//! The entrypoint's exit codes, so that the daemon can tell "the tailnet refused the key" from
//! "no answer yet" instead of seeing only "non-zero".

/// Exit codes of `devbox-entrypoint run` (PID 1) and of `check-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunExit {
    /// Stopped on request; every service exited within the grace period.
    Clean,
    /// Stopped on request, but something had to be SIGKILLed after the grace period.
    Killed,
    /// The environment is invalid (every problem is printed).
    Config,
    /// The container cannot be set up (missing user, unwritable run dir, ...).
    Setup,
}

impl RunExit {
    pub const fn code(self) -> i32 {
        match self {
            RunExit::Clean => 0,
            RunExit::Killed => 1,
            RunExit::Config => 2,
            // EX_SOFTWARE-like: not the container's configuration, its image or mounts.
            RunExit::Setup => 70,
        }
    }
}

/// Exit codes of the commands the daemon runs in the container: `deliver-key` and `logout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExit {
    /// Done (for `deliver-key` with a wait: on the tailnet, or the key was not needed).
    Ok,
    /// Nothing was done or it failed before a login: bad key on stdin, no PID 1, I/O.
    Error,
    /// `tailscale up` ran and failed (e.g. tags the key does not own); the message says why.
    LoginFailed,
    /// The key is delivered but the login had no outcome within the wait: not an error,
    /// readiness is waited for next.
    Timeout,
}

impl KeyExit {
    pub const fn code(self) -> i32 {
        match self {
            KeyExit::Ok => 0,
            KeyExit::Error => 1,
            KeyExit::LoginFailed => 3,
            KeyExit::Timeout => 4,
        }
    }

    /// The exit code as the daemon sees it (`podman exec`); None for a code the entrypoint
    /// never uses (a crash, a signal, an older or newer entrypoint).
    pub fn from_code(code: i64) -> Option<KeyExit> {
        [
            KeyExit::Ok,
            KeyExit::Error,
            KeyExit::LoginFailed,
            KeyExit::Timeout,
        ]
        .into_iter()
        .find(|e| i64::from(e.code()) == code)
    }

    /// Whether the key is in the container and the daemon may go on waiting for readiness.
    pub fn delivered(self) -> bool {
        matches!(self, KeyExit::Ok | KeyExit::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for e in [
            KeyExit::Ok,
            KeyExit::Error,
            KeyExit::LoginFailed,
            KeyExit::Timeout,
        ] {
            assert_eq!(KeyExit::from_code(i64::from(e.code())), Some(e));
        }
        assert_eq!(KeyExit::from_code(2), None);
        assert_eq!(KeyExit::from_code(137), None);
        assert!(KeyExit::Timeout.delivered());
        assert!(!KeyExit::LoginFailed.delivered());
        let run: Vec<i32> = [
            RunExit::Clean,
            RunExit::Killed,
            RunExit::Config,
            RunExit::Setup,
        ]
        .map(RunExit::code)
        .to_vec();
        assert_eq!(run, vec![0, 1, 2, 70]);
    }
}
