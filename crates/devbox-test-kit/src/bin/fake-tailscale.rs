//! FAKE tailscale CLI (the real one needs a real tailscaled and control plane).
//!
//! Talks to the fake tailscaled through its `--socket` (fails like the real CLI when the daemon
//! is not running) and to the fake control plane ([`devbox_test_kit::fake_tailscale`]).
//! Subcommands: `up`, `status [--json]`, `ip [-4|-6]`, `logout`, `down`, `version`.
//! `up --auth-key=file:PATH` reads the key from the file; tags must be owned by the key.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use devbox_test_kit::fake_tailscale::{self, Control, NodeState, FAKE_VERSION};
use devbox_test_kit::fakes::record_argv;

const DEFAULT_SOCKET: &str = "/var/run/tailscale/tailscaled.sock";

fn main() -> ExitCode {
    record_argv("tailscale");
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut socket = PathBuf::from(DEFAULT_SOCKET);
    // Global flags come before the subcommand.
    while let Some(first) = args.first().cloned() {
        if let Some(v) = first.strip_prefix("--socket=") {
            socket = v.into();
            args.remove(0);
        } else if first == "--socket" && args.len() > 1 {
            socket = args[1].clone().into();
            args.drain(..2);
        } else {
            break;
        }
    }
    let Some(cmd) = args.first().cloned() else {
        eprintln!("usage: tailscale [--socket=PATH] <up|status|ip|logout|down|version> ...");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "version" => {
            println!("{FAKE_VERSION}");
            Ok(())
        }
        "up" => up(&socket, rest),
        "status" => status(&socket, rest),
        "ip" => ip(&socket, rest),
        "logout" => logout(&socket),
        "down" => down(&socket),
        other => Err((2, format!("tailscale: unknown subcommand \"{other}\""))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("{msg}");
            ExitCode::from(code)
        }
    }
}

type CliResult = Result<(), (u8, String)>;

fn connect(socket: &Path) -> Result<NodeState, (u8, String)> {
    let not_running = || {
        (
            1,
            format!(
                "failed to connect to local tailscaled; it doesn't appear to be running (socket {})",
                socket.display()
            ),
        )
    };
    UnixStream::connect(socket).map_err(|_| not_running())?;
    fake_tailscale::read_node(socket).ok_or_else(not_running)
}

fn save(socket: &Path, node: &NodeState) -> CliResult {
    fake_tailscale::write_node(socket, node).map_err(|e| (1, e.to_string()))
}

/// `tailscale up`: logs in with the auth key (or brings a logged-in node back up), unless the
/// node already runs with these settings.
fn up(socket: &Path, args: &[String]) -> CliResult {
    let flags = parse_up(args)?;
    for t in &flags.tags {
        if !t.starts_with("tag:") || t.len() < 5 {
            return Err((1, format!("tailscale: tag {t:?} must start with \"tag:\"")));
        }
    }
    let mut node = connect(socket)?;
    if node.backend_state == "Running" && !flags.force_reauth {
        if let Some(dev) = &node.device {
            if dev.hostname == flags.hostname && dev.tags == flags.tags && dev.ssh == flags.ssh {
                return Ok(());
            }
        }
    }
    let key = auth_key(flags.key.as_deref(), &node)?;
    let control = Control::from_env();
    let dev = log_in(&control, &node, &key, &flags)?;
    node.backend_state = "Running".into();
    node.device = Some(dev);
    node.control = Some(control.path().to_path_buf());
    save(socket, &node)
}

/// The settings of `tailscale up`.
struct UpFlags {
    /// `--auth-key` as given (a key, or `file:PATH`).
    key: Option<String>,
    hostname: String,
    tags: Vec<String>,
    ssh: bool,
    force_reauth: bool,
}

/// `up`'s flags, Go style (`-flag`, `--flag`, `=value` or the next argument); the hostname
/// defaults to /etc/hostname's.
fn parse_up(args: &[String]) -> Result<UpFlags, (u8, String)> {
    let mut flags = UpFlags {
        key: None,
        hostname: std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
        tags: Vec::new(),
        ssh: false,
        force_reauth: false,
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.trim_start_matches('-').to_string(), Some(v.to_string())),
            None => (a.trim_start_matches('-').to_string(), None),
        };
        let bool_flag = |inline: &Option<String>| inline.as_deref() != Some("false");
        let mut value = || -> Result<String, (u8, String)> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or((2, format!("flag needs an argument: -{flag}")))
        };
        match flag.as_str() {
            "auth-key" | "authkey" => flags.key = Some(value()?),
            "hostname" => flags.hostname = value()?,
            "advertise-tags" => {
                flags.tags = value()?
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "ssh" => flags.ssh = bool_flag(&inline),
            "force-reauth" => flags.force_reauth = bool_flag(&inline),
            "reset" | "accept-dns" | "accept-routes" => {}
            "timeout" | "login-server" => {
                value()?;
            }
            other => return Err((2, format!("flag provided but not defined: -{other}"))),
        }
        i += 1;
    }
    Ok(flags)
}

/// The key to log in with: given, read from `file:PATH`, or empty for a node that is already
/// logged in (a re-up keeps its device).
fn auth_key(given: Option<&str>, node: &NodeState) -> Result<String, (u8, String)> {
    match given {
        Some(k) => match k.strip_prefix("file:") {
            Some(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| (1, format!("reading auth key file {path:?}: {e}"))),
            None => Ok(k.to_string()),
        },
        None if node.device.is_some() => Ok(String::new()),
        None => Err((
            1,
            "fake-tailscale: no auth key given; the interactive login URL flow is not modelled"
                .into(),
        )),
    }
}

/// The control plane's side of `up`: the device logged in (or, without a key, the node's own
/// device back online).
fn log_in(
    control: &Control,
    node: &NodeState,
    key: &str,
    flags: &UpFlags,
) -> Result<fake_tailscale::Device, (u8, String)> {
    // A slow control plane: the login answers late (outside the lock, as the real one would).
    let delay = control
        .update(|s, _| s.login_delay_ms)
        .map_err(|e| (1, e.to_string()))?;
    if delay > 0 {
        std::thread::sleep(std::time::Duration::from_millis(delay));
    }
    let existing = node.device.as_ref().map(|d| d.id.clone());
    let login = control
        .update(|s, permissive| {
            if key.is_empty() {
                // Re-up of a logged-in node without a key: keep the device.
                match node.device.clone() {
                    Some(d) => {
                        s.set_online(&d.id, true);
                        Ok(d)
                    }
                    None => Err(fake_tailscale::LoginError::InvalidKey),
                }
            } else {
                s.login(
                    key,
                    &flags.hostname,
                    &flags.tags,
                    flags.ssh,
                    existing.as_deref(),
                    permissive,
                )
            }
        })
        .map_err(|e| (1, e.to_string()))?;
    login.map_err(|e| (1, e.to_string()))
}

fn status(socket: &Path, args: &[String]) -> CliResult {
    let node = connect(socket)?;
    if args.iter().any(|a| a == "--json" || a == "-json") {
        let text = serde_json::to_string_pretty(&fake_tailscale::status_json(&node))
            .map_err(|e| (1, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    match (&node.device, node.backend_state.as_str()) {
        (Some(d), "Running") => {
            println!(
                "{}  {}  tagged-devices linux  -",
                d.addresses.first().map(String::as_str).unwrap_or("-"),
                d.name
            );
            Ok(())
        }
        _ => Err((1, "Logged out.".into())),
    }
}

fn ip(socket: &Path, _args: &[String]) -> CliResult {
    let node = connect(socket)?;
    match (&node.device, node.backend_state.as_str()) {
        (Some(d), "Running") => {
            for a in &d.addresses {
                println!("{a}");
            }
            Ok(())
        }
        (_, state) => Err((1, format!("no current Tailscale IPs; state: {state}"))),
    }
}

fn logout(socket: &Path) -> CliResult {
    let mut node = connect(socket)?;
    if let (Some(dev), Some(control)) = (&node.device, &node.control) {
        Control::at(control)
            .update(|s, _| s.logout(&dev.id))
            .map_err(|e| (1, e.to_string()))?;
    }
    node.backend_state = "NeedsLogin".into();
    node.device = None;
    node.control = None;
    save(socket, &node)
}

fn down(socket: &Path) -> CliResult {
    let mut node = connect(socket)?;
    if let (Some(dev), Some(control)) = (&node.device, &node.control) {
        Control::at(control)
            .update(|s, _| s.set_online(&dev.id, false))
            .map_err(|e| (1, e.to_string()))?;
    }
    node.backend_state = "Stopped".into();
    save(socket, &node)
}
