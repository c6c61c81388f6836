//! Outgoing HTTP: the Tailscale API (delete the devices of a destroyed container) and the
//! notice webhook. The API key is a secret: it only ever goes into the Authorization header and
//! never into a log line or an error message.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HttpError {
    #[error("no HTTP client could be built: {0}")]
    NoClient(String),
    #[error("the Tailscale API at {url} failed: {reason}")]
    Api { url: String, reason: String },
    #[error("the Tailscale API refused the API key (HTTP {status}); check the key in 1Password (tailscaleApiKeyRef) is valid and not expired")]
    Unauthorized { status: u16 },
    #[error("the webhook {url} failed: {reason}")]
    Webhook { url: String, reason: String },
}

/// A shared HTTP client with bounded timeouts.
#[derive(Debug, Clone)]
pub struct Http {
    client: Result<reqwest::Client, String>,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string()),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, HttpError> {
        self.client
            .as_ref()
            .map_err(|e| HttpError::NoClient(e.clone()))
    }

    /// POSTs `body` as JSON; any 2xx is success.
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<(), HttpError> {
        let werr = |reason: String| HttpError::Webhook {
            url: redact_url(url),
            reason,
        };
        let resp = self
            .client()?
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| werr(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(werr(format!("HTTP {}", resp.status().as_u16())));
        }
        Ok(())
    }
}

/// Webhook URLs often carry a secret in their path (Slack, Matrix hooks): errors and logs show
/// only the scheme and host.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "(invalid URL)".to_string(),
    }
}

#[derive(Debug, Deserialize)]
struct Devices {
    #[serde(default)]
    devices: Vec<Device>,
}

/// A device as the Tailscale API lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub node_id: String,
    /// The machine's own hostname (the container name).
    #[serde(default)]
    pub hostname: String,
    /// The MagicDNS name (`NAME.TAILNET.ts.net`, `NAME-1…` after a collision).
    #[serde(default)]
    pub name: String,
    /// The ACL tags of the device (empty for a device owned by a person).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The Tailscale API v2: `GET /api/v2/tailnet/{tailnet}/devices`, `DELETE /api/v2/device/{id}`.
#[derive(Debug, Clone)]
pub struct TailscaleApi {
    pub http: Http,
    pub base: String,
    pub tailnet: String,
}

impl TailscaleApi {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        key: &SecretString,
    ) -> Result<reqwest::Response, HttpError> {
        let resp = req
            .bearer_auth(key.expose_secret())
            .send()
            .await
            .map_err(|e| HttpError::Api {
                url: url.to_string(),
                reason: e.without_url().to_string(),
            })?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(HttpError::Unauthorized { status });
        }
        Ok(resp)
    }

    pub async fn devices(&self, key: &SecretString) -> Result<Vec<Device>, HttpError> {
        let url = self.url(&format!("/api/v2/tailnet/{}/devices", self.tailnet));
        let resp = self.send(self.http.client()?.get(&url), &url, key).await?;
        let aerr = |reason: String| HttpError::Api {
            url: url.clone(),
            reason,
        };
        if !resp.status().is_success() {
            return Err(aerr(format!("HTTP {}", resp.status().as_u16())));
        }
        let d: Devices = resp
            .json()
            .await
            .map_err(|e| aerr(format!("unexpected answer: {}", e.without_url())))?;
        Ok(d.devices)
    }

    /// Deletes a device; one that is already gone counts as deleted.
    pub async fn delete(&self, key: &SecretString, id: &str) -> Result<(), HttpError> {
        let url = self.url(&format!("/api/v2/device/{id}"));
        let resp = self
            .send(self.http.client()?.delete(&url), &url, key)
            .await?;
        let s = resp.status();
        if s.is_success() || s.as_u16() == 404 {
            Ok(())
        } else {
            Err(HttpError::Api {
                url,
                reason: format!("HTTP {}", s.as_u16()),
            })
        }
    }

    /// Deletes every device whose hostname is `hostname` AND that carries all of `tags` (the
    /// owner's dev-container tags). Container names are chosen by users and are unique only on
    /// this orchestrator, so the hostname alone would let a user delete any machine of the
    /// tailnet (a NAS, a workstation) by naming a container after it. Returns how many were
    /// deleted; with no tags nothing is deleted.
    pub async fn delete_hostname(
        &self,
        key: &SecretString,
        hostname: &str,
        tags: &[String],
    ) -> Result<usize, HttpError> {
        if tags.is_empty() {
            return Ok(0);
        }
        let devices = self.devices(key).await?;
        let mut n = 0;
        for d in devices.iter().filter(|d| is_devbox_node(d, hostname, tags)) {
            let id = if d.id.is_empty() { &d.node_id } else { &d.id };
            self.delete(key, id).await?;
            n += 1;
        }
        Ok(n)
    }
}

/// Whether `d` is a dev container node named `hostname` carrying all of `tags`.
pub fn is_devbox_node(d: &Device, hostname: &str, tags: &[String]) -> bool {
    d.hostname == hostname && !tags.is_empty() && tags.iter().all(|t| d.tags.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nodes_with_all_the_owners_tags_are_devbox_nodes() {
        let dev = |host: &str, tags: &[&str]| Device {
            id: "1".into(),
            node_id: "n1".into(),
            hostname: host.into(),
            name: host.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        let alice = vec!["tag:devcontainer".to_string(), "tag:alice-container".into()];
        assert!(is_devbox_node(
            &dev("box", &["tag:alice-container", "tag:devcontainer"]),
            "box",
            &alice
        ));
        assert!(!is_devbox_node(&dev("box", &[]), "box", &alice));
        assert!(!is_devbox_node(
            &dev("box", &["tag:devcontainer"]),
            "box",
            &alice
        ));
        assert!(!is_devbox_node(
            &dev("box", &["tag:devcontainer", "tag:bob-container"]),
            "box",
            &alice
        ));
        assert!(!is_devbox_node(
            &dev("other", &["tag:devcontainer", "tag:alice-container"]),
            "box",
            &alice
        ));
        assert!(!is_devbox_node(&dev("box", &[]), "box", &[]));
    }

    #[test]
    fn webhook_urls_are_redacted_to_their_host() {
        assert_eq!(
            redact_url("https://hooks.example.org/services/T000/B000/SECRET"),
            "https://hooks.example.org/…"
        );
        assert_eq!(
            redact_url("http://user:pw@127.0.0.1:8080/hook?token=x"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(redact_url("nonsense"), "(invalid URL)");
    }
}
