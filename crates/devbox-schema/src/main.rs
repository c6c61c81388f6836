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
--arg usersFile ./users.nix | devbox-schema validate -\n\nExit codes: 0 valid, 1 invalid, 2 unreadable input."
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
    }
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
