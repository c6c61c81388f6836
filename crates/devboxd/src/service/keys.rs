//! Where the Tailscale auth key of a start comes from: the one the user supplied (held in memory
//! only, never on disk), else 1Password's, read through the per-user and team rate limits. Kept
//! apart so every path that needs a key takes it the same way.

use std::collections::HashMap;

use devbox_api::{ApiError, AuthKey, ErrorCode};
use secrecy::SecretString;

use super::{secret_err, Progress, Service};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::secrets::SecretSource;
use crate::state::KeySource;
use crate::users::Caller;

/// A start needs the key the user supplied, and devboxd no longer holds it (it restarted).
pub(super) fn key_not_held(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!("{name} uses a Tailscale auth key you supplied, and devboxd no longer holds it (such keys are kept in memory only, and devboxd restarted since); supply it again with `devbox-ctl start {name} --auth-key-stdin`, or go back to your 1Password key with `devbox-ctl rotate-key {name}` and then `devbox-ctl start {name}`"),
    )
}
impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    fn held_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, SecretString>> {
        self.held_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many user-supplied keys devboxd holds in memory (for tests: a create that failed
    /// must not keep one).
    pub fn held_key_count(&self) -> usize {
        self.held_keys().len()
    }

    pub(crate) fn hold_key(&self, name: &str, key: &SecretString) {
        self.held_keys().insert(name.to_string(), key.clone());
    }

    pub(crate) fn held_key(&self, name: &str) -> Option<SecretString> {
        self.held_keys().get(name).cloned()
    }

    pub(crate) fn forget_key(&self, name: &str) {
        self.held_keys().remove(name);
    }

    pub(crate) fn key_source(&self, name: &str) -> KeySource {
        self.state
            .load()
            .ok()
            .and_then(|s| s.containers.get(name).map(|e| e.key_source))
            .unwrap_or_default()
    }

    /// Reads `owner`'s key from 1Password, for `caller` (rate limited per caller; `fresh`
    /// skips the brief cache).
    pub(super) async fn key_from_1password(
        &self,
        caller: &Caller,
        owner: &str,
        fresh: bool,
        progress: &dyn Progress,
    ) -> Result<SecretString, ApiError> {
        let reference = self.users.op_reference(owner).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "this orchestrator has no 1Password vault (users.nix `containers.opVault` is null); supply your Tailscale auth key with `--auth-key-stdin`",
            )
        })?;
        progress.step("Fetching the Tailscale auth key from 1Password");
        self.read_secret(caller, &reference, fresh).await
    }

    /// The key a start of `name` uses: the one supplied with the request, else the one the user
    /// supplied earlier (while devboxd still holds it), else 1Password's.
    pub(super) async fn start_key(
        &self,
        caller: &Caller,
        name: &str,
        owner: &str,
        supplied: Option<&AuthKey>,
        progress: &dyn Progress,
    ) -> Result<(SecretString, KeySource), ApiError> {
        if let Some(k) = supplied {
            progress.step("Using the Tailscale auth key you supplied");
            return Ok((k.secret().clone(), KeySource::User));
        }
        if self.key_source(name) == KeySource::User {
            return self
                .held_key(name)
                .map(|k| (k, KeySource::User))
                .ok_or_else(|| key_not_held(name));
        }
        Ok((
            self.key_from_1password(caller, owner, false, progress)
                .await?,
            KeySource::OnePassword,
        ))
    }

    /// Reads a secret through the 1Password limits: a value read less than `cacheSecs` ago is
    /// reused (unless `fresh`); otherwise the read is taken from the caller's bucket (the
    /// daemon's own reads, uid 0, only from the team's) and the team's, or refused with when to
    /// try again.
    pub(crate) async fn read_secret(
        &self,
        caller: &Caller,
        reference: &str,
        fresh: bool,
    ) -> Result<SecretString, ApiError> {
        let now = std::time::Instant::now();
        if !fresh {
            if let Some(v) = self.op_gate.cached(reference, now) {
                tracing::debug!(user = %caller.user, "1Password read answered from the cache");
                return Ok(v);
            }
        }
        let user = (caller.uid != 0).then_some(caller.user.as_str());
        if let Err(t) = self.op_gate.admit(user, now) {
            let l = self.op_gate.limits();
            let secs = t.retry_after_secs();
            tracing::warn!(target: "devbox::audit", user = %caller.user, uid = caller.uid, retry_after_secs = secs, throttled = ?t, "1Password read refused by the rate limit");
            let message = match t {
                crate::oplimit::Throttled::User { .. } => format!(
                    "too many 1Password reads from you in a short time (the team shares one service account: {} at once, then one every {} s per user); try again in {secs} s",
                    l.user_burst, l.user_refill_secs
                ),
                crate::oplimit::Throttled::Global { .. } => format!(
                    "the team's 1Password service account is at devboxd's read limit ({} at once, then one every {} s); try again in {secs} s",
                    l.global_burst, l.global_refill_secs
                ),
            };
            return Err(ApiError::new(ErrorCode::RateLimited, message));
        }
        let v = self.secrets.read(reference).await.map_err(secret_err)?;
        self.op_gate.remember(reference, &v, now);
        Ok(v)
    }
}
