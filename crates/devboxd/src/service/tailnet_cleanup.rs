//! Destroyed containers' tailnet devices: deleted through the Tailscale API (when users.nix
//! configures an API key), and when that fails, recorded with a notice and retried at every
//! reconcile pass until it succeeds, so an ephemeral node never keeps a name taken.

use devbox_api::{ApiError, Notice, NoticeKind};

use super::{internal, Service};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::secrets::SecretSource;
use crate::state::PendingCleanup;
use crate::users::Caller;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
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
    pub(super) async fn retry_cleanups(&self) -> Result<(), ApiError> {
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
}
