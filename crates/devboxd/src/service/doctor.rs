//! `devbox-ctl doctor`: what works and what to fix — Podman, the image, the isolation rules,
//! 1Password (the token, then the caller's own item) and the state file. Each failing check
//! names its fix. Read-only apart from installing the isolation rules as they should be.

use std::time::Duration;

use devbox_api::{DoctorCheck, DoctorReport};

use super::Service;
use crate::clock::Clock;
use crate::engine::Engine;
use crate::secrets::{SecretError, SecretSource};
use crate::users::Caller;

/// How long one caller's 1Password checks of `doctor` are reused.
const DOCTOR_OP_CACHE: Duration = Duration::from_secs(60);

impl<E: Engine, S: SecretSource, C: Clock> Service<E, S, C> {
    /// Doctor: the isolation rules install (nft runs, devboxd may change the ruleset).
    async fn network_check(&self) -> DoctorCheck {
        let Some(fw) = &self.settings.firewall else {
            return DoctorCheck {
                name: "network".into(),
                ok: true,
                detail: "network isolation is OFF (networkIsolation: false): containers share Podman's default network and reach each other and the host".into(),
                fix: None,
            };
        };
        match self.refresh_firewall().await {
            Ok(()) => DoctorCheck {
                name: "network".into(),
                ok: true,
                detail: format!(
                    "isolation rules installed (nftables table inet {}); containers reach the internet{}",
                    fw.table,
                    if fw.allowed_lan.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " and {}",
                            fw.allowed_lan
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
                fix: None,
            },
            Err(e) => DoctorCheck {
                name: "network".into(),
                ok: false,
                detail: e.message,
                fix: Some("install nftables (nftCommand), run devboxd with CAP_NET_ADMIN (the NixOS module does), or set networkIsolation: false (containers then reach each other)".into()),
            },
        }
    }

    /// The 1Password checks of `doctor`: the token works (`op user get --me`), then the caller's
    /// item exists and is readable (read and dropped: the value is never shown).
    async fn doctor_1password(&self, caller: &Caller) -> Vec<DoctorCheck> {
        let check = |name: &str, ok: bool, detail: String, fix: Option<String>| DoctorCheck {
            name: name.into(),
            ok,
            detail,
            fix,
        };
        let Some(vault) = self.users.file.containers.op_vault.clone() else {
            return vec![check(
                "1password",
                true,
                "not used: users.nix has no opVault; users supply their Tailscale keys with `--auth-key-stdin`".into(),
                None,
            )];
        };
        let token = match self.secrets.check().await {
            Ok(detail) => check(
                "1password",
                true,
                format!("{detail}; the service-account token works"),
                None,
            ),
            Err(e) => {
                let fix = match &e {
                    SecretError::OpMissing { .. } => "install the 1Password CLI (`op` 2.18 or later, for service accounts) on the orchestrator, or set `opCommand` in the devboxd config".to_string(),
                    SecretError::TokenRefused { .. } => format!("the token is wrong, expired or revoked: an admin creates a new service-account token in 1Password (Developer > Service Accounts) with read access to the vault {vault:?}, puts it in the credential file and restarts devboxd"),
                    SecretError::OpTimeout { .. } => "1Password did not answer: check the orchestrator's network (DNS, proxy) and 1Password's status page".to_string(),
                    _ => "an admin provides the service-account token: systemd `LoadCredential=op-service-account-token:PATH` for devboxd (the NixOS module's token file option), or `opTokenFile` in the devboxd config".to_string(),
                };
                return vec![check("1password", false, e.to_string(), Some(fix))];
            }
        };
        let mut out = vec![token];
        if !self.users.file.users.contains_key(&caller.user) {
            return out;
        }
        let Some(reference) = self.users.op_reference(&caller.user) else {
            return out;
        };
        out.push(match self.secrets.read(&reference).await {
            Ok(_) => check(
                "your-key",
                true,
                format!("{reference} exists and is readable (the value is not shown)"),
                None,
            ),
            Err(e) => {
                let fix = match &e {
                    SecretError::Empty { .. } => "put your Tailscale auth key (reusable, ephemeral, tagged) into the item's password field".to_string(),
                    _ => format!(
                        "ask an admin to create the item `{}-tailscale-authkey` in the vault {vault:?} with a reusable, ephemeral auth key tagged {} in its password field, and to give the service account read access to that vault; or supply your own key: `devbox-ctl create NAME --auth-key-stdin`",
                        caller.user,
                        self.users.tags(&caller.user).join(",")
                    ),
                };
                check("your-key", false, e.to_string(), Some(fix))
            }
        });
        out
    }

    pub async fn doctor(&self, caller: &Caller) -> DoctorReport {
        let mut checks = self.podman_checks().await;
        checks.extend(self.doctor_1password_cached(caller).await);
        checks.push(self.state_check());
        DoctorReport { checks }
    }

    /// Podman answers; then the image is there and the isolation rules install.
    async fn podman_checks(&self) -> Vec<DoctorCheck> {
        let podman = match self.engine.ping().await {
            Ok(v) => DoctorCheck {
                name: "podman".into(),
                ok: true,
                detail: format!("Podman {v} answers on its API socket"),
                fix: None,
            },
            Err(e) => {
                return vec![DoctorCheck {
                    name: "podman".into(),
                    ok: false,
                    detail: e.to_string(),
                    fix: Some("start Podman's API service: `systemctl enable --now podman.socket` (or set podmanSocket in the devboxd config)".into()),
                }]
            }
        };
        let image = &self.settings.image;
        let image = match self.engine.image_exists(image).await {
            Ok(true) => DoctorCheck {
                name: "image".into(),
                ok: true,
                detail: format!("{image} is present"),
                fix: None,
            },
            Ok(false) => DoctorCheck {
                name: "image".into(),
                ok: false,
                detail: format!("{image} is not present"),
                fix: Some("load the dev-container image (`podman load`) or set `image` in the devboxd config".into()),
            },
            Err(e) => DoctorCheck {
                name: "image".into(),
                ok: false,
                detail: e.to_string(),
                fix: None,
            },
        };
        vec![podman, image, self.network_check().await]
    }

    /// Each 1Password check calls the shared service account (rate limited by 1Password): a
    /// caller's answer is reused for a minute, so a loop of `doctor` cannot use up the limit.
    async fn doctor_1password_cached(&self, caller: &Caller) -> Vec<DoctorCheck> {
        let cached = self
            .doctor_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&caller.uid)
            .filter(|(at, _)| at.elapsed() < DOCTOR_OP_CACHE)
            .map(|(at, c)| {
                let ago = at.elapsed().as_secs();
                c.iter()
                    .cloned()
                    .map(|mut c| {
                        c.detail
                            .push_str(&format!(" (checked {ago} s ago; again after a minute)"));
                        c
                    })
                    .collect::<Vec<_>>()
            });
        if let Some(c) = cached {
            return c;
        }
        let c = self.doctor_1password(caller).await;
        let mut cache = self
            .doctor_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|_, (at, _)| at.elapsed() < DOCTOR_OP_CACHE);
        cache.insert(caller.uid, (std::time::Instant::now(), c.clone()));
        c
    }

    fn state_check(&self) -> DoctorCheck {
        match self.state.load() {
            Ok(s) => DoctorCheck {
                name: "state".into(),
                ok: true,
                detail: format!(
                    "{} ({} containers recorded)",
                    self.state.path().display(),
                    s.containers.len()
                ),
                fix: None,
            },
            Err(e) => DoctorCheck {
                name: "state".into(),
                ok: false,
                detail: e.to_string(),
                fix: Some("check stateDir in the devboxd config".into()),
            },
        }
    }
}
