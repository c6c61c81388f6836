//! What the lifecycle rules will do and when (`gc --dry-run`, the `lifecycle` of a status), and
//! `keep`, which postpones them. The rules themselves are pure functions in crate::lifecycle.

use devbox_api::{
    ApiError, DesiredState, ErrorCode, LifecyclePlan, PendingCleanupInfo, PlanItem, PlannedAction,
    PlannedNotice,
};

use super::{adopted, internal, Service, LABEL_OWNER};
use crate::clock::Clock;
use crate::engine::{ContainerRecord, Engine};
use crate::lifecycle;
use crate::secrets::SecretSource;
use crate::state::ContainerState;
use crate::users::Caller;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
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
        self.audit(caller, "keep", name, &result);
        let c = result?;
        let state = self.state.load().map_err(internal)?;
        Ok(self.plan_item(&c, state.containers.get(name)))
    }

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
                .map(|n| planned_notices(&n, &rules, sent))
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
}

/// The warnings due before `next`, as the API shows them (containers and kept volumes alike).
pub(super) fn planned_notices(
    next: &lifecycle::Next,
    rules: &lifecycle::Rules,
    sent: &[String],
) -> Vec<PlannedNotice> {
    lifecycle::planned_notices(next, rules, sent)
        .into_iter()
        .map(|(h, at, sent)| PlannedNotice {
            at: at.to_string(),
            hours_before: h,
            sent,
        })
        .collect()
}
