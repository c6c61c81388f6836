//! Hostile input on the socket: a huge body, bytes that are not UTF-8 in the path, nonsense
//! query values, a body that is not JSON. Each gets a 4xx saying what is wrong; the daemon
//! stays up and answers the next request. Real daemon over its real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::*;

/// Sends raw bytes as one request; returns the status line and the whole answer.
fn raw(socket: &Path, request: &[u8]) -> (String, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The daemon may answer (and close) before it has read a huge body: ignore write errors.
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer.lines().next().unwrap_or("").to_string();
    (status, answer)
}

#[host_test]
fn huge_bodies_bad_bytes_and_nonsense_queries_get_4xx_and_the_daemon_lives_on() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let sock = &w.socket;

    // 8 MiB of JSON-ish body.
    let body = format!(r#"{{"name":"x{}"}}"#, "a".repeat(8 << 20));
    let mut req = format!(
        "POST /v1/containers HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    let (status, answer) = raw(sock, &req);
    assert!(
        status.contains(" 413 "),
        "huge body: {status} {answer:.300}"
    );

    let cases: [(&[u8], &str); 5] = [
        (b"GET /v1/containers/%FF%FE HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", " 400 "),
        (b"GET /v1/containers/abc/logs?follow=maybe HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", " 400 "),
        (b"GET /v1/containers/abc/logs?tail=-5 HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", " 400 "),
        (b"POST /v1/containers HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\nConnection: close\r\n\r\n\xff\xfe{}", " 400 "),
        (b"GET /v1/containers/UPPER..%2F..%2Fetc HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", " 400 "),
    ];
    for (req, want) in cases {
        let (status, answer) = raw(sock, req);
        assert!(
            status.contains(want),
            "{:?}: want{want}, got {status}: {answer:.400}",
            String::from_utf8_lossy(req)
        );
    }
    // Still alive and serving.
    let (status, answer) = raw(
        sock,
        b"GET /v1/whoami HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains(" 200 "), "{answer}");
}
