//! `devbox-entrypoint`: PID 1 of the dev container (`run`, the default) and the commands the
//! controller runs through `podman exec` (`status`, `deliver-key`, `logout`).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use devbox_entrypoint::config::{run_dir_from_env, Config};
use devbox_entrypoint::{keys, supervisor};

#[derive(Parser)]
#[command(
    name = "devbox-entrypoint",
    version,
    about = "PID 1 of the nix-devbox dev container"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => match Config::from_env() {
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                supervisor::exit::CONFIG
            }
            Ok(cfg) => match supervisor::run(cfg) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("devbox-entrypoint: cannot start: {e:#}");
                    supervisor::exit::SETUP
                }
            },
        },
        Cmd::CheckConfig => match Config::from_env() {
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                supervisor::exit::CONFIG
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
            let (code, msg) =
                keys::deliver_key(&run_dir_from_env(), std::io::stdin().lock(), reauth, wait);
            if code == keys::exit::OK {
                println!("{msg}");
            } else {
                eprintln!("devbox-entrypoint: {msg}");
            }
            code
        }
        Cmd::PrepareHome => match Config::from_env() {
            Err(e) => {
                eprintln!("devbox-entrypoint: {e}");
                supervisor::exit::CONFIG
            }
            Ok(cfg) => match serde_json::to_string(&devbox_entrypoint::prepare::prepare_home(&cfg))
            {
                Ok(text) => {
                    println!("{text}");
                    0
                }
                Err(e) => {
                    eprintln!("devbox-entrypoint: {e}");
                    1
                }
            },
        },
        Cmd::Logout => {
            let (code, msg) = keys::logout(&run_dir_from_env());
            if code == keys::exit::OK {
                println!("{msg}");
            } else {
                eprintln!("devbox-entrypoint: {msg}");
            }
            code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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
