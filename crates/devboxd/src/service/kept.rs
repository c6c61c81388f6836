//! Kept home volumes (`destroy --keep-volume`) are bounded like containers: at most
//! `containers.maxKeptVolumesPerUser` per user (each takes disk and one of the fixed
//! user-namespace ranges), and destroyed `stoppedDestroyDays` after being kept, with the same
//! warnings as a stopped container (CLI, SSH login, webhook), `keep NAME` to postpone and
//! `gc --dry-run` to see when. `destroy NAME` removes the kept volume of NAME for good.

use std::collections::{BTreeMap, BTreeSet};

use devbox_api::{
    ApiError, DestroyResult, ErrorCode, KeptVolumeInfo, Notice, NoticeKind, PlanItem, PlannedAction,
};
use jiff::SignedDuration;

use super::{internal, Progress, Service, LABEL_MANAGED, LABEL_NAME, LABEL_OWNER};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::lifecycle::{self, ActionKind, Next};
use crate::secrets::SecretSource;
use crate::state::KeptVolumeState;
use crate::users::Caller;

/// The Podman state shown for a kept volume in `gc --dry-run`.
pub const KEPT_STATE: &str = "kept-volume";

/// A home volume with no container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    /// The container it belonged to.
    pub name: String,
    pub volume: String,
    pub owner: String,
    /// The owner's uid when the volume was made (its `devbox.owner-uid` label).
    pub owner_uid: Option<String>,
}

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    /// Every kept home volume of this daemon instance: a managed volume whose container does
    /// not exist and is not being created or destroyed right now.
    pub(crate) async fn kept_volumes(&self) -> Result<Vec<Kept>, ApiError> {
        let volumes = self
            .engine
            .list_volumes_by_labels(&self.base_labels())
            .await
            .map_err(super::engine_err)?;
        let containers: BTreeSet<String> = self.ours().await?.into_iter().map(|c| c.name).collect();
        let state = self.state.load().map_err(internal)?;
        let mut kept: Vec<Kept> = volumes
            .into_iter()
            .filter_map(|(volume, labels)| {
                let name = labels.get(LABEL_NAME)?.clone();
                // Only the volume devboxd made for that name (never a look-alike).
                (volume == super::volume_name(&name)
                    && labels.get(LABEL_MANAGED).map(String::as_str) == Some("true"))
                .then_some(())?;
                let busy = containers.contains(&name) || state.containers.contains_key(&name);
                (!busy).then(|| Kept {
                    owner: labels.get(LABEL_OWNER).cloned().unwrap_or_default(),
                    owner_uid: labels.get(super::LABEL_OWNER_UID).cloned(),
                    name,
                    volume,
                })
            })
            .collect();
        kept.sort_by(|a, b| (&a.owner, &a.name).cmp(&(&b.owner, &b.name)));
        Ok(kept)
    }

    /// Refuses one more kept volume for `owner` at the cap, saying which to remove and how.
    /// `what`: the create or destroy that would add one (for the message).
    pub(crate) async fn check_kept_cap(
        &self,
        caller: &Caller,
        owner: &str,
        what: &str,
    ) -> Result<(), ApiError> {
        let max = self.users.file.containers.max_kept_volumes_per_user as usize;
        let kept: Vec<Kept> = self
            .kept_volumes()
            .await?
            .into_iter()
            .filter(|k| k.owner == owner)
            .collect();
        if kept.len() < max {
            return Ok(());
        }
        let whose = if caller.user == owner {
            "you keep".to_string()
        } else {
            format!("{owner} keeps")
        };
        let names: Vec<&str> = kept.iter().map(|k| k.name.as_str()).collect();
        let first = names.first().copied().unwrap_or("NAME");
        Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            format!(
                "cannot {what}: {whose} {} home volume(s) of destroyed containers, the limit is {max} (users.nix containers.maxKeptVolumesPerUser): {}. Remove one you no longer need with `devbox-ctl destroy {first} --yes` (deletes its data for good), or resume one with `devbox-ctl create {first}`; `devbox-ctl list` shows them with their size",
                kept.len(),
                names.join(", ")
            ),
        ))
    }

    /// Starts the clock of a volume kept just now.
    pub(crate) fn record_kept(&self, name: &str, owner: &str) {
        let now = self.clock.now();
        let r = self.update_whole_state(|s| {
            s.kept_volumes.insert(
                name.to_string(),
                KeptVolumeState {
                    owner: owner.to_string(),
                    kept_since: now,
                    notices_sent: vec![],
                },
            );
        });
        if let Err(e) = r {
            tracing::error!(container = name, error = %e, "cannot record a kept volume; its clock starts at the next reconcile pass");
        }
    }

    fn kept_next(&self, entry: &KeptVolumeState) -> Option<Next> {
        let days = self.users.file.containers.stopped_destroy_days;
        if days == 0 {
            return None;
        }
        let at = entry
            .kept_since
            .checked_add(SignedDuration::from_hours(i64::from(days) * 24))
            .ok()?;
        Some(Next {
            kind: ActionKind::Destroy,
            at,
        })
    }

    /// The state entry of a kept volume, made on first sight (the clock starts then).
    fn kept_entry(&self, k: &Kept) -> Result<KeptVolumeState, ApiError> {
        let state = self.state.load().map_err(internal)?;
        if let Some(e) = state
            .kept_volumes
            .get(&k.name)
            .filter(|e| e.owner == k.owner)
        {
            return Ok(e.clone());
        }
        self.record_kept(&k.name, &k.owner);
        Ok(KeptVolumeState {
            owner: k.owner.clone(),
            kept_since: self.clock.now(),
            notices_sent: vec![],
        })
    }

    pub(crate) fn kept_plan_item(&self, k: &Kept, entry: &KeptVolumeState) -> PlanItem {
        let rules = self.rules();
        let next = self.kept_next(entry);
        PlanItem {
            name: k.name.clone(),
            owner: k.owner.clone(),
            state: KEPT_STATE.into(),
            desired: None,
            last_activity: None,
            stopped_since: Some(entry.kept_since.to_string()),
            next: next.map(|n| PlannedAction {
                action: "destroy".into(),
                at: n.at.to_string(),
            }),
            notices: next
                .map(|n| super::plan::planned_notices(&n, &rules, &entry.notices_sent))
                .unwrap_or_default(),
        }
    }

    /// `gc --dry-run`: the kept volumes the caller may see.
    pub(crate) async fn kept_plan(
        &self,
        caller: &Caller,
        all: bool,
    ) -> Result<Vec<PlanItem>, ApiError> {
        let mut items = Vec::new();
        for k in self.kept_volumes().await? {
            if all || k.owner == caller.user {
                let entry = self.kept_entry(&k)?;
                items.push(self.kept_plan_item(&k, &entry));
            }
        }
        Ok(items)
    }

    /// `GET /v1/volumes`: the caller's kept volumes (admins: `all`), with their size on disk.
    pub async fn volumes(
        &self,
        caller: &Caller,
        all: bool,
    ) -> Result<Vec<KeptVolumeInfo>, ApiError> {
        if all && !caller.is_admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only admins may see every user's kept volumes; drop --all to see yours",
            ));
        }
        let kept: Vec<Kept> = self
            .kept_volumes()
            .await?
            .into_iter()
            .filter(|k| all || k.owner == caller.user)
            .collect();
        let sizes = if kept.is_empty() {
            BTreeMap::new()
        } else {
            self.engine.volume_sizes().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot measure volume sizes");
                BTreeMap::new()
            })
        };
        let mut out = Vec::new();
        for k in kept {
            let entry = self.kept_entry(&k)?;
            out.push(KeptVolumeInfo {
                size_bytes: sizes.get(&k.volume).copied(),
                kept_since: Some(entry.kept_since.to_string()),
                destroy_at: self.kept_next(&entry).map(|n| n.at.to_string()),
                name: k.name,
                volume: k.volume,
                owner: k.owner,
            });
        }
        Ok(out)
    }

    /// The kept volume of `name` the caller may act on; None when there is none.
    async fn kept_for(&self, caller: &Caller, name: &str) -> Result<Option<Kept>, ApiError> {
        let Some(k) = self
            .kept_volumes()
            .await?
            .into_iter()
            .find(|k| k.name == name)
        else {
            return Ok(None);
        };
        // Ownership is the name AND the uid (docs/architecture.md), as for containers.
        let owned = k.owner == caller.user && k.owner_uid == Some(caller.uid.to_string());
        if !caller.is_admin && !owned {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("the kept volume of {name:?} belongs to another user; you may only manage your own (admins may manage all)"),
            ));
        }
        Ok(Some(k))
    }

    /// `destroy NAME` where NAME has no container but a kept volume: removes the volume.
    pub(crate) async fn destroy_kept(
        &self,
        caller: &Caller,
        name: &str,
        keep_volume: bool,
        progress: &dyn Progress,
    ) -> Result<Option<DestroyResult>, ApiError> {
        let lock = self.container_lock(name);
        let _g = lock.lock().await;
        let Some(k) = self.kept_for(caller, name).await? else {
            return Ok(None);
        };
        if keep_volume {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("{name} has no container, only its kept home volume {}; `devbox-ctl destroy {name} --yes` removes it, `devbox-ctl create {name}` resumes it", k.volume),
            ));
        }
        progress.step(&format!("Removing kept home volume {}", k.volume));
        self.remove_kept(&k).await?;
        Ok(Some(DestroyResult {
            name: name.to_string(),
            volume_kept: false,
            volume: k.volume,
        }))
    }

    /// Removes a kept volume (re-checked by exact name and labels: still this name's home volume
    /// of this owner) and its state.
    async fn remove_kept(&self, k: &Kept) -> Result<(), ApiError> {
        self.remove_home_volume(&k.name, &k.owner).await?;
        self.update_whole_state(|s| {
            s.kept_volumes.remove(&k.name);
        })?;
        self.drop_warnings(&k.name);
        Ok(())
    }

    /// `keep NAME` where NAME has only a kept volume: restarts its clock.
    pub(crate) async fn keep_kept(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Option<PlanItem>, ApiError> {
        let lock = self.container_lock(name);
        let _g = lock.lock().await;
        let Some(k) = self.kept_for(caller, name).await? else {
            return Ok(None);
        };
        self.record_kept(&k.name, &k.owner);
        self.drop_warnings(name);
        let entry = self.kept_entry(&k)?;
        Ok(Some(self.kept_plan_item(&k, &entry)))
    }

    /// Reconciler: warns before and destroys kept volumes past `stoppedDestroyDays`, and drops
    /// the clocks of volumes that are no longer kept (resumed or removed).
    pub(crate) async fn apply_kept_rules(&self) -> Result<(), ApiError> {
        let kept = self.kept_volumes().await?;
        let names: BTreeSet<&str> = kept.iter().map(|k| k.name.as_str()).collect();
        let state = self.state.load().map_err(internal)?;
        if state
            .kept_volumes
            .keys()
            .any(|n| !names.contains(n.as_str()))
        {
            self.update_whole_state(|s| s.kept_volumes.retain(|n, _| names.contains(n.as_str())))?;
        }
        let rules = self.rules();
        for k in &kept {
            let lock = self.container_lock(&k.name);
            let _g = lock.lock().await;
            // Re-check under the lock: it may have been resumed or removed meanwhile.
            if !self.kept_volumes().await?.contains(k) {
                continue;
            }
            let entry = self.kept_entry(k)?;
            let Some(next) = self.kept_next(&entry) else {
                continue;
            };
            let now = self.clock.now();
            if now >= next.at {
                tracing::info!(container = %k.name, volume = %k.volume, "auto-destroy of a kept volume");
                let r = self.remove_kept(k).await;
                self.audit_system_kept("auto-destroy-kept-volume", &k.name, &r);
                r?;
                self.notify(Notice {
                    container: k.name.clone(),
                    owner: k.owner.clone(),
                    kind: NoticeKind::Destroyed,
                    message: format!(
                        "the kept home volume {} of {} was destroyed after {} days",
                        k.volume, k.name, rules.stopped_destroy_days
                    ),
                    deadline: None,
                    created_at: now.to_string(),
                })
                .await?;
                continue;
            }
            if let Some((_, keys)) = lifecycle::due_notice(&next, &rules, &entry.notices_sent, now)
            {
                let current = next.at.to_string();
                // Marked as sent first: a crash loses one warning, never repeats it.
                self.update_whole_state(|s| {
                    if let Some(e) = s.kept_volumes.get_mut(&k.name) {
                        e.notices_sent.extend(keys);
                        e.notices_sent.retain(|key| key.contains(&current));
                    }
                })?;
                self.notify(Notice {
                    container: k.name.clone(),
                    owner: k.owner.clone(),
                    kind: NoticeKind::DestroyWarning,
                    message: format!(
                        "the kept home volume {} of {} will be DESTROYED in {} ({}); `devbox-ctl create {}` resumes it, `devbox-ctl keep {}` postpones",
                        k.volume,
                        k.name,
                        lifecycle::human_until(now, next.at),
                        next.at,
                        k.name,
                        k.name
                    ),
                    deadline: Some(current),
                    created_at: now.to_string(),
                })
                .await?;
            }
        }
        Ok(())
    }

    fn audit_system_kept(&self, action: &str, name: &str, result: &Result<(), ApiError>) {
        self.audit(&Caller::system(), action, name, result);
    }
}
