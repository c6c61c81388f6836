#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The per-container credential (docs/security.md, "Inside the container"): code-server and
//! the Syncthing GUI/REST refuse a caller without it and serve one with it. Real Syncthing
//! (Debian's) on the host and in the testbed container; the code-server fake enforces the
//! password as code-server does.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{podman_quick, DevBox};
use devbox_entrypoint::config::Config;
use devbox_entrypoint::status::ServiceState;
use devbox_test_kit::{host_test, poll_until};

fn running(st: &devbox_entrypoint::status::Status, name: &str) -> bool {
    st.service(name)
        .is_some_and(|s| s.state == ServiceState::Running && s.pid.is_some())
}

/// Status line and whole response of one HTTP/1.0 request to `addr` from the host.
fn http(addr: &str, request: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (out.lines().next().unwrap_or("").to_string(), out)
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | u32::from(*c) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct HostSyncthing {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for HostSyncthing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[host_test]
fn syncthing_gui_and_rest_refuse_without_the_credential() {
    let dir = std::env::temp_dir().join(format!("cred-st-{}", std::process::id()));
    let home = dir.join("st");
    std::fs::create_dir_all(dir.join("sync")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gui = format!("127.0.0.1:{port}");
    let cfg = Config::from_lookup(|k| match k {
        "DEVBOX_HOSTNAME" => Some("cred-peer".into()),
        "DEVBOX_OWNER" => Some("alice".into()),
        "DEVBOX_SYNCTHING_HOME" => Some(home.to_string_lossy().into_owned()),
        "DEVBOX_SYNC_FOLDER" => Some(dir.join("sync").to_string_lossy().into_owned()),
        "DEVBOX_SYNCTHING_GUI_ADDRESS" => Some(gui.clone()),
        "DEVBOX_SYNCTHING_LISTEN" => Some("tcp://127.0.0.1:0".into()),
        _ => None,
    })
    .unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let password = devbox_entrypoint::prepare::new_password().unwrap();
    let key = devbox_entrypoint::syncthing::new_api_key().unwrap();
    std::fs::write(
        home.join("config.xml"),
        devbox_entrypoint::syncthing::initial_config(
            &cfg,
            &key,
            &devbox_entrypoint::prepare::hash_gui_password(&password).unwrap(),
        ),
    )
    .unwrap();
    let child = devbox_test_kit::host_program("syncthing")
        .args(devbox_entrypoint::syncthing::args(&cfg))
        .env("STMONITORED", "1")
        .env("STNOUPGRADE", "1")
        .env("STNODEFAULTFOLDER", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _st = HostSyncthing {
        child,
        dir: dir.clone(),
    };
    let req =
        |path: &str, extra: &str| format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n{extra}\r\n");
    poll_until(Duration::from_secs(20), "syncthing GUI listening", || {
        std::net::TcpStream::connect(&gui).ok()
    })
    .unwrap();
    let basic = |user: &str, pw: &str| {
        format!(
            "Authorization: Basic {}\r\n",
            base64(&format!("{user}:{pw}"))
        )
    };

    let (status, all) = http(&gui, &req("/rest/system/version", ""));
    assert!(
        status.contains(" 401 ") || status.contains(" 403 "),
        "REST without credentials: {all}"
    );
    let (status, all) = http(&gui, &req("/", ""));
    assert!(
        status.contains(" 401 ") || status.contains(" 403 "),
        "GUI without credentials: {all}"
    );
    let (status, all) = http(
        &gui,
        &req("/rest/system/version", &basic("dev", "wrong-password")),
    );
    assert!(
        status.contains(" 401 ") || status.contains(" 403 "),
        "wrong password: {all}"
    );
    // The GUI with the password (its REST calls then carry the session and CSRF token it
    // hands out; scripts use the API key).
    let (status, all) = http(&gui, &req("/", &basic("dev", &password)));
    assert!(status.contains(" 200 "), "GUI with the password: {all}");
    assert!(all.contains("Set-Cookie: CSRF-Token"), "{all}");
    // PID 1's activity probe uses the API key.
    let (status, all) = http(
        &gui,
        &req("/rest/stats/folder", &format!("X-API-Key: {key}\r\n")),
    );
    assert!(status.contains(" 200 "), "with the API key: {all}");
    // Reached by name over the tailnet (Host is the container's name), with the password.
    let (status, all) = http(
        &gui,
        &format!(
            "GET / HTTP/1.0\r\nHost: cred-peer:8384\r\n{}\r\n",
            basic("dev", &password)
        ),
    );
    assert!(status.contains(" 200 "), "by name with the password: {all}");
}

/// One HTTP/1.0 request from inside the container (busybox nc); the whole response.
fn http_in(b: &DevBox, port: u16, request: &str) -> String {
    try_http_in(b, port, request).unwrap()
}

/// The same, as an error while nothing listens yet (a service still starting).
fn try_http_in(b: &DevBox, port: u16, request: &str) -> Result<String, String> {
    podman_quick(&[
        "exec",
        &b.name,
        "sh",
        "-c",
        &format!("printf '{request}' | nc 127.0.0.1 {port}"),
    ])
}

#[host_test]
fn code_server_and_syncthing_in_the_container_require_the_owners_password() {
    let b = DevBox::start("ep-cred", &["-e", "DEVBOX_SYNCTHING=true"]);
    b.wait_for("services up", |s| {
        running(s, "code-server") && running(s, "syncthing")
    });
    // The credential: code-server's own config file, 0600, the dev user's.
    assert_eq!(
        b.exec("stat -c '%a %U' /home/dev/.config/code-server/config.yaml"),
        "600 dev"
    );
    assert_eq!(
        b.exec("stat -c '%a %U' /home/dev/.config/syncthing/config.xml"),
        "600 dev"
    );
    let yaml = podman_quick(&[
        "exec",
        "--user",
        "dev",
        &b.name,
        "cat",
        "/home/dev/.config/code-server/config.yaml",
    ])
    .unwrap();
    assert!(yaml.contains("auth: password"), "{yaml}");
    let password = devbox_entrypoint::prepare::password_from_config(&yaml).unwrap();
    assert_eq!(password.len(), 24);

    // code-server: refused without the password, served with it.
    let home = http_in(
        &b,
        8080,
        "GET / HTTP/1.0\\r\\nAccept: text/html\\r\\n\\r\\n",
    );
    assert!(home.starts_with("HTTP/1.1 302"), "{home}");
    assert!(home.contains("Location: ./login"), "{home}");
    let api = http_in(&b, 8080, "GET /api/files HTTP/1.0\\r\\n\\r\\n");
    assert!(api.starts_with("HTTP/1.1 401"), "{api}");
    let wrong = "password=not-it";
    let login = http_in(
        &b,
        8080,
        &format!(
            "POST /login HTTP/1.0\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: {}\\r\\n\\r\\n{wrong}",
            wrong.len()
        ),
    );
    assert!(login.contains("Incorrect password"), "{login}");
    assert!(!login.contains("Set-Cookie"), "{login}");
    let form = format!("password={password}");
    let login = http_in(
        &b,
        8080,
        &format!(
            "POST /login HTTP/1.0\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: {}\\r\\n\\r\\n{form}",
            form.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 302"), "{login}");
    let cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let served = http_in(
        &b,
        8080,
        &format!("GET / HTTP/1.0\\r\\nCookie: {cookie}\\r\\n\\r\\n"),
    );
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    // The probe's /healthz needs no session.
    let health = http_in(&b, 8080, "GET /healthz HTTP/1.0\\r\\n\\r\\n");
    assert!(health.contains("\"status\""), "{health}");

    // Syncthing in the container (real): the same password, user dev.
    poll_until(Duration::from_secs(30), "syncthing GUI", || {
        // Refused until Syncthing listens: ask again.
        try_http_in(
            &b,
            8384,
            "GET /rest/system/version HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n",
        )
        .ok()
        .filter(|r| !r.is_empty())
    })
    .unwrap();
    let refused = http_in(
        &b,
        8384,
        "GET /rest/system/version HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n",
    );
    let first = |r: &str| r.lines().next().unwrap_or("").to_string();
    assert!(
        first(&refused).contains(" 401 ") || first(&refused).contains(" 403 "),
        "{refused}"
    );
    let ok = http_in(
        &b,
        8384,
        &format!(
            "GET / HTTP/1.0\\r\\nHost: localhost\\r\\nAuthorization: Basic {}\\r\\n\\r\\n",
            base64(&format!("dev:{password}"))
        ),
    );
    assert!(first(&ok).contains(" 200 "), "{ok}");

    // The password is on no other surface.
    let inspect = devbox_test_kit::podman::podman(&["inspect", &b.name]).unwrap();
    let status = b.exec("cat /run/devbox/status.json");
    let argv = b.exec("cat /tmp/devbox-fakes/argv.jsonl");
    let ps = b.exec("ps -o args");
    for (surface, text) in [
        ("podman inspect", inspect),
        ("container log", b.logs()),
        ("status", status),
        ("argv log", argv),
        ("process list", ps),
    ] {
        assert!(
            !text.contains(&password),
            "the password leaked into {surface}"
        );
    }
}
