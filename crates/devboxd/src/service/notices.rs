//! Notices for owners: warnings before an automatic action, what was done, what needs them
//! (a key only they have). Kept in the state file for `devbox-ctl notices` and the SSH login,
//! sent once to the webhook, and expired a week after the thing they report.

use devbox_api::{ApiError, Notice, NoticeKind};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};

use super::{internal, Service};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::secrets::SecretSource;
use crate::users::Caller;

/// How long a notice about something done (stopped, destroyed) stays visible.
const DONE_NOTICE_DAYS: i64 = 7;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
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

    pub(super) fn expire_notices(&self) -> Result<(), ApiError> {
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
