//! The command line. The verbs the daemon runs are the contract's [`devbox_contract::Verb`];
//! the tests below parse every one of them with this parser, so the two cannot drift apart.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "devbox-entrypoint",
    version,
    about = "PID 1 of the nix-devbox dev container"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum Cmd {
    /// Run as PID 1: start and supervise the services (the default).
    Run,
    /// Check the environment and print the configuration (exit 2 when invalid).
    CheckConfig,
    /// Print the container's status (from the running PID 1).
    Status {
        /// Print the JSON the controller reads.
        #[arg(long)]
        json: bool,
    },
    /// Read a Tailscale auth key from stdin, store it in the tmpfs run dir and log in.
    DeliverKey {
        /// Log in again with this key even when already on the tailnet (key rotation).
        #[arg(long)]
        reauth: bool,
        /// Do not wait for the login result.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the login result.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Log out of the tailnet (`tailscale logout`); no new login until the next key.
    Logout,
    /// Prepare the home volume and the service credentials; PID 1 runs this as the dev
    /// user and reads the JSON report.
    #[command(hide = true)]
    PrepareHome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use devbox_contract::Verb;

    fn parse(verb: &Verb) -> Cmd {
        let argv = std::iter::once("devbox-entrypoint".to_string()).chain(verb.args());
        Cli::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("{verb:?} does not parse: {e}"))
            .command
            .unwrap_or(Cmd::Run)
    }

    #[test]
    fn every_contract_verb_parses_to_its_command() {
        assert_eq!(parse(&Verb::Run), Cmd::Run);
        assert_eq!(parse(&Verb::CheckConfig), Cmd::CheckConfig);
        assert_eq!(
            parse(&Verb::Status { json: true }),
            Cmd::Status { json: true }
        );
        assert_eq!(
            parse(&Verb::Status { json: false }),
            Cmd::Status { json: false }
        );
        assert_eq!(
            parse(&Verb::DeliverKey {
                reauth: true,
                wait_secs: Some(20)
            }),
            Cmd::DeliverKey {
                reauth: true,
                no_wait: false,
                timeout_secs: 20
            }
        );
        assert!(matches!(
            parse(&Verb::DeliverKey {
                reauth: false,
                wait_secs: None
            }),
            Cmd::DeliverKey {
                reauth: false,
                no_wait: true,
                ..
            }
        ));
        assert_eq!(parse(&Verb::Logout), Cmd::Logout);
        assert_eq!(parse(&Verb::PrepareHome), Cmd::PrepareHome);
    }
}
