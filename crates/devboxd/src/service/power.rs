//! The power operations on an existing container: start, stop, destroy and rotate-key. Each
//! takes the container's lock (refusing a caller who may not act before queueing), records its
//! intent in the state first where a crash could cut it short, and is audited. The `*_locked`
//! forms are what the reconciler runs under a lock it already holds.

use devbox_api::validate::validate_name;
use devbox_api::{
    ApiError, AuthKey, ContainerInfo, ContainerStatus, DesiredState, DestroyResult,
    EntrypointStatus, ErrorCode,
};

use super::{engine_err, volume_name, Progress, Service, LABEL_OWNER, STOP_TIMEOUT_SECS};
use crate::clock::Clock;
use crate::engine::{ContainerId, Engine, EngineError};
use crate::secrets::SecretSource;
use crate::state::{ContainerState, KeySource};
use crate::users::Caller;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    pub async fn start(
        &self,
        caller: &Caller,
        name: &str,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let result = async {
            let _container = self.lock_authorized(caller, name).await?;
            self.start_locked(caller, name, auth_key, progress).await
        }
        .await;
        self.audit(caller, "start", name, &result);
        let (id, ready) = result?;
        self.status_with(&id, Some(DesiredState::Running), ready)
            .await
    }

    /// Start, with the container's lock held by the caller. Returns the container's ID and the
    /// entrypoint's ready report (None: it was running already).
    pub(super) async fn start_locked(
        &self,
        caller: &Caller,
        name: &str,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<(ContainerId, Option<EntrypointStatus>), ApiError> {
        let c = self.authorize(caller, name).await?;
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        // Never with someone else's key (or a fallback reference): only its verified owner's.
        if let Some(why) = self.orphaned(&c.labels) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("{name} is not started: {why}"),
            ));
        }
        let id = c.id.clone();
        let mut ready = None;
        let mut source = self.key_source(name);
        if !c.running() {
            let (key, from) = self
                .start_key(caller, name, &owner, auth_key, progress)
                .await?;
            source = from;
            // A node left behind by a container that died without logging out would make the
            // new one `NAME-1`: remove it first (when the Tailscale API is configured).
            if let Err(e) = self.delete_tailnet_devices(name, &owner).await {
                tracing::warn!(container = name, error = %e, "could not remove stale tailnet devices before start");
            }
            match self.bring_up(&id, name, &key, progress).await {
                Ok(status) => ready = status,
                Err(e) => {
                    // Leave it as it was: stopped.
                    let _ = self.engine.stop(&id, STOP_TIMEOUT_SECS).await;
                    return Err(e);
                }
            }
        } else {
            progress.step(&format!("{name} is already running"));
            if auth_key.is_some() {
                progress.step(&format!("Keeping the key you supplied for the next start of {name} (`devbox-ctl rotate-key {name} --auth-key-stdin` delivers it now)"));
            }
        }
        if let Some(k) = auth_key {
            self.hold_key(name, k.secret());
            source = KeySource::User;
        }
        let now = self.clock.now();
        let by_owner = caller.user == owner;
        self.update_state(name, |s| {
            let e = s
                .entry(name.to_string())
                .or_insert_with(|| ContainerState::new(&owner, DesiredState::Running, now));
            e.desired = DesiredState::Running;
            e.stopped_since = None;
            e.key_delivered_at = Some(now);
            // Every start (owner, admin, reconciler) restarts the idle clock; only the owner's
            // also counts as their activity.
            e.last_started = Some(now);
            e.key_source = source;
            if by_owner {
                e.last_activity = Some(now);
            }
        })?;
        self.drop_warnings(name);
        Ok((id, ready))
    }

    pub async fn stop(
        &self,
        caller: &Caller,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<ContainerInfo, ApiError> {
        let result = async {
            let _container = self.lock_authorized(caller, name).await?;
            self.stop_locked(caller, name, progress).await
        }
        .await;
        self.audit(caller, "stop", name, &result);
        let id = result?;
        let c = self
            .engine
            .inspect(&id)
            .await
            .map_err(engine_err)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("the container {name:?} vanished"),
                )
            })?;
        Ok(self.info(&c, Some(DesiredState::Stopped)))
    }

    /// Stop, with the container's lock held by the caller. The intent (desired stopped) is
    /// recorded first, so a daemon that dies in the middle finishes the stop when it restarts.
    pub(super) async fn stop_locked(
        &self,
        caller: &Caller,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<ContainerId, ApiError> {
        let c = self.authorize(caller, name).await?;
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        let now = self.clock.now();
        self.update_state(name, |s| {
            let e = s
                .entry(name.to_string())
                .or_insert_with(|| ContainerState::new(&owner, DesiredState::Stopped, now));
            e.desired = DesiredState::Stopped;
            e.stopped_since.get_or_insert(now);
        })?;
        self.drop_warnings(name);
        self.fault_point("stop-recorded");
        if c.running() {
            progress.step("Logging out of the tailnet");
            self.logout(&c.id, name).await;
            self.fault_point("stop-logged-out");
            progress.step(&format!("Stopping {name}"));
            self.engine
                .stop(&c.id, STOP_TIMEOUT_SECS)
                .await
                .map_err(engine_err)?;
        } else {
            progress.step(&format!("{name} is not running"));
        }
        Ok(c.id)
    }

    pub async fn destroy(
        &self,
        caller: &Caller,
        name: &str,
        keep_volume: bool,
        progress: &dyn Progress,
    ) -> Result<DestroyResult, ApiError> {
        let result = async {
            let _container = match self.lock_authorized(caller, name).await {
                Ok(g) => g,
                Err(e) if e.code == ErrorCode::NotFound && validate_name(name).is_ok() => {
                    // No container: maybe a kept home volume of that name, to remove for good.
                    return match self
                        .destroy_kept(caller, name, keep_volume, progress)
                        .await?
                    {
                        Some(r) => Ok(r),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
            self.destroy_locked(caller, name, keep_volume, progress)
                .await
        }
        .await;
        self.audit(caller, "destroy", name, &result);
        result
    }

    /// Destroy, with the container's lock held by the caller. Recorded first (write-ahead), so
    /// the reconciler finishes a destroy the daemon did not.
    pub(super) async fn destroy_locked(
        &self,
        caller: &Caller,
        name: &str,
        keep_volume: bool,
        progress: &dyn Progress,
    ) -> Result<DestroyResult, ApiError> {
        let c = self.authorize(caller, name).await?;
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        if keep_volume {
            self.check_kept_cap(caller, &owner, &format!("keep the home volume of {name}"))
                .await?;
        }
        let now = self.clock.now();
        self.update_state(name, |s| {
            let e = s.entry(name.to_string()).or_insert_with(|| ContainerState {
                stopped_since: Some(now),
                ..ContainerState::new(&owner, DesiredState::Stopped, now)
            });
            e.destroying = Some(keep_volume);
        })?;
        self.fault_point("destroy-recorded");
        if c.running() {
            progress.step("Logging out of the tailnet (removes the ephemeral node)");
            self.logout(&c.id, name).await;
            self.fault_point("destroy-logged-out");
        }
        self.finish_destroy(name, &owner, keep_volume, Some(c.id), progress)
            .await
    }

    /// The idempotent rest of a destroy: container, volume (unless kept), tailnet devices, state.
    /// `id`: the container as the caller resolved it under the container's lock (None: resolve
    /// it here, as `owner`'s managed container of exactly that name, if it still exists).
    pub(super) async fn finish_destroy(
        &self,
        name: &str,
        owner: &str,
        keep_volume: bool,
        id: Option<ContainerId>,
        progress: &dyn Progress,
    ) -> Result<DestroyResult, ApiError> {
        let id = match id {
            Some(id) => Some(id),
            None => self
                .resolve(name)
                .await?
                .filter(|c| c.labels.get(LABEL_OWNER).map(String::as_str) == Some(owner))
                .map(|c| c.id),
        };
        if let Some(id) = &id {
            progress.step(&format!("Removing container {name}"));
            match self.engine.remove(id).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(engine_err(e)),
            }
        }
        self.fault_point("destroy-container-removed");
        self.remove_network_of(name).await;
        let volume = volume_name(name);
        if !keep_volume {
            if self.remove_home_volume(name, owner).await? {
                progress.step(&format!("Removed home volume {volume}"));
            }
            self.fault_point("destroy-volume-removed");
        } else {
            progress.step(&format!("Keeping home volume {volume}"));
            // Its auto-destroy clock starts now.
            self.record_kept(name, owner);
        }
        if self.users.file.containers.tailscale_api_key_ref.is_some() {
            progress.step("Deleting the tailnet device through the Tailscale API");
            if let Err(e) = self.delete_tailnet_devices(name, owner).await {
                progress.step(&format!(
                    "Could not delete the tailnet device yet ({e}); devboxd retries until it succeeds"
                ));
                self.record_cleanup_failure(name, owner, &e);
            }
        }
        self.update_state(name, |s| {
            s.remove(name);
        })?;
        self.forget_key(name);
        self.drop_warnings(name);
        Ok(DestroyResult {
            name: name.to_string(),
            volume_kept: keep_volume,
            volume,
        })
    }

    pub async fn rotate_key(
        &self,
        caller: &Caller,
        name: &str,
        now: bool,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let result = async {
            let _container = self.lock_authorized(caller, name).await?;
            let c = self.authorize(caller, name).await?;
            let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
            if let Some(why) = self.orphaned(&c.labels) {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("no key is delivered to {name}: {why}"),
                ));
            }
            // Rotating without a key goes back to 1Password; with one, that key is used from now on.
            let source = key_source_of(auth_key);
            if !c.running() {
                // Nothing to deliver: record where the next start takes its key from.
                self.set_next_start_key(name, auth_key, progress)?;
                return Ok(c.id);
            }
            let key = match auth_key {
                Some(k) => k.secret().clone(),
                // Fresh: rotate-key exists to deliver the key as it is in 1Password now.
                None => {
                    self.key_from_1password(caller, &owner, true, progress)
                        .await?
                }
            };
            progress.step("Delivering the new key into the container");
            self.deliver_key(&c.id, &key, now).await?;
            match auth_key {
                Some(k) => self.hold_key(name, k.secret()),
                None => self.forget_key(name),
            }
            let t = self.clock.now();
            self.update_state(name, |s| {
                if let Some(e) = s.get_mut(name) {
                    e.key_delivered_at = Some(t);
                    e.key_source = source;
                }
            })?;
            if now {
                progress.step("Waiting for the container to re-authenticate");
                self.wait_ready_or_tell(&c.id, name, progress).await?;
            }
            Ok(c.id)
        }
        .await;
        self.audit(caller, "rotate-key", name, &result);
        let id = result?;
        self.status_with(&id, self.desired(name), None).await
    }

    /// rotate-key of a stopped container: the next start takes the key supplied now, or goes
    /// back to 1Password (refused when it never left it: a start fetches the current key anyway).
    fn set_next_start_key(
        &self,
        name: &str,
        auth_key: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<(), ApiError> {
        match (auth_key, self.key_source(name)) {
            (Some(k), _) => {
                progress.step(&format!(
                    "Keeping the key you supplied for the next start of {name}"
                ));
                self.hold_key(name, k.secret());
            }
            (None, KeySource::User) => {
                progress.step(&format!(
                    "{name} uses your 1Password key again from its next start"
                ));
                self.forget_key(name);
            }
            (None, KeySource::OnePassword) => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("{name} is not running; every start fetches the current key from 1Password, so `devbox-ctl start {name}` is all you need"),
                ));
            }
        }
        let source = key_source_of(auth_key);
        self.update_state(name, |s| {
            if let Some(e) = s.get_mut(name) {
                e.key_source = source;
            }
        })
    }
}

/// Where a container's keys come from once a request with `auth_key` has run: the key the user
/// supplied, or 1Password when none was.
fn key_source_of(auth_key: Option<&AuthKey>) -> KeySource {
    if auth_key.is_some() {
        KeySource::User
    } else {
        KeySource::OnePassword
    }
}
