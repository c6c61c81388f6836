//! The entrypoint's commands as the daemon (and PID 1 itself) run them: one enum that builds the
//! command line, so that the daemon cannot misspell a verb or a flag. The entrypoint's own
//! parser is tested against every [`Verb`] (devbox-entrypoint's `cli` tests).

/// The program the daemon execs in a container: the one PID 1 was started from. Not a `PATH`
/// lookup and not an image path: the container user can neither rename nor replace what
/// `/proc/1/exe` points to, so a planted `devbox-entrypoint` never receives the key
/// (docs/security.md).
pub const ENTRYPOINT_EXE: &str = "/proc/1/exe";

/// One entrypoint command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// PID 1 (the default without a verb).
    Run,
    /// Check the environment and print the configuration.
    CheckConfig,
    /// Print the status; `json`: the report the daemon reads ([`crate::status::Status`]).
    Status { json: bool },
    /// The Tailscale auth key on stdin; `reauth`: log in again with it although logged in;
    /// `wait_secs`: how long to wait for the login's outcome (None: do not wait).
    DeliverKey {
        reauth: bool,
        wait_secs: Option<u64>,
    },
    /// `tailscale logout`; no new login until the next key.
    Logout,
    /// Prepare the home volume as the dev user (PID 1 runs this itself).
    PrepareHome,
}

impl Verb {
    /// The arguments after the program name.
    pub fn args(&self) -> Vec<String> {
        let words: Vec<&str> = match self {
            Verb::Run => vec!["run"],
            Verb::CheckConfig => vec!["check-config"],
            Verb::Status { json: true } => vec!["status", "--json"],
            Verb::Status { json: false } => vec!["status"],
            Verb::DeliverKey { reauth, wait_secs } => {
                let mut w = vec!["deliver-key"];
                let secs = wait_secs.map(|s| s.to_string());
                match &secs {
                    Some(s) => w.extend(["--timeout-secs", s.as_str()]),
                    None => w.push("--no-wait"),
                }
                if *reauth {
                    w.push("--reauth");
                }
                return w.into_iter().map(str::to_string).collect();
            }
            Verb::Logout => vec!["logout"],
            Verb::PrepareHome => vec!["prepare-home"],
        };
        words.into_iter().map(str::to_string).collect()
    }

    /// The whole command line: [`ENTRYPOINT_EXE`] and [`Verb::args`].
    pub fn command(&self) -> Vec<String> {
        std::iter::once(ENTRYPOINT_EXE.to_string())
            .chain(self.args())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(
            Verb::DeliverKey {
                reauth: true,
                wait_secs: Some(20)
            }
            .command(),
            [
                "/proc/1/exe",
                "deliver-key",
                "--timeout-secs",
                "20",
                "--reauth"
            ]
        );
        assert_eq!(
            Verb::DeliverKey {
                reauth: false,
                wait_secs: None
            }
            .args(),
            ["deliver-key", "--no-wait"]
        );
        assert_eq!(Verb::Status { json: true }.args(), ["status", "--json"]);
        assert_eq!(Verb::Logout.command(), ["/proc/1/exe", "logout"]);
        assert_eq!(Verb::PrepareHome.args(), ["prepare-home"]);
    }
}
