//! devbox-ctl: manage your dev containers through devboxd. See docs/controller.md.
//!
//! `cli` parses, `commands` does one command each through devbox-api's typed client, `render`
//! prints for people; this file runs one command and turns its failure into a message, an
//! exit code and (with `--json`) an error document.

// First: the printing macros are used by every module below.
#[macro_use]
mod print;

mod cli;
mod commands;
mod errors;
mod input;
mod interrupt;
mod render;
mod suggest;
mod term;
mod when;

use clap::Parser;
use devbox_api::Client;

use crate::cli::Cli;
use crate::errors::{broken_pipe, describe, error_code, exit_code};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let notices = cli.command.shows_notices();
    let client = Client::new(&cli.socket);
    let target = cli.command.container_name();
    let error_document = cli.json && cli.command.has_error_document();
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => interrupt::interrupted(),
            // No signal handler: Ctrl-C keeps its default effect.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        r = commands::run(cli) => r,
        () = ctrl_c => Ok(()),
    };
    if notices {
        commands::show_notices(&client).await;
    }
    if let Err(e) = result {
        if let Some(io) = broken_pipe(&e) {
            print::stdout_gone(io);
        }
        let code = exit_code(&e);
        let message = describe(&e);
        say!("devbox-ctl: {message}");
        if let (5, Some(name)) = (code, &target) {
            suggest::suggest_name(&client, name).await;
        }
        if error_document {
            // Machine output: the error as JSON on stdout too.
            let api_code = error_code(&e);
            out_raw!(
                "{}",
                serde_json::json!({"error": {"code": api_code, "message": message, "exitCode": code}})
            );
        }
        std::process::exit(code);
    }
}
