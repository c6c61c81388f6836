//! A minimal HTTP/1.0 GET client for local health probes (code-server /healthz, Syncthing's
//! REST API on localhost). Bounded in time and size; no dependency needed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bad address {0:?}")]
    Address(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed HTTP response")]
    Malformed,
}

/// GETs `path` from `addr` (IP:PORT) with extra `headers`; returns (status, body).
pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Result<(u16, String), HttpError> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|_| HttpError::Address(addr.to_string()))?;
    // Local probes only: a hung server must not hold up PID 1's loop (and a stop) for long.
    let timeout = Duration::from_millis(500);
    let mut s = TcpStream::connect_timeout(&sock, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.take(1 << 20).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(HttpError::Malformed)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(HttpError::Malformed)?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn get_reads_status_and_body() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            req
        });
        let (code, body) = get(&addr, "/healthz", &[("X-API-Key", "k")]).unwrap();
        assert_eq!((code, body.as_str()), (200, "{}"));
        let req = t.join().unwrap();
        assert!(req.starts_with("GET /healthz HTTP/1.0\r\n"));
        assert!(req.contains("X-API-Key: k\r\n"));
        assert!(get("not an address", "/", &[]).is_err());
    }
}
