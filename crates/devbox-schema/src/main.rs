//! `devbox-schema`: validates an exported users.nix and prints its JSON Schema.
//!
//! Exit codes: 0 valid, 1 invalid (every problem is reported), 2 unreadable input or bad usage.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use devbox_schema::{validate_text, LoadError, Problem};
use serde::Serialize;

/// Validate a nix-devbox users file (the JSON printed by lib/export-users.nix).
#[derive(Parser)]
#[command(name = "devbox-schema", version, about, long_about = None)]
#[command(
    after_help = "Typical use:\n  nix-instantiate --eval --strict --json lib/export-users.nix \
--arg usersFile ./users.nix | devbox-schema validate -\n\nExit codes: 0 valid, 1 invalid, 2 unreadable input \
or bad usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a users file and report every problem in it.
    Validate {
        /// The exported JSON file, or `-` for standard input.
        file: PathBuf,
        /// `text` for people, `json` for programs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the JSON Schema of the exported users file.
    Schema,
    /// Print the Tailscale/Headscale policy (JSON) that lets each user reach only their own
    /// containers, and the orchestrator as themselves.
    TailnetPolicy {
        /// The exported JSON file, or `-` for standard input.
        file: PathBuf,
        /// The orchestrator host's tag (services.devbox.orchestrator.tailscale).
        #[arg(long, default_value = devbox_schema::tailnet_policy::ORCHESTRATOR_TAG)]
        orchestrator_tag: String,
        /// Leave out the orchestrator rules (the host is not on the tailnet).
        #[arg(long)]
        no_orchestrator: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// The `--format json` report.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<usize>,
    problems: &'a [Problem],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("devbox-schema: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Schema => {
            print!("{}", devbox_schema::schema::users_file_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { file, format } => validate(&file, format),
        Command::TailnetPolicy {
            file,
            orchestrator_tag,
            no_orchestrator,
        } => tailnet_policy(&file, &orchestrator_tag, no_orchestrator),
    }
}

fn tailnet_policy(
    file: &PathBuf,
    orchestrator_tag: &str,
    no_orchestrator: bool,
) -> anyhow::Result<ExitCode> {
    if !no_orchestrator && !devbox_schema::tailnet_policy::is_valid_tag(orchestrator_tag) {
        anyhow::bail!(
            "--orchestrator-tag {orchestrator_tag:?} is not a Tailscale tag; write `tag:` and a name of letters, digits and `-` starting with a letter, e.g. tag:devbox-orchestrator"
        );
    }
    let text = read_input(file)?;
    let users = match validate_text(&text) {
        Ok(users) => users,
        Err(LoadError::Invalid(problems)) => {
            eprintln!("{}", LoadError::Invalid(problems));
            eprintln!("devbox-schema: no policy printed; fix the users file first");
            return Ok(ExitCode::from(1));
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    let policy = devbox_schema::tailnet_policy::tailnet_policy(
        &users,
        (!no_orchestrator).then_some(orchestrator_tag),
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&policy).context("cannot encode the policy")?
    );
    Ok(ExitCode::SUCCESS)
}

fn read_input(file: &PathBuf) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
    }
}

enum Outcome {
    Valid(Box<devbox_schema::UsersFile>),
    Invalid(Vec<Problem>),
    Unreadable(String),
}

fn validate(file: &PathBuf, format: Format) -> anyhow::Result<ExitCode> {
    let outcome = match read_input(file) {
        Err(e) => Outcome::Unreadable(format!("{e:#}")),
        Ok(text) => match validate_text(&text) {
            Ok(users) => Outcome::Valid(Box::new(users)),
            Err(LoadError::Invalid(problems)) => Outcome::Invalid(problems),
            Err(e) => Outcome::Unreadable(e.to_string()),
        },
    };
    if format == Format::Json {
        let report = match &outcome {
            Outcome::Valid(users) => Report {
                valid: true,
                users: Some(users.users.len()),
                problems: &[],
                error: None,
            },
            Outcome::Invalid(problems) => Report {
                valid: false,
                users: None,
                problems,
                error: None,
            },
            Outcome::Unreadable(error) => Report {
                valid: false,
                users: None,
                problems: &[],
                error: Some(error.clone()),
            },
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot encode the report")?
        );
    }
    Ok(match outcome {
        Outcome::Valid(users) => {
            if format == Format::Text {
                let admins = users.derived.admin_users.len();
                println!(
                    "ok: {} users, {admins} admin{}",
                    users.users.len(),
                    if admins == 1 { "" } else { "s" }
                );
            }
            ExitCode::SUCCESS
        }
        Outcome::Invalid(problems) => {
            if format == Format::Text {
                eprintln!("{}", LoadError::Invalid(problems));
            }
            ExitCode::from(1)
        }
        Outcome::Unreadable(error) => {
            if format == Format::Text {
                eprintln!("devbox-schema: {error}");
            }
            ExitCode::from(2)
        }
    })
}
