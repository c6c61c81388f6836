//! Tailscale keys from 1Password through the `op` CLI. The service-account token is read from its
//! credential file for each call and handed ONLY to the `op` child's environment (never argv, never
//! the daemon's own environment, never a log line). The key comes back in a `SecretString`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use tokio::process::Command;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    #[error("no 1Password service-account token is configured: set `opTokenFile` in the devboxd config or load the credential with systemd `LoadCredential=op-service-account-token:PATH`")]
    NoTokenFile,
    #[error("cannot read the 1Password service-account token from {path}: {reason}. Check the file exists and is readable by devboxd")]
    TokenUnreadable { path: PathBuf, reason: String },
    #[error("the 1Password service-account token file {path} is empty; put the token in it")]
    TokenEmpty { path: PathBuf },
    #[error("the 1Password CLI `{command}` could not be run: {reason}. Install `op` or set `opCommand` in the devboxd config")]
    OpMissing { command: String, reason: String },
    #[error("`op read {reference}` failed: {stderr}. Check the item exists in 1Password and the service account can read its vault")]
    OpFailed { reference: String, stderr: String },
    #[error("`op read {reference}` did not answer within {secs}s; check the network and 1Password's status")]
    OpTimeout { reference: String, secs: u64 },
    #[error("`op read {reference}` returned an empty value; put the Tailscale auth key in the item's password field")]
    Empty { reference: String },
    #[error("1Password does not accept the service-account token (`op user get --me`: {stderr})")]
    TokenRefused { stderr: String },
}

/// Something that can fetch a secret by reference. The daemon uses [`OpCli`].
pub trait SecretSource: Send + Sync + 'static {
    fn read(
        &self,
        reference: &str,
    ) -> impl std::future::Future<Output = Result<SecretString, SecretError>> + Send;

    /// Proves the source works without reading a secret (for `doctor`): a line saying what
    /// answered, or why it does not.
    fn check(&self) -> impl std::future::Future<Output = Result<String, SecretError>> + Send;
}

/// The real thing: `op read REFERENCE` with `OP_SERVICE_ACCOUNT_TOKEN` in the child's environment.
#[derive(Debug, Clone)]
pub struct OpCli {
    pub command: PathBuf,
    pub token_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl OpCli {
    fn token(&self) -> Result<SecretString, SecretError> {
        let path = self.token_file.as_deref().ok_or(SecretError::NoTokenFile)?;
        let text = SecretString::from(read_token(path)?);
        let token = text.expose_secret().trim();
        if token.is_empty() {
            return Err(SecretError::TokenEmpty {
                path: path.to_path_buf(),
            });
        }
        Ok(SecretString::from(token.to_string()))
    }

    /// Runs `op ARGS` with the token in the child's environment only.
    async fn run(&self, args: &[&str], what: &str) -> Result<std::process::Output, SecretError> {
        let token = self.token()?;
        let child = Command::new(&self.command)
            .args(args)
            .env("OP_SERVICE_ACCOUNT_TOKEN", token.expose_secret())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SecretError::OpMissing {
                command: self.command.display().to_string(),
                reason: e.to_string(),
            })?;
        drop(token);
        tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| SecretError::OpTimeout {
                reference: what.to_string(),
                secs: self.timeout.as_secs(),
            })?
            .map_err(|e| SecretError::OpMissing {
                command: self.command.display().to_string(),
                reason: e.to_string(),
            })
    }
}

/// `op`'s error text, at most 500 bytes (cut on a character boundary: `truncate` inside one
/// panics), or the exit status when it said nothing.
fn short_stderr(out: &std::process::Output) -> String {
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let mut cut = stderr.len().min(500);
    while !stderr.is_char_boundary(cut) {
        cut -= 1;
    }
    stderr.truncate(cut);
    if stderr.is_empty() {
        stderr = format!("exit status {}", out.status);
    }
    stderr
}

fn read_token(path: &Path) -> Result<String, SecretError> {
    std::fs::read_to_string(path).map_err(|e| SecretError::TokenUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl SecretSource for OpCli {
    async fn read(&self, reference: &str) -> Result<SecretString, SecretError> {
        let out = self.run(&["read", reference], reference).await?;
        if !out.status.success() {
            return Err(SecretError::OpFailed {
                reference: reference.to_string(),
                stderr: short_stderr(&out),
            });
        }
        let value = String::from_utf8(out.stdout)
            .map_err(|_| SecretError::Empty {
                reference: reference.to_string(),
            })?
            .trim_end_matches(['\n', '\r'])
            .to_string();
        let secret = SecretString::from(value);
        if secret.expose_secret().trim().is_empty() {
            return Err(SecretError::Empty {
                reference: reference.to_string(),
            });
        }
        Ok(secret)
    }

    /// Proves the token works without reading a secret: `op user get --me` (what 1Password's
    /// service-account docs give to check one is configured; `op whoami` answers for the
    /// signed-in session). Returns `op`'s version and the account's name and type.
    async fn check(&self) -> Result<String, SecretError> {
        self.token()?;
        let version = Command::new(&self.command)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| SecretError::OpMissing {
                command: self.command.display().to_string(),
                reason: e.to_string(),
            })?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        let out = self
            .run(
                &["user", "get", "--me", "--format", "json"],
                "user get --me",
            )
            .await?;
        if !out.status.success() {
            return Err(SecretError::TokenRefused {
                stderr: short_stderr(&out),
            });
        }
        let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let name = me["name"].as_str().unwrap_or("?");
        let kind = me["type"].as_str().unwrap_or("?");
        Ok(format!("`op` {version}; signed in as {name:?} ({kind})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `op`'s error text is cut to a bounded length; text that is not ASCII (a vault or item
    /// name in another script, echoed back by `op`) must not make that cut panic.
    #[test]
    fn a_long_non_ascii_op_error_is_cut_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "ops_CANARYTOKEN\n").unwrap();
        let op = OpCli {
            command: devbox_test_kit::bin_path("fake-op").unwrap(),
            token_file: Some(token_file),
            timeout: Duration::from_secs(30),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Shifted by one byte each time, so the cut lands inside a two-byte character at least
        // once (fake-op, like op, answers that the item is not in the vault, echoing both).
        for pad in 0..2 {
            let reference = format!(
                "op://{}{}/{}/password",
                "v".repeat(pad),
                "é".repeat(150),
                "ü".repeat(150)
            );
            let e = rt.block_on(op.read(&reference)).unwrap_err();
            let SecretError::OpFailed { stderr, .. } = &e else {
                panic!("unexpected error {e:?}");
            };
            assert!(stderr.len() <= 500, "{} bytes", stderr.len());
            assert!(stderr.contains("could not read secret"), "{stderr}");
            assert!(!e.to_string().contains("CANARYTOKEN"));
        }
    }
}
