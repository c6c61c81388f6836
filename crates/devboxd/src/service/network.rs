//! Every container's own network and the isolation rules (see crate::firewall and
//! docs/architecture.md, "Network isolation"): made with the container, removed with it, swept
//! by the reconciler when a crash left one behind, and the rules refreshed whenever the set of
//! bridges changes and before every start.

use devbox_api::{ApiError, ErrorCode};

use super::{engine_err, network_name, Progress, Service, LABEL_NAME, LABEL_OWNER};
use crate::clock::Clock;
use crate::engine::{Engine, EngineError};
use crate::secrets::SecretSource;

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    /// Creates the container's own network and lets the firewall know its bridge. None when
    /// network isolation is off.
    pub(super) async fn make_network(
        &self,
        name: &str,
        owner: &str,
        progress: &dyn Progress,
    ) -> Result<Option<String>, ApiError> {
        if self.settings.firewall.is_none() {
            return Ok(None);
        }
        let net = network_name(name);
        progress.step(&format!(
            "Creating network {net} (reaches the internet only)"
        ));
        if let Some(existing) = self.engine.network(&net).await.map_err(engine_err)? {
            if !self
                .base_labels()
                .iter()
                .all(|(k, v)| existing.labels.get(k) == Some(v))
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a Podman network named {net} exists that this devboxd does not manage; an admin should remove or rename it (`podman network rm {net}`), or pick another container name"),
                ));
            }
            // Left behind by a create or destroy that did not finish: start afresh.
            self.engine.remove_network(&net).await.map_err(engine_err)?;
        }
        let mut labels = self.base_labels();
        labels.insert(LABEL_OWNER.into(), owner.to_string());
        labels.insert(LABEL_NAME.into(), name.to_string());
        self.engine
            .create_network(&net, &labels)
            .await
            .map_err(engine_err)?;
        self.refresh_firewall().await?;
        Ok(Some(net))
    }

    /// Removes the container's own network if this daemon made it (best effort: the
    /// reconciler sweeps what is left), then drops its bridge from the firewall.
    pub(super) async fn remove_network_of(&self, name: &str) {
        if self.settings.firewall.is_none() {
            return;
        }
        let net = network_name(name);
        match self.engine.network(&net).await {
            Ok(Some(n))
                if self
                    .base_labels()
                    .iter()
                    .all(|(k, v)| n.labels.get(k) == Some(v)) =>
            {
                match self.engine.remove_network(&net).await {
                    Ok(()) | Err(EngineError::NotFound(_)) => {}
                    Err(e) => {
                        tracing::warn!(network = %net, error = %e, "cannot remove network yet; the reconciler retries")
                    }
                }
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(network = %net, error = %e, "cannot inspect network; the reconciler retries");
                return;
            }
        }
        if let Err(e) = self.refresh_firewall().await {
            tracing::error!(error = %e, "cannot update the isolation rules");
        }
    }

    /// Installs the isolation rules for this instance's networks as they are now. Runs before
    /// every container start, so rules lost (host reboot, a flushed ruleset) come back before
    /// any container runs without them.
    pub(crate) async fn refresh_firewall(&self) -> Result<(), ApiError> {
        let Some(fw) = &self.settings.firewall else {
            return Ok(());
        };
        let bridges: Vec<String> = self
            .engine
            .list_networks_by_labels(&self.base_labels())
            .await
            .map_err(engine_err)?
            .into_iter()
            .map(|n| n.interface)
            .collect();
        fw.apply(&bridges).await.map_err(|e| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("cannot install the network isolation rules: {e}. An admin should check `devbox-ctl doctor` and `journalctl -u devboxd`"),
            )
        })
    }

    /// Removes this instance's networks whose container is gone and no operation is under way
    /// on (a crash between the steps of a create or destroy), then refreshes the rules.
    pub(super) async fn sweep_networks(&self) {
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
            let Some(container) = n.labels.get(LABEL_NAME) else {
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
}
