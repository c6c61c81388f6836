//! The Podman backend: bollard against Podman's Docker-compatible API socket.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListVolumesOptions, LogsOptions,
    RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::engine::{
    ByteStream, ContainerId, ContainerRecord, ContainerSpec, Engine, EngineError, ExecOutput,
    NetworkRecord, Volume,
};

/// A full container ID as Podman reports it (64 lowercase hex digits). Only such an ID is used as
/// a reference: Podman matches a full ID exactly, before names and prefixes.
fn full_id(id: &str) -> Result<ContainerId, EngineError> {
    if id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(ContainerId::from_engine(id.to_string()))
    } else {
        Err(EngineError::Failed(format!(
            "Podman answered with a container ID that is not a full ID: {id:?}"
        )))
    }
}

/// The most an exec keeps of each of stdout and stderr. What an exec prints is controlled by
/// whoever is root in that container (its owner); the daemon serves everyone, so it must not
/// buffer an unbounded answer (the rest is read and dropped, so the exit code still arrives).
pub const MAX_EXEC_OUTPUT: usize = 1 << 20;

/// Appends `data` to `buf` up to [`MAX_EXEC_OUTPUT`] bytes in all.
fn append_bounded(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_EXEC_OUTPUT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// Podman 4.x implements Docker API 1.41.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

#[derive(Debug)]
pub struct Podman {
    socket: String,
    client: std::sync::OnceLock<Docker>,
}

impl Podman {
    /// Connects lazily: a missing socket is reported by the first call, so the daemon can start
    /// (and `doctor` can explain) while Podman is down.
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_string_lossy().to_string(),
            client: std::sync::OnceLock::new(),
        }
    }

    fn docker(&self) -> Result<&Docker, EngineError> {
        if let Some(d) = self.client.get() {
            return Ok(d);
        }
        let d = Docker::connect_with_unix(&self.socket, 120, &API_VERSION).map_err(map_err)?;
        Ok(self.client.get_or_init(|| d))
    }
}

fn map_err(e: bollard::errors::Error) -> EngineError {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => EngineError::NotFound(message),
            409 => EngineError::Conflict(message),
            _ => EngineError::Failed(format!("{status_code}: {message}")),
        },
        B::SocketNotFoundError(p) => EngineError::Unavailable(format!(
            "Podman's API socket {p} does not exist; start it (`systemctl enable --now podman.socket`)"
        )),
        B::HyperResponseError { .. }
        | B::HyperLegacyError { .. }
        | B::IOError { .. }
        | B::RequestTimeoutError => EngineError::Unavailable(format!(
            "cannot talk to Podman's API socket: {}",
            std::error::Error::source(&e)
                .map(|s| format!("{e}: {s}"))
                .unwrap_or_else(|| e.to_string())
        )),
        other => EngineError::Failed(other.to_string()),
    }
}

/// The answer came but the typed client could not decode it (an unknown enum value).
fn undecodable(e: &bollard::errors::Error) -> bool {
    let t = e.to_string();
    t.contains("unknown variant") || t.contains("deserialize")
}

/// Percent-encodes a URL path segment or query value.
fn query_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Podman {
    /// GET over Podman's socket (Docker API), answered as untyped JSON (status, body).
    async fn raw_get(&self, path: &str) -> Result<(u16, serde_json::Value), EngineError> {
        self.raw_request(hyper::Method::GET, &format!("/v1.41{path}"), None)
            .await
    }

    /// A request over Podman's socket to a full API path (Docker's `/v1.41/...` or libpod's
    /// `/v4.0.0/libpod/...`), answered as untyped JSON (status, body).
    async fn raw_request(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), EngineError> {
        use http_body_util::BodyExt;
        let unavailable = |e: String| {
            EngineError::Unavailable(format!("cannot talk to Podman's API socket: {e}"))
        };
        let payload = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| EngineError::Failed(e.to_string()))?,
            None => vec![],
        };
        let run = async {
            let stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(|e| unavailable(format!("{}: {e}", self.socket)))?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, "podman")
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(http_body_util::Full::new(hyper::body::Bytes::from(payload)))
                .map_err(|e| EngineError::Failed(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| unavailable(e.to_string()))?
                .to_bytes();
            let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            Ok((status, v))
        };
        tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .map_err(|_| unavailable("no answer within 120 s".into()))?
    }

    /// Containers carrying every one of `labels`, from libpod's list (not Docker's compat list:
    /// with 50 containers libpod's answers in about 33 ms against 54 ms, measured side by side;
    /// the compat layer converts every container to Docker's shape). libpod also reports
    /// Podman's own states as they are (`stopped`), which Docker's types cannot decode.
    async fn list_libpod(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerRecord>, EngineError> {
        let filters = serde_json::to_string(&label_filter(labels))
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        let (status, v) = self
            .raw_request(
                hyper::Method::GET,
                &format!(
                    "{LIBPOD}/containers/json?all=true&filters={}",
                    query_escape(&filters)
                ),
                None,
            )
            .await?;
        if status != 200 {
            return Err(libpod_error(status, &v));
        }
        let all = v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| {
                Ok(ContainerRecord {
                    id: full_id(c["Id"].as_str().unwrap_or_default())?,
                    name: c["Names"][0]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    state: c["State"].as_str().unwrap_or_default().to_string(),
                    labels: string_map(&c["Labels"]),
                    image: c["Image"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        // The engine filters by label already; keep the guarantee even if it did not.
        Ok(all
            .into_iter()
            .filter(|c| labels.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
            .collect())
    }

    /// `reference`: a full ID or a name; the caller checks that the answer is what it asked for.
    async fn inspect_raw(&self, reference: &str) -> Result<Option<ContainerRecord>, EngineError> {
        let (status, v) = self
            .raw_get(&format!("/containers/{}/json", query_escape(reference)))
            .await?;
        match status {
            200 => Ok(Some(ContainerRecord {
                id: full_id(v["Id"].as_str().unwrap_or_default())?,
                name: v["Name"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                state: v["State"]["Status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                labels: string_map(&v["Config"]["Labels"]),
                image: v["Config"]["Image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })),
            404 => Ok(None),
            _ => Err(EngineError::Failed(format!("{status}: {v}"))),
        }
    }
}

impl Podman {
    /// Inspects by `reference` (a full ID or a name) as Podman resolves it; callers check the
    /// answer is the object they asked for.
    async fn inspect_ref(&self, reference: &str) -> Result<Option<ContainerRecord>, EngineError> {
        let inspected = self
            .docker()?
            .inspect_container(reference, None::<InspectContainerOptions>)
            .await;
        if let Err(e) = &inspected {
            if undecodable(e) {
                // See list_by_labels.
                return self.inspect_raw(reference).await;
            }
        }
        match inspected {
            Ok(c) => {
                let config = c.config.unwrap_or_default();
                Ok(Some(ContainerRecord {
                    id: full_id(c.id.as_deref().unwrap_or_default())?,
                    name: c
                        .name
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    state: c
                        .state
                        .and_then(|s| s.status)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    labels: config.labels.unwrap_or_default().into_iter().collect(),
                    image: config.image.unwrap_or_default(),
                }))
            }
            Err(e) => match map_err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }
}

fn label_filter(labels: &BTreeMap<String, String>) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    f.insert(
        "label".to_string(),
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    );
    f
}

/// A network as libpod's API describes it.
fn network_record(v: &serde_json::Value) -> NetworkRecord {
    NetworkRecord {
        name: v["name"].as_str().unwrap_or_default().to_string(),
        interface: v["network_interface"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        labels: string_map(&v["labels"]),
    }
}

/// The message of a libpod error answer (`{"cause", "message", "response"}`).
fn libpod_error(status: u16, v: &serde_json::Value) -> EngineError {
    let message = v["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    match status {
        404 => EngineError::NotFound(message),
        409 => EngineError::Conflict(message),
        _ => EngineError::Failed(format!("{status}: {message}")),
    }
}

const LIBPOD: &str = "/v4.0.0/libpod";

impl Engine for Podman {
    async fn ping(&self) -> Result<String, EngineError> {
        let v = self.docker()?.version().await.map_err(map_err)?;
        Ok(v.version.unwrap_or_default())
    }

    async fn image_exists(&self, image: &str) -> Result<bool, EngineError> {
        match self.docker()?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) => match map_err(e) {
                EngineError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn volume(&self, name: &str) -> Result<Option<Volume>, EngineError> {
        match self.docker()?.inspect_volume(name).await {
            // Podman answers a name it does not find with the volume whose name it uniquely
            // prefixes: only the exact name counts.
            Ok(v) if v.name == name => Ok(Some(Volume::from_engine(
                v.name,
                v.labels.into_iter().collect(),
            ))),
            Ok(_) => Ok(None),
            Err(e) => match map_err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker()?.create_volume(req).await.map_err(map_err)?;
        Ok(())
    }

    async fn remove_volume(&self, volume: &Volume) -> Result<(), EngineError> {
        // Podman removes by name or, when that name is gone, by unique name PREFIX: look again
        // right before removing (callers hold the container's lock, so devbox itself cannot
        // remove or re-create it in between), and never remove a name that no longer exists.
        match self.volume(volume.name()).await? {
            None => return Ok(()),
            Some(now) if now.labels() != volume.labels() => {
                return Err(EngineError::Conflict(format!(
                    "the volume {} changed since it was checked (other labels); left alone",
                    volume.name()
                )))
            }
            Some(_) => {}
        }
        match self
            .docker()?
            .remove_volume(volume.name(), Some(RemoveVolumeOptions { force: true }))
            .await
            .map_err(map_err)
        {
            Ok(()) | Err(EngineError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list_volumes_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, EngineError> {
        let opts = ListVolumesOptions {
            filters: Some(label_filter(labels)),
        };
        let list = self
            .docker()?
            .list_volumes(Some(opts))
            .await
            .map_err(map_err)?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.labels.into_iter().collect::<BTreeMap<_, _>>()))
            .filter(|(_, l)| labels.iter().all(|(k, v)| l.get(k) == Some(v)))
            .collect())
    }

    async fn volume_sizes(&self) -> Result<BTreeMap<String, u64>, EngineError> {
        // Podman measures every volume for this answer (a `du`): callers ask only on request.
        let (status, v) = self.raw_get("/system/df").await?;
        if status != 200 {
            return Err(EngineError::Failed(format!("{status}: {v}")));
        }
        Ok(v["Volumes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|vol| {
                let size = vol["UsageData"]["Size"].as_u64()?;
                Some((vol["Name"].as_str()?.to_string(), size))
            })
            .collect())
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<NetworkRecord, EngineError> {
        // libpod's API, not Docker's: netavark's `isolate` option (no forwarding between two
        // isolated networks) is defense in depth under devboxd's own nftables rules.
        let body = serde_json::json!({
            "name": name,
            "driver": "bridge",
            "dns_enabled": true,
            "labels": labels,
            "options": {"isolate": "true"},
        });
        let (status, v) = self
            .raw_request(
                hyper::Method::POST,
                &format!("{LIBPOD}/networks/create"),
                Some(&body),
            )
            .await?;
        match status {
            200 | 201 => Ok(network_record(&v)),
            _ => Err(libpod_error(status, &v)),
        }
    }

    async fn network(&self, name: &str) -> Result<Option<NetworkRecord>, EngineError> {
        let (status, v) = self
            .raw_request(
                hyper::Method::GET,
                &format!("{LIBPOD}/networks/{}/json", query_escape(name)),
                None,
            )
            .await?;
        match status {
            // Exact name only: never act on a network that merely matched a prefix.
            200 if v["name"].as_str() == Some(name) => Ok(Some(network_record(&v))),
            200 | 404 => Ok(None),
            _ => Err(libpod_error(status, &v)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        // Not forced: Podman refuses to remove a network a container still uses.
        let (status, v) = self
            .raw_request(
                hyper::Method::DELETE,
                &format!("{LIBPOD}/networks/{}", query_escape(name)),
                None,
            )
            .await?;
        match status {
            200 | 204 => match v[0]["Err"].as_str() {
                Some(e) if !e.is_empty() => Err(EngineError::Failed(e.to_string())),
                _ => Ok(()),
            },
            _ => Err(libpod_error(status, &v)),
        }
    }

    async fn list_networks_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<NetworkRecord>, EngineError> {
        let filters = serde_json::to_string(&label_filter(labels))
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        let (status, v) = self
            .raw_request(
                hyper::Method::GET,
                &format!("{LIBPOD}/networks/json?filters={}", query_escape(&filters)),
                None,
            )
            .await?;
        if status != 200 {
            return Err(libpod_error(status, &v));
        }
        Ok(v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(network_record)
            .filter(|n| labels.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
            .collect())
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, EngineError> {
        let host_config = HostConfig {
            nano_cpus: Some(spec.nano_cpus),
            memory: Some(spec.memory_bytes),
            // No swap beyond the memory limit, so the limit is the limit.
            memory_swap: Some(spec.memory_bytes),
            mounts: Some(
                std::iter::once(Mount {
                    target: Some(spec.home_path.clone()),
                    source: Some(spec.volume.clone()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                })
                .chain(spec.binds.iter().map(|(host, target)| Mount {
                    target: Some(target.clone()),
                    source: Some(host.clone()),
                    typ: Some(MountType::BIND),
                    ..Default::default()
                }))
                .collect(),
            ),
            tmpfs: Some(spec.tmpfs.iter().cloned().collect()),
            userns_mode: spec.userns.clone(),
            publish_all_ports: Some(false),
            pids_limit: Some(spec.confinement.pids_limit),
            cap_drop: Some(vec!["ALL".to_string()]),
            cap_add: Some(spec.confinement.capabilities.clone()),
            security_opt: spec
                .confinement
                .no_new_privileges
                .then(|| vec!["no-new-privileges".to_string()]),
            network_mode: spec.network.clone(),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: Some(spec.hostname.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            host_config: Some(host_config),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let made = self
            .docker()?
            .create_container(Some(opts), body)
            .await
            .map_err(map_err)?;
        full_id(&made.id)
    }

    async fn start(&self, id: &ContainerId) -> Result<(), EngineError> {
        match self.docker()?.start_container(id.as_str(), None).await {
            Ok(()) => Ok(()),
            // 304: already running.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn stop(&self, id: &ContainerId, timeout_secs: u32) -> Result<(), EngineError> {
        let opts = StopContainerOptions {
            t: Some(i32::try_from(timeout_secs).unwrap_or(10)),
            signal: None,
        };
        match self.docker()?.stop_container(id.as_str(), Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove(&self, id: &ContainerId) -> Result<(), EngineError> {
        // Stop first: Podman 4.3 often fails a forced removal of a running container with
        // "userdata/shm: device or resource busy". The stop is bounded; removal is retried
        // briefly for the same reason.
        let _ = self.stop(id, 5).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        // The busy mount is usually released within tens of milliseconds: retry soon, then back
        // off (a flat 300 ms pause made such a destroy 3x slower than raw Podman; devbox-bench).
        let mut pause = Duration::from_millis(20);
        loop {
            let opts = RemoveContainerOptions {
                force: true,
                v: false,
                link: false,
            };
            match self
                .docker()?
                .remove_container(id.as_str(), Some(opts))
                .await
                .map_err(map_err)
            {
                Ok(()) => return Ok(()),
                Err(EngineError::Failed(m))
                    if m.contains("busy") && tokio::time::Instant::now() < deadline =>
                {
                    tracing::debug!(container = %id, error = %m, "remove: retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(300));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find(&self, name: &str) -> Result<Option<ContainerRecord>, EngineError> {
        // Podman answers a name it does not find with the container whose ID it uniquely
        // prefixes: only the exact name counts.
        Ok(self.inspect_ref(name).await?.filter(|c| c.name == name))
    }

    async fn inspect(&self, id: &ContainerId) -> Result<Option<ContainerRecord>, EngineError> {
        Ok(self.inspect_ref(id.as_str()).await?.filter(|c| &c.id == id))
    }

    async fn list_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerRecord>, EngineError> {
        self.list_libpod(labels).await
    }

    async fn exec(
        &self,
        id: &ContainerId,
        cmd: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        let run = async {
            let created = self
                .docker()?
                .create_exec(
                    id.as_str(),
                    CreateExecOptions::<String> {
                        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                        attach_stdin: Some(stdin.is_some()),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        tty: Some(false),
                        ..Default::default()
                    },
                )
                .await
                .map_err(map_err)?;
            let started = self
                .docker()?
                .start_exec(
                    &created.id,
                    Some(StartExecOptions {
                        detach: false,
                        tty: false,
                        output_capacity: None,
                    }),
                )
                .await
                .map_err(map_err)?;
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            if let StartExecResults::Attached {
                mut output,
                mut input,
            } = started
            {
                if let Some(data) = stdin {
                    input
                        .write_all(data)
                        .await
                        .map_err(|e| EngineError::Failed(format!("exec stdin: {e}")))?;
                    input
                        .shutdown()
                        .await
                        .map_err(|e| EngineError::Failed(format!("exec stdin close: {e}")))?;
                }
                drop(input);
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(map_err)? {
                        bollard::container::LogOutput::StdOut { message } => {
                            append_bounded(&mut stdout, &message)
                        }
                        bollard::container::LogOutput::StdErr { message } => {
                            append_bounded(&mut stderr, &message)
                        }
                        _ => {}
                    }
                }
            }
            // The exit code may lag the end of the output stream by a moment.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let inspected = self
                    .docker()?
                    .inspect_exec(&created.id)
                    .await
                    .map_err(map_err)?;
                if inspected.running != Some(true) {
                    if let Some(code) = inspected.exit_code {
                        return Ok(ExecOutput {
                            exit_code: code,
                            stdout,
                            stderr,
                        });
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(EngineError::Failed(format!(
                        "exec {:?} in {id} did not report an exit code",
                        cmd.first().unwrap_or(&"")
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(timeout, run).await.map_err(|_| {
            EngineError::Failed(format!(
                "exec {:?} in {id} timed out after {}s",
                cmd.first().unwrap_or(&""),
                timeout.as_secs()
            ))
        })?
    }

    fn logs(&self, id: &ContainerId, follow: bool, tail: Option<u32>) -> ByteStream {
        let opts = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into()),
            ..Default::default()
        };
        match self.docker() {
            Ok(d) => Box::pin(
                d.logs(id.as_str(), Some(opts))
                    .map(|r| r.map(|o| o.into_bytes().to_vec()).map_err(map_err)),
            ),
            Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_escape(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
        assert_eq!(query_escape("web-1.x_~"), "web-1.x_~");
    }

    /// The list (libpod's API) and the lookups (Docker's compat API, typed and untyped) read the
    /// same container alike, against a real Podman.
    #[devbox_test_kit::host_test]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn libpod_list_and_compat_inspect_agree() {
        let image = devbox_test_kit::testbed::ensure_image().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let mut service = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let name = devbox_test_kit::unique_name("rawtest");
        let label = format!("devbox.rawtest={name}");
        let made = Command::new("podman")
            .args(["create", "--name", &name, "--label", &label, &image])
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let s = socket.clone();
        devbox_test_kit::poll_until(Duration::from_secs(30), "podman socket", || {
            std::os::unix::net::UnixStream::connect(&s).ok()
        })
        .unwrap();
        let podman = Podman::new(&socket);
        let labels = BTreeMap::from([("devbox.rawtest".to_string(), name.clone())]);
        let listed = podman.list_by_labels(&labels).await;
        let typed_one = podman.find(&name).await;
        let raw_one = podman.inspect_raw(&name).await;
        let missing = podman.inspect_raw(&format!("{name}-missing")).await;
        let _ = Command::new("podman").args(["rm", "-f", &name]).output();
        let _ = service.kill();
        let _ = service.wait();
        let listed = listed.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, name);
        assert_eq!(listed[0].state, "created");
        let typed_one = typed_one.unwrap().unwrap();
        // The list (libpod) and the lookup (compat, typed) describe the container alike.
        assert_eq!(listed[0], typed_one);
        assert_eq!(raw_one.unwrap().unwrap(), typed_one);
        assert_eq!(missing.unwrap(), None);
    }

    fn podman_ok(args: &[&str]) -> String {
        let out = Command::new("podman").args(args).output().unwrap();
        assert!(out.status.success(), "podman {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Podman's compat API resolves a container by unique ID prefix and a volume by unique name
    /// prefix; the engine's lookups and removals never do.
    #[devbox_test_kit::host_test]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_and_volume_removal_never_resolve_a_prefix() {
        let image = devbox_test_kit::testbed::ensure_image().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let mut service = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let name = devbox_test_kit::unique_name("exacttest");
        let id = podman_ok(&["create", "--name", &name, &image]);
        let long = format!("{name}-volume-long");
        let short = format!("{name}-volume");
        podman_ok(&["volume", "create", "--label", "v=1", &long]);
        let s = socket.clone();
        devbox_test_kit::poll_until(Duration::from_secs(30), "podman socket", || {
            std::os::unix::net::UnixStream::connect(&s).ok()
        })
        .unwrap();
        let podman = Podman::new(&socket);
        let by_prefix = podman.find(&id[..12]).await;
        let by_name = podman.find(&name).await;
        let volume_by_prefix = podman.volume(&short).await;
        // A handle for a volume that no longer exists, whose name prefixes another one.
        let gone = Volume::from_engine(short.clone(), BTreeMap::new());
        let removed_gone = podman.remove_volume(&gone).await;
        let long_survived = podman.volume(&long).await;
        // A volume re-created with other labels after it was checked is left alone.
        let checked = podman.volume(&long).await.unwrap().unwrap();
        podman_ok(&["volume", "rm", &long]);
        podman_ok(&["volume", "create", "--label", "v=2", &long]);
        let changed = podman.remove_volume(&checked).await;
        let still_there = podman.volume(&long).await;
        let _ = Command::new("podman").args(["rm", "-f", &id]).output();
        let _ = Command::new("podman")
            .args(["volume", "rm", "-f", &long])
            .output();
        let _ = service.kill();
        let _ = service.wait();
        assert_eq!(by_prefix.unwrap(), None, "found by ID prefix");
        let by_name = by_name.unwrap().unwrap();
        assert_eq!(
            (by_name.id.as_str(), by_name.name.as_str()),
            (id.as_str(), name.as_str())
        );
        assert_eq!(
            volume_by_prefix.unwrap(),
            None,
            "volume found by name prefix"
        );
        assert_eq!(removed_gone, Ok(()));
        assert!(long_survived.unwrap().is_some(), "removed by name prefix");
        assert!(
            matches!(changed, Err(EngineError::Conflict(_))),
            "{changed:?}"
        );
        assert_eq!(
            still_there
                .unwrap()
                .unwrap()
                .labels()
                .get("v")
                .map(String::as_str),
            Some("2")
        );
    }
}
