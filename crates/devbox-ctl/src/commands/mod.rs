//! One function per command; `run` picks it. Each talks to devboxd through the typed client,
//! prints `--json` documents itself and leaves what people read to `render`.

mod change;
mod help;
mod inspect;
mod lifecycle;
mod rotate_key;

use devbox_api::validate::validate_name;
use devbox_api::Client;

use crate::cli::{Cli, Command};
use crate::errors::invalid;

pub use lifecycle::show_notices;

/// What every command gets: the daemon's client and whether output is `--json`.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
}

impl Ctx {
    /// Progress lines of a long operation (none with `--json`).
    fn steps(&self) -> impl FnMut(&str) + '_ {
        crate::render::steps(self.json, "")
    }
}

/// The CLI checks a name before it asks the daemon (the daemon checks again).
fn check_name(name: &str) -> anyhow::Result<()> {
    validate_name(name).map_err(invalid)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx {
        client: Client::new(&cli.socket),
        json: cli.json,
    };
    match cli.command {
        Command::Completions { shell } => help::completions(shell),
        Command::Man => help::man(),
        Command::Whoami => inspect::whoami(&ctx).await,
        Command::Create {
            name,
            cpu,
            memory,
            with_syncthing,
            no_start,
            another,
            auth_key_stdin,
        } => {
            let opts = change::CreateOptions {
                cpu,
                memory,
                with_syncthing,
                no_start,
                another,
                auth_key_stdin,
            };
            change::create(&ctx, name, opts).await
        }
        Command::Start {
            name,
            auth_key_stdin,
        } => change::start(&ctx, &name, auth_key_stdin).await,
        Command::Stop { name } => change::stop(&ctx, &name).await,
        Command::Destroy {
            name,
            keep_volume,
            yes,
        } => change::destroy(&ctx, &name, keep_volume, yes).await,
        Command::List { all } => inspect::list(&ctx, all).await,
        Command::Status { name } => inspect::status(&ctx, &name).await,
        Command::Logs {
            name,
            follow,
            tail,
            raw,
        } => inspect::logs(&ctx, &name, follow, tail, raw).await,
        Command::RotateKey {
            name,
            user,
            now,
            auth_key_stdin,
        } => rotate_key::rotate_key(&ctx, name, user, now, auth_key_stdin).await,
        Command::Notices { login } => lifecycle::notices(&ctx, login).await,
        Command::Keep { name } => lifecycle::keep(&ctx, &name).await,
        Command::Gc { dry_run, all } => lifecycle::gc(&ctx, dry_run, all).await,
        Command::Doctor => inspect::doctor(&ctx).await,
    }
}
