//! FAKE Tailscale API server (the real one is api.tailscale.com), over the fake control plane.
//!
//! `fake-tailscale-api --listen 127.0.0.1:0 [--control PATH] [--api-key-file FILE]` prints
//! `listening on http://ADDR` as its first line, then serves, like the real v2 API:
//! - `GET /api/v2/tailnet/{tailnet}/devices` -> `{"devices":[...]}`
//! - `GET /api/v2/device/{id}` -> the device, or 404
//! - `DELETE /api/v2/device/{id}` -> 200, or 404 when there is no such device
//!
//! Requests must carry `Authorization: Bearer KEY` with the key from `--api-key-file` (any
//! `tskey-api-*` key when no file is given); otherwise 401, as the real API answers.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use devbox_test_kit::fake_tailscale::{Control, Device, TAILNET_SUFFIX};
use devbox_test_kit::fakes::record_argv;

fn main() -> ExitCode {
    record_argv("tailscale-api");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let listen = value("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let control = value("--control").map_or_else(Control::from_env, Control::at);
    let api_key = match value("--api-key-file") {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(k) => Some(k.trim().to_string()),
            Err(e) => {
                eprintln!("fake-tailscale-api: cannot read {path}: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-tailscale-api: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => {
            eprintln!("fake-tailscale-api: {e}");
            return ExitCode::from(1);
        }
    }
    let _ = std::io::stdout().flush();
    for stream in listener.incoming().flatten() {
        let control = control.clone();
        let api_key = api_key.clone();
        std::thread::spawn(move || serve(stream, &control, api_key.as_deref()));
    }
    ExitCode::SUCCESS
}

fn api_device(d: &Device) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "nodeId": d.id,
        "hostname": d.hostname,
        "name": format!("{}.{TAILNET_SUFFIX}", d.name),
        "addresses": d.addresses,
        "tags": d.tags,
        "authorized": true,
        "os": "linux",
        "connectedToControl": d.online,
        "isEphemeral": d.ephemeral,
    })
}

fn serve(stream: TcpStream, control: &Control, api_key: Option<&str>) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut auth = None;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = v.trim().strip_prefix("Bearer ").map(str::to_string);
            }
        }
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let authorized = match (api_key, auth.as_deref()) {
        (Some(expected), Some(given)) => expected == given,
        (None, Some(given)) => given.starts_with("tskey-api-"),
        _ => false,
    };
    let (code, body) = if !authorized {
        (
            401,
            serde_json::json!({"message": "API token invalid"}).to_string(),
        )
    } else {
        route(method, path, control)
    };
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    let mut out = &stream;
    let _ = write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn route(method: &str, path: &str, control: &Control) -> (u16, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_found = || (404, serde_json::json!({"message": "not found"}).to_string());
    let failed = |e: devbox_test_kit::KitError| {
        (
            500,
            serde_json::json!({"message": e.to_string()}).to_string(),
        )
    };
    match (method, segs.as_slice()) {
        ("GET", ["api", "v2", "tailnet", _, "devices"]) => match control.list_devices() {
            Ok(devs) => (
                200,
                serde_json::json!({"devices": devs.iter().map(api_device).collect::<Vec<_>>()})
                    .to_string(),
            ),
            Err(e) => failed(e),
        },
        ("GET", ["api", "v2", "device", id]) => match control.list_devices() {
            Ok(devs) => devs
                .iter()
                .find(|d| d.id == *id)
                .map_or_else(not_found, |d| (200, api_device(d).to_string())),
            Err(e) => failed(e),
        },
        ("DELETE", ["api", "v2", "device", id]) => match control.delete_device(id) {
            Ok(true) => (200, String::new()),
            Ok(false) => not_found(),
            Err(e) => failed(e),
        },
        _ => not_found(),
    }
}
