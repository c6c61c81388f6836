//! Last user activity: what counts, how it is probed, and its persistence on the home volume.
//!
//! Activity is a user connection, never background CPU:
//! - a Tailscale SSH session (a `tailscaled be-child ssh` process),
//! - a connected Zed client (a `zed-remote-server proxy` process),
//! - a code-server client (its `/healthz` says `alive`; `lastHeartbeat` is the time),
//! - a Syncthing transfer (a file synced from a peer: `/rest/stats/folder` `lastFile.at`).
//!
//! A session process older than `DEVBOX_SESSION_MAX_AGE_MS` no longer counts, so a forgotten
//! session cannot keep a container alive forever.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub at: jiff::Timestamp,
    pub source: String,
}

/// Reads the persisted activity. PID 1 runs this as root on a file the dev user controls:
/// no symlink below `home` is followed, and only a small regular file is read.
pub fn load(home: &Path, path: &Path) -> Option<Activity> {
    let bytes = crate::homefs::read_file(home, path, 64 * 1024).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Persists the activity (as root, in the dev user's state directory, which the dev-user
/// preparation step created): written in place, never through a symlink, owned by `owner`.
pub fn save(home: &Path, path: &Path, a: &Activity, owner: (u32, u32)) -> std::io::Result<()> {
    let text = serde_json::to_string(a).map_err(std::io::Error::other)?;
    crate::homefs::write_atomic(home, path, text.as_bytes(), 0o644, owner)
}

/// Linux reports process start times in clock ticks of USER_HZ, which is 100 on every
/// architecture the image is built for.
const USER_HZ: f64 = 100.0;

fn uptime(proc_root: &Path) -> Option<f64> {
    std::fs::read_to_string(proc_root.join("uptime"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Age of a process from `/proc/PID/stat` (field 22, start time since boot).
fn process_age(proc_root: &Path, pid: &str, uptime: f64) -> Option<Duration> {
    let stat = std::fs::read_to_string(proc_root.join(pid).join("stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let start_ticks: f64 = after_comm.split_whitespace().nth(19)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (uptime - start_ticks / USER_HZ).max(0.0),
    ))
}

/// Which kind of user session a command line is, if any.
pub fn session_kind(argv: &[String]) -> Option<&'static str> {
    let first = argv.first()?;
    let base = first.rsplit('/').next().unwrap_or(first);
    if argv.windows(2).any(|w| w[0] == "be-child" && w[1] == "ssh") {
        return Some("ssh-session");
    }
    if base.starts_with("zed-remote-server") && argv.iter().any(|a| a == "proxy") {
        return Some("zed");
    }
    None
}

/// Session processes younger than `max_age`: (kind, pid).
pub fn live_sessions(proc_root: &Path, max_age: Duration) -> Vec<(&'static str, u32)> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let up = uptime(proc_root).unwrap_or(0.0);
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(kind) = session_kind(&argv) {
            let young = process_age(proc_root, &name, up).is_none_or(|age| age < max_age);
            if young {
                found.push((kind, pid));
            }
        }
    }
    found
}

/// code-server's `/healthz`: the last heartbeat when a client is connected (status "alive").
pub fn code_server_heartbeat(healthz_json: &str) -> Option<jiff::Timestamp> {
    let v: serde_json::Value = serde_json::from_str(healthz_json).ok()?;
    if v.get("status")?.as_str()? != "alive" {
        return None;
    }
    let ms = v.get("lastHeartbeat")?.as_i64()?;
    jiff::Timestamp::from_millisecond(ms).ok()
}

/// Probes every source once; returns the newest activity seen now, if any.
pub fn probe(cfg: &Config, proc_root: &Path) -> Option<Activity> {
    let now = jiff::Timestamp::now();
    let mut seen: Vec<Activity> = live_sessions(proc_root, cfg.session_max_age)
        .into_iter()
        .map(|(kind, _)| Activity {
            at: now,
            source: kind.to_string(),
        })
        .collect();
    if cfg.code_server {
        let addr = format!("127.0.0.1:{}", cfg.code_server_port);
        if let Ok((200, body)) = crate::http::get(&addr, "/healthz", &[]) {
            if let Some(at) = code_server_heartbeat(&body) {
                seen.push(Activity {
                    at: at.min(now),
                    source: "code-server".into(),
                });
            }
        }
    }
    if cfg.syncthing {
        if let Some(key) = crate::syncthing::current_api_key(cfg) {
            let gui = cfg.syncthing_gui.replace("0.0.0.0", "127.0.0.1");
            if let Ok((200, body)) =
                crate::http::get(&gui, "/rest/stats/folder", &[("X-API-Key", &key)])
            {
                if let Some(at) = crate::syncthing::last_transfer(&body) {
                    seen.push(Activity {
                        at: at.min(now),
                        source: "syncthing".into(),
                    });
                }
            }
        }
    }
    seen.into_iter().max_by_key(|a| a.at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn session_kinds() {
        assert_eq!(
            session_kind(&argv("/usr/sbin/tailscaled be-child ssh --uid=1000")),
            Some("ssh-session")
        );
        assert_eq!(
            session_kind(&argv(
                "/home/dev/.zed_server/zed-remote-server-stable-0.170.4 proxy --identifier x"
            )),
            Some("zed")
        );
        // The Zed server's own daemon and background programs are not sessions.
        assert_eq!(
            session_kind(&argv(
                "/home/dev/.zed_server/zed-remote-server-stable-0.170.4 run"
            )),
            None
        );
        assert_eq!(session_kind(&argv("/usr/bin/cc1 -O2")), None);
        assert_eq!(session_kind(&[]), None);
    }

    #[test]
    fn code_server_heartbeat_counts_only_when_alive() {
        let at = code_server_heartbeat(r#"{"status":"alive","lastHeartbeat":1700000000000}"#);
        assert_eq!(at.unwrap().as_millisecond(), 1_700_000_000_000);
        assert!(
            code_server_heartbeat(r#"{"status":"expired","lastHeartbeat":1700000000000}"#)
                .is_none()
        );
        assert!(code_server_heartbeat("nonsense").is_none());
    }

    #[test]
    fn a_live_session_process_is_found_in_proc() {
        // This test process itself is no session; a child named like a session is.
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("/bin/sh")
            .arg0("zed-remote-server-stable-1.0")
            .args(["-c", "sleep 30; true", "proxy"])
            .spawn()
            .unwrap();
        let pid = child.id();
        let found = devbox_poll(|| {
            live_sessions(Path::new("/proc"), Duration::from_secs(3600))
                .into_iter()
                .find(|(_, p)| *p == pid)
        });
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, Some(("zed", pid)));
        // With a max age of zero seconds nothing counts.
        assert!(live_sessions(Path::new("/proc"), Duration::ZERO).is_empty());
    }

    fn devbox_poll<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn persisted_activity_round_trips() {
        let dir = std::env::temp_dir().join(format!("ep-act-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let path = dir.join("state/last-activity.json");
        let a = Activity {
            at: "2026-01-02T03:04:05Z".parse().unwrap(),
            source: "zed".into(),
        };
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        save(&dir, &path, &a, me).unwrap();
        assert_eq!(load(&dir, &path), Some(a));
        let _ = std::fs::remove_dir_all(dir);
    }
}
