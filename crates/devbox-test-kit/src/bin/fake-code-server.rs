//! FAKE code-server (the real one needs Node and a release download).
//!
//! Accepts the real program's flags that nix-devbox uses (unknown ones are refused like the
//! real CLI does), creates its user-data and extensions directories, listens on `--bind-addr`
//! and serves `GET /healthz` as `{"status":"alive"|"expired","lastHeartbeat":MS}`. Like the
//! real server, any other request is a client heartbeat; the status is "alive" while the last
//! heartbeat is younger than 60 s and "expired" otherwise (0 = never).
//! Env `FAKE_CODE_SERVER_IGNORE_SIGTERM=1` makes it deaf to SIGTERM (a hung server), so tests
//! can prove the supervisor's SIGKILL after the grace period.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use devbox_test_kit::fakes::record_argv;

const HEARTBEAT_ALIVE_MS: u64 = 60_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn main() -> ExitCode {
    record_argv("code-server");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut bind = String::from("127.0.0.1:8080");
    let mut dirs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || {
            inline.clone().or_else(|| {
                i += 1;
                args.get(i).cloned()
            })
        };
        match flag.as_str() {
            "--bind-addr" => bind = value().unwrap_or_default(),
            "--user-data-dir" | "--extensions-dir" => dirs.extend(value()),
            "--auth" | "--app-name" | "--locale" => {
                let _ = value();
            }
            "--disable-telemetry"
            | "--disable-update-check"
            | "--disable-workspace-trust"
            | "--disable-getting-started-override" => {}
            "--version" => {
                println!("4.96.4-fake");
                return ExitCode::SUCCESS;
            }
            f if f.starts_with('-') => {
                eprintln!("error Unknown option {f}");
                return ExitCode::from(1);
            }
            _ => {} // the folder to open
        }
        i += 1;
    }
    for d in &dirs {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("error EACCES: {d}: {e}");
            return ExitCode::from(1);
        }
    }
    if std::env::var("FAKE_CODE_SERVER_IGNORE_SIGTERM").is_ok_and(|v| v == "1") {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGTERM);
        let _ = set.thread_block();
    }
    let listener = match TcpListener::bind(&bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error listen EADDRINUSE or invalid address {bind}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("[fake-code-server] HTTP server listening on http://{bind}/");
    let heartbeat = Arc::new(AtomicU64::new(0));
    for stream in listener.incoming().flatten() {
        let heartbeat = Arc::clone(&heartbeat);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                return;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let body = if path == "/healthz" {
                let last = heartbeat.load(Ordering::Relaxed);
                let alive = last != 0 && now_ms().saturating_sub(last) < HEARTBEAT_ALIVE_MS;
                format!(
                    "{{\"status\":\"{}\",\"lastHeartbeat\":{last}}}",
                    if alive { "alive" } else { "expired" }
                )
            } else {
                heartbeat.store(now_ms(), Ordering::Relaxed);
                "fake code-server\n".to_string()
            };
            let mut out = &stream;
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
    }
    ExitCode::SUCCESS
}
