//! The client against a stand-in daemon on a Unix socket: it records the request and answers
//! with bytes written by hand, so the wire format is checked without devboxd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::*;

/// One request as the stand-in saw it: the request line (origin form) and the body.
struct Seen {
    line: String,
    body: String,
}

/// Serves one connection at a fresh socket: reads the request, writes `head`, then each of
/// `chunks` separately (so a line of the event stream can arrive in pieces), then closes.
async fn serve_once(
    head: String,
    chunks: Vec<String>,
) -> (tempfile::TempDir, Client, tokio::task::JoinHandle<Seen>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devboxd.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).await.unwrap();
            buf.push(byte[0]);
        }
        let head_text = String::from_utf8(buf).unwrap();
        let len: usize = head_text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        for c in chunks {
            s.write_all(c.as_bytes()).await.unwrap();
            s.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Seen {
            // The client sends the absolute form (`http://devboxd/v1/…`); the path is what routes.
            line: head_text
                .lines()
                .next()
                .unwrap()
                .replacen("http://devboxd/", "/", 1),
            body: String::from_utf8(body).unwrap(),
        }
    });
    (dir, Client::new(path), task)
}

const STREAM: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn a_long_operation_reports_each_step_and_decodes_its_result() {
    let chunks = vec![
        "{\"event\":\"step\",\"message\":\"Logging out\"}\n{\"event\":\"st".to_string(),
        "ep\",\"message\":\"Removing web\"}\n\n".to_string(),
        "{\"event\":\"done\",\"result\":{\"name\":\"web\",\"volumeKept\":true,\"volume\":\"devbox-home-web\"}}\n".to_string(),
    ];
    let (_dir, client, seen) = serve_once(STREAM.to_string(), chunks).await;
    let mut steps = Vec::new();
    let r = client
        .destroy("web", true, |m| steps.push(m.to_string()))
        .await
        .unwrap();
    assert_eq!(steps, ["Logging out", "Removing web"]);
    assert_eq!(
        r,
        DestroyResult {
            name: "web".into(),
            volume_kept: true,
            volume: "devbox-home-web".into()
        }
    );
    let seen = seen.await.unwrap();
    assert_eq!(
        seen.line,
        "DELETE /v1/containers/web?keepVolume=true HTTP/1.1"
    );
    assert_eq!(seen.body, "");
}

#[tokio::test]
async fn a_request_body_goes_to_the_route_the_server_registers() {
    let chunks = vec![
        "{\"event\":\"error\",\"error\":{\"code\":\"needs-confirmation\",\"message\":\"you have web\"}}\n".to_string(),
    ];
    let (_dir, client, seen) = serve_once(STREAM.to_string(), chunks).await;
    let req = CreateRequest {
        name: "web2".into(),
        cpu: None,
        memory: Some("4G".into()),
        syncthing: false,
        start: true,
        confirm_another: false,
        auth_key: None,
    };
    match client.create(&req, |_| {}).await {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.code, ErrorCode::NeedsConfirmation);
            assert_eq!(e.message, "you have web");
        }
        other => panic!("{other:?}"),
    }
    let seen = seen.await.unwrap();
    assert_eq!(seen.line, "POST /v1/containers HTTP/1.1");
    let sent: CreateRequest = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(sent, req);
}

#[tokio::test]
async fn a_stream_that_ends_without_a_result_is_an_error_not_a_success() {
    let chunks = vec!["{\"event\":\"step\",\"message\":\"Starting\"}\n".to_string()];
    let (_dir, client, _seen) = serve_once(STREAM.to_string(), chunks).await;
    match client.stop("web", |_| {}).await {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.code, ErrorCode::Internal);
            assert!(e.message.contains("closed the connection"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn garbage_in_the_stream_is_a_protocol_error() {
    for chunk in [
        "not json\n",
        "{\"event\":\"done\",\"result\":{\"name\":1}}\n",
    ] {
        let (_dir, client, _seen) = serve_once(STREAM.to_string(), vec![chunk.to_string()]).await;
        let r = client.stop("web", |_| {}).await;
        assert!(matches!(r, Err(ClientError::Protocol(_))), "{chunk}: {r:?}");
        assert_eq!(r.unwrap_err().exit_code(), 1);
    }
}

#[tokio::test]
async fn an_error_answer_carries_the_daemons_code() {
    let body = "{\"code\":\"not-found\",\"message\":\"no dev container named x\"}";
    let head = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (_dir, client, seen) = serve_once(head, vec![body.to_string()]).await;
    match client.status("x").await {
        Err(e @ ClientError::Api(_)) => assert_eq!(e.exit_code(), 5, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.await.unwrap().line, "GET /v1/containers/x HTTP/1.1");
}

#[tokio::test]
async fn a_json_answer_is_decoded_into_its_type() {
    let body = "{\"uid\":1000,\"user\":\"alice\",\"isAdmin\":false}";
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (_dir, client, seen) = serve_once(head, vec![body.to_string()]).await;
    let w = client.whoami().await.unwrap();
    assert_eq!((w.uid, w.user.as_str(), w.is_admin), (1000, "alice", false));
    assert_eq!(seen.await.unwrap().line, "GET /v1/whoami HTTP/1.1");
}

#[tokio::test]
async fn no_daemon_is_a_connect_error_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path().join("none.sock"));
    let e = client.list(false).await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 3);
}
