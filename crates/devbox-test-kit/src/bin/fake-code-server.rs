//! FAKE code-server (the real one needs Node and a release download).
//!
//! Accepts the real program's flags that nix-devbox uses (unknown ones are refused like the
//! real CLI does), creates its user-data and extensions directories, listens on `--bind-addr`
//! and serves `GET /healthz` as `{"status":"alive"|"expired","lastHeartbeat":MS}`. Like the
//! real server, any other request is a client heartbeat; the status is "alive" while the last
//! heartbeat is younger than 60 s and "expired" otherwise (0 = never).
//!
//! Authentication as code-server does it: settings from `--config FILE` (else
//! `$XDG_CONFIG_HOME/code-server/config.yaml` or `~/.config/...`; written with a random
//! password when missing), flags over the file, `$PASSWORD` over both. With `auth: password`
//! and no password it refuses to start with the real message. `/healthz` and `/login` need no
//! session; `POST /login` with the right `password=` sets the `code-server-session` cookie and
//! redirects to `./`; a wrong one shows the login page again ("Incorrect password"). Without a
//! valid cookie `GET /` redirects to `./login` and anything else is `401 Unauthorized`. (The
//! real cookie holds an argon2 hash of the password; the fake's holds a plain hash of it.)
//! Env `FAKE_CODE_SERVER_IGNORE_SIGTERM=1` makes it deaf to SIGTERM (a hung server), so tests
//! can prove the supervisor's SIGKILL after the grace period.

use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read, Write};
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
    match start(&args) {
        Ok(code) | Err(code) => code,
    }
}

/// Everything up to serving forever; an Err is the exit code of a refusal (the message is out).
fn start(args: &[String]) -> Result<ExitCode, ExitCode> {
    let flags = match parse_flags(args)? {
        Parsed::Run(flags) => flags,
        Parsed::Version => {
            println!("4.96.4-fake");
            return Ok(ExitCode::SUCCESS);
        }
    };
    for d in &flags.dirs {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("error EACCES: {d}: {e}");
            return Err(ExitCode::from(1));
        }
    }
    let config = read_config(&config_path(flags.config));
    let session = session_token(flags.auth, &config)?;
    if std::env::var("FAKE_CODE_SERVER_IGNORE_SIGTERM").is_ok_and(|v| v == "1") {
        // Blocked before any thread starts, so every thread inherits it.
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGTERM);
        let _ = set.thread_block();
    }
    let listener = match TcpListener::bind(&flags.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error listen EADDRINUSE or invalid address {}: {e}",
                flags.bind
            );
            return Err(ExitCode::from(1));
        }
    };
    println!(
        "[fake-code-server] HTTP server listening on http://{}/",
        flags.bind
    );
    let session = Arc::new(session);
    let heartbeat = Arc::new(AtomicU64::new(0));
    for stream in listener.incoming().flatten() {
        let heartbeat = Arc::clone(&heartbeat);
        let session = Arc::clone(&session);
        std::thread::spawn(move || serve(&stream, &heartbeat, session.as_deref()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The command line's settings.
struct Flags {
    bind: String,
    /// `--user-data-dir` and `--extensions-dir`, made at start.
    dirs: Vec<String>,
    auth: Option<String>,
    config: Option<String>,
}

enum Parsed {
    Run(Flags),
    Version,
}

/// The flags nix-devbox uses (`--flag value` or `--flag=value`); an unknown option is refused
/// (Err: the exit code) as the real CLI does.
fn parse_flags(args: &[String]) -> Result<Parsed, ExitCode> {
    let mut flags = Flags {
        bind: String::from("127.0.0.1:8080"),
        dirs: Vec::new(),
        auth: None,
        config: None,
    };
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
            "--bind-addr" => flags.bind = value().unwrap_or_default(),
            "--user-data-dir" | "--extensions-dir" => flags.dirs.extend(value()),
            "--auth" => flags.auth = value(),
            "--config" => flags.config = value(),
            "--app-name" | "--locale" => {
                let _ = value();
            }
            "--disable-telemetry"
            | "--disable-update-check"
            | "--disable-workspace-trust"
            | "--disable-getting-started-override" => {}
            "--version" => return Ok(Parsed::Version),
            f if f.starts_with('-') => {
                eprintln!("error Unknown option {f}");
                return Err(ExitCode::from(1));
            }
            _ => {} // the folder to open
        }
        i += 1;
    }
    Ok(Parsed::Run(flags))
}

/// `--config`, else `$CODE_SERVER_CONFIG`, else `$XDG_CONFIG_HOME/code-server/config.yaml`
/// (`~/.config` without XDG_CONFIG_HOME).
fn config_path(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("CODE_SERVER_CONFIG").ok())
        .unwrap_or_else(|| {
            let base = std::env::var("XDG_CONFIG_HOME").unwrap_or_else(|_| {
                format!("{}/.config", std::env::var("HOME").unwrap_or_default())
            });
            format!("{base}/code-server/config.yaml")
        })
}

/// The config file's text; a missing one is written first, like the real one does: a default
/// config with a generated password.
fn read_config(path: &str) -> String {
    if let Ok(text) = std::fs::read_to_string(path) {
        return text;
    }
    let text = format!(
        "bind-addr: 127.0.0.1:8080\nauth: password\npassword: {:016x}\ncert: false\n",
        token(&format!("{:?}{}", SystemTime::now(), std::process::id()))
    );
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(path, &text);
    text
}

/// The session cookie's value a client must show (None: `auth: none`, no session needed).
/// `--auth` over the file's `auth:`; `$PASSWORD` over the file's `password:`. Err: refused to
/// start, with the real program's message.
fn session_token(auth_flag: Option<String>, config: &str) -> Result<Option<String>, ExitCode> {
    let setting = |key: &str| {
        config.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.strip_prefix(':')?.trim();
            Some(v.trim_matches('"').trim_matches('\'').to_string())
        })
    };
    let auth = auth_flag
        .or_else(|| setting("auth"))
        .unwrap_or_else(|| "password".into());
    let password = std::env::var("PASSWORD")
        .ok()
        .or_else(|| setting("password"));
    match auth.as_str() {
        "none" => Ok(None),
        "password" => match password {
            Some(p) if !p.is_empty() => Ok(Some(format!("{:016x}", token(&p)))),
            _ => {
                eprintln!("error Please pass in a password via the config file or environment variable ($PASSWORD or $HASHED_PASSWORD)");
                Err(ExitCode::from(1))
            }
        },
        other => {
            eprintln!("error Unknown auth type {other}");
            Err(ExitCode::from(1))
        }
    }
}

fn token(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(b"fake-code-server-session");
    h.write(s.as_bytes());
    h.finish()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One connection: one request, one answer, then closed.
fn serve(stream: &std::net::TcpStream, heartbeat: &AtomicU64, session: Option<&str>) {
    let Some(request) = read_request(stream, session) else {
        return;
    };
    let (status, headers, text) = if request.path == "/healthz" {
        healthz(heartbeat)
    } else {
        // Any other request is a client heartbeat, signed in or not.
        heartbeat.store(now_ms(), Ordering::Relaxed);
        if request.path == "/login" || request.path == "/login/" {
            login(&request, session)
        } else if request.signed_in {
            ("200 OK", String::new(), "fake code-server\n".to_string())
        } else if request.path == "/" {
            (
                "302 Found",
                "Location: ./login\r\n".to_string(),
                String::new(),
            )
        } else {
            (
                "401 Unauthorized",
                String::new(),
                "Unauthorized\n".to_string(),
            )
        }
    };
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// An answer: the status line's status, extra header lines (each ending in CRLF), the body.
type Answer = (&'static str, String, String);

struct Request {
    method: String,
    /// The target without its query.
    path: String,
    /// No session needed, or the `code-server-session` cookie holds it.
    signed_in: bool,
    body: Vec<u8>,
}

/// The request line, the headers that matter and the body (at most 64 KiB); None when the
/// client sent nothing readable.
fn read_request(stream: &std::net::TcpStream, session: Option<&str>) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return None;
    }
    let mut signed_in = session.is_none();
    let mut length = 0usize;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        let (name, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().unwrap_or(0).min(64 * 1024);
        }
        if name == "cookie" {
            if let Some(s) = session {
                signed_in |= value
                    .split(';')
                    .filter_map(|c| c.trim().split_once('='))
                    .any(|(k, v)| k == "code-server-session" && v == s);
            }
        }
        line.clear();
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let target = words.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        body.clear();
    }
    Some(Request {
        method,
        path,
        signed_in,
        body,
    })
}

/// `GET /healthz`: alive while the last heartbeat is younger than [`HEARTBEAT_ALIVE_MS`].
fn healthz(heartbeat: &AtomicU64) -> Answer {
    let last = heartbeat.load(Ordering::Relaxed);
    let alive = last != 0 && now_ms().saturating_sub(last) < HEARTBEAT_ALIVE_MS;
    (
        "200 OK",
        String::new(),
        format!(
            "{{\"status\":\"{}\",\"lastHeartbeat\":{last}}}",
            if alive { "alive" } else { "expired" }
        ),
    )
}

/// `/login`: the right `password=` POSTed sets the session cookie and redirects to `./`; a
/// wrong one, or a GET, shows the login page.
fn login(request: &Request, session: Option<&str>) -> Answer {
    let form = String::from_utf8_lossy(&request.body).into_owned();
    let given = form
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "password")
        .map(|(_, v)| url_decode(v));
    match (request.method.as_str(), session, given) {
        (_, None, _) => ("302 Found", "Location: ./\r\n".to_string(), String::new()),
        ("POST", Some(s), Some(p)) if format!("{:016x}", token(&p)) == s => (
            "302 Found",
            format!(
                "Set-Cookie: code-server-session={s}; Path=/; HttpOnly; SameSite=Lax\r\nLocation: ./\r\n"
            ),
            String::new(),
        ),
        ("POST", _, _) => (
            "200 OK",
            String::new(),
            "login page: Incorrect password\n".to_string(),
        ),
        _ => (
            "200 OK",
            String::new(),
            "login page: check the config file for the password\n".to_string(),
        ),
    }
}
