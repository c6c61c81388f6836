//! `devbox-entrypoint`: PID 1 of the dev container (`run`, the default) and the commands the
//! controller runs through `podman exec` (`status`, `deliver-key`, `logout`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use devbox_contract::{KeyExit, RunExit};
use devbox_entrypoint::cli::{Cli, Cmd};
use devbox_entrypoint::config::{run_dir_from_env, Config};
use devbox_entrypoint::{keys, supervisor};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => match Config::from_env() {
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                RunExit::Config.code()
            }
            Ok(cfg) => match supervisor::run(cfg) {
                Ok(code) => code.code(),
                Err(e) => {
                    eprintln!("devbox-entrypoint: cannot start: {e:#}");
                    RunExit::Setup.code()
                }
            },
        },
        Cmd::CheckConfig => match Config::from_env() {
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                RunExit::Config.code()
            }
            Ok(cfg) => {
                println!("{cfg:#?}");
                0
            }
        },
        Cmd::Status { json } => status(json),
        Cmd::DeliverKey {
            reauth,
            no_wait,
            timeout_secs,
        } => {
            let wait = (!no_wait).then(|| Duration::from_secs(timeout_secs));
            report(keys::deliver_key(
                &run_dir_from_env(),
                std::io::stdin().lock(),
                reauth,
                wait,
            ))
        }
        Cmd::PrepareHome => prepare_home(),
        Cmd::Logout => report(keys::logout(&run_dir_from_env())),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Prints a helper command's message (stdout on success, stderr otherwise); its exit code.
fn report((code, msg): (KeyExit, String)) -> i32 {
    if code == KeyExit::Ok {
        println!("{msg}");
    } else {
        eprintln!("devbox-entrypoint: {msg}");
    }
    code.code()
}

fn prepare_home() -> i32 {
    match Config::from_env() {
        Err(e) => {
            eprintln!("devbox-entrypoint: {e}");
            RunExit::Config.code()
        }
        Ok(cfg) => match serde_json::to_string(&devbox_entrypoint::prepare::prepare_home(&cfg)) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                1
            }
        },
    }
}

fn status(json: bool) -> i32 {
    let run_dir = run_dir_from_env();
    let Some(st) = keys::read_status(&run_dir) else {
        eprintln!(
            "devbox-entrypoint: no status in {}: is devbox-entrypoint running as PID 1 of this container?",
            run_dir.display()
        );
        return 1;
    };
    if json {
        match serde_json::to_string_pretty(&st) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                return 1;
            }
        }
        return 0;
    }
    println!("{} ({}): {:?}", st.hostname, st.owner, st.phase);
    println!(
        "  tailscale: {:?} {} {}",
        st.tailscale.state,
        st.tailscale.ip.as_deref().unwrap_or(""),
        st.tailscale.error.as_deref().unwrap_or("")
    );
    for s in &st.services {
        println!(
            "  {}: {:?} (restarts {}){}",
            s.name,
            s.state,
            s.restarts,
            s.last_error
                .as_deref()
                .map(|e| format!(" last error: {e}"))
                .unwrap_or_default()
        );
    }
    if let Some(id) = &st.syncthing.device_id {
        println!("  syncthing device: {id}");
    }
    println!(
        "  last activity: {}",
        st.last_activity.as_deref().unwrap_or("never")
    );
    0
}
