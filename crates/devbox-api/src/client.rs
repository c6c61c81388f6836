//! The client side of the daemon's socket: HTTP/1.1 over a Unix stream, one connection per request.
//!
//! One typed method per route (`whoami`, `list`, `create`, …), built on a small transport: a JSON
//! request/answer ([`Client::json`]), a long operation's stream of progress events
//! ([`Client::operation`]) and a raw byte stream ([`Client::stream_raw`]). Paths come from
//! [`crate::routes`], the same patterns the daemon's router registers.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, Full};
use hyper::body::Bytes;
pub use hyper::Method;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;
use tokio::net::UnixStream;

use crate::routes;
use crate::types::{
    AllQuery, ApiError, ContainerInfo, ContainerStatus, CreateRequest, DestroyQuery, DestroyResult,
    DoctorReport, ErrorCode, Event, KeptVolumeInfo, LifecyclePlan, ListQuery, LogsQuery, Notice,
    PlanItem, RotateKeyRequest, StartRequest, WhoAmI,
};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach devboxd at {path}: {source}. Is the daemon running (`systemctl status devboxd`)? Are you in its socket group (`id`)? Use --socket or DEVBOX_SOCKET for another path")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the daemon's answer was not understood ({0}); are devbox-ctl and devboxd the same version?")]
    Protocol(String),
}

impl ClientError {
    /// The CLI exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Connect { .. } => 3,
            ClientError::Api(e) => e.code.exit_code(),
            ClientError::Protocol(_) => 1,
        }
    }
}

/// A client of devboxd's Unix socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

type Body = hyper::body::Incoming;

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Body>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            // Errors surface through the response future; nothing to report here.
            let _ = conn.await;
        });
        let has_body = body.is_some();
        let req = Request::builder()
            .method(method)
            .uri(format!("http://devboxd{path}"))
            .header("host", "devboxd");
        let req = if has_body {
            req.header("content-type", "application/json")
        } else {
            req
        };
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(format!("request: {e}")))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(format!("request failed: {e}")))
    }

    async fn error_from(resp: hyper::Response<Body>) -> ClientError {
        let status = resp.status();
        match resp.into_body().collect().await {
            Ok(b) => match serde_json::from_slice::<ApiError>(&b.to_bytes()) {
                Ok(e) => ClientError::Api(e),
                Err(_) => ClientError::Protocol(format!("HTTP {status}")),
            },
            Err(e) => ClientError::Protocol(format!("HTTP {status}: {e}")),
        }
    }

    /// A request with an optional JSON body, decoding a JSON answer. The typed calls below are
    /// the interface; this and [`Client::operation`] stay public for what no typed call sends
    /// (the daemon's tests of malformed bodies).
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let resp = self.send(method, path, body).await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::error_from(resp).await);
        }
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `GET path`, decoding a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None).await
    }

    /// A long operation: sends `body` (if any) and calls `on_step` for each step until the final
    /// event, whose result it returns.
    pub async fn operation<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        mut on_step: impl FnMut(&str),
    ) -> Result<serde_json::Value, ClientError> {
        let body = match body {
            Some(b) => {
                Some(serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?)
            }
            None => None,
        };
        let resp = self.send(method, path, body).await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::error_from(resp).await);
        }
        let mut stream = BodyStream::new(resp.into_body());
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = stream.next().await {
            let Ok(frame) = frame else {
                // The connection broke (the daemon died or restarted).
                break;
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let event: Event = serde_json::from_slice(&line)
                    .map_err(|e| ClientError::Protocol(format!("bad event: {e}")))?;
                match event {
                    Event::Step { message } => on_step(&message),
                    Event::Done { result } => return Ok(result),
                    Event::Error { error } => return Err(ClientError::Api(error)),
                }
            }
        }
        Err(ClientError::Api(ApiError::new(
            ErrorCode::Internal,
            "the daemon closed the connection before the operation finished (did it restart?); an unfinished create is undone when the daemon starts again. Check `devbox-ctl list` and `journalctl -u devboxd`",
        )))
    }

    /// Streams a raw byte body (logs) into `out` as it arrives.
    pub async fn stream_raw(
        &self,
        path: &str,
        mut out: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::error_from(resp).await);
        }
        let mut stream = BodyStream::new(resp.into_body());
        while let Some(frame) = stream.next().await {
            let frame = frame.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if out(&data).is_err() {
                    // The reader went away (e.g. `| head`); stop quietly.
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The typed calls: one per route, each decoding the answer the daemon gives for it.
impl Client {
    /// `GET` [`routes::WHOAMI`].
    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.get(routes::WHOAMI).await
    }

    /// `GET` [`routes::DOCTOR`].
    pub async fn doctor(&self) -> Result<DoctorReport, ClientError> {
        self.get(routes::DOCTOR).await
    }

    /// `GET` [`routes::CONTAINERS`]: the caller's containers (admins: everyone's with `all`).
    pub async fn list(&self, all: bool) -> Result<Vec<ContainerInfo>, ClientError> {
        self.get(&routes::list(&ListQuery { all })).await
    }

    /// `GET` [`routes::VOLUMES`]: kept home volumes.
    pub async fn kept_volumes(&self, all: bool) -> Result<Vec<KeptVolumeInfo>, ClientError> {
        self.get(&routes::volumes(&AllQuery { all })).await
    }

    /// `GET` [`routes::CONTAINER`].
    pub async fn status(&self, name: &str) -> Result<ContainerStatus, ClientError> {
        self.get(&routes::for_container(routes::CONTAINER, name))
            .await
    }

    /// `GET` [`routes::NOTICES`].
    pub async fn notices(&self) -> Result<Vec<Notice>, ClientError> {
        self.get(routes::NOTICES).await
    }

    /// `GET` [`routes::LIFECYCLE`]: what the reconciler will do and when.
    pub async fn lifecycle(&self, all: bool) -> Result<LifecyclePlan, ClientError> {
        self.get(&routes::lifecycle(&AllQuery { all })).await
    }

    /// `POST` [`routes::KEEP`].
    pub async fn keep(&self, name: &str) -> Result<PlanItem, ClientError> {
        self.json(
            Method::POST,
            &routes::for_container(routes::KEEP, name),
            None,
        )
        .await
    }

    /// `POST` [`routes::CONTAINERS`]: create, calling `on_step` for each step.
    pub async fn create(
        &self,
        req: &CreateRequest,
        on_step: impl FnMut(&str),
    ) -> Result<ContainerStatus, ClientError> {
        let v = self
            .operation(Method::POST, routes::CONTAINERS, Some(req), on_step)
            .await?;
        decode(v)
    }

    /// `POST` [`routes::START`].
    pub async fn start(
        &self,
        name: &str,
        req: &StartRequest,
        on_step: impl FnMut(&str),
    ) -> Result<ContainerStatus, ClientError> {
        let path = routes::for_container(routes::START, name);
        decode(
            self.operation(Method::POST, &path, Some(req), on_step)
                .await?,
        )
    }

    /// `POST` [`routes::STOP`] (no body).
    pub async fn stop(
        &self,
        name: &str,
        on_step: impl FnMut(&str),
    ) -> Result<ContainerInfo, ClientError> {
        let path = routes::for_container(routes::STOP, name);
        decode(
            self.operation::<()>(Method::POST, &path, None, on_step)
                .await?,
        )
    }

    /// `DELETE` [`routes::CONTAINER`].
    pub async fn destroy(
        &self,
        name: &str,
        keep_volume: bool,
        on_step: impl FnMut(&str),
    ) -> Result<DestroyResult, ClientError> {
        let path = routes::destroy(name, &DestroyQuery { keep_volume });
        decode(
            self.operation::<()>(Method::DELETE, &path, None, on_step)
                .await?,
        )
    }

    /// `POST` [`routes::ROTATE_KEY`].
    pub async fn rotate_key(
        &self,
        name: &str,
        req: &RotateKeyRequest,
        on_step: impl FnMut(&str),
    ) -> Result<ContainerStatus, ClientError> {
        let path = routes::for_container(routes::ROTATE_KEY, name);
        decode(
            self.operation(Method::POST, &path, Some(req), on_step)
                .await?,
        )
    }

    /// `POST` [`routes::RECONCILE`]: a reconciler pass now; the plan after it.
    pub async fn reconcile(&self, on_step: impl FnMut(&str)) -> Result<LifecyclePlan, ClientError> {
        decode(
            self.operation::<()>(Method::POST, routes::RECONCILE, None, on_step)
                .await?,
        )
    }

    /// `GET` [`routes::LOGS`]: the log's bytes into `out` as they arrive.
    pub async fn logs(
        &self,
        name: &str,
        q: &LogsQuery,
        out: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        self.stream_raw(&routes::logs(name, q), out).await
    }
}

/// A long operation's result as the type its route answers with.
fn decode<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests;
