//! What devbox-ctl reads from the person at the keyboard: answers to prompts and their own
//! Tailscale auth key.

use std::io::IsTerminal;

use anyhow::Context;
use devbox_api::AuthKey;

use crate::errors::invalid;

/// Whether there is a person to ask (stdin and stderr are terminals).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on the terminal. The read runs off the runtime thread, so Ctrl-C still ends the
/// program at the prompt (main watches for it).
pub async fn ask(question: &str) -> anyhow::Result<String> {
    say_part!("{question} ");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("reading the answer")??;
    Ok(line.trim().to_string())
}

/// The longest input read for a key (a key is about 60 bytes; more is a wrong file).
const MAX_KEY_INPUT: u64 = 4096;

/// Reads the user's Tailscale auth key: from a no-echo prompt when stdin is a terminal, else
/// from stdin (e.g. `op read … | devbox-ctl create NAME --auth-key-stdin`). Never from argv or
/// the environment, which other users can read (`ps`, /proc) or which lands in shell history.
pub async fn read_auth_key() -> anyhow::Result<AuthKey> {
    use secrecy::zeroize::Zeroizing;
    use std::io::Read as _;
    let raw: Zeroizing<String> = tokio::task::spawn_blocking(|| {
        if std::io::stdin().is_terminal() {
            rpassword::prompt_password("Tailscale auth key (input hidden): ").map(Zeroizing::new)
        } else {
            let mut s = Zeroizing::new(String::new());
            std::io::stdin()
                .take(MAX_KEY_INPUT)
                .read_to_string(&mut s)
                .map(|_| s)
        }
    })
    .await
    .context("reading the Tailscale auth key")?
    .context("reading the Tailscale auth key from stdin")?;
    AuthKey::new(raw.trim()).map_err(invalid)
}

/// The key, when the flag asks for one.
pub async fn auth_key_if(asked: bool) -> anyhow::Result<Option<AuthKey>> {
    Ok(if asked {
        Some(read_auth_key().await?)
    } else {
        None
    })
}
