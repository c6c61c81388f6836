//! The reconciler: brings actual state to desired state (reboot recovery, unfinished stops and
//! destroys), applies the lifecycle rules (idle auto-stop, auto-destroy, warnings once per
//! deadline, webhook), retries failed tailnet cleanups, and answers `notices`, `keep` and
//! `gc --dry-run`. Every step is idempotent; a pass holds each container's lock while it acts on it.

use devbox_api::{
    ApiError, DesiredState, ErrorCode, LifecyclePlan, Notice, NoticeKind, PendingCleanupInfo,
    PlanItem, PlannedAction, PlannedNotice,
};
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};

use super::{Service, LABEL_CREATED, LABEL_OWNER};
use crate::clock::Clock;
use crate::engine::{ContainerRecord, Engine};
use crate::lifecycle::{self, ActionKind, Rules};
use crate::secrets::SecretSource;
use crate::state::{ContainerState, PendingCleanup};
use crate::users::Caller;

/// How long a notice about something done (stopped, destroyed) stays visible.
const DONE_NOTICE_DAYS: i64 = 7;
/// Containers a reconcile pass works on at once (restarts, lifecycle rules).
const RECONCILE_PARALLELISM: usize = 4;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, e.to_string())
}

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    pub fn rules(&self) -> Rules {
        let p = &self.users.file.containers;
        Rules {
            idle_stop_days: p.idle_stop_days,
            stopped_destroy_days: p.stopped_destroy_days,
            stop_notice_hours: self.settings.notice_hours_before_stop.clone(),
            destroy_notice_hours: self.settings.notice_hours_before_destroy.clone(),
        }
    }

    fn audit_system(&self, action: &str, name: &str, result: &Result<(), ApiError>) {
        let system = Caller {
            uid: 0,
            user: "devboxd".into(),
            is_admin: true,
        };
        self.audit(&system, action, name, result);
    }

    // ------------------------------------------------------------- tailnet

    /// Deletes the tailnet devices of `owner`'s container `name` (hostname `name` and all of the
    /// owner's dev-container tags) through the Tailscale API, when users.nix configures
    /// `tailscaleApiKeyRef` (the key is read from 1Password like the auth keys).
    pub(crate) async fn delete_tailnet_devices(
        &self,
        name: &str,
        owner: &str,
    ) -> Result<usize, String> {
        let Some(reference) = &self.users.file.containers.tailscale_api_key_ref else {
            return Ok(0);
        };
        let key = self
            .read_secret(&Caller::system(), reference, false)
            .await
            .map_err(|e| format!("could not read the Tailscale API key: {e}"))?;
        let n = self
            .tailnet
            .delete_hostname(&key, name, &self.users.tags(owner))
            .await
            .map_err(|e| e.to_string())?;
        if n > 0 {
            tracing::info!(container = name, devices = n, "deleted tailnet devices");
        }
        Ok(n)
    }

    pub(crate) fn record_cleanup_failure(&self, name: &str, owner: &str, error: &str) {
        let now = self.clock.now();
        let notice = Notice {
            container: name.to_string(),
            owner: owner.to_string(),
            kind: NoticeKind::CleanupFailed,
            message: format!("{name} was destroyed but its tailnet device could not be deleted yet ({error}); devboxd retries at every reconcile pass"),
            deadline: None,
            created_at: now.to_string(),
        };
        let r = self.update_whole_state(|s| {
            let e = s
                .tailnet_cleanups
                .entry(name.to_string())
                .or_insert_with(|| PendingCleanup {
                    owner: owner.to_string(),
                    since: now,
                    attempts: 0,
                    last_error: String::new(),
                });
            e.attempts = e.attempts.saturating_add(1);
            e.last_error = error.to_string();
            s.notices
                .retain(|n| !(n.container == name && n.kind == NoticeKind::CleanupFailed));
            s.notices.push(notice);
        });
        if let Err(e) = r {
            tracing::error!(container = name, error = %e, "cannot record a failed tailnet cleanup");
        }
        tracing::warn!(
            container = name,
            error,
            "tailnet cleanup failed; will retry"
        );
    }

    /// Retries every pending tailnet cleanup.
    async fn retry_cleanups(&self) -> Result<(), ApiError> {
        let pending = self.state.load().map_err(internal)?.tailnet_cleanups;
        for (name, p) in pending {
            // A container of that name may exist again (re-created): its device is not stale.
            let lock = self.container_lock(&name);
            let _g = lock.lock().await;
            if self.engine.find(&name).await.ok().flatten().is_some() {
                self.clear_cleanup(&name)?;
                continue;
            }
            match self.delete_tailnet_devices(&name, &p.owner).await {
                Ok(_) => {
                    self.clear_cleanup(&name)?;
                    self.audit_system("tailnet-cleanup", &name, &Ok(()));
                }
                Err(e) => self.record_cleanup_failure(&name, &p.owner, &e),
            }
        }
        Ok(())
    }

    fn clear_cleanup(&self, name: &str) -> Result<(), ApiError> {
        self.update_whole_state(|s| {
            s.tailnet_cleanups.remove(name);
            s.notices
                .retain(|n| !(n.container == name && n.kind == NoticeKind::CleanupFailed));
        })
    }

    // ------------------------------------------------------------- notices

    pub(crate) fn update_whole_state(
        &self,
        f: impl FnOnce(&mut crate::state::State),
    ) -> Result<(), ApiError> {
        let _state = self
            .state_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = self.state.load().map_err(internal)?;
        f(&mut s);
        self.state.save(&s).map_err(internal)
    }

    /// Drops the warnings (and the "was stopped" notice) of a container whose clock was reset.
    pub(crate) fn drop_warnings(&self, name: &str) {
        let r = self.update_whole_state(|s| {
            s.notices.retain(|n| {
                !(n.container == name
                    && matches!(
                        n.kind,
                        NoticeKind::StopWarning
                            | NoticeKind::DestroyWarning
                            | NoticeKind::Stopped
                            | NoticeKind::KeyNeeded
                    ))
            });
        });
        if let Err(e) = r {
            tracing::error!(container = name, error = %e, "cannot drop notices");
        }
    }

    /// Records a notice and POSTs it to the webhook (once: the caller records it as sent).
    pub(crate) async fn notify(&self, notice: Notice) -> Result<(), ApiError> {
        let n = notice.clone();
        self.update_whole_state(|s| {
            s.notices.retain(|x| {
                !(x.container == n.container
                    && matches!(x.kind, NoticeKind::StopWarning | NoticeKind::DestroyWarning))
            });
            s.notices.push(n);
        })?;
        tracing::info!(target: "devbox::audit", user = %notice.owner, container = %notice.container, kind = ?notice.kind, "notice");
        if let Some(url) = self.webhook_url().await {
            let email = self
                .users
                .file
                .users
                .get(&notice.owner)
                .map(|u| u.email.clone());
            let body = serde_json::json!({
                "event": "devbox-notice",
                "kind": notice.kind,
                "container": notice.container,
                "owner": notice.owner,
                "email": email,
                "message": notice.message,
                "deadline": notice.deadline,
                "createdAt": notice.created_at,
            });
            if let Err(e) = self
                .tailnet
                .http
                .post_json(url.expose_secret(), &body)
                .await
            {
                tracing::warn!(container = %notice.container, error = %e, "webhook failed (the notice is still shown by devbox-ctl)");
            }
        }
        Ok(())
    }

    /// The webhook URL, a secret like the keys: from its credential file (`notifyWebhookFile`),
    /// else from 1Password (users.nix `notifyWebhook = "op://..."`), else none.
    async fn webhook_url(&self) -> Option<SecretString> {
        if let Some(path) = &self.settings.notify_webhook_file {
            return match std::fs::read_to_string(path) {
                Ok(text) => {
                    let text = SecretString::from(text);
                    let url = text.expose_secret().trim();
                    if url.starts_with("https://") || url.starts_with("http://") {
                        Some(SecretString::from(url.to_string()))
                    } else {
                        tracing::warn!(file = %path.display(), "the webhook file does not hold an http(s) URL; no webhook sent");
                        None
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read the webhook file; no webhook sent");
                    None
                }
            };
        }
        let reference = self.users.file.containers.notify_webhook.as_deref()?;
        match self.read_secret(&Caller::system(), reference, false).await {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook URL from 1Password; no webhook sent");
                None
            }
        }
    }

    /// The caller's notices.
    pub fn notices(&self, caller: &Caller) -> Result<Vec<Notice>, ApiError> {
        let s = self.state.load().map_err(internal)?;
        Ok(s.notices
            .into_iter()
            .filter(|n| n.owner == caller.user)
            .collect())
    }

    // ------------------------------------------------------------- keep

    /// Postpones the automatic actions: counts as activity (running) or restarts the stopped
    /// clock (stopped).
    pub async fn keep(&self, caller: &Caller, name: &str) -> Result<PlanItem, ApiError> {
        let mut kept_item = None;
        let result = async {
            let _g = match self.lock_authorized(caller, name).await {
                Ok(g) => g,
                Err(e) if e.code == ErrorCode::NotFound => {
                    // No container: maybe a kept home volume of that name.
                    kept_item = self.keep_kept(caller, name).await?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let c = self.authorize(caller, name).await?;
            let owner = c.labels.get(LABEL_OWNER).cloned().unwrap_or_default();
            let now = self.clock.now();
            self.update_state(name, |s| {
                let e = s
                    .entry(name.to_string())
                    .or_insert_with(|| adopted(&c, &owner, now));
                match e.desired {
                    DesiredState::Running => e.last_activity = Some(now),
                    DesiredState::Stopped => e.stopped_since = Some(now),
                }
            })?;
            self.drop_warnings(name);
            Ok(c)
        }
        .await;
        if let Some(item) = kept_item {
            self.audit(caller, "keep-volume", name, &Ok(()));
            return Ok(item);
        }
        self.audit(
            caller,
            "keep",
            name,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let c = result?;
        let state = self.state.load().map_err(internal)?;
        Ok(self.plan_item(&c, state.containers.get(name)))
    }

    // ------------------------------------------------------------- plan

    pub(super) fn plan_item(
        &self,
        c: &ContainerRecord,
        entry: Option<&ContainerState>,
    ) -> PlanItem {
        let rules = self.rules();
        let next = entry.and_then(|e| lifecycle::next_action(e, &rules));
        let sent: &[String] = entry.map(|e| e.notices_sent.as_slice()).unwrap_or(&[]);
        PlanItem {
            name: c.name.clone(),
            owner: c.labels.get(LABEL_OWNER).cloned().unwrap_or_default(),
            state: c.state.clone(),
            desired: entry.map(|e| e.desired),
            last_activity: entry.and_then(|e| e.last_activity).map(|t| t.to_string()),
            stopped_since: entry.and_then(|e| e.stopped_since).map(|t| t.to_string()),
            next: next.map(|n| PlannedAction {
                action: n.kind.as_str().to_string(),
                at: n.at.to_string(),
            }),
            notices: next
                .map(|n| {
                    lifecycle::planned_notices(&n, &rules, sent)
                        .into_iter()
                        .map(|(h, at, sent)| PlannedNotice {
                            at: at.to_string(),
                            hours_before: h,
                            sent,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// What the reconciler will do and when (`gc --dry-run`).
    pub async fn plan(&self, caller: &Caller, all: bool) -> Result<LifecyclePlan, ApiError> {
        if all && !caller.is_admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only admins may see every user's containers; drop --all to see yours",
            ));
        }
        let state = self.state.load().map_err(internal)?;
        let mut containers: Vec<PlanItem> = self
            .ours()
            .await?
            .iter()
            .filter(|c| all || self.owned_by(c, caller))
            .map(|c| self.plan_item(c, state.containers.get(&c.name)))
            .collect();
        containers.sort_by(|a, b| (&a.owner, &a.name).cmp(&(&b.owner, &b.name)));
        let pending_cleanups = state
            .tailnet_cleanups
            .iter()
            .filter(|(_, p)| all || p.owner == caller.user)
            .map(|(name, p)| PendingCleanupInfo {
                name: name.clone(),
                owner: p.owner.clone(),
                since: p.since.to_string(),
                attempts: p.attempts,
                last_error: p.last_error.clone(),
            })
            .collect();
        let kept_volumes = self.kept_plan(caller, all).await?;
        let p = &self.users.file.containers;
        Ok(LifecyclePlan {
            now: self.clock.now().to_string(),
            idle_stop_days: p.idle_stop_days,
            stopped_destroy_days: p.stopped_destroy_days,
            containers,
            pending_cleanups,
            kept_volumes,
        })
    }

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

    // ------------------------------------------------------------- reconcile

    /// At daemon start (host boot): undo unfinished creates, finish unfinished destroys and
    /// stops, forget containers that no longer exist, bring every container whose desired state
    /// is running back up with a freshly fetched key, then apply the lifecycle rules. Idempotent.
    pub async fn reconcile_at_start(&self) -> Result<(), ApiError> {
        let started = std::time::Instant::now();
        // Before anything starts: the rules are gone after a host reboot.
        if let Err(e) = self.refresh_firewall().await {
            tracing::error!(error = %e, "reconcile: network isolation rules");
        }
        {
            let _guard = self.lock.lock().await;
            let state = self.state.load().map_err(internal)?;
            for (name, entry) in &state.containers {
                if let Some(p) = &entry.pending_create {
                    let lock = self.container_lock(name);
                    let _g = lock.lock().await;
                    tracing::warn!(container = %name, "reconcile: undoing a create the daemon did not finish");
                    // Only what that create made: the managed container of exactly that name
                    // and owner, and (if the create made it) the volume with its labels.
                    let made = self
                        .resolve(name)
                        .await?
                        .filter(|c| c.labels.get(LABEL_OWNER) == Some(&entry.owner));
                    self.undo_create(
                        name,
                        &entry.owner,
                        made.as_ref().map(|c| &c.id),
                        p.created_volume,
                    )
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
            }
        }
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
        let quiet = |_: &str| {};
        // Unfinished destroys (the container may already be gone).
        let state = self.state.load().map_err(internal)?;
        for (name, entry) in &state.containers {
            if entry.destroying.is_some() {
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
        }
        let existing = self.ours().await?;
        let state = self.state.load().map_err(internal)?;
        let gone: Vec<String> = state
            .containers
            .iter()
            .filter(|(n, e)| e.pending_create.is_none() && !existing.iter().any(|c| &c.name == *n))
            .map(|(n, _)| n.clone())
            .collect();
        if !gone.is_empty() {
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
        }
        // Containers whose owner is no longer who users.nix says: stopped, never restarted.
        let mut orphans_stopped = false;
        for c in existing
            .iter()
            .filter(|c| self.orphaned(&c.labels).is_some())
        {
            match self.stop_orphan(&c.name).await {
                Ok(acted) => orphans_stopped |= acted,
                Err(e) => {
                    tracing::error!(container = %c.name, error = %e, "reconcile: cannot stop an orphaned container")
                }
            }
        }
        let state = if orphans_stopped {
            self.state.load().map_err(internal)?
        } else {
            state
        };
        // Restarts first (reboot recovery is the urgent part), a few at a time.
        if restart {
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

    /// Removes this instance's networks whose container is gone and no operation is under way
    /// on (a crash between the steps of a create or destroy), then refreshes the rules.
    async fn sweep_networks(&self) {
        if self.settings.firewall.is_none() {
            return;
        }
        // Networks first, then state and containers: a create journals its state entry before
        // it makes the network, so a network listed here whose container is missing either has
        // a state entry (in progress) or is an orphan.
        let networks = match self
            .engine
            .list_networks_by_labels(&self.base_labels())
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: cannot list networks");
                return;
            }
        };
        let (Ok(state), Ok(existing)) = (self.state.load(), self.ours().await) else {
            return;
        };
        for n in networks {
            let Some(container) = n.labels.get(super::LABEL_NAME) else {
                continue;
            };
            if existing.iter().any(|c| &c.name == container)
                || state.containers.contains_key(container)
            {
                continue;
            }
            let lock = self.container_lock(container);
            let _g = lock.lock().await;
            tracing::info!(network = %n.name, "reconcile: removing the network of a container that no longer exists");
            self.remove_network_of(container).await;
        }
        if let Err(e) = self.refresh_firewall().await {
            tracing::error!(error = %e, "reconcile: network isolation rules");
        }
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
                .stop(&c.id, super::STOP_TIMEOUT_SECS)
                .await
                .map_err(super::engine_err)?;
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
            &r.clone().and(Err(super::key_not_held(name))),
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
        let state = self.state.load().map_err(internal)?;
        let entry = match state.containers.get(name) {
            Some(e) if e.pending_create.is_some() || e.destroying.is_some() => return Ok(()),
            Some(e) => e.clone(),
            None => {
                // Known to Podman but not to the state (state file lost): adopt it as it is.
                let e = adopted(&c, &owner, now);
                let e2 = e.clone();
                self.update_state(name, |s| {
                    s.insert(name.to_string(), e2);
                })?;
                e
            }
        };
        if entry.desired == DesiredState::Stopped && c.running() {
            tracing::warn!(container = name, "reconcile: finishing a stop");
            self.logout(&c.id, name).await;
            self.engine
                .stop(&c.id, super::STOP_TIMEOUT_SECS)
                .await
                .map_err(super::engine_err)?;
        }
        let mut entry = entry;
        if c.running() && entry.desired == DesiredState::Running {
            if let Ok(st) = self.entrypoint_status(&c.id).await {
                let seen: Option<Timestamp> =
                    st.last_activity.as_deref().and_then(|a| a.parse().ok());
                if let Some(seen) = seen.filter(|t| Some(*t) > entry.last_activity) {
                    entry.last_activity = Some(seen);
                    self.update_state(name, |s| {
                        if let Some(e) = s.get_mut(name) {
                            e.last_activity = Some(seen);
                        }
                    })?;
                }
            }
        }
        let rules = self.rules();
        let Some(next) = lifecycle::next_action(&entry, &rules) else {
            return Ok(());
        };
        if now >= next.at {
            let quiet = |_: &str| {};
            let system = Caller::system();
            match next.kind {
                ActionKind::Stop => {
                    tracing::info!(container = name, "idle auto-stop");
                    let r = self.stop_locked(&system, name, &quiet).await.map(|_| ());
                    self.audit_system("auto-stop", name, &r);
                    r?;
                    self.notify(Notice {
                        container: name.to_string(),
                        owner: owner.clone(),
                        kind: NoticeKind::Stopped,
                        message: format!("{name} was stopped after {} days without activity; `devbox-ctl start {name}` brings it back. Stopped containers are destroyed after {} days", rules.idle_stop_days, rules.stopped_destroy_days),
                        deadline: None,
                        created_at: now.to_string(),
                    })
                    .await?;
                }
                ActionKind::Destroy => {
                    tracing::info!(container = name, "auto-destroy");
                    let r = self
                        .destroy_locked(&system, name, false, &quiet)
                        .await
                        .map(|_| ());
                    self.audit_system("auto-destroy", name, &r);
                    r?;
                    self.notify(Notice {
                        container: name.to_string(),
                        owner: owner.clone(),
                        kind: NoticeKind::Destroyed,
                        message: format!(
                            "{name} and its home volume were destroyed after {} days stopped",
                            rules.stopped_destroy_days
                        ),
                        deadline: None,
                        created_at: now.to_string(),
                    })
                    .await?;
                }
            }
            return Ok(());
        }
        if let Some((hours, keys)) = lifecycle::due_notice(&next, &rules, &entry.notices_sent, now)
        {
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
            self.update_state(name, |s| {
                if let Some(e) = s.get_mut(name) {
                    e.notices_sent.extend(keys);
                    // Keys of older deadlines are no longer needed.
                    let current = next.at.to_string();
                    e.notices_sent.retain(|k| k.contains(&current));
                }
            })?;
            self.notify(Notice {
                container: name.to_string(),
                owner,
                kind,
                message,
                deadline: Some(next.at.to_string()),
                created_at: now.to_string(),
            })
            .await?;
        }
        Ok(())
    }

    fn expire_notices(&self) -> Result<(), ApiError> {
        let now = self.clock.now();
        let Ok(cutoff) = now.checked_sub(SignedDuration::from_hours(DONE_NOTICE_DAYS * 24)) else {
            return Ok(());
        };
        let state = self.state.load().map_err(internal)?;
        let stale = |n: &Notice| {
            matches!(
                n.kind,
                NoticeKind::Stopped | NoticeKind::Destroyed | NoticeKind::KeyNeeded
            ) && n.created_at.parse::<Timestamp>().is_ok_and(|t| t < cutoff)
        };
        if state.notices.iter().any(stale) {
            self.update_whole_state(|s| s.notices.retain(|n| !stale(n)))?;
        }
        Ok(())
    }
}

/// A state entry for a container the state file does not know (lost state file).
fn adopted(c: &ContainerRecord, owner: &str, now: Timestamp) -> ContainerState {
    let created = c
        .labels
        .get(LABEL_CREATED)
        .and_then(|t| t.parse().ok())
        .unwrap_or(now);
    ContainerState {
        owner: owner.to_string(),
        desired: if c.running() {
            DesiredState::Running
        } else {
            DesiredState::Stopped
        },
        created_at: created,
        stopped_since: (!c.running()).then_some(now),
        last_activity: Some(now),
        key_delivered_at: None,
        last_started: None,
        key_source: Default::default(),
        notices_sent: vec![],
        pending_create: None,
        destroying: None,
    }
}
