//! The reconciler: brings actual state to desired state (reboot recovery, creates the daemon
//! did not finish undone, stops and destroys it did not finish finished, orphans stopped) and
//! applies the lifecycle rules (idle auto-stop, auto-destroy, warnings once per deadline). It
//! drives the operations of `power` and the rollback of `create` under each container's lock;
//! nothing calls back into it but the daemon's timer and `reconcile_now`. Every step is
//! idempotent.

use devbox_api::{ApiError, DesiredState, ErrorCode, LifecyclePlan, Notice, NoticeKind};
use futures_util::StreamExt;
use jiff::Timestamp;

use super::create::Rollback;
use super::keys::key_not_held;
use super::{adopted, engine_err, internal, Service, LABEL_OWNER, STOP_TIMEOUT_SECS};
use crate::clock::Clock;
use crate::engine::{ContainerRecord, Engine};
use crate::lifecycle::{self, ActionKind, Next, Rules};
use crate::secrets::SecretSource;
use crate::state::{ContainerState, State};
use crate::users::Caller;

/// Containers a reconcile pass works on at once (restarts, lifecycle rules).
const RECONCILE_PARALLELISM: usize = 4;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    /// Admins: run one reconciler pass now, then answer the plan.
    pub async fn reconcile_now(&self, caller: &Caller) -> Result<LifecyclePlan, ApiError> {
        if !caller.is_admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only admins may run the reconciler by hand; `devbox-ctl gc --dry-run` shows what it will do",
            ));
        }
        self.reconcile_pass(true).await?;
        self.plan(caller, true).await
    }

    /// At daemon start (host boot): undo unfinished creates, finish unfinished destroys and
    /// stops, forget containers that no longer exist, bring every container whose desired state
    /// is running back up with a freshly fetched key, then apply the lifecycle rules. Idempotent.
    pub async fn reconcile_at_start(&self) -> Result<(), ApiError> {
        let started = std::time::Instant::now();
        // Before anything starts: the rules are gone after a host reboot.
        if let Err(e) = self.refresh_firewall().await {
            tracing::error!(error = %e, "reconcile: network isolation rules");
        }
        self.undo_unfinished_creates().await?;
        self.reconcile_pass(true).await?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconcile at start done"
        );
        Ok(())
    }

    /// One pass. `restart`: bring desired-running containers that are not running back up.
    pub async fn reconcile_pass(&self, restart: bool) -> Result<(), ApiError> {
        let _pass = self.reconcile_lock.lock().await;
        self.finish_destroys().await?;
        let existing = self.ours().await?;
        let state = self.forget_gone(&existing)?;
        let state = if self.stop_orphans(&existing).await {
            self.state.load().map_err(internal)?
        } else {
            state
        };
        // Restarts first (reboot recovery is the urgent part), a few at a time.
        if restart {
            self.restart_desired(&existing, &state).await;
        }
        // Each container's rules run under its own lock; most of the time goes to one exec of
        // the entrypoint's status (activity), so a few run at once: the pass grew by ~100 ms per
        // container when they ran one by one (scale benchmark, 5 s at 50 containers).
        futures_util::stream::iter(&existing)
            .for_each_concurrent(RECONCILE_PARALLELISM, |c| async move {
                if let Err(e) = self.apply_rules(c).await {
                    tracing::error!(container = %c.name, error = %e, "reconcile: lifecycle step failed");
                }
            })
            .await;
        self.sweep_networks().await;
        if let Err(e) = self.apply_kept_rules().await {
            tracing::error!(error = %e, "reconcile: kept-volume step failed");
        }
        self.retry_cleanups().await?;
        self.expire_notices()?;
        Ok(())
    }

    /// At daemon start, under the admission lock: removes what each create the daemon did not
    /// finish made (its journal entry says what that may be), then the entry.
    async fn undo_unfinished_creates(&self) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let state = self.state.load().map_err(internal)?;
        for (name, entry) in &state.containers {
            let Some(p) = &entry.pending_create else {
                continue;
            };
            let lock = self.container_lock(name);
            let _g = lock.lock().await;
            tracing::warn!(container = %name, "reconcile: undoing a create the daemon did not finish");
            // Only what that create made: the managed container of exactly that name
            // and owner, and (if the create made it) the volume with its labels.
            let made = self
                .resolve(name)
                .await?
                .filter(|c| c.labels.get(LABEL_OWNER) == Some(&entry.owner));
            Rollback::unfinished(name, &entry.owner, made.map(|c| c.id), p.created_volume)
                .undo(self)
                .await;
            // It may have joined the tailnet before the crash.
            if let Err(e) = self.delete_tailnet_devices(name, &entry.owner).await {
                tracing::warn!(container = %name, error = %e, "undo-create: tailnet cleanup failed");
            }
            self.update_state(name, |s| {
                s.remove(name);
            })?;
            self.audit_system("undo-create", name, &Ok(()));
        }
        Ok(())
    }

    /// Finishes the destroys the daemon did not (the container may already be gone).
    async fn finish_destroys(&self) -> Result<(), ApiError> {
        let quiet = |_: &str| {};
        let state = self.state.load().map_err(internal)?;
        for (name, entry) in &state.containers {
            if entry.destroying.is_none() {
                continue;
            }
            let lock = self.container_lock(name);
            let _g = lock.lock().await;
            // Re-read under the lock: the destroy this snapshot saw may have finished while
            // we waited (and the name may now be another container's, or nobody's).
            let now = self.state.load().map_err(internal)?;
            let Some(keep_volume) = now
                .containers
                .get(name)
                .filter(|e| e.owner == entry.owner)
                .and_then(|e| e.destroying)
            else {
                continue;
            };
            tracing::warn!(container = %name, "reconcile: finishing a destroy the daemon did not finish");
            let r = self
                .finish_destroy(name, &entry.owner, keep_volume, None, &quiet)
                .await
                .map(|_| ());
            self.audit_system("finish-destroy", name, &r);
        }
        Ok(())
    }

    /// Forgets the state (and held key, and warnings) of containers that no longer exist.
    /// Returns the state as it is then.
    fn forget_gone(&self, existing: &[ContainerRecord]) -> Result<State, ApiError> {
        let state = self.state.load().map_err(internal)?;
        let gone: Vec<String> = state
            .containers
            .iter()
            .filter(|(n, e)| e.pending_create.is_none() && !existing.iter().any(|c| &c.name == *n))
            .map(|(n, _)| n.clone())
            .collect();
        if gone.is_empty() {
            return Ok(state);
        }
        tracing::info!(?gone, "forgetting state of containers that no longer exist");
        for n in &gone {
            self.forget_key(n);
        }
        self.update_whole_state(|s| {
            for n in &gone {
                s.containers.remove(n);
                s.notices.retain(|x| {
                    !(&x.container == n
                        && matches!(
                            x.kind,
                            NoticeKind::StopWarning
                                | NoticeKind::DestroyWarning
                                | NoticeKind::Stopped
                                | NoticeKind::KeyNeeded
                        ))
                });
            }
        })?;
        // The snapshot read above still serves: the entries removed are of containers that do
        // not exist, which no later step looks up.
        Ok(state)
    }

    /// Stops the containers whose owner is no longer who users.nix says (never restarted).
    /// Returns whether it acted on any.
    async fn stop_orphans(&self, existing: &[ContainerRecord]) -> bool {
        let mut acted = false;
        for c in existing
            .iter()
            .filter(|c| self.orphaned(&c.labels).is_some())
        {
            match self.stop_orphan(&c.name).await {
                Ok(a) => acted |= a,
                Err(e) => {
                    tracing::error!(container = %c.name, error = %e, "reconcile: cannot stop an orphaned container")
                }
            }
        }
        acted
    }

    /// Starts the containers that should run and do not, RECONCILE_PARALLELISM at a time.
    async fn restart_desired(&self, existing: &[ContainerRecord], state: &State) {
        let to_start: Vec<&ContainerRecord> = existing
            .iter()
            .filter(|c| {
                !c.running()
                    && self.orphaned(&c.labels).is_none()
                    && state.containers.get(&c.name).is_some_and(|e| {
                        e.desired == DesiredState::Running
                            && e.pending_create.is_none()
                            && e.destroying.is_none()
                    })
            })
            .collect();
        // Always RECONCILE_PARALLELISM in flight (not in chunks, which wait for their slowest).
        futures_util::stream::iter(to_start)
            .for_each_concurrent(RECONCILE_PARALLELISM, |c| self.restart_one(&c.name))
            .await;
    }

    async fn restart_one(&self, name: &str) {
        let lock = self.container_lock(name);
        let _g = lock.lock().await;
        // Re-check under the lock: a user may have stopped or destroyed it meanwhile.
        let desired = self
            .state
            .load()
            .ok()
            .and_then(|s| s.containers.get(name).map(|e| e.desired));
        if desired != Some(DesiredState::Running) {
            return;
        }
        if self.key_source(name) == crate::state::KeySource::User && self.held_key(name).is_none() {
            self.park_for_key(name).await;
            return;
        }
        tracing::info!(container = %name, "reconcile: starting (desired running)");
        let r = self
            .start_locked(&Caller::system(), name, None, &|_: &str| {})
            .await
            .map(|_| ());
        if let Err(e) = &r {
            tracing::error!(container = %name, error = %e, "reconcile: start failed");
        }
        self.audit_system("reconcile-start", name, &r);
    }

    /// Stops a container whose owner is no longer who users.nix says (see `orphaned`) and
    /// records it as desired stopped, under its lock, re-checked there. Returns whether it acted
    /// (it was running or desired running); that is audited with the reason.
    async fn stop_orphan(&self, name: &str) -> Result<bool, ApiError> {
        let lock = self.container_lock(name);
        let _g = lock.lock().await;
        let Some(c) = self.resolve(name).await? else {
            return Ok(false);
        };
        let Some(why) = self.orphaned(&c.labels) else {
            return Ok(false);
        };
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        let now = self.clock.now();
        let state = self.state.load().map_err(internal)?;
        let desired_running = state
            .containers
            .get(name)
            .is_none_or(|e| e.desired == DesiredState::Running);
        if !c.running() && !desired_running {
            return Ok(false);
        }
        if c.running() {
            // Logging out removes its (ephemeral) tailnet node; no key is involved.
            self.logout(&c.id, name).await;
            self.engine
                .stop(&c.id, STOP_TIMEOUT_SECS)
                .await
                .map_err(engine_err)?;
        }
        self.update_state(name, |s| {
            let e = s
                .entry(name.to_string())
                .or_insert_with(|| adopted(&c, &owner, now));
            e.desired = DesiredState::Stopped;
            e.stopped_since.get_or_insert(now);
        })?;
        tracing::warn!(
            target: "devbox::audit",
            uid = 0, user = "devboxd", action = "orphan-stop", container = name,
            owner = %owner, id = %c.id, result = "ok", reason = %why,
            "audit"
        );
        Ok(true)
    }

    /// A desired-running container whose key the user supplied, after devboxd restarted (the
    /// key was held in memory only): it stays stopped (desired stopped, so the stopped clock
    /// runs) and the owner is told how to start it again.
    async fn park_for_key(&self, name: &str) {
        let now = self.clock.now();
        let mut owner = String::new();
        let r = self.update_state(name, |s| {
            if let Some(e) = s.get_mut(name) {
                e.desired = DesiredState::Stopped;
                e.stopped_since = Some(now);
                owner = e.owner.clone();
            }
        });
        tracing::warn!(container = %name, "reconcile: not started: its user-supplied key is not held (devboxd restarted)");
        self.audit_system(
            "reconcile-start",
            name,
            &r.clone().and(Err(key_not_held(name))),
        );
        if r.is_err() {
            return;
        }
        let notice = Notice {
            container: name.to_string(),
            owner,
            kind: NoticeKind::KeyNeeded,
            message: format!("{name} was not started again after devboxd restarted: it uses a Tailscale auth key you supplied, which devboxd keeps in memory only. Start it with `devbox-ctl start {name} --auth-key-stdin`, or go back to your 1Password key with `devbox-ctl rotate-key {name}` and `devbox-ctl start {name}`"),
            deadline: None,
            created_at: now.to_string(),
        };
        if let Err(e) = self.notify(notice).await {
            tracing::error!(container = %name, error = %e, "cannot record the key-needed notice");
        }
    }

    /// Finishes an interrupted stop, refreshes activity, sends due warnings, and applies idle
    /// auto-stop / auto-destroy to one container.
    async fn apply_rules(&self, listed: &ContainerRecord) -> Result<(), ApiError> {
        let name = listed.name.as_str();
        let lock = self.container_lock(name);
        let _g = lock.lock().await;
        // Re-read under the lock; the same container as listed, or nothing to do.
        let Some(c) = self.resolve(name).await?.filter(|c| c.id == listed.id) else {
            return Ok(());
        };
        let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        let now = self.clock.now();
        let Some(mut entry) = self.entry_to_rule(&c, &owner, now)? else {
            return Ok(());
        };
        if entry.desired == DesiredState::Stopped && c.running() {
            tracing::warn!(container = name, "reconcile: finishing a stop");
            self.logout(&c.id, name).await;
            self.engine
                .stop(&c.id, STOP_TIMEOUT_SECS)
                .await
                .map_err(engine_err)?;
        }
        if c.running() && entry.desired == DesiredState::Running {
            self.refresh_activity(&c, &mut entry).await?;
        }
        let rules = self.rules();
        let Some(next) = lifecycle::next_action(&entry, &rules) else {
            return Ok(());
        };
        if now >= next.at {
            return self.act(name, &owner, next.kind, &rules, now).await;
        }
        self.warn_if_due(name, &owner, &entry, &next, &rules, now)
            .await
    }

    /// The state entry the rules apply to: None while a create or destroy is under way. A
    /// container Podman knows but the state does not (state file lost) is adopted as it is.
    fn entry_to_rule(
        &self,
        c: &ContainerRecord,
        owner: &str,
        now: Timestamp,
    ) -> Result<Option<ContainerState>, ApiError> {
        let name = c.name.as_str();
        let state = self.state.load().map_err(internal)?;
        match state.containers.get(name) {
            Some(e) if e.pending_create.is_some() || e.destroying.is_some() => Ok(None),
            Some(e) => Ok(Some(e.clone())),
            None => {
                let e = adopted(c, owner, now);
                let e2 = e.clone();
                self.update_state(name, |s| {
                    s.insert(name.to_string(), e2);
                })?;
                Ok(Some(e))
            }
        }
    }

    /// Takes the last activity the entrypoint saw, when it is newer than the recorded one.
    async fn refresh_activity(
        &self,
        c: &ContainerRecord,
        entry: &mut ContainerState,
    ) -> Result<(), ApiError> {
        let Ok(st) = self.entrypoint_status(&c.id).await else {
            return Ok(());
        };
        let seen: Option<Timestamp> = st.last_activity.as_deref().and_then(|a| a.parse().ok());
        let Some(seen) = seen.filter(|t| Some(*t) > entry.last_activity) else {
            return Ok(());
        };
        entry.last_activity = Some(seen);
        let name = c.name.as_str();
        self.update_state(name, |s| {
            if let Some(e) = s.get_mut(name) {
                e.last_activity = Some(seen);
            }
        })
    }

    /// The automatic action that is due: idle auto-stop or auto-destroy, audited, then the
    /// owner told.
    async fn act(
        &self,
        name: &str,
        owner: &str,
        kind: ActionKind,
        rules: &Rules,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let quiet = |_: &str| {};
        let system = Caller::system();
        let (kind, message) = match kind {
            ActionKind::Stop => {
                tracing::info!(container = name, "idle auto-stop");
                let r = self.stop_locked(&system, name, &quiet).await.map(|_| ());
                self.audit_system("auto-stop", name, &r);
                r?;
                (NoticeKind::Stopped, format!("{name} was stopped after {} days without activity; `devbox-ctl start {name}` brings it back. Stopped containers are destroyed after {} days", rules.idle_stop_days, rules.stopped_destroy_days))
            }
            ActionKind::Destroy => {
                tracing::info!(container = name, "auto-destroy");
                let r = self
                    .destroy_locked(&system, name, false, &quiet)
                    .await
                    .map(|_| ());
                self.audit_system("auto-destroy", name, &r);
                r?;
                (
                    NoticeKind::Destroyed,
                    format!(
                        "{name} and its home volume were destroyed after {} days stopped",
                        rules.stopped_destroy_days
                    ),
                )
            }
        };
        self.notify(Notice {
            container: name.to_string(),
            owner: owner.to_string(),
            kind,
            message,
            deadline: None,
            created_at: now.to_string(),
        })
        .await
    }

    /// Sends the warning due before `next`, once per deadline.
    async fn warn_if_due(
        &self,
        name: &str,
        owner: &str,
        entry: &ContainerState,
        next: &Next,
        rules: &Rules,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let Some((hours, keys)) = lifecycle::due_notice(next, rules, &entry.notices_sent, now)
        else {
            return Ok(());
        };
        let (kind, message) = match next.kind {
            ActionKind::Stop => (
                NoticeKind::StopWarning,
                format!("{name} will be stopped in {} ({}) for inactivity; use it or run `devbox-ctl keep {name}` to postpone", lifecycle::human_until(now, next.at), next.at),
            ),
            ActionKind::Destroy => (
                NoticeKind::DestroyWarning,
                format!("{name} (stopped) will be DESTROYED with its home volume in {} ({}); run `devbox-ctl start {name}` or `devbox-ctl keep {name}` to keep it", lifecycle::human_until(now, next.at), next.at),
            ),
        };
        tracing::debug!(container = name, hours, "warning due");
        // Mark as sent first: a crash between the two loses one warning, never repeats it.
        let current = next.at.to_string();
        self.update_state(name, |s| {
            if let Some(e) = s.get_mut(name) {
                e.notices_sent.extend(keys);
                // Keys of older deadlines are no longer needed.
                e.notices_sent.retain(|k| k.contains(&current));
            }
        })?;
        self.notify(Notice {
            container: name.to_string(),
            owner: owner.to_string(),
            kind,
            message,
            deadline: Some(current),
            created_at: now.to_string(),
        })
        .await
    }
}
