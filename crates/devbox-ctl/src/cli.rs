//! The command line as clap parses it: every command, flag and help text (the man page and the
//! shell completions are generated from these definitions).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use devbox_api::validate::{parse_cpu, parse_memory};
use devbox_api::DEFAULT_SOCKET;

const AFTER_HELP: &str =
    "Start with `devbox-ctl create NAME`; `devbox-ctl COMMAND --help` explains a command, \
`devbox-ctl --help` lists the exit codes.";

const AFTER_LONG_HELP: &str = "\
Getting started:
  devbox-ctl create alice-dev     create and start a container; prints how to connect
  devbox-ctl list                 your containers
  devbox-ctl status alice-dev     state, services and how to connect (ssh, code-server, Zed)

Exit codes:
  0  success
  1  internal error (see the daemon's log: journalctl -u devboxd)
  2  invalid input or usage (bad name, --cpu, --memory; destroy without --yes off a terminal)
  3  the daemon is unreachable (not running, or you are not in its socket group)
  4  not allowed (someone else's container, an admin-only command, not in users.nix)
  5  no such container
  6  conflict (name taken, wrong state) or confirmation needed / declined
  7  quota exceeded (per user or in all)
  8  a dependency failed (Podman, 1Password, the image, the container did not get ready)
  9  rate limited: too many 1Password reads in a short time; the message says when to try again

With --json, stdout carries only JSON: the result, or on failure
{\"error\": {\"code\", \"message\", \"exitCode\"}}; messages and progress go to stderr.";

/// Manage your nix-devbox dev containers.
#[derive(Debug, Parser)]
#[command(
    name = "devbox-ctl",
    version,
    about,
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// The daemon's socket.
    #[arg(long, global = true, env = "DEVBOX_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Machine-readable JSON output (progress is not shown).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (and start) a dev container; prints how to connect.
    Create {
        /// Name: lowercase letters, digits, hyphens; it becomes the tailnet hostname.
        name: String,
        /// CPUs (default from users.nix, normally 2).
        #[arg(long, value_parser = cpu_arg)]
        cpu: Option<f64>,
        /// Memory limit, e.g. 4G or 512M (default from users.nix, normally 4G).
        #[arg(long, value_parser = memory_arg)]
        memory: Option<String>,
        /// Run Syncthing in the container.
        #[arg(long)]
        with_syncthing: bool,
        /// Create only; start later with `devbox-ctl start`.
        #[arg(long)]
        no_start: bool,
        /// Confirm creating another container when you already have one.
        #[arg(long)]
        another: bool,
        /// Use your own Tailscale auth key instead of 1Password: read from stdin, or asked
        /// for without echo on a terminal (never an argument or environment variable).
        #[arg(long)]
        auth_key_stdin: bool,
    },
    /// Start a stopped container (fetches a fresh Tailscale key).
    Start {
        /// The container (see `devbox-ctl list`).
        name: String,
        /// Use your own Tailscale auth key (stdin, or a no-echo prompt on a terminal); it is
        /// used instead of 1Password until `rotate-key` without it.
        #[arg(long)]
        auth_key_stdin: bool,
    },
    /// Stop a container, keeping its state and home volume.
    Stop {
        /// The container (see `devbox-ctl list`).
        name: String,
    },
    /// Destroy a container, its tailnet node and (unless kept) its home volume.
    Destroy {
        /// The container (see `devbox-ctl list`).
        name: String,
        /// Keep the home volume; `create` with the same name resumes it.
        #[arg(long)]
        keep_volume: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List your containers (admins: --all for everyone's).
    List {
        /// Admins: every user's containers.
        #[arg(long)]
        all: bool,
    },
    /// Show a container's state, services and how to connect.
    Status {
        /// The container (see `devbox-ctl list`).
        name: String,
    },
    /// Show a container's logs (the entrypoint and its services).
    Logs {
        /// The container (see `devbox-ctl list`).
        name: String,
        /// Keep following new output.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<u32>,
        /// The exact bytes, control characters included (for a file, not a terminal); by
        /// default they are shown as `\xNN` so a container cannot drive your terminal.
        #[arg(long)]
        raw: bool,
    },
    /// Deliver the current Tailscale key from 1Password into a running container (or, with
    /// --user, into every running container of that user).
    RotateKey {
        /// The container (see `devbox-ctl list`).
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        name: Option<String>,
        /// Every running container of this user (admins; or yourself).
        #[arg(long)]
        user: Option<String>,
        /// Re-authenticate now instead of at the next start.
        #[arg(long)]
        now: bool,
        /// Deliver your own Tailscale auth key (stdin, or a no-echo prompt on a terminal)
        /// instead of 1Password's; without this flag the key comes from 1Password again.
        #[arg(long, conflicts_with = "user")]
        auth_key_stdin: bool,
    },
    /// Show your pending notices (auto-stop and auto-destroy warnings, what was done).
    Notices {
        /// For the SSH login hook: never fails, prints nothing when there is nothing to say or
        /// the daemon is unreachable.
        #[arg(long)]
        login: bool,
    },
    /// Postpone the automatic stop (or destroy) of a container: counts as activity.
    Keep {
        /// The container (see `devbox-ctl list`).
        name: String,
    },
    /// Lifecycle: what the reconciler will stop or destroy and when (--dry-run); admins
    /// without --dry-run run a reconciler pass now.
    Gc {
        /// Only show what would happen and when.
        #[arg(long)]
        dry_run: bool,
        /// Admins: every user's containers.
        #[arg(long)]
        all: bool,
    },
    /// Check the daemon, Podman, the image, `op` and the token; says what to fix.
    Doctor,
    /// Show who the daemon thinks you are.
    Whoami,
    /// Print shell completions, e.g. `devbox-ctl completions bash`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

fn cpu_arg(s: &str) -> Result<f64, String> {
    parse_cpu(s).map_err(|e| e.to_string())
}

fn memory_arg(s: &str) -> Result<String, String> {
    parse_memory(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

impl Command {
    /// The container the command names, if any (for the "did you mean" hint).
    pub fn container_name(&self) -> Option<String> {
        match self {
            Command::Start { name, .. }
            | Command::Stop { name }
            | Command::Destroy { name, .. }
            | Command::Status { name }
            | Command::Logs { name, .. }
            | Command::Keep { name } => Some(name.clone()),
            Command::RotateKey { name, .. } => name.clone(),
            _ => None,
        }
    }

    /// Whether the caller's pending notices are shown on stderr after the command (not for
    /// `notices` itself, nor for the generated texts).
    pub fn shows_notices(&self) -> bool {
        !matches!(
            self,
            Command::Notices { .. } | Command::Completions { .. } | Command::Man
        )
    }

    /// Whether a failure is also reported as a JSON document on stdout under `--json`:
    /// doctor prints its checks even when it fails, and that stays the only document.
    pub fn has_error_document(&self) -> bool {
        !matches!(self, Command::Doctor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_arguments_are_refused_before_contacting_the_daemon() {
        assert!(Cli::try_parse_from(["devbox-ctl", "create", "x", "--cpu", "zero"]).is_err());
        assert!(Cli::try_parse_from(["devbox-ctl", "create", "x", "--memory", "lots"]).is_err());
        assert!(Cli::try_parse_from(["devbox-ctl", "create", "x", "--memory", "4G"]).is_ok());
    }
}
