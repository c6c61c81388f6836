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
use std::path::PathBuf;
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
    let mut socket = PathBuf::from(DEFAULT_SOCKET);
    let mut tun = String::from("tailscale0");
    let mut state = String::new();
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
            "socket" => socket = value().unwrap_or_default().into(),
            "tun" => tun = value().unwrap_or_default(),
            "state" => state = value().unwrap_or_default(),
            "statedir" | "port" | "socks5-server" | "outbound-http-proxy-listen" | "verbose" => {
                let _ = value();
            }
            "no-logs-no-support" => {}
            other => {
                eprintln!("flag provided but not defined: -{other}");
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    if std::env::var("FAKE_TAILSCALED_FAIL_START").is_ok_and(|v| v == "1") {
        eprintln!("fake-tailscaled: failing at start as asked (FAKE_TAILSCALED_FAIL_START=1)");
        return ExitCode::from(1);
    }
    if tun != "userspace-networking" && !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("tun module not loaded nor found on disk; use --tun=userspace-networking");
        return ExitCode::from(1);
    }
    if state.is_empty() {
        eprintln!("--state is required (use --state=mem: for an in-memory state)");
        return ExitCode::from(1);
    }
    let mut sigs = SigSet::empty();
    sigs.add(Signal::SIGTERM);
    sigs.add(Signal::SIGINT);
    if let Err(e) = sigs.thread_block() {
        eprintln!("fake-tailscaled: cannot block signals: {e}");
        return ExitCode::from(1);
    }
    if let Some(dir) = socket.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&socket);
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("safesocket.Listen: {}: {e}", socket.display());
            return ExitCode::from(1);
        }
    };
    // `mem:` starts logged out; a state file resumes the saved login.
    let node = fake_tailscale::resume_node(&state);
    if let Err(e) = fake_tailscale::write_node(&socket, &node) {
        eprintln!("fake-tailscaled: {e}");
        return ExitCode::from(1);
    }
    println!(
        "fake-tailscaled: listening on {} (userspace networking)",
        socket.display()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let sig = sigs.wait();
    println!("fake-tailscaled: got {sig:?}, going offline");
    if let Some(node) = fake_tailscale::read_node(&socket) {
        if let (Some(dev), Some(control)) = (node.device, node.control) {
            let _ = Control::at(control).update(|s, _| s.set_online(&dev.id, false));
        }
    }
    let _ = std::fs::remove_file(fake_tailscale::node_state_path(&socket)); // the --state file stays
    let _ = std::fs::remove_file(&socket);
    ExitCode::SUCCESS
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
