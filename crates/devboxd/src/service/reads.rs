//! What callers may see of their containers: `list`, `status`, `logs`, and the status answer
//! that create, start and rotate-key also return. Reads take no container lock.

use devbox_api::{
    ApiError, ConnectInfo, ContainerInfo, ContainerStatus, DesiredState, EntrypointStatus,
    ErrorCode,
};

use super::{engine_err, volume_name, Options, Service, LABEL_CREATED, LABEL_OPTIONS, LABEL_OWNER};
use crate::clock::Clock;
use crate::engine::{ByteStream, ContainerId, ContainerRecord, Engine};
use crate::secrets::SecretSource;
use crate::users::Caller;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    /// What `list` and `stop` show of a container: its labels and `desired`.
    pub(super) fn info(&self, c: &ContainerRecord, desired: Option<DesiredState>) -> ContainerInfo {
        let opts: Option<Options> = c
            .labels
            .get(LABEL_OPTIONS)
            .and_then(|o| serde_json::from_str(o).ok());
        ContainerInfo {
            name: c.name.clone(),
            owner: c.labels.get(LABEL_OWNER).cloned().unwrap_or_default(),
            state: c.state.clone(),
            desired,
            cpu: opts.as_ref().map(|o| o.cpu).unwrap_or_default(),
            memory_bytes: opts.as_ref().map(|o| o.memory_bytes).unwrap_or_default(),
            syncthing: opts.as_ref().map(|o| o.syncthing).unwrap_or_default(),
            created_at: c.labels.get(LABEL_CREATED).cloned().unwrap_or_default(),
            image: c.image.clone(),
            volume: volume_name(&c.name),
            orphaned: self.orphaned(&c.labels),
        }
    }

    /// The status of the container `id` (resolved and authorized by the caller), with the
    /// entrypoint's report if the caller already has a fresh one.
    pub(super) async fn status_with(
        &self,
        id: &ContainerId,
        desired: Option<DesiredState>,
        known: Option<EntrypointStatus>,
    ) -> Result<ContainerStatus, ApiError> {
        let c = self
            .engine
            .inspect(id)
            .await
            .map_err(engine_err)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    "the dev container no longer exists (it was destroyed meanwhile); `devbox-ctl list` shows yours",
                )
            })?;
        let name = c.name.as_str();
        let entrypoint = if !c.running() {
            None
        } else if known.is_some() {
            known
        } else {
            self.entrypoint_status(id).await.ok()
        };
        let device = entrypoint
            .as_ref()
            .and_then(|e| e.syncthing.device_id.clone());
        let lifecycle = self
            .state
            .load()
            .ok()
            .map(|s| self.plan_item(&c, s.containers.get(name)));
        Ok(ContainerStatus {
            container: self.info(&c, desired),
            entrypoint,
            connect: ConnectInfo::for_container(name, device),
            lifecycle,
        })
    }
    pub async fn list(&self, caller: &Caller, all: bool) -> Result<Vec<ContainerInfo>, ApiError> {
        if all && !caller.is_admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only admins may list every user's containers; drop --all to see yours",
            ));
        }
        let state = self.state.load().unwrap_or_default();
        let mut list: Vec<ContainerInfo> = self
            .ours()
            .await?
            .iter()
            .filter(|c| all || self.owned_by(c, caller))
            .map(|c| self.info(c, state.containers.get(&c.name).map(|s| s.desired)))
            .collect();
        list.sort_by(|a, b| (&a.owner, &a.name).cmp(&(&b.owner, &b.name)));
        Ok(list)
    }

    pub async fn status(&self, caller: &Caller, name: &str) -> Result<ContainerStatus, ApiError> {
        let c = self.authorize(caller, name).await?;
        self.pause_point("read-authorized").await;
        self.status_with(&c.id, self.desired(name), None).await
    }

    pub async fn logs(
        &self,
        caller: &Caller,
        name: &str,
        follow: bool,
        tail: Option<u32>,
    ) -> Result<ByteStream, ApiError> {
        let c = self.authorize(caller, name).await?;
        self.pause_point("read-authorized").await;
        Ok(self.engine.logs(&c.id, follow, tail))
    }
}
