//! FAKE tailscaled (the real one cannot run here: no control plane, no internet).
//!
//! Observable behaviour kept from the real daemon: it listens on `--socket` (the CLI fails when
//! it is not there), starts logged out with `--state=mem:` and resumes its login from a
//! `--state=PATH` file (back online in the tailnet, no new node), refuses to start without
//! `--tun=userspace-networking` when there is no /dev/net/tun, and on SIGTERM/SIGINT goes
//! offline (its node lingers in the tailnet until it logs out, like a real ephemeral node).
//! `tailscaled be-child ssh` models a Tailscale SSH session process (it lives for
//! `--fake-session-secs` seconds, default 3600, or until signalled).
//! Env `FAKE_TAILSCALED_FAIL_START=1` makes it exit 1 at once (a crash loop).

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use devbox_test_kit::fake_tailscale::{self, Control};
use devbox_test_kit::fakes::record_argv;
use nix::sys::signal::{SigSet, Signal};

const DEFAULT_SOCKET: &str = "/var/run/tailscale/tailscaled.sock";

fn main() -> ExitCode {
    record_argv("tailscaled");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("be-child") {
        return ssh_session(&args);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// The daemon: checks, listens, waits for SIGTERM/SIGINT, goes offline. An Err is the exit code
/// of a refusal (the message is out).
fn run(args: &[String]) -> Result<(), ExitCode> {
    let flags = parse_flags(args)?;
    if std::env::var("FAKE_TAILSCALED_FAIL_START").is_ok_and(|v| v == "1") {
        eprintln!("fake-tailscaled: failing at start as asked (FAKE_TAILSCALED_FAIL_START=1)");
        return Err(ExitCode::from(1));
    }
    if flags.tun != "userspace-networking" && !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("tun module not loaded nor found on disk; use --tun=userspace-networking");
        return Err(ExitCode::from(1));
    }
    if flags.state.is_empty() {
        eprintln!("--state is required (use --state=mem: for an in-memory state)");
        return Err(ExitCode::from(1));
    }
    // Blocked before any thread starts, so that only `sigs.wait()` below receives them.
    let mut sigs = SigSet::empty();
    sigs.add(Signal::SIGTERM);
    sigs.add(Signal::SIGINT);
    if let Err(e) = sigs.thread_block() {
        eprintln!("fake-tailscaled: cannot block signals: {e}");
        return Err(ExitCode::from(1));
    }
    let listener = listen(&flags.socket, &flags.state)?;
    println!(
        "fake-tailscaled: listening on {} (userspace networking)",
        flags.socket.display()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let sig = sigs.wait();
    println!("fake-tailscaled: got {sig:?}, going offline");
    go_offline(&flags.socket);
    Ok(())
}

/// The daemon's settings.
struct Flags {
    socket: PathBuf,
    tun: String,
    /// `mem:` or a state file's path; empty when not given.
    state: String,
}

/// The flags, Go style (`-flag`, `--flag`, `=value` or the next argument); one it does not know
/// is refused with exit code 2, as the real daemon does.
fn parse_flags(args: &[String]) -> Result<Flags, ExitCode> {
    let mut flags = Flags {
        socket: PathBuf::from(DEFAULT_SOCKET),
        tun: String::from("tailscale0"),
        state: String::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || -> Option<String> {
            inline.clone().or_else(|| {
                i += 1;
                args.get(i).cloned()
            })
        };
        match flag.trim_start_matches('-') {
            "socket" => flags.socket = value().unwrap_or_default().into(),
            "tun" => flags.tun = value().unwrap_or_default(),
            "state" => flags.state = value().unwrap_or_default(),
            "statedir" | "port" | "socks5-server" | "outbound-http-proxy-listen" | "verbose" => {
                let _ = value();
            }
            "no-logs-no-support" => {}
            other => {
                eprintln!("flag provided but not defined: -{other}");
                return Err(ExitCode::from(2));
            }
        }
        i += 1;
    }
    Ok(flags)
}

/// The socket the CLI connects to, and the node state beside it: `mem:` starts logged out; a
/// state file resumes the saved login.
fn listen(socket: &Path, state: &str) -> Result<UnixListener, ExitCode> {
    if let Some(dir) = socket.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(socket);
    let listener = match UnixListener::bind(socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("safesocket.Listen: {}: {e}", socket.display());
            return Err(ExitCode::from(1));
        }
    };
    let node = fake_tailscale::resume_node(state);
    if let Err(e) = fake_tailscale::write_node(socket, &node) {
        eprintln!("fake-tailscaled: {e}");
        return Err(ExitCode::from(1));
    }
    Ok(listener)
}

/// On the way out: the device goes offline in the tailnet (it stays listed until it logs out,
/// like a real ephemeral node); the node state and the socket go, the --state file stays.
fn go_offline(socket: &Path) {
    if let Some(node) = fake_tailscale::read_node(socket) {
        if let (Some(dev), Some(control)) = (node.device, node.control) {
            let _ = Control::at(control).update(|s, _| s.set_online(&dev.id, false));
        }
    }
    let _ = std::fs::remove_file(fake_tailscale::node_state_path(socket)); // the --state file stays
    let _ = std::fs::remove_file(socket);
}

/// `tailscaled be-child ssh ...`: one Tailscale SSH session.
fn ssh_session(args: &[String]) -> ExitCode {
    let secs = args
        .iter()
        .position(|a| a == "--fake-session-secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600u64);
    std::thread::sleep(Duration::from_secs(secs));
    ExitCode::SUCCESS
}
