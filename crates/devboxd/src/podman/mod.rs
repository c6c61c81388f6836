//! The Podman backend: bollard against Podman's Docker-compatible API socket, and libpod's own
//! API where Docker's shape loses information. `api` holds the raw requests and answer decoding,
//! `exec` the bounded exec; this file the engine trait, call by call.

mod api;
mod exec;
#[cfg(test)]
mod tests;

use api::{label_filter, libpod_error, map_err, network_record, query_escape, LIBPOD};
pub use exec::MAX_EXEC_OUTPUT;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, ListVolumesOptions, LogsOptions, RemoveContainerOptions,
    RemoveVolumeOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;

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
        self.exec_bounded(id, cmd, stdin, timeout).await
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
