//! The calls into a running container, all as execs of its entrypoint (the contract's `Verb`s,
//! run as `/proc/1/exe`, the program PID 1 was started from): deliver the Tailscale key on stdin,
//! ask for the status report, log out of the tailnet, wait until it reports ready. Only these talk to the entrypoint, so what the daemon
//! expects of it is in one place; `bring_up` composes them into a start.

use std::time::Duration;

use devbox_api::contract::{KeyExit, Verb};
use devbox_api::{ApiError, EntrypointStatus, ErrorCode};
use secrecy::{ExposeSecret, SecretString};

use super::{engine_err, Progress, Service};
use crate::clock::Clock;
use crate::engine::{ContainerId, Engine};
use crate::secrets::SecretSource;

/// The outcome of waiting for a container to get ready.
enum Ready {
    /// (Boxed: the report is large, the other answer small.)
    Yes(Box<EntrypointStatus>),
    /// Timed out while the container runs: what is still pending, for the user.
    NotYet(String),
}

/// What keeps a container from being ready, in words: the services not running yet, the
/// tailnet login, Syncthing's device ID.
fn pending_services(s: &EntrypointStatus) -> String {
    let mut parts: Vec<String> = Vec::new();
    if s.tailscale.state != "running" {
        let mut t = format!("tailnet login ({})", s.tailscale.state);
        if let Some(e) = &s.tailscale.error {
            t.push_str(&format!(": {e}"));
        }
        parts.push(t);
    }
    for svc in &s.services {
        if svc.state != "running" && svc.state != "disabled" {
            let mut t = format!("{} ({})", svc.name, svc.state);
            if let Some(e) = &svc.last_error {
                t.push_str(&format!(", last error: {e}"));
            }
            parts.push(t);
        }
    }
    if s.syncthing.enabled && s.syncthing.device_id.is_none() {
        parts.push("Syncthing device ID".into());
    }
    if parts.is_empty() {
        format!("phase {}", s.phase)
    } else {
        parts.join(", ")
    }
}

/// Replaces every occurrence of the secret in text that came back from the container.
fn scrub(text: &[u8], secret: &SecretString) -> String {
    let t = String::from_utf8_lossy(text).to_string();
    let s = secret.expose_secret();
    if s.is_empty() {
        t
    } else {
        t.replace(s, "[redacted]")
    }
}

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    /// Starts the container, delivers the key and waits for the entrypoint to report ready.
    /// `Ok(None)`: still starting when the ready timeout ran out (the container is kept running
    /// and the caller was told what is pending and how to follow it).
    pub(super) async fn bring_up(
        &self,
        id: &ContainerId,
        name: &str,
        key: &SecretString,
        progress: &dyn Progress,
    ) -> Result<Option<EntrypointStatus>, ApiError> {
        self.refresh_firewall().await?;
        progress.step(&format!("Starting {name}"));
        self.engine.start(id).await.map_err(engine_err)?;
        progress.step("Delivering the Tailscale key into the container");
        self.deliver_key(id, key, false).await?;
        progress.step("Waiting for the container to join the tailnet and start its services");
        self.wait_ready_or_tell(id, name, progress).await
    }

    /// Waits for ready; when the timeout runs out first, says what is still pending and how to
    /// follow it, and answers `None`: a slow first start (a Tailscale login over a slow link,
    /// code-server's first start on a loaded host) is not a failure to roll back.
    pub(super) async fn wait_ready_or_tell(
        &self,
        id: &ContainerId,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<Option<EntrypointStatus>, ApiError> {
        match self.wait_ready(id).await? {
            Ready::Yes(s) => Ok(Some(*s)),
            Ready::NotYet(pending) => {
                tracing::warn!(container = name, pending = %pending, "not ready within the ready timeout; kept running");
                progress.step(&format!(
                    "{name} is not ready after {}s and keeps starting in the background (still pending: {pending}). Follow it with `devbox-ctl logs -f {name}`; `devbox-ctl status {name}` shows the phase",
                    self.settings.ready_timeout.as_secs()
                ));
                Ok(None)
            }
        }
    }

    pub(super) async fn deliver_key(
        &self,
        id: &ContainerId,
        key: &SecretString,
        reauth: bool,
    ) -> Result<(), ApiError> {
        // The entrypoint waits for the login result; it must answer before our exec timeout (30 s).
        // No longer than the ready timeout: a slow login is then followed by wait_ready.
        let wait_secs = self.settings.ready_timeout.as_secs().clamp(1, 20);
        let argv = Verb::DeliverKey {
            reauth,
            wait_secs: Some(wait_secs),
        }
        .command();
        let cmd: Vec<&str> = argv.iter().map(String::as_str).collect();
        // The entrypoint may need a moment after start before exec works.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .engine
                .exec(
                    id,
                    &cmd,
                    Some(key.expose_secret().as_bytes()),
                    Duration::from_secs(30),
                )
                .await;
            match out {
                // Timeout: delivered, the login has no result yet (a slow control plane): not
                // an error; readiness is waited for next.
                Ok(o) if KeyExit::from_code(o.exit_code).is_some_and(KeyExit::delivered) => {
                    return Ok(())
                }
                Ok(o) => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "the container refused the key (exit {}): {}",
                            o.exit_code,
                            scrub(&o.stderr, key).trim()
                        ),
                    ))
                }
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(container = %id, error = %e, "deliver-key: retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(engine_err(e)),
            }
        }
    }

    /// Asks the entrypoint for its status.
    pub(super) async fn entrypoint_status(
        &self,
        id: &ContainerId,
    ) -> Result<EntrypointStatus, String> {
        let argv = Verb::Status { json: true }.command();
        let cmd: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self
            .engine
            .exec(id, &cmd, None, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code != 0 {
            return Err(format!(
                "status exited {}: {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad status JSON: {e}"))
    }

    /// Polls until the entrypoint reports ready; returns that status (create/start answer with
    /// it instead of asking again: one exec less, ~100 ms, measured by devbox-bench), or what is
    /// still pending when the ready timeout runs out. An error only when the container stopped.
    async fn wait_ready(&self, id: &ContainerId) -> Result<Ready, ApiError> {
        let deadline = tokio::time::Instant::now() + self.settings.ready_timeout;
        // The entrypoint is usually ready 100-300 ms after the key: look again soon, then every
        // 400 ms (few exec sessions). A flat 400 ms added ~150 ms to every start (devbox-bench).
        let mut pause = Duration::from_millis(100);
        let mut last;
        let mut pending = "the entrypoint's first status report".to_string();
        loop {
            match self.entrypoint_status(id).await {
                // With Syncthing, ready also means its device ID is known (create prints it).
                Ok(s) if s.ready && (!s.syncthing.enabled || s.syncthing.device_id.is_some()) => {
                    return Ok(Ready::Yes(Box::new(s)))
                }
                Ok(s) => {
                    pending = pending_services(&s);
                    last = format!("phase {}", s.phase);
                    if s.ready {
                        last.push_str(", Syncthing device ID not known yet");
                    }
                    if let Some(err) = &s.tailscale.error {
                        last.push_str(&format!(", tailscale: {err}"));
                    }
                    for svc in s.services.iter().filter(|s| s.last_error.is_some()) {
                        last.push_str(&format!(
                            ", {}: {}",
                            svc.name,
                            svc.last_error.as_deref().unwrap_or("")
                        ));
                    }
                }
                Err(e) => last = e,
            }
            match self.engine.inspect(id).await {
                Ok(None) => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!("the container was removed while starting; last status: {last}"),
                    ))
                }
                Ok(Some(c)) if !c.running() => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "the container stopped while starting (state {}); last status: {last}",
                            c.state
                        ),
                    ))
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!(container = %id, last = %last, "ready timeout");
                return Ok(Ready::NotYet(pending));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(400));
        }
    }

    pub(super) async fn logout(&self, id: &ContainerId, name: &str) {
        let argv = Verb::Logout.command();
        let cmd: Vec<&str> = argv.iter().map(String::as_str).collect();
        match self
            .engine
            .exec(id, &cmd, None, Duration::from_secs(10))
            .await
        {
            Ok(o) if KeyExit::from_code(o.exit_code) == Some(KeyExit::Ok) => {}
            Ok(o) => tracing::warn!(
                container = name,
                exit = o.exit_code,
                "tailscale logout failed"
            ),
            Err(e) => tracing::warn!(container = name, error = %e, "tailscale logout failed"),
        }
    }
}
