#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real Syncthing on both sides: a Syncthing instance on the host pairs with the one inside the
//! dev container over the Podman network (no discovery, no relays: explicit addresses), files
//! written on either side appear on the other, and conflicting edits end as Syncthing conflict
//! copies with nothing lost.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{podman_quick, DevBox};
use devbox_entrypoint::config::Config;
use devbox_test_kit::podman::{podman, podman_output_within};
use devbox_test_kit::{host_test, poll_until};

const BOX_HOME: &str = "/home/dev/.config/syncthing";
const SYNC_WAIT: Duration = Duration::from_secs(45);
/// The host peer's GUI password (its API is used with the API key).
const GUI_PASSWORD: &str = "host-peer-gui-password";

struct HostPeer {
    home: PathBuf,
    folder: PathBuf,
    child: Child,
    id: String,
    gui: String,
    key: String,
    listen_port: u16,
}

impl Drop for HostPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.home.parent().unwrap_or(&self.home));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl HostPeer {
    /// A host Syncthing with the same settings the entrypoint writes (discovery and relays
    /// off), on free ports.
    fn start(tag: &str) -> HostPeer {
        let base = std::env::temp_dir().join(format!("{tag}-peer"));
        let home = base.join("st");
        let folder = base.join("sync");
        std::fs::create_dir_all(&folder).unwrap();
        let gui = format!("127.0.0.1:{}", free_port());
        let listen_port = free_port();
        let listen = format!("tcp://0.0.0.0:{listen_port}");
        let cfg = Config::from_lookup(|k| match k {
            "DEVBOX_HOSTNAME" => Some("host-peer".into()),
            "DEVBOX_OWNER" => Some("alice".into()),
            "DEVBOX_SYNCTHING_HOME" => Some(home.to_string_lossy().into_owned()),
            "DEVBOX_SYNC_FOLDER" => Some(folder.to_string_lossy().into_owned()),
            "DEVBOX_SYNCTHING_GUI_ADDRESS" => Some(gui.clone()),
            "DEVBOX_SYNCTHING_LISTEN" => Some(listen.clone()),
            _ => None,
        })
        .unwrap();
        run(devbox_test_kit::host_program("syncthing")
            .args(["generate", "--no-default-folder"])
            .arg(format!("--home={}", home.display())));
        let key = devbox_entrypoint::syncthing::new_api_key().unwrap();
        std::fs::write(
            home.join("config.xml"),
            devbox_entrypoint::syncthing::initial_config(
                &cfg,
                &key,
                &devbox_entrypoint::prepare::hash_gui_password(GUI_PASSWORD).unwrap(),
            ),
        )
        .unwrap();
        let id = run(devbox_test_kit::host_program("syncthing")
            .args(["serve", "--device-id"])
            .arg(format!("--home={}", home.display())));
        let child = devbox_test_kit::host_program("syncthing")
            .args(["serve", "--no-browser", "--no-restart", "--no-upgrade"])
            .arg(format!("--home={}", home.display()))
            .env("STMONITORED", "1")
            .env("STNOUPGRADE", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(base.join("peer.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let peer = HostPeer {
            home,
            folder,
            child,
            id,
            gui,
            key,
            listen_port,
        };
        poll_until(Duration::from_secs(20), "host syncthing API", || {
            peer.cli(&["show", "system"]).ok()
        })
        .unwrap();
        peer
    }

    fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = devbox_test_kit::host_program("syncthing")
            .arg("cli")
            .arg(format!("--home={}", self.home.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// Asks both Syncthings to rescan the folder now (REST `POST /rest/db/scan`).
fn rescan(b: &DevBox, peer: &HostPeer) {
    if let Err(e) = host_rest(peer, "POST", "/rest/db/scan?folder=devbox-sync") {
        println!("note: the host's rescan failed: {e}");
    }
    let _ = podman_quick(&[
        "exec", &b.name, "sh", "-c",
        "key=$(sed -n 's:.*<apikey>\\(.*\\)</apikey>.*:\\1:p' /home/dev/.config/syncthing/config.xml); \
         wget -qO- --post-data '' --header \"X-API-Key: $key\" \
         'http://127.0.0.1:8384/rest/db/scan?folder=devbox-sync'",
    ]);
}

/// Polls until `f` holds, within [`SYNC_WAIT`]. Changes are normally picked up by the
/// file-system watchers and sent within about a second. Two nudges keep a loaded test machine
/// from failing the sync itself, and the test says when it used them: after 10 s both sides
/// rescan (a watcher may miss an event), after 20 s the host drops and redials the connection
/// (parallel Podman activity on the bridge can leave a connection silently dead, which
/// Syncthing only notices after its 90 s ping timeout).
fn wait_sync<T>(
    what: &str,
    b: &DevBox,
    peer: &HostPeer,
    box_id: &str,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    let (mut rescanned, mut redialled) = (false, false);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if !rescanned && start.elapsed() > Duration::from_secs(10) {
            println!("note: {what}: nothing after 10 s, asking both sides to rescan");
            rescan(b, peer);
            rescanned = true;
        }
        if !redialled && start.elapsed() > Duration::from_secs(20) {
            println!("note: {what}: nothing after 20 s, the host redials the box");
            let _ = peer.cli(&["config", "devices", box_id, "paused", "set", "true"]);
            let _ = peer.cli(&["config", "devices", box_id, "paused", "set", "false"]);
            redialled = true;
        }
        if start.elapsed() > SYNC_WAIT {
            let peer_log = std::fs::read_to_string(peer.home.parent().unwrap().join("peer.log"));
            panic!(
                "timed out after {SYNC_WAIT:?} waiting for {what}\nhost connections: {:?}\nbox log:\n{}\nhost peer log:\n{}",
                peer.cli(&["show", "connections"]),
                b.logs(),
                peer_log.unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `METHOD PATH` on the host Syncthing's REST API: the body of a 200 answer, or what came back.
fn host_rest(peer: &HostPeer, method: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&peer.gui).map_err(|e| e.to_string())?;
    write!(
        s,
        // Syncthing refuses (403) a request without a Host of the GUI address (DNS rebinding).
        "{method} {path} HTTP/1.0\r\nHost: {}\r\nX-API-Key: {}\r\nContent-Length: 0\r\n\r\n",
        peer.gui, peer.key
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.split(' ').nth(1) == Some("200") => Ok(body.to_string()),
        _ => Err(text),
    }
}

fn box_cli(b: &DevBox, args: &[&str]) -> String {
    let home = format!("--home={BOX_HOME}");
    let mut a = vec!["exec", "-u", "dev", &b.name, "syncthing", "cli", &home];
    a.extend_from_slice(args);
    podman_quick(&a).unwrap()
}

fn box_read(b: &DevBox, file: &str) -> Option<String> {
    let out = podman_output_within(
        &["exec", &b.name, "cat", &format!("/home/dev/sync/{file}")],
        common::EXEC_TRY,
    )
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every file's content in a folder listing (skipping Syncthing's own `.st*` entries).
fn host_contents(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with(".st"))
                .filter_map(|e| {
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(e.path()).ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn box_contents(b: &DevBox) -> Vec<(String, String)> {
    let listing = podman_quick(&[
        "exec", &b.name, "sh", "-c",
        "cd /home/dev/sync && for f in *; do [ -f \"$f\" ] && printf '%s\\t%s\\n' \"$f\" \"$(cat \"$f\")\"; done; true",
    ])
    .unwrap_or_default();
    let mut v: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[host_test]
fn files_sync_both_ways_over_the_podman_network_and_conflicts_keep_both_versions() {
    let b = DevBox::start("ep-sync", &["-e", "DEVBOX_SYNCTHING=true"]);
    let peer = HostPeer::start(&b.name);
    let st = b.wait_for("box syncthing identity", |s| {
        s.syncthing.device_id.is_some()
    });
    let box_id = st.syncthing.device_id.unwrap();
    let ip = podman(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        &b.name,
    ])
    .unwrap();
    assert!(!ip.is_empty(), "container has no IP on the Podman network");
    // The box's sync port is not published on the host.
    let ports = podman(&["port", &b.name]).unwrap_or_default();
    assert!(ports.is_empty(), "published ports: {ports}");

    // Pair: each side knows the other at an explicit address (no discovery): the host dials
    // the box's Podman IP, the box dials the host on the bridge's gateway.
    let gateway = podman(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Gateway}}",
        &b.name,
    ])
    .unwrap();
    // (`devices add --addresses` of Syncthing 1.19's cli crashes; add-json is the same call.)
    let host_device = serde_json::json!({
        "deviceID": peer.id,
        "name": "host",
        "addresses": [format!("tcp://{gateway}:{}", peer.listen_port)],
    });
    box_cli(
        &b,
        &["config", "devices", "add-json", &host_device.to_string()],
    );
    box_cli(
        &b,
        &[
            "config",
            "folders",
            "devbox-sync",
            "devices",
            "add",
            "--device-id",
            &peer.id,
        ],
    );
    let addr = format!("tcp://{ip}:22000");
    let device = serde_json::json!({"deviceID": box_id, "name": "box", "addresses": [addr]});
    peer.cli(&["config", "devices", "add-json", &device.to_string()])
        .unwrap();
    peer.cli(&[
        "config",
        "folders",
        "devbox-sync",
        "devices",
        "add",
        "--device-id",
        &box_id,
    ])
    .unwrap();
    let connected = |p: &HostPeer| {
        p.cli(&["show", "connections"]).ok().and_then(|c| {
            let v: serde_json::Value = serde_json::from_str(&c).ok()?;
            v["connections"][&box_id]["connected"]
                .as_bool()?
                .then_some(())
        })
    };
    poll_until(SYNC_WAIT, "host and box connected", || connected(&peer)).unwrap();

    // Host -> box.
    let t = Instant::now();
    std::fs::write(peer.folder.join("from-host.txt"), "written on the host\n").unwrap();
    wait_sync("host file on the box", &b, &peer, &box_id, || {
        box_read(&b, "from-host.txt").filter(|c| c == "written on the host\n")
    });
    println!("host -> box: {:?}", t.elapsed());
    // A file received from a peer is user activity (a Syncthing transfer).
    b.wait_for("syncthing transfer recorded as activity", |s| {
        s.last_activity_source.as_deref() == Some("syncthing")
    });
    // Box -> host.
    let t = Instant::now();
    podman_quick(&[
        "exec",
        "-u",
        "dev",
        &b.name,
        "sh",
        "-c",
        "echo 'written in the box' > /home/dev/sync/from-box.txt",
    ])
    .unwrap();
    wait_sync("box file on the host", &b, &peer, &box_id, || {
        std::fs::read_to_string(peer.folder.join("from-box.txt"))
            .ok()
            .filter(|c| c == "written in the box\n")
    });
    println!("box -> host: {:?}", t.elapsed());

    // Conflict: both sides edit the same file while the host's folder is paused.
    std::fs::write(peer.folder.join("shared.txt"), "v0\n").unwrap();
    wait_sync("shared file on the box", &b, &peer, &box_id, || {
        box_read(&b, "shared.txt").filter(|c| c == "v0\n")
    });
    peer.cli(&["config", "folders", "devbox-sync", "paused", "set", "true"])
        .unwrap();
    std::fs::write(peer.folder.join("shared.txt"), "host edit\n").unwrap();
    podman_quick(&[
        "exec",
        "-u",
        "dev",
        &b.name,
        "sh",
        "-c",
        "echo 'box edit' > /home/dev/sync/shared.txt",
    ])
    .unwrap();
    // Wait until the box has indexed its edit (REST /rest/db/file), then bring the host back.
    let local_size = || -> Option<u64> {
        let out = b.exec(
            "key=$(sed -n 's:.*<apikey>\\(.*\\)</apikey>.*:\\1:p' /home/dev/.config/syncthing/config.xml); \
             wget -qO- --header \"X-API-Key: $key\" \
             'http://127.0.0.1:8384/rest/db/file?folder=devbox-sync&file=shared.txt'",
        );
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v["local"]["size"].as_u64()
    };
    wait_sync("box indexed its edit", &b, &peer, &box_id, || {
        (local_size() == Some("box edit\n".len() as u64)).then_some(())
    });
    peer.cli(&["config", "folders", "devbox-sync", "paused", "set", "false"])
        .unwrap();
    let t = Instant::now();
    let both = |files: &[(String, String)]| {
        let has = |text: &str| files.iter().any(|(_, c)| c == text);
        let conflict_copy = files.iter().any(|(n, _)| n.contains(".sync-conflict-"));
        has("host edit\n") && has("box edit\n") && conflict_copy
    };
    let mut last = (Vec::new(), Vec::new());
    poll_until(SYNC_WAIT, "both edits kept on both sides", || {
        let h = host_contents(&peer.folder);
        let x = box_contents(&b);
        let ok = both(&h)
            && both(
                &x.iter()
                    .map(|(n, c)| (n.clone(), format!("{c}\n")))
                    .collect::<Vec<_>>(),
            );
        last = (h, x);
        ok.then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: host {:?} box {:?}", last.0, last.1));
    println!(
        "conflict resolved on both sides in {:?}: {:?}",
        t.elapsed(),
        host_contents(&peer.folder)
    );

    // The pairing lives on the volume: after a container restart the box reconnects (it dials
    // the host) and syncing goes on without pairing again.
    podman(&["restart", "-t", "10", &b.name]).unwrap();
    let st = b.wait_for("box syncthing back", |s| s.syncthing.device_id.is_some());
    assert_eq!(st.syncthing.device_id.as_deref(), Some(box_id.as_str()));
    let t = Instant::now();
    std::fs::write(peer.folder.join("after-restart.txt"), "still paired\n").unwrap();
    wait_sync("sync after a restart", &b, &peer, &box_id, || {
        box_read(&b, "after-restart.txt").filter(|c| c == "still paired\n")
    });
    println!("host -> box after a restart: {:?}", t.elapsed());

    // US7 scenario 5: files changed on the other side while the container is STOPPED (a new
    // file, an edit, a deletion) are in the container after it starts again.
    podman(&["stop", "-t", "10", &b.name]).unwrap();
    assert_eq!(
        podman(&["inspect", "--format", "{{.State.Running}}", &b.name]).unwrap(),
        "false"
    );
    poll_until(SYNC_WAIT, "the host sees the box gone", || {
        connected(&peer).is_none().then_some(())
    })
    .unwrap();
    std::fs::write(
        peer.folder.join("while-stopped.txt"),
        "written while the box was stopped\n",
    )
    .unwrap();
    std::fs::write(peer.folder.join("from-host.txt"), "edited while stopped\n").unwrap();
    std::fs::remove_file(peer.folder.join("after-restart.txt")).unwrap();
    // The host has indexed all three before the box comes back (REST /rest/db/file), so they
    // are changes made while it was away, not raced in after its start.
    // A scan now: Syncthing's watcher holds deletions back for a minute.
    host_rest(&peer, "POST", "/rest/db/scan?folder=devbox-sync")
        .unwrap_or_else(|e| panic!("rescan: {e}"));
    let local = |file: &str| -> Option<serde_json::Value> {
        let body = host_rest(
            &peer,
            "GET",
            &format!("/rest/db/file?folder=devbox-sync&file={file}"),
        )
        .ok()?;
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .map(|v| v["local"].clone())
    };
    poll_until(SYNC_WAIT, "the host indexed its changes", || {
        let new = local("while-stopped.txt")?;
        let edited = local("from-host.txt")?;
        let gone = local("after-restart.txt")?;
        (new["size"].as_u64() == Some("written while the box was stopped\n".len() as u64)
            && edited["size"].as_u64() == Some("edited while stopped\n".len() as u64)
            && gone["deleted"].as_bool() == Some(true))
        .then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?}",
            ["while-stopped.txt", "from-host.txt", "after-restart.txt"].map(local)
        )
    });
    let t = Instant::now();
    podman(&["start", &b.name]).unwrap();
    let st = b.wait_for("box syncthing back after start", |s| {
        s.syncthing.device_id.is_some()
    });
    assert_eq!(st.syncthing.device_id.as_deref(), Some(box_id.as_str()));
    wait_sync("changes made while stopped", &b, &peer, &box_id, || {
        let new = box_read(&b, "while-stopped.txt")?;
        let edited = box_read(&b, "from-host.txt")?;
        (new == "written while the box was stopped\n"
            && edited == "edited while stopped\n"
            && box_read(&b, "after-restart.txt").is_none())
        .then_some(())
    });
    println!(
        "changes made on the host while the box was stopped arrived {:?} after its start",
        t.elapsed()
    );
}
