//! Preparing the home volume, done by a child process running as the dev user
//! (`devbox-entrypoint prepare-home`, started by PID 1 with dropped privileges).
//!
//! Everything in the home volume is the dev user's to change, including replacing any entry
//! with a symlink to a root-owned path. Work done there as root would follow such links (the
//! old `chown ~/sync` handed `/usr/bin` to `dev`). As `dev`, following a link gives nothing
//! `dev` does not already have, so this step may use plain paths.
//!
//! It creates the state directories, provisions the Zed remote server, writes Syncthing's
//! first-start configuration, and makes the per-container credential: a random password in
//! code-server's own config file (`~/.config/code-server/config.yaml`, mode 0600, the
//! ecosystem's convention), also set (bcrypt-hashed) as the Syncthing GUI password of user
//! `dev`. The password never leaves these files: not in the report, logs, argv or env.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::zed::ZedStatus;

/// The Syncthing GUI user that the shared password belongs to.
pub const GUI_USER: &str = "dev";
const BCRYPT_COST: u32 = 10;

/// What the dev-user child reports to PID 1 (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub zed: ZedStatus,
    /// Why code-server cannot start safely (its password file could not be made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_server_error: Option<String>,
    /// Why Syncthing cannot start safely (its configuration could not be made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncthing_error: Option<String>,
    /// Problems that do not stop a service (state directory), for the log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// code-server's config file, where the password lives.
pub fn code_server_config(cfg: &Config) -> PathBuf {
    cfg.home.join(".config/code-server/config.yaml")
}

/// How the owner reads the password (shown by `devbox-ctl status`).
pub fn password_hint(hostname: &str) -> String {
    format!("ssh dev@{hostname} cat ~/.config/code-server/config.yaml")
}

/// A random password: 24 characters of [A-Za-z0-9] (about 143 bits).
pub fn new_password() -> std::io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(24);
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    let mut buf = [0u8; 64];
    while out.len() < 24 {
        urandom.read_exact(&mut buf)?;
        // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() < 24 {
                out.push(char::from(ALPHABET[usize::from(*b) % 62]));
            }
        }
    }
    Ok(out)
}

/// The `password:` of a code-server config file (a YAML mapping of plain scalars).
pub fn password_from_config(yaml: &str) -> Option<String> {
    yaml.lines().find_map(|l| {
        let v = l.strip_prefix("password:")?.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        (!v.is_empty()).then(|| v.to_string())
    })
}

fn code_server_yaml(password: &str) -> String {
    format!(
        "# Written by devbox-entrypoint on the first start of this container.\n\
         # The password opens code-server and the Syncthing GUI (user `{GUI_USER}`).\n\
         # code-server's address is set on its command line.\n\
         auth: password\n\
         password: {password}\n\
         cert: false\n"
    )
}

fn create_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Makes sure code-server's config file has a password; returns it (for Syncthing).
pub fn ensure_code_server_password(cfg: &Config) -> std::io::Result<String> {
    let path = code_server_config(cfg);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => match password_from_config(&text) {
            Some(p) => Ok(p),
            None => {
                // The owner's own file without a password: code-server would refuse to
                // start with `--auth password`; add one rather than run without.
                let p = new_password()?;
                let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
                let sep = if text.ends_with('\n') || text.is_empty() {
                    ""
                } else {
                    "\n"
                };
                f.write_all(format!("{sep}password: {p}\n").as_bytes())?;
                Ok(p)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let p = new_password()?;
            create_private(&path, &code_server_yaml(&p))?;
            Ok(p)
        }
        Err(e) => Err(e),
    }
}

/// Adds the GUI user and password hash (made by `hash`, only when needed) to a Syncthing
/// config that has none: one made before credentials existed, or by Syncthing itself.
/// `None`: nothing to change.
pub fn add_gui_credentials(
    xml: &str,
    hash: impl FnOnce() -> std::io::Result<String>,
) -> std::io::Result<Option<String>> {
    let Some(gui_start) = xml.find("<gui") else {
        return Ok(None);
    };
    let Some(open_end) = xml[gui_start..].find('>').map(|i| gui_start + i + 1) else {
        return Ok(None);
    };
    let Some(gui_end) = xml[open_end..].find("</gui>").map(|i| open_end + i) else {
        return Ok(None);
    };
    // Empty elements (as Syncthing writes an unset value) do not count and are dropped.
    let gui = xml[open_end..gui_end]
        .replace("<user></user>", "")
        .replace("<password></password>", "")
        .replace("<user/>", "")
        .replace("<password/>", "");
    let mut insert = String::new();
    if !gui.contains("<user>") {
        insert.push_str(&format!("\n        <user>{GUI_USER}</user>"));
    }
    if !gui.contains("<password>") {
        insert.push_str(&format!("\n        <password>{}</password>", hash()?));
    }
    if insert.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{}{insert}{gui}{}",
        &xml[..open_end],
        &xml[gui_end..]
    )))
}

/// The Syncthing GUI password hash (bcrypt, Syncthing's format and default cost).
pub fn hash_gui_password(password: &str) -> std::io::Result<String> {
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| std::io::Error::other(format!("bcrypt: {e}")))
}

fn ensure_syncthing(cfg: &Config, password: &str) -> std::io::Result<()> {
    for dir in [&cfg.syncthing_home, &cfg.sync_folder] {
        std::fs::create_dir_all(dir)?;
    }
    let path = cfg.syncthing_home.join("config.xml");
    let hash = || hash_gui_password(password);
    match std::fs::read_to_string(&path) {
        Ok(xml) => {
            if let Some(new) = add_gui_credentials(&xml, hash)? {
                crate::helpers::write_atomic(&path, new.as_bytes(), 0o600)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crate::syncthing::new_api_key()?;
            create_private(
                &path,
                &crate::syncthing::initial_config(cfg, &key, &hash()?),
            )
        }
        Err(e) => Err(e),
    }
}

/// Prepares the home volume; run as the dev user.
pub fn prepare_home(cfg: &Config) -> Report {
    let mut notes = Vec::new();
    for dir in [cfg.home.join(".local/state"), cfg.state_dir.clone()] {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            notes.push(format!(
                "cannot create {}: {e} (last activity is not kept across restarts)",
                dir.display()
            ));
        }
    }
    let zed = crate::zed::provision(cfg);
    let mut code_server_error = None;
    let mut syncthing_error = None;
    if cfg.code_server || cfg.syncthing {
        let file = code_server_config(cfg);
        match ensure_code_server_password(cfg) {
            Ok(password) => {
                if cfg.syncthing {
                    if let Err(e) = ensure_syncthing(cfg, &password) {
                        syncthing_error = Some(format!(
                            "cannot prepare the Syncthing configuration in {} as {}: {e}; \
                             it must be a directory the dev user can write (remove or fix it)",
                            cfg.syncthing_home.display(),
                            cfg.user
                        ));
                    }
                }
            }
            Err(e) => {
                let msg = format!(
                    "cannot make the password file {} as {}: {e}; it must be a file the dev \
                     user can write (remove or fix it); not started without a password",
                    file.display(),
                    cfg.user
                );
                code_server_error = Some(msg.clone());
                syncthing_error = Some(msg);
            }
        }
    }
    Report {
        zed,
        code_server_error: code_server_error.filter(|_| cfg.code_server),
        syncthing_error: syncthing_error.filter(|_| cfg.syncthing),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_alphanumeric_and_read_back_from_the_yaml() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
        let yaml = code_server_yaml(&a);
        assert!(yaml.contains("auth: password\n"));
        assert_eq!(password_from_config(&yaml).as_deref(), Some(a.as_str()));
        assert_eq!(
            password_from_config("auth: password\npassword: \"x y\"\n").as_deref(),
            Some("x y")
        );
        assert_eq!(password_from_config("auth: password\n"), None);
        assert_eq!(password_from_config("hashed-password: abc\n"), None);
    }

    #[test]
    fn gui_credentials_are_added_once_and_only_where_missing() {
        let xml = "<configuration>\n    <gui enabled=\"true\" tls=\"false\">\n        <address>127.0.0.1:8384</address>\n        <apikey>k</apikey>\n    </gui>\n</configuration>\n";
        let h = |v: &'static str| move || Ok(v.to_string());
        let new = add_gui_credentials(xml, h("$2b$10$hash")).unwrap().unwrap();
        assert!(new.contains("<user>dev</user>"), "{new}");
        assert!(new.contains("<password>$2b$10$hash</password>"), "{new}");
        assert!(new.contains("<apikey>k</apikey>"));
        // Set: the hash is not even computed.
        let unused = || -> std::io::Result<String> { Err(std::io::Error::other("computed")) };
        assert_eq!(add_gui_credentials(&new, unused).unwrap(), None);
        // Empty elements do not count as set.
        let empty = xml.replace(
            "<apikey>k</apikey>",
            "<apikey>k</apikey><user></user><password></password>",
        );
        let new = add_gui_credentials(&empty, h("$2b$10$h")).unwrap().unwrap();
        assert_eq!(new.matches("<user>").count(), 1, "{new}");
        assert!(new.contains("<password>$2b$10$h</password>"));
        assert_eq!(
            add_gui_credentials("<configuration/>", unused).unwrap(),
            None
        );
    }

    #[test]
    fn the_hash_verifies_the_password() {
        let h = bcrypt::hash("pw", 4).unwrap();
        assert!(bcrypt::verify("pw", &h).unwrap());
        assert!(!bcrypt::verify("other", &h).unwrap());
    }
}
