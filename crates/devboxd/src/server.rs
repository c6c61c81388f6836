//! HTTP/JSON over the Unix socket. The caller is identified by SO_PEERCRED of the connection,
//! never by anything the client sends.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use devbox_api::{
    AllQuery, ApiError, CreateRequest, DestroyQuery, ErrorCode, Event, ListQuery, LogsQuery,
    RotateKeyRequest, StartRequest, WhoAmI,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::clock::DaemonClock;
use crate::podman::Podman;
use crate::secrets::OpCli;
use crate::service::Service;
use crate::users::Caller;

/// The daemon the socket serves: the core over Podman, 1Password's CLI and the daemon's clock.
/// The core stays generic (tests drive it in-process with fakes); the HTTP edge needs only this.
pub type Daemon = Service<Podman, OpCli, DaemonClock>;

/// The peer's uid, from the kernel.
#[derive(Debug, Clone, Copy)]
pub struct PeerUid(pub Option<u32>);

impl Connected<axum::serve::IncomingStream<'_, UnixListener>> for PeerUid {
    fn connect_info(stream: axum::serve::IncomingStream<'_, UnixListener>) -> Self {
        PeerUid(stream.io().peer_cred().ok().map(|c| c.uid()))
    }
}

impl Connected<axum::serve::IncomingStream<'_, PerUidListener>> for PeerUid {
    fn connect_info(stream: axum::serve::IncomingStream<'_, PerUidListener>) -> Self {
        PeerUid(stream.io().uid)
    }
}

/// Open connections one uid may hold at once (a `logs -f` holds one; the CLI uses one per
/// command). Connections beyond it are closed at once, so one user cannot exhaust the daemon's
/// file descriptors (systemd's default soft limit is 1024) and lock everyone else out.
pub const MAX_CONNECTIONS_PER_UID: usize = 64;

type OpenCounts = Arc<std::sync::Mutex<HashMap<u32, usize>>>;

/// The socket listener, limiting open connections per peer uid (SO_PEERCRED).
pub struct PerUidListener {
    inner: UnixListener,
    open: OpenCounts,
    max: usize,
    /// Refused connections being told why (bounded).
    farewells: Arc<tokio::sync::Semaphore>,
}

impl PerUidListener {
    pub fn new(inner: UnixListener, max: usize) -> Self {
        Self {
            inner,
            open: Arc::default(),
            max,
            farewells: Arc::new(tokio::sync::Semaphore::new(64)),
        }
    }
}

/// A connection holding one of its uid's slots until it is dropped.
pub struct PeerStream {
    stream: tokio::net::UnixStream,
    uid: Option<u32>,
    open: OpenCounts,
}

impl Drop for PeerStream {
    fn drop(&mut self) {
        let key = self.uid.unwrap_or(u32::MAX);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&key);
            }
        }
    }
}

impl axum::serve::Listener for PerUidListener {
    type Io = PeerStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or memory: wait for some to come back (as axum does).
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            let uid = stream.peer_cred().ok().map(|c| c.uid());
            let key = uid.unwrap_or(u32::MAX);
            {
                let mut open = self
                    .open
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let n = open.entry(key).or_insert(0);
                if *n >= self.max {
                    tracing::warn!(
                        uid = ?uid,
                        limit = self.max,
                        "too many connections from this uid: closing the new one"
                    );
                    // Say why (a small write to a fresh socket does not block), then close
                    // after the client's request is read: closing with unread data would reset
                    // the connection before the client sees the answer. Bounded: at most 64 such
                    // farewells at once, each at most 300 ms (beyond that: just closed).
                    let _ = stream.try_write(&too_many_connections(self.max));
                    if let Ok(permit) = self.farewells.clone().try_acquire_owned() {
                        tokio::spawn(async move {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let _permit = permit;
                            let mut stream = stream;
                            let _ = stream.shutdown().await;
                            let mut buf = [0u8; 4096];
                            let drain = async {
                                while let Ok(n) = stream.read(&mut buf).await {
                                    if n == 0 {
                                        break;
                                    }
                                }
                            };
                            let _ =
                                tokio::time::timeout(std::time::Duration::from_millis(300), drain)
                                    .await;
                        });
                    }
                    continue;
                }
                *n += 1;
            }
            let io = PeerStream {
                stream,
                uid,
                open: self.open.clone(),
            };
            return (io, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The answer on a connection over the per-uid limit: HTTP 429 with an API error.
fn too_many_connections(max: usize) -> Vec<u8> {
    let e = ApiError::new(
        ErrorCode::QuotaExceeded,
        format!("you already have {max} connections open to devboxd (e.g. `devbox-ctl logs -f`); close some and try again"),
    );
    let body = serde_json::to_string(&e).unwrap_or_default();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl tokio::io::AsyncRead for PeerStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for PeerStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// What the handlers share.
pub type Shared = Arc<Daemon>;

struct Failure(ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

fn caller(app: &Daemon, peer: PeerUid) -> Result<Caller, Failure> {
    let uid = peer.0.ok_or_else(|| {
        Failure(ApiError::new(
            ErrorCode::UnknownUser,
            "cannot identify the caller (no peer credentials on the socket)",
        ))
    })?;
    app.users.caller(uid).ok_or_else(|| {
        Failure(ApiError::new(
            ErrorCode::UnknownUser,
            format!("uid {uid} is not a devbox user (not in users.nix); ask an admin to add you"),
        ))
    })
}

/// Long operations (create, start, stop, destroy, rotate-key; and status, an exec) one uid may have in flight at
/// once. They go on after the client disconnects and most call 1Password (one service account,
/// shared by everyone and rate limited) and exec into containers: without a bound one user
/// could queue thousands and starve the others.
pub const MAX_OPERATIONS_PER_UID: usize = 8;

static IN_FLIGHT: std::sync::Mutex<BTreeMap<u32, usize>> = std::sync::Mutex::new(BTreeMap::new());

/// One in-flight operation of a uid, released when dropped (when the operation ends).
struct OperationSlot(u32);

impl OperationSlot {
    fn take(c: &Caller) -> Result<Self, Failure> {
        let mut m = IN_FLIGHT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(c.uid).or_insert(0);
        if *n >= MAX_OPERATIONS_PER_UID {
            return Err(Failure(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!("you already have {MAX_OPERATIONS_PER_UID} operations in progress; wait for them to finish (`devbox-ctl list`) and try again"),
            )));
        }
        *n += 1;
        Ok(OperationSlot(c.uid))
    }
}

impl Drop for OperationSlot {
    fn drop(&mut self) {
        let mut m = IN_FLIGHT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.0);
            }
        }
    }
}

/// Runs a long operation in its own task (it finishes even if the client goes away) and streams
/// its steps as newline-delimited JSON events.
fn operation<T, Fut>(
    slot: OperationSlot,
    run: impl FnOnce(mpsc::UnboundedSender<Event>) -> Fut,
) -> Response
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let fut = run(tx.clone());
    tokio::spawn(async move {
        let result = fut.await;
        drop(slot);
        let last = match result {
            Ok(v) => match serde_json::to_value(v) {
                Ok(result) => Event::Done { result },
                Err(e) => Event::Error {
                    error: ApiError::new(ErrorCode::Internal, e.to_string()),
                },
            },
            Err(error) => Event::Error { error },
        };
        let _ = tx.send(last);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = rx.recv().await?;
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn stepper(tx: mpsc::UnboundedSender<Event>) -> impl Fn(&str) + Send + Sync {
    move |m: &str| {
        let _ = tx.send(Event::Step {
            message: m.to_string(),
        });
    }
}

pub fn router(app: Shared) -> Router {
    // The same patterns the client builds its paths from.
    use devbox_api::routes;
    Router::new()
        .route(routes::WHOAMI, get(whoami))
        .route(routes::DOCTOR, get(doctor))
        .route(routes::CONTAINERS, get(list).post(create))
        .route(routes::CONTAINER, get(status).delete(destroy))
        .route(routes::START, post(start))
        .route(routes::STOP, post(stop))
        .route(routes::ROTATE_KEY, post(rotate))
        .route(routes::LOGS, get(logs))
        .route(routes::KEEP, post(keep))
        .route(routes::NOTICES, get(notices))
        .route(routes::VOLUMES, get(volumes))
        .route(routes::LIFECYCLE, get(plan))
        .route(routes::RECONCILE, post(reconcile))
        .with_state(app)
}

async fn whoami(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
) -> Result<Json<WhoAmI>, Failure> {
    let c = caller(&app, peer)?;
    Ok(Json(WhoAmI {
        uid: c.uid,
        user: c.user,
        is_admin: c.is_admin,
    }))
}

async fn doctor(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(Json(app.doctor(&c).await).into_response())
}

async fn list(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(Json(app.list(&c, q.all).await?).into_response())
}

async fn status(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    // status runs an exec in the container: it counts toward the caller's operations.
    let _slot = OperationSlot::take(&c)?;
    Ok(Json(app.status(&c, &name).await?).into_response())
}

async fn create(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    body: Bytes,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    let req: CreateRequest = serde_json::from_slice(&body).map_err(|e| {
        Failure(ApiError::new(
            ErrorCode::BadRequest,
            format!("invalid create request: {e}"),
        ))
    })?;
    Ok(operation(OperationSlot::take(&c)?, move |tx| async move {
        app.create(&c, &req, &stepper(tx)).await
    }))
}

async fn start(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    let req: StartRequest = if body.is_empty() {
        StartRequest::default()
    } else {
        // serde_json's message names the field and the rule, never a key's value.
        serde_json::from_slice(&body).map_err(|e| {
            Failure(ApiError::new(
                ErrorCode::BadRequest,
                format!("invalid start request: {e}"),
            ))
        })?
    };
    Ok(operation(OperationSlot::take(&c)?, move |tx| async move {
        app.start(&c, &name, req.auth_key.as_ref(), &stepper(tx))
            .await
    }))
}

async fn stop(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(operation(OperationSlot::take(&c)?, move |tx| async move {
        app.stop(&c, &name, &stepper(tx)).await
    }))
}

async fn destroy(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<DestroyQuery>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(operation(OperationSlot::take(&c)?, move |tx| async move {
        app.destroy(&c, &name, q.keep_volume, &stepper(tx)).await
    }))
}

async fn rotate(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    let req: RotateKeyRequest = if body.is_empty() {
        RotateKeyRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Failure(ApiError::new(
                ErrorCode::BadRequest,
                format!("invalid rotate-key request: {e}"),
            ))
        })?
    };
    Ok(operation(OperationSlot::take(&c)?, move |tx| async move {
        app.rotate_key(&c, &name, req.now, req.auth_key.as_ref(), &stepper(tx))
            .await
    }))
}

async fn keep(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(Json(app.keep(&c, &name).await?).into_response())
}

async fn volumes(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    Query(q): Query<AllQuery>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    // Measuring volumes walks their files: one at a time per user, like status.
    let _slot = OperationSlot::take(&c)?;
    Ok(Json(app.volumes(&c, q.all).await?).into_response())
}

async fn notices(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(Json(app.notices(&c)?).into_response())
}

async fn plan(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    Query(q): Query<AllQuery>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    Ok(Json(app.plan(&c, q.all).await?).into_response())
}

/// Admins: one reconciler pass now (streamed like the other long operations).
async fn reconcile(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    if !c.is_admin {
        return Err(Failure(ApiError::new(
            ErrorCode::Forbidden,
            "only admins may run the reconciler by hand; `devbox-ctl gc --dry-run` shows what it will do",
        )));
    }
    Ok(operation(OperationSlot::take(&c)?, move |_tx| async move {
        app.reconcile_now(&c).await
    }))
}

async fn logs(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerUid>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, Failure> {
    let c = caller(&app, peer)?;
    let stream = app.logs(&c, &name, q.follow, q.tail).await?;
    let body = stream.map(|r| match r {
        Ok(b) => Ok::<_, Infallible>(Bytes::from(b)),
        Err(e) => Ok(Bytes::from(format!("\n[devboxd: log stream ended: {e}]\n"))),
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot prepare the socket directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} exists and is not a socket; remove it or choose another socketPath")]
    NotASocket { path: String },
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: String,
        source: std::io::Error,
    },
    #[error("the socket group {group:?} does not exist; create it (`groupadd {group}`) or set socketGroup in the devboxd config")]
    NoGroup { group: String },
    #[error("cannot give the socket {path} to group {group:?} with mode 0660: {reason}")]
    Permissions {
        path: String,
        group: String,
        reason: String,
    },
}

/// Binds the socket: replaces a stale socket, owner root, group `group`, mode 0660.
pub fn listen(path: &Path, group: &str) -> Result<UnixListener, ListenError> {
    let p = path.display().to_string();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ListenError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(ListenError::NotASocket { path: p });
        }
        std::fs::remove_file(path).map_err(|source| ListenError::Bind {
            path: p.clone(),
            source,
        })?;
    }
    let gid = nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .ok_or_else(|| ListenError::NoGroup {
            group: group.to_string(),
        })?
        .gid;
    let listener = UnixListener::bind(path).map_err(|source| ListenError::Bind {
        path: p.clone(),
        source,
    })?;
    let perm_err = |reason: String| ListenError::Permissions {
        path: p.clone(),
        group: group.to_string(),
        reason,
    };
    nix::unistd::chown(path, None, Some(gid)).map_err(|e| perm_err(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| perm_err(e.to_string()))?;
    Ok(listener)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    app: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        PerUidListener::new(listener, MAX_CONNECTIONS_PER_UID),
        router(app).into_make_service_with_connect_info::<PeerUid>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
