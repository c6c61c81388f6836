//! `create`: a new dev container as named steps — admit → journal → volume → network →
//! container → bring-up → commit. Each step records what it made in one [`Rollback`]; when a
//! step fails, exactly that is undone, in reverse, so a failed create leaves no volume, network,
//! container, held key or state entry behind. The journal (a write-ahead state entry) lets the
//! reconciler undo, with the same guard, a create the daemon did not live to finish.

use std::collections::BTreeMap;

use devbox_api::contract::env;
use devbox_api::validate::{format_memory, parse_memory, validate_cpu, validate_name};
use devbox_api::{
    ApiError, ContainerStatus, CreateRequest, DesiredState, EntrypointStatus, ErrorCode,
};
use jiff::Timestamp;
use secrecy::SecretString;
use tokio::sync::MutexGuard;

use super::{
    bad, engine_err, volume_name, Options, Progress, Service, HOME_PATH, LABEL_CREATED,
    LABEL_MANAGED, LABEL_NAME, LABEL_OPTIONS, LABEL_OWNER, LABEL_OWNER_UID, LABEL_UID_BASE,
    RUN_PATH, USERNS_BASE, USERNS_SIZE, USERNS_SLOTS,
};
use crate::clock::Clock;
use crate::engine::{ContainerId, ContainerRecord, ContainerSpec, Engine, EngineError, Volume};
use crate::secrets::SecretSource;
use crate::state::{ContainerState, KeySource, PendingCreate};
use crate::users::Caller;

/// What a create has made so far, undone in reverse order when a later step fails.
pub(super) struct Rollback {
    name: String,
    owner: String,
    /// The write-ahead state entry exists. Dropped last: while it exists, a daemon that dies in
    /// the middle of the undo finishes it at its next start.
    journaled: bool,
    /// The create made the home volume (a reused kept volume is never removed).
    volume: bool,
    /// The network step ran: a network of that name with our labels is this create's.
    network: bool,
    container: Option<ContainerId>,
    /// A key the user supplied is held for the container.
    key: bool,
}

impl Rollback {
    fn new(name: &str, owner: &str) -> Self {
        Self {
            name: name.to_string(),
            owner: owner.to_string(),
            journaled: false,
            volume: false,
            network: false,
            container: None,
            key: false,
        }
    }

    /// What a create the daemon did not finish may have made, from its journal entry: the
    /// container as resolved (the managed one of exactly that name and owner), the volume if the
    /// create was to make it, the network. The reconciler drops the journal entry itself.
    pub(super) fn unfinished(
        name: &str,
        owner: &str,
        container: Option<ContainerId>,
        created_volume: bool,
    ) -> Self {
        Self {
            volume: created_volume,
            network: true,
            container,
            ..Self::new(name, owner)
        }
    }

    fn made_anything(&self) -> bool {
        self.volume || self.network || self.container.is_some()
    }

    /// Undoes what was made, newest first. Best effort: what cannot be removed now is logged
    /// (the reconciler sweeps leftover networks; an admin sees the rest). The caller holds the
    /// container's lock.
    pub(super) async fn undo<E: Engine, S: SecretSource, C: Clock>(
        self,
        service: &Service<E, S, C>,
    ) {
        let name = self.name.as_str();
        if self.key {
            service.forget_key(name);
        }
        if let Some(id) = &self.container {
            match service.engine.remove(id).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => {
                    tracing::error!(container = name, %id, error = %e, "rollback: cannot remove container")
                }
            }
        }
        if self.network {
            service.remove_network_of(name).await;
        }
        if self.volume {
            if let Err(e) = service.remove_home_volume(name, &self.owner).await {
                tracing::error!(container = name, error = %e, "rollback: cannot remove volume");
            }
        }
        if self.journaled {
            service.forget(name);
        }
    }
}

/// A create that passed admission: everything the steps after it need.
struct Admitted<'a> {
    req: &'a CreateRequest,
    caller: &'a Caller,
    cpu: f64,
    memory: u64,
    /// The kept home volume of that name, reused (None: the create makes one).
    kept_volume: Option<Volume>,
    /// The first host id of the container's user namespace (None: no user namespace).
    uid_base: Option<u64>,
    /// The key to deliver when the create also starts the container.
    key: Option<SecretString>,
    key_source: KeySource,
    now: Timestamp,
}

impl Admitted<'_> {
    fn name(&self) -> &str {
        &self.req.name
    }

    fn desired(&self) -> DesiredState {
        if self.req.start {
            DesiredState::Running
        } else {
            DesiredState::Stopped
        }
    }
}

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    pub async fn create(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let result = self.create_inner(caller, req, progress).await;
        self.audit(caller, "create", &req.name, &result);
        result
    }

    async fn create_inner(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        progress: &dyn Progress,
    ) -> Result<ContainerStatus, ApiError> {
        let (cpu, memory) = self.check_request(req)?;
        progress.step("Checking name and quotas");
        // A first, unlocked pass answers quickly (taken name, quota, confirmation) before the
        // 1Password round trip; the pass under the admission lock below is the authoritative one.
        self.admit(caller, req).await?;
        // Fetch the key before making anything, so a 1Password failure leaves nothing behind.
        let (key, key_source) = self.create_key(caller, req, progress).await?;

        // Lock order: admission, then the container (other operations take only the latter).
        let mut admission = Some(self.lock.lock().await);
        let container_lock = self.container_lock(&req.name);
        let _container = container_lock.lock().await;
        let kept_volume = self.admit(caller, req).await?;
        let uid_base = self.uid_base(kept_volume.as_ref()).await?;
        let new = Admitted {
            req,
            caller,
            cpu,
            memory,
            kept_volume,
            uid_base,
            key,
            key_source,
            now: self.clock.now(),
        };
        let mut made = Rollback::new(&req.name, &caller.user);
        match self.make(&new, &mut admission, &mut made, progress).await {
            Ok((id, ready)) => self.status_with(&id, Some(new.desired()), ready).await,
            Err(e) => {
                if made.made_anything() {
                    progress.step("Failed; removing what was made");
                }
                made.undo(self).await;
                Err(e)
            }
        }
    }

    /// The steps after admission, each recorded in `made`. Releases the admission lock as soon
    /// as the container exists (its labels make the quota count it).
    async fn make(
        &self,
        new: &Admitted<'_>,
        admission: &mut Option<MutexGuard<'_, ()>>,
        made: &mut Rollback,
        progress: &dyn Progress,
    ) -> Result<(ContainerId, Option<EntrypointStatus>), ApiError> {
        let name = new.name();
        self.journal(new)?;
        made.journaled = true;
        self.fault_point("create-journaled");
        made.volume = self.make_volume(new, progress).await?;
        self.fault_point("create-volume");
        made.network = true;
        let network = self.make_network(name, &new.caller.user, progress).await?;
        self.fault_point("create-network");
        let id = self.make_container(new, network, progress).await?;
        made.container = Some(id.clone());
        self.fault_point("create-container");
        admission.take();
        if let Some(k) = new.req.auth_key.as_ref() {
            self.hold_key(name, k.secret());
            made.key = true;
        }
        let ready = match (&new.key, new.req.start) {
            (Some(key), true) => self.bring_up(&id, name, key, progress).await?,
            _ => None,
        };
        self.fault_point("create-started");
        self.commit(new)?;
        Ok((id, ready))
    }

    /// The request's own rules (name, cpu, memory, the admin's maxima). Returns cpu and memory.
    fn check_request(&self, req: &CreateRequest) -> Result<(f64, u64), ApiError> {
        validate_name(&req.name).map_err(bad)?;
        let policy = &self.users.file.containers;
        let cpu = validate_cpu(req.cpu.unwrap_or(policy.default_cpu)).map_err(bad)?;
        let memory =
            parse_memory(req.memory.as_deref().unwrap_or(&policy.default_memory)).map_err(bad)?;
        crate::bounds::check_admin_maxima(policy, cpu, memory)?;
        i64::try_from(memory)
            .map_err(|_| ApiError::new(ErrorCode::BadRequest, "memory too large"))?;
        Ok((cpu, memory))
    }

    /// The key a starting create delivers: the one the user supplied (used instead of 1Password,
    /// also for later starts), else 1Password's; none when the create does not start.
    async fn create_key(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        progress: &dyn Progress,
    ) -> Result<(Option<SecretString>, KeySource), ApiError> {
        Ok(match (&req.auth_key, req.start) {
            (Some(k), _) => {
                progress.step("Using the Tailscale auth key you supplied");
                (Some(k.secret().clone()), KeySource::User)
            }
            (None, true) => (
                Some(
                    self.key_from_1password(caller, &caller.user, false, progress)
                        .await?,
                ),
                KeySource::OnePassword,
            ),
            (None, false) => (None, KeySource::OnePassword),
        })
    }

    /// The user-namespace range of the home volume: a kept volume's own, else a free one.
    async fn uid_base(&self, kept_volume: Option<&Volume>) -> Result<Option<u64>, ApiError> {
        if !self.settings.userns {
            return Ok(None);
        }
        if let Some(base) = kept_volume
            .and_then(|v| v.labels().get(LABEL_UID_BASE))
            .and_then(|b| b.parse::<u64>().ok())
        {
            return Ok(Some(base));
        }
        Ok(Some(self.free_uid_base().await?))
    }

    /// Write-ahead: records the create before anything is made, so a daemon that dies in the
    /// middle undoes it at its next start (reconcile_at_start).
    fn journal(&self, new: &Admitted<'_>) -> Result<(), ApiError> {
        let entry = ContainerState {
            pending_create: Some(PendingCreate {
                created_volume: new.kept_volume.is_none(),
            }),
            ..ContainerState::new(&new.caller.user, DesiredState::Stopped, new.now)
        };
        let name = new.name();
        self.update_state(name, |s| {
            s.insert(name.to_string(), entry);
        })
    }

    /// Makes the home volume unless a kept one is reused. Returns whether it made one.
    async fn make_volume(
        &self,
        new: &Admitted<'_>,
        progress: &dyn Progress,
    ) -> Result<bool, ApiError> {
        let volume = volume_name(new.name());
        if new.kept_volume.is_some() {
            progress.step(&format!("Reusing your kept home volume {volume}"));
            return Ok(false);
        }
        progress.step(&format!("Creating home volume {volume}"));
        let mut labels = self.owner_labels(new.caller, new.name());
        if let Some(base) = new.uid_base {
            labels.insert(LABEL_UID_BASE.into(), base.to_string());
        }
        self.engine
            .create_volume(&volume, &labels)
            .await
            .map_err(engine_err)?;
        Ok(true)
    }

    /// The labels of everything made for `caller`'s container `name`.
    fn owner_labels(&self, caller: &Caller, name: &str) -> BTreeMap<String, String> {
        let mut labels = self.base_labels();
        labels.insert(LABEL_OWNER.into(), caller.user.clone());
        labels.insert(LABEL_OWNER_UID.into(), caller.uid.to_string());
        labels.insert(LABEL_NAME.into(), name.to_string());
        labels
    }

    /// Makes the container (not started) on its volume and network.
    async fn make_container(
        &self,
        new: &Admitted<'_>,
        network: Option<String>,
        progress: &dyn Progress,
    ) -> Result<ContainerId, ApiError> {
        let spec = self.container_spec(new, network)?;
        progress.step(&format!(
            "Creating container {} ({} CPU, {})",
            new.name(),
            new.cpu,
            format_memory(new.memory)
        ));
        self.engine.create(&spec).await.map_err(engine_err)
    }

    fn container_spec(
        &self,
        new: &Admitted<'_>,
        network: Option<String>,
    ) -> Result<ContainerSpec, ApiError> {
        let name = new.name();
        let owner = &new.caller.user;
        let options = Options {
            cpu: new.cpu,
            memory_bytes: new.memory,
            syncthing: new.req.syncthing,
        };
        let mut labels = self.owner_labels(new.caller, name);
        labels.insert(LABEL_CREATED.into(), new.now.to_string());
        labels.insert(
            LABEL_OPTIONS.into(),
            serde_json::to_string(&options)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
        );
        let memory_bytes = i64::try_from(new.memory)
            .map_err(|_| ApiError::new(ErrorCode::BadRequest, "memory too large"))?;
        Ok(ContainerSpec {
            name: name.to_string(),
            image: self.settings.image.clone(),
            hostname: name.to_string(),
            env: vec![
                (env::HOSTNAME.into(), name.to_string()),
                (env::OWNER.into(), owner.clone()),
                (env::TAGS.into(), self.users.tags(owner).join(",")),
                (env::SYNCTHING.into(), new.req.syncthing.to_string()),
            ]
            .into_iter()
            .chain(self.git_identity_env(owner))
            .collect(),
            labels,
            nano_cpus: (new.cpu * 1e9).round() as i64,
            memory_bytes,
            volume: volume_name(name),
            home_path: HOME_PATH.into(),
            tmpfs: vec![(RUN_PATH.into(), "rw,nosuid,nodev,size=16m,mode=0755".into())],
            binds: self.settings.binds.clone(),
            network,
            userns: new.uid_base.map(|b| {
                format!("auto:uidmapping=0:{b}:{USERNS_SIZE},gidmapping=0:{b}:{USERNS_SIZE}")
            }),
            confinement: self.settings.confinement.clone(),
        })
    }

    /// The create is done: the entry as the container now is (no longer a pending create).
    fn commit(&self, new: &Admitted<'_>) -> Result<(), ApiError> {
        let (now, start) = (new.now, new.req.start);
        let entry = ContainerState {
            stopped_since: (!start).then_some(now),
            last_activity: Some(now),
            key_delivered_at: start.then_some(now),
            last_started: start.then_some(now),
            key_source: new.key_source,
            ..ContainerState::new(&new.caller.user, new.desired(), now)
        };
        let name = new.name();
        self.update_state(name, |s| {
            s.insert(name.to_string(), entry);
        })
    }

    /// The lowest id range no managed volume (of any daemon instance) uses.
    async fn free_uid_base(&self) -> Result<u64, ApiError> {
        let managed = BTreeMap::from([(LABEL_MANAGED.to_string(), "true".to_string())]);
        let used: std::collections::BTreeSet<u64> = self
            .engine
            .list_volumes_by_labels(&managed)
            .await
            .map_err(engine_err)?
            .iter()
            .filter_map(|(_, l)| l.get(LABEL_UID_BASE)?.parse().ok())
            .collect();
        (0..USERNS_SLOTS)
            .map(|k| USERNS_BASE + k * USERNS_SIZE)
            .find(|b| !used.contains(b))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::QuotaExceeded,
                    "no free user-namespace range is left for a new home volume; remove kept volumes nobody needs",
                )
            })
    }

    /// Name, quota, confirmation, kept-volume ownership and image checks of a create. Returns
    /// the existing (kept) home volume of that name.
    async fn admit(
        &self,
        caller: &Caller,
        req: &CreateRequest,
    ) -> Result<Option<Volume>, ApiError> {
        let name = req.name.as_str();
        // Any container of exactly that name (devbox's or not) takes the name.
        if let Some(existing) = self.engine.find(name).await.map_err(engine_err)? {
            let msg = if self.is_ours(&existing) && self.owned_by(&existing, caller) {
                format!("you already have a dev container named {name:?}; use `devbox-ctl start {name}` or `devbox-ctl status {name}`, or pick another name")
            } else {
                format!("the name {name:?} is taken on this orchestrator (names are tailnet hostnames and must be unique); pick another name")
            };
            return Err(ApiError::new(ErrorCode::Conflict, msg));
        }
        self.check_quotas(caller, req).await?;
        let kept_volume = self.check_kept_volume(caller, name).await?;
        if !self
            .engine
            .image_exists(&self.settings.image)
            .await
            .map_err(engine_err)?
        {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("the dev-container image {} is not on this orchestrator; an admin should load it (see `devbox-ctl doctor`)", self.settings.image),
            ));
        }
        Ok(kept_volume)
    }

    /// The per-user and global limits, and the confirmation a second container needs.
    async fn check_quotas(&self, caller: &Caller, req: &CreateRequest) -> Result<(), ApiError> {
        let policy = &self.users.file.containers;
        let all = self.ours().await?;
        let mine: Vec<&ContainerRecord> = all.iter().filter(|c| self.owned_by(c, caller)).collect();
        if mine.len() >= policy.max_per_user as usize {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "you already have {} dev containers, the per-user limit is {}; destroy one first (`devbox-ctl destroy NAME`)",
                    mine.len(),
                    policy.max_per_user
                ),
            ));
        }
        if all.len() >= policy.max_global as usize {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the orchestrator already runs {} dev containers, the limit is {}; ask an admin to free one",
                    all.len(),
                    policy.max_global
                ),
            ));
        }
        if !mine.is_empty() && !req.confirm_another {
            let names: Vec<&str> = mine.iter().map(|c| c.name.as_str()).collect();
            return Err(ApiError::new(
                ErrorCode::NeedsConfirmation,
                format!(
                    "you already have a dev container: {}. To create another one anyway, confirm at the prompt or pass --another",
                    names.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The home volume of that name, if one is kept: reused only by the person it was made for.
    async fn check_kept_volume(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Option<Volume>, ApiError> {
        let volume = volume_name(name);
        let existing_volume = self.engine.volume(&volume).await.map_err(engine_err)?;
        if let Some(v) = &existing_volume {
            let labels = v.labels();
            // A kept home is reused only by the person it was made for (name AND uid).
            if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true")
                || labels.get(LABEL_OWNER) != Some(&caller.user)
                || labels.get(LABEL_OWNER_UID) != Some(&caller.uid.to_string())
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a volume {volume:?} exists that is not your kept devbox home; pick another name or ask an admin"),
                ));
            }
        } else {
            // A new home volume while the kept ones are at the cap: clean up first (each
            // takes disk and a user-namespace range).
            self.check_kept_cap(caller, &caller.user, &format!("create {name}"))
                .await?;
        }
        Ok(existing_volume)
    }

    /// The owner's git identity from users.nix, for the entrypoint to write into git's system
    /// config (name = the full name, e-mail, GitHub login). Not secrets.
    fn git_identity_env(&self, owner: &str) -> Vec<(String, String)> {
        let Some(u) = self.users.file.users.get(owner) else {
            return vec![];
        };
        vec![
            (env::GIT_NAME.into(), u.description.clone()),
            (env::GIT_EMAIL.into(), u.email.clone()),
            (env::GIT_USER.into(), u.git_user.clone()),
        ]
    }
}
