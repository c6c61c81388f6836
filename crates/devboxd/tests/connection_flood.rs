//! Denial of service: one user of the socket must not lock everyone else out by opening
//! connections and leaving them idle. Under systemd's default soft limit of 1024 open files,
//! about a thousand idle connections used to exhaust the daemon's descriptors, after which it
//! accepted nobody. Real daemon, real Unix users (the flood is opened with the user's
//! effective uid, as SO_PEERCRED sees it).
//!
//! This file holds ONE test: it switches the effective uid of the whole test process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::*;
use devbox_test_kit::poll_until;
use nix::unistd::{setegid, seteuid, Gid, Group, Uid};

fn connect_as(socket: &Path, uid: u32, gid: u32) -> std::io::Result<UnixStream> {
    setegid(Gid::from_raw(gid)).unwrap();
    seteuid(Uid::from_raw(uid)).unwrap();
    let r = UnixStream::connect(socket);
    seteuid(Uid::from_raw(0)).unwrap();
    setegid(Gid::from_raw(0)).unwrap();
    r
}

/// `GET /v1/whoami` on a fresh connection as `uid`: the answer, or what went wrong.
fn whoami_as(socket: &Path, uid: u32, gid: u32) -> String {
    let mut s = match connect_as(socket, uid, gid) {
        Ok(s) => s,
        Err(e) => return format!("connect: {e}"),
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if let Err(e) =
        s.write_all(b"GET /v1/whoami HTTP/1.1\r\nHost: devboxd\r\nConnection: close\r\n\r\n")
    {
        return format!("write: {e}");
    }
    let mut answer = String::new();
    match s.read_to_string(&mut answer) {
        Ok(_) => answer,
        Err(e) => format!("read: {e} (after {answer:?})"),
    }
}

#[host_test]
fn idle_connections_of_one_user_do_not_lock_out_the_others() {
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    );
    let gid = Group::from_name(&w.group.name)
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    let (a, b) = (w.user(0), w.user(1));
    // systemd's default soft limit for a service.
    let pid = w.daemon.as_ref().unwrap().id().to_string();
    let out = devbox_test_kit::host_program("prlimit")
        .args(["--pid", &pid, "--nofile=1024:1024"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(whoami_as(&w.socket, b.uid, gid).contains(&b.name));

    // Alice opens 1050 connections and sends nothing.
    let flood: Vec<UnixStream> = (0..1050)
        .map(|_| connect_as(&w.socket, a.uid, gid).unwrap())
        .collect();

    // Bob is still served.
    let answer = whoami_as(&w.socket, b.uid, gid);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains(&b.name),
        "bob was not served while alice held 1050 idle connections: {answer}"
    );
    // Alice's own extra connection is refused (closed at once) while she holds the others.
    // (Right after the flood the daemon may still be saying goodbye to ~1000 refused
    // connections and just close this one; it answers with the reason once that is done.)
    let mut answer = String::new();
    let refused = poll_until(Duration::from_secs(10), "a 429 with the reason", || {
        answer = whoami_as(&w.socket, a.uid, gid);
        (answer.starts_with("HTTP/1.1 429") && answer.contains("connections open to devboxd"))
            .then_some(())
    });
    assert!(
        refused.is_ok() && !answer.contains("200 OK"),
        "a connection beyond the per-user limit was not refused with a reason: {answer}"
    );
    // devbox-ctl shows that reason.
    let out = w.ctl_as(a, &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connections open to devboxd"), "{err}");
    // Her slots come back when she closes them.
    drop(flood);
    poll_until(Duration::from_secs(20), "alice served again", || {
        whoami_as(&w.socket, a.uid, gid)
            .contains(&a.name)
            .then_some(())
    })
    .unwrap();
    assert!(w.daemon_log().contains("too many connections"));
}
