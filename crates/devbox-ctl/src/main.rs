//! devbox-ctl: manage your dev containers through devboxd. See docs/controller.md.

mod term;
mod when;

/// `println!` for humans that never panics: a closed stdout (e.g. `devbox-ctl list | head -1`)
/// ends the program quietly, like a Unix tool killed by SIGPIPE. Control characters in what it
/// prints (names, status fields, messages from a container) are made visible (`term::clean`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), "{}", crate::term::clean(&format!($($arg)*))) {
            crate::stdout_gone(&e)
        }
    }};
}

/// `println!` of machine output (`--json`), written exactly as given.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            crate::stdout_gone(&e)
        }
    }};
}

/// `eprintln!` that never panics (a message that cannot be shown is dropped); control
/// characters are made visible like `out!`.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", crate::term::clean(&format!($($arg)*)));
    }};
}

/// `eprint!` + flush that never panics (for prompts).
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = std::io::stderr();
        let _ = write!(err, "{}", crate::term::clean(&format!($($arg)*)));
        let _ = err.flush();
    }};
}

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use devbox_api::client::Method;
use devbox_api::validate::{format_memory, parse_cpu, parse_memory, validate_name};
use devbox_api::{
    AuthKey, Client, ClientError, ContainerInfo, ContainerStatus, CreateRequest, DestroyResult,
    DoctorReport, ErrorCode, KeptVolumeInfo, LifecyclePlan, Notice, PlanItem, RotateKeyRequest,
    StartRequest, WhoAmI, DEFAULT_SOCKET,
};
use jiff::Timestamp;

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
struct Cli {
    /// The daemon's socket.
    #[arg(long, global = true, env = "DEVBOX_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Machine-readable JSON output (progress is not shown).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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

/// An error found by the CLI itself, with the API error code (and so the exit code) it maps to;
/// the code is not part of the message.
#[derive(Debug)]
struct Exit(ErrorCode, String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

fn fail(code: ErrorCode, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Exit(code, msg.to_string()))
}

fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return c.exit_code();
        }
        if let Some(Exit(code, _)) = cause.downcast_ref::<Exit>() {
            return code.exit_code();
        }
    }
    1
}

/// Stdout cannot be written: a reader that went away (broken pipe) is not an error worth a
/// message (exit 141, as a shell reports SIGPIPE); anything else is said on stderr (exit 1).
fn stdout_gone(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        say!("devbox-ctl: cannot write to stdout: {e}");
        std::process::exit(1)
    }
    std::process::exit(141)
}

/// Writes generated text (completions, man page) to stdout, never panicking.
fn write_stdout(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        stdout_gone(&e)
    }
}

/// The error and its causes, like `{e:#}`, but without repeating a cause that an outer
/// message already quotes (e.g. the OS error inside "cannot reach devboxd at …").
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The machine-readable code of an error for `--json`: the API's codes, plus
/// `daemon-unreachable`; an error without one is `internal`.
fn error_code(e: &anyhow::Error) -> serde_json::Value {
    e.chain()
        .find_map(|c| {
            if let Some(Exit(code, _)) = c.downcast_ref::<Exit>() {
                return serde_json::to_value(code).ok();
            }
            match c.downcast_ref::<ClientError>() {
                Some(ClientError::Api(a)) => serde_json::to_value(a.code).ok(),
                Some(ClientError::Connect { .. }) => Some("daemon-unreachable".into()),
                Some(ClientError::Protocol(_)) => Some("internal".into()),
                None => None,
            }
        })
        .unwrap_or_else(|| "internal".into())
}

fn invalid(msg: impl std::fmt::Display) -> anyhow::Error {
    fail(ErrorCode::BadRequest, msg)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    validate_name(name).map_err(invalid)
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    out_raw!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Asks on the terminal. The read runs off the runtime thread, so Ctrl-C still ends the
/// program at the prompt (main watches for it).
async fn ask(question: &str) -> anyhow::Result<String> {
    say_part!("{question} ");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("reading the answer")??;
    Ok(line.trim().to_string())
}

/// The longest input read for a key (a key is about 60 bytes; more is a wrong file).
const MAX_KEY_INPUT: u64 = 4096;

/// Reads the user's Tailscale auth key: from a no-echo prompt when stdin is a terminal, else
/// from stdin (e.g. `op read … | devbox-ctl create NAME --auth-key-stdin`). Never from argv or
/// the environment, which other users can read (`ps`, /proc) or which lands in shell history.
async fn read_auth_key() -> anyhow::Result<AuthKey> {
    use secrecy::zeroize::Zeroizing;
    use std::io::Read as _;
    let raw: Zeroizing<String> = tokio::task::spawn_blocking(|| {
        if std::io::stdin().is_terminal() {
            rpassword::prompt_password("Tailscale auth key (input hidden): ").map(Zeroizing::new)
        } else {
            let mut s = Zeroizing::new(String::new());
            std::io::stdin()
                .take(MAX_KEY_INPUT)
                .read_to_string(&mut s)
                .map(|_| s)
        }
    })
    .await
    .context("reading the Tailscale auth key")?
    .context("reading the Tailscale auth key from stdin")?;
    AuthKey::new(raw.trim()).map_err(invalid)
}

/// The change devboxd is making for us right now (e.g. `create web`), for the Ctrl-C message.
static IN_FLIGHT: std::sync::Mutex<Option<(String, String)>> = std::sync::Mutex::new(None);

fn in_flight(what: &str, name: &str) {
    if let Ok(mut g) = IN_FLIGHT.lock() {
        *g = Some((what.to_string(), name.to_string()));
    }
}

/// Ctrl-C: stop watching. A change already sent is finished (or undone) by devboxd, not by us.
fn interrupted() -> ! {
    let op = IN_FLIGHT.lock().ok().and_then(|g| g.clone());
    say!("");
    match op {
        Some((what, name)) if name.is_empty() => say!(
            "devbox-ctl: interrupted; devboxd carries on with `{what}` by itself"
        ),
        Some((what, name)) => say!(
            "devbox-ctl: interrupted; devboxd carries on with `{what} {name}` by itself; `devbox-ctl status {name}` shows how it went"
        ),
        None => {}
    }
    std::process::exit(130)
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

struct Ui {
    json: bool,
}

impl Ui {
    fn step(&self) -> impl FnMut(&str) + '_ {
        self.step_for("")
    }

    /// Progress lines prefixed with a container's name (several operations in a row).
    fn step_for<'a>(&'a self, prefix: &'a str) -> impl FnMut(&str) + 'a {
        move |m: &str| {
            if !self.json {
                if prefix.is_empty() {
                    say!("==> {m}");
                } else {
                    say!("==> {prefix}: {m}");
                }
            }
        }
    }
}

fn print_status(s: &ContainerStatus) {
    let c = &s.container;
    out!("{}  (owner {}, {})", c.name, c.owner, c.state);
    if let Some(why) = &c.orphaned {
        out!("  {why}");
    }
    out!(
        "  resources: {} CPU, {} memory; home volume {}",
        c.cpu,
        format_memory(c.memory_bytes),
        c.volume
    );
    if let Some(d) = c.desired {
        out!(
            "  desired:   {}",
            serde_json::to_string(&d)
                .unwrap_or_default()
                .trim_matches('"')
        );
    }
    match &s.entrypoint {
        Some(e) => {
            out!(
                "  phase:     {}{}",
                e.phase,
                if e.ready {
                    String::new()
                } else {
                    format!(
                        " (not ready; follow it with `devbox-ctl logs -f {}`)",
                        c.name
                    )
                }
            );
            let ts = &e.tailscale;
            out!(
                "  tailscale: {}{}{}{}",
                ts.state,
                ts.ip
                    .as_deref()
                    .map(|i| format!(", {i}"))
                    .unwrap_or_default(),
                ts.hostname
                    .as_deref()
                    .map(|h| format!(", {h}"))
                    .unwrap_or_default(),
                ts.error
                    .as_deref()
                    .map(|i| format!(", error: {i}"))
                    .unwrap_or_default()
            );
            for svc in &e.services {
                let restarts = if svc.restarts > 0 || svc.state == "running" {
                    format!(" (restarts {})", svc.restarts)
                } else {
                    String::new()
                };
                out!(
                    "  service:   {} {}{}{}",
                    svc.name,
                    svc.state,
                    restarts,
                    svc.last_error
                        .as_deref()
                        .map(|x| format!(", last error: {x}"))
                        .unwrap_or_default()
                );
            }
            if let Some(a) = &e.last_activity {
                out!("  activity:  {}", when::with_distance(a, Timestamp::now()));
            }
        }
        None if c.state == "running" => out!("  entrypoint: not answering"),
        None => {}
    }
    if let Some(next) = s.lifecycle.as_ref().and_then(|l| l.next.as_ref()) {
        out!(
            "  automatic: {} at {} (`devbox-ctl keep {}` postpones)",
            next.action,
            when::with_distance(&next.at, Timestamp::now()),
            c.name
        );
    }
    if c.state == "running" {
        out!("Connect:");
    } else {
        out!("Connect (once started with `devbox-ctl start {}`):", c.name);
    }
    out!("  ssh:         {}", s.connect.ssh);
    out!("  code-server: {}", s.connect.code_server);
    if !s.connect.password.is_empty() {
        out!("  password:    {}", s.connect.password);
    }
    out!("  zed:         {}", s.connect.zed);
    if let Some(id) = &s.connect.syncthing_device_id {
        out!("  syncthing:   device ID {id}");
    }
    if let Some(gui) = &s.connect.syncthing_gui {
        out!("  sync GUI:    {gui}");
    }
}

fn print_kept(kept: &[KeptVolumeInfo]) {
    if kept.is_empty() {
        return;
    }
    out!("Kept home volumes (`devbox-ctl create NAME` resumes one, `devbox-ctl destroy NAME` removes it):");
    out!(
        "{:<24} {:<12} {:>9} DESTROYED AUTOMATICALLY",
        "NAME",
        "OWNER",
        "SIZE"
    );
    for k in kept {
        out!(
            "{:<24} {:<12} {:>9} {}",
            k.name,
            k.owner,
            k.size_bytes
                .map(format_size)
                .unwrap_or_else(|| "?".to_string()),
            k.destroy_at
                .as_deref()
                .map(|t| when::with_distance(t, Timestamp::now()))
                .unwrap_or_else(|| "never".to_string())
        );
    }
}

/// Bytes as people read them (`0B`, `12K`, `3.4G`).
fn format_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes}B")
    } else {
        format_memory(bytes)
    }
}

fn print_list(list: &[ContainerInfo]) {
    if list.is_empty() {
        out!("No dev containers. Create one with `devbox-ctl create NAME`.");
        return;
    }
    out!(
        "{:<24} {:<12} {:<10} {:<8} {:>4} {:>7} CREATED",
        "NAME",
        "OWNER",
        "STATE",
        "DESIRED",
        "CPU",
        "MEMORY"
    );
    for c in list {
        let desired = c
            .desired
            .map(|d| {
                serde_json::to_string(&d)
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string()
            })
            .unwrap_or_else(|| "-".into());
        out!(
            "{:<24} {:<12} {:<10} {:<8} {:>4} {:>7} {}",
            c.name,
            c.owner,
            c.state,
            desired,
            c.cpu,
            format_memory(c.memory_bytes),
            when::short(&c.created_at)
        );
        if let Some(why) = &c.orphaned {
            out!("  ^ {why}");
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let client = Client::new(&cli.socket);
    let ui = Ui { json: cli.json };
    match cli.command {
        Command::Completions { shell } => {
            // Rendered into memory first: clap_complete panics when its writer fails.
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "devbox-ctl", &mut buf);
            write_stdout(&buf);
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            write_stdout(&buf);
        }
        Command::Whoami => {
            let w: WhoAmI = client.get("/v1/whoami").await?;
            if cli.json {
                print_json(&w)?;
            } else {
                out!(
                    "{} (uid {}){}",
                    w.user,
                    w.uid,
                    if w.is_admin { ", admin" } else { "" }
                );
            }
        }
        Command::Create {
            name,
            cpu,
            memory,
            with_syncthing,
            no_start,
            another,
            auth_key_stdin,
        } => {
            check_name(&name)?;
            let auth_key = if auth_key_stdin {
                Some(read_auth_key().await?)
            } else {
                None
            };
            let mut req = CreateRequest {
                name: name.clone(),
                cpu,
                memory,
                syncthing: with_syncthing,
                start: !no_start,
                confirm_another: another,
                auth_key,
            };
            let result = loop {
                in_flight("create", &name);
                match client
                    .operation(Method::POST, "/v1/containers", Some(&req), ui.step())
                    .await
                {
                    Err(ClientError::Api(e))
                        if e.code == ErrorCode::NeedsConfirmation && !cli.json && interactive() =>
                    {
                        say!("{}", e.message);
                        let a = ask(&format!("Create {name} as well? [y/N]")).await?;
                        if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") {
                            req.confirm_another = true;
                            continue;
                        }
                        return Err(fail(
                            ErrorCode::NeedsConfirmation,
                            format!("not created; pass --another to create {name} without asking"),
                        ));
                    }
                    other => break other?,
                }
            };
            let status: ContainerStatus =
                serde_json::from_value(result).context("reading the daemon's answer")?;
            if cli.json {
                print_json(&status)?;
            } else {
                out!(
                    "Created {name}{}.",
                    if no_start { " (not started)" } else { "" }
                );
                print_status(&status);
            }
        }
        Command::Start {
            name,
            auth_key_stdin,
        } => {
            check_name(&name)?;
            let req = StartRequest {
                auth_key: if auth_key_stdin {
                    Some(read_auth_key().await?)
                } else {
                    None
                },
            };
            in_flight("start", &name);
            let v = client
                .operation(
                    Method::POST,
                    &format!("/v1/containers/{name}/start"),
                    Some(&req),
                    ui.step(),
                )
                .await?;
            let status: ContainerStatus = serde_json::from_value(v)?;
            if cli.json {
                print_json(&status)?;
            } else {
                print_status(&status);
            }
        }
        Command::Stop { name } => {
            check_name(&name)?;
            in_flight("stop", &name);
            let v = client
                .operation::<()>(
                    Method::POST,
                    &format!("/v1/containers/{name}/stop"),
                    None,
                    ui.step(),
                )
                .await?;
            let info: ContainerInfo = serde_json::from_value(v)?;
            if cli.json {
                print_json(&info)?;
            } else {
                out!("Stopped {} (home volume {} kept).", info.name, info.volume);
            }
        }
        Command::Destroy {
            name,
            keep_volume,
            yes,
        } => {
            check_name(&name)?;
            if !yes {
                if cli.json || !interactive() {
                    return Err(invalid(format!(
                        "destroying {name} cannot be undone; pass --yes to confirm"
                    )));
                }
                let what = if keep_volume {
                    "(the home volume is kept)"
                } else {
                    "and its home volume (all data in /home/dev)"
                };
                let a = ask(&format!("Destroy {name} {what}? Type the name to confirm:")).await?;
                if a != name {
                    return Err(fail(
                        ErrorCode::NeedsConfirmation,
                        if a.is_empty() {
                            "not destroyed".to_string()
                        } else {
                            format!("not destroyed: you typed {a:?}, not {name:?}")
                        },
                    ));
                }
            }
            in_flight("destroy", &name);
            let v = client
                .operation::<()>(
                    Method::DELETE,
                    &format!("/v1/containers/{name}?keepVolume={keep_volume}"),
                    None,
                    ui.step(),
                )
                .await?;
            let r: DestroyResult = serde_json::from_value(v)?;
            if cli.json {
                print_json(&r)?;
            } else if r.volume_kept {
                out!(
                    "Destroyed {}; kept volume {} (`devbox-ctl create {}` resumes it).",
                    r.name,
                    r.volume,
                    r.name
                );
            } else {
                out!("Destroyed {} and its volume {}.", r.name, r.volume);
            }
        }
        Command::List { all } => {
            let list: Vec<ContainerInfo> = client.get(&format!("/v1/containers?all={all}")).await?;
            if cli.json {
                print_json(&list)?;
            } else {
                print_list(&list);
                let kept: Vec<KeptVolumeInfo> =
                    client.get(&format!("/v1/volumes?all={all}")).await?;
                print_kept(&kept);
            }
        }
        Command::Status { name } => {
            check_name(&name)?;
            let s: ContainerStatus = client.get(&format!("/v1/containers/{name}")).await?;
            if cli.json {
                print_json(&s)?;
            } else {
                print_status(&s);
            }
        }
        Command::Logs {
            name,
            follow,
            tail,
            raw,
        } => {
            check_name(&name)?;
            let mut path = format!("/v1/containers/{name}/logs?follow={follow}");
            if let Some(t) = tail {
                path.push_str(&format!("&tail={t}"));
            }
            let mut out = std::io::stdout();
            // The container writes these bytes: control sequences are made visible unless the
            // caller asked for the exact bytes (--raw, e.g. into a file).
            let mut cleaner = term::StreamCleaner::default();
            client
                .stream_raw(&path, |b| {
                    if raw {
                        out.write_all(b)?;
                    } else {
                        out.write_all(cleaner.push(b).as_bytes())?;
                    }
                    out.flush()
                })
                .await?;
            if !raw {
                out.write_all(cleaner.finish().as_bytes())?;
                out.flush()?;
            }
        }
        Command::RotateKey {
            name,
            user,
            now,
            auth_key_stdin,
        } => {
            let auth_key = if auth_key_stdin {
                Some(read_auth_key().await?)
            } else {
                None
            };
            let names: Vec<String> = match (name, user) {
                (Some(n), _) => {
                    check_name(&n)?;
                    vec![n]
                }
                (None, Some(u)) => {
                    let me: WhoAmI = client.get("/v1/whoami").await?;
                    let all = u != me.user;
                    if all && !me.is_admin {
                        return Err(fail(
                            ErrorCode::Forbidden,
                            format!(
                                "only admins may rotate another user's keys; `devbox-ctl rotate-key --user {}` does yours",
                                me.user
                            ),
                        ));
                    }
                    let list: Vec<ContainerInfo> =
                        client.get(&format!("/v1/containers?all={all}")).await?;
                    let owned = list.iter().filter(|c| c.owner == u).count();
                    let mine: Vec<String> = list
                        .into_iter()
                        .filter(|c| c.owner == u && c.state == "running")
                        .map(|c| c.name)
                        .collect();
                    if mine.is_empty() && !cli.json {
                        if owned == 0 && !all {
                            out!("You have no containers; nothing to do.");
                        } else if owned == 0 {
                            out!("{u} has no containers on this orchestrator (is the user name right? `devbox-ctl list --all` shows everyone's); nothing to do.");
                        } else {
                            out!("{u} has no running containers; every start fetches the current key anyway.");
                        }
                    }
                    mine
                }
                (None, None) => return Err(invalid("name a container or pass --user USER")),
            };
            let mut done = Vec::new();
            let mut failed = None;
            for name in &names {
                in_flight("rotate-key", name);
                let r = client
                    .operation(
                        Method::POST,
                        &format!("/v1/containers/{name}/rotate-key"),
                        Some(&RotateKeyRequest {
                            now,
                            auth_key: auth_key.clone(),
                        }),
                        ui.step_for(if names.len() > 1 { name } else { "" }),
                    )
                    .await;
                match r {
                    Ok(v) => {
                        let s: ContainerStatus = serde_json::from_value(v)?;
                        let source = if auth_key.is_some() {
                            "your key"
                        } else {
                            "your 1Password key"
                        };
                        if cli.json {
                            // The document is printed at the end.
                        } else if s.container.state != "running" {
                            out!("{name} uses {source} from its next start.");
                        } else {
                            out!(
                                "Delivered {source} to {name}{}.",
                                if now {
                                    " and re-authenticated"
                                } else {
                                    "; it is used at the next re-auth"
                                }
                            );
                        }
                        done.push(s);
                    }
                    Err(e) => {
                        // One container: main prints the error; several: say which one failed.
                        if names.len() > 1 {
                            say!("devbox-ctl: rotate-key {name}: {e}");
                        }
                        failed = Some(e);
                    }
                }
            }
            if let Some(e) = failed {
                // With --json the one document is then the error; say what did get the key.
                let delivered: Vec<&str> = done.iter().map(|s| s.container.name.as_str()).collect();
                if delivered.is_empty() {
                    return Err(e.into());
                }
                return Err(anyhow::Error::new(e)
                    .context(format!("delivered to {} only", delivered.join(", "))));
            }
            if cli.json {
                if done.len() == 1 && names.len() == 1 {
                    print_json(&done[0])?;
                } else {
                    print_json(&done)?;
                }
            }
        }
        Command::Notices { login } => {
            let notices: Vec<Notice> = match client.get("/v1/notices").await {
                Ok(n) => n,
                Err(_) if login => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if cli.json {
                print_json(&notices)?;
            } else if notices.is_empty() {
                if !login {
                    out!("No notices.");
                }
            } else {
                for n in &notices {
                    out!("devbox: {}", n.message);
                }
            }
        }
        Command::Keep { name } => {
            check_name(&name)?;
            let item: PlanItem = client
                .json(Method::POST, &format!("/v1/containers/{name}/keep"), None)
                .await?;
            if cli.json {
                print_json(&item)?;
            } else {
                match &item.next {
                    Some(n) => out!(
                        "Kept {name}: next automatic {} at {}.",
                        n.action,
                        when::with_distance(&n.at, Timestamp::now())
                    ),
                    None => out!("Kept {name}: no automatic action is scheduled."),
                }
            }
        }
        Command::Gc { dry_run, all } => {
            let plan: LifecyclePlan = if dry_run {
                client.get(&format!("/v1/lifecycle?all={all}")).await?
            } else {
                in_flight("gc", "");
                let v = client
                    .operation::<()>(Method::POST, "/v1/reconcile", None, ui.step())
                    .await?;
                serde_json::from_value(v).context("reading the daemon's answer")?
            };
            if cli.json {
                print_json(&plan)?;
            } else {
                print_plan(&plan, dry_run);
            }
        }
        Command::Doctor => doctor(&client, cli.json).await?,
    }
    Ok(())
}

fn print_plan(plan: &LifecyclePlan, dry_run: bool) {
    // Distances are from the daemon's clock, not this machine's.
    let now = plan.now.parse().unwrap_or_else(|_| Timestamp::now());
    out!(
        "{} (now {}; idle containers stop after {} days, stopped ones are destroyed after {} days; 0 = never)",
        if dry_run { "What would happen" } else { "Reconciled" },
        when::short(&plan.now),
        plan.idle_stop_days,
        plan.stopped_destroy_days
    );
    if plan.containers.is_empty() {
        out!("  no containers");
    }
    for c in &plan.containers {
        match &c.next {
            Some(n) => out!(
                "  {} ({}, {}): {} at {}",
                c.name,
                c.owner,
                c.state,
                n.action,
                when::with_distance(&n.at, now)
            ),
            None => out!("  {} ({}, {}): nothing scheduled", c.name, c.owner, c.state),
        }
        for w in &c.notices {
            out!(
                "      warning {}h before, at {}{}",
                w.hours_before,
                when::with_distance(&w.at, now),
                if w.sent { " (sent)" } else { "" }
            );
        }
    }
    for k in &plan.kept_volumes {
        match &k.next {
            Some(n) => out!(
                "  {} ({}, kept home volume): destroy at {}",
                k.name,
                k.owner,
                when::with_distance(&n.at, now)
            ),
            None => out!(
                "  {} ({}, kept home volume): nothing scheduled",
                k.name,
                k.owner
            ),
        }
        for w in &k.notices {
            out!(
                "      warning {}h before, at {}{}",
                w.hours_before,
                when::with_distance(&w.at, now),
                if w.sent { " (sent)" } else { "" }
            );
        }
    }
    for p in &plan.pending_cleanups {
        out!(
            "  {} ({}): destroyed, tailnet device cleanup pending since {} ({} attempts; last error: {})",
            p.name,
            p.owner,
            when::short(&p.since),
            p.attempts,
            p.last_error
        );
    }
}

/// The container a command names, if any (for the "did you mean" hint).
fn named_container(c: &Command) -> Option<String> {
    match c {
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

/// Edit distance (insertions, deletions, substitutions) between two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The caller's container whose name is closest to a mistyped one (at most 2 edits away).
fn closest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .filter(|n| *n != wanted)
        .map(|n| (edit_distance(wanted, n), n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// After "no such container": suggest the closest of the caller's names (best effort).
async fn suggest_name(client: &Client, wanted: &str) {
    let fetch = client.get::<Vec<ContainerInfo>>("/v1/containers?all=false");
    if let Ok(Ok(list)) = tokio::time::timeout(std::time::Duration::from_secs(5), fetch).await {
        if let Some(n) = closest(wanted, list.iter().map(|c| c.name.as_str())) {
            say!("devbox-ctl: did you mean `{n}`?");
        }
    }
}

/// Every command shows the caller's pending notices on stderr (best effort, quiet on failure).
async fn show_notices(client: &Client) {
    let fetch = client.get::<Vec<Notice>>("/v1/notices");
    if let Ok(Ok(notices)) = tokio::time::timeout(std::time::Duration::from_secs(5), fetch).await {
        for n in notices {
            say!("devbox notice: {}", n.message);
        }
    }
}

async fn doctor(client: &Client, json: bool) -> anyhow::Result<()> {
    let report: Result<DoctorReport, ClientError> = client.get("/v1/doctor").await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            // With --json, doctor's one stdout document is always the checks (main adds no
            // error document for it).
            if json {
                print_json(
                    &serde_json::json!({"checks": [{"name": "daemon", "ok": false, "detail": e.to_string()}]}),
                )?;
            } else if matches!(e, ClientError::Connect { .. }) {
                out!("FAIL daemon: {e}");
            }
            return Err(e.into());
        }
    };
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    if json {
        print_json(&report)?;
    } else {
        out!(
            "ok   daemon: devboxd answers on {}",
            client.socket().display()
        );
        for c in &report.checks {
            out!(
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                out!("     fix: {fix}");
            }
        }
    }
    if failed > 0 {
        return Err(fail(
            ErrorCode::Unavailable,
            format!("{failed} check(s) failed"),
        ));
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    let notices = !matches!(
        cli.command,
        Command::Notices { .. } | Command::Completions { .. } | Command::Man
    );
    let client = Client::new(&cli.socket);
    let target = named_container(&cli.command);
    // doctor --json prints its checks even when it fails; that stays the only document.
    let error_document = json && !matches!(cli.command, Command::Doctor);
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => interrupted(),
            // No signal handler: Ctrl-C keeps its default effect.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        r = run(cli) => r,
        () = ctrl_c => Ok(()),
    };
    if notices {
        show_notices(&client).await;
    }
    if let Err(e) = result {
        // `devbox-ctl logs NAME | head`: the reader went away; nothing to report.
        if let Some(io) = e
            .chain()
            .find_map(|c| c.downcast_ref::<std::io::Error>())
            .filter(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            stdout_gone(io);
        }
        let code = exit_code(&e);
        let message = describe(&e);
        say!("devbox-ctl: {message}");
        if let (5, Some(name)) = (code, &target) {
            suggest_name(&client, name).await;
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_mistyped_name_suggests_the_closest_one() {
        let mine = ["demo-box", "alice-dev", "web"];
        assert_eq!(closest("demo-bx", mine), Some("demo-box"));
        assert_eq!(closest("alcie-dev", mine), Some("alice-dev"));
        assert_eq!(closest("demo-box2", mine), Some("demo-box"));
        assert_eq!(closest("something-else", mine), None);
        assert_eq!(
            closest("web", mine),
            None,
            "an exact name is not a suggestion"
        );
        assert_eq!(closest("x", []), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn cli_side_errors_carry_a_code_and_exit_code() {
        let e = invalid("bad");
        assert_eq!(exit_code(&e), 2);
        assert_eq!(error_code(&e), "bad-request");
        assert_eq!(describe(&e), "bad", "the code is not part of the message");
        let e = fail(ErrorCode::NeedsConfirmation, "not destroyed");
        assert_eq!(
            (exit_code(&e), error_code(&e)),
            (6, "needs-confirmation".into())
        );
        let e =
            anyhow::Error::new(std::io::Error::other("denied")).context("cannot read x: denied");
        assert_eq!(
            describe(&e),
            "cannot read x: denied",
            "a quoted cause is not repeated"
        );
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("writing x");
        assert_eq!(describe(&e), "writing x: disk full");
        let e = anyhow::anyhow!("something odd");
        assert_eq!((exit_code(&e), error_code(&e)), (1, "internal".into()));
    }
}
