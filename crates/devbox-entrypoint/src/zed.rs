//! Pre-provisions the Zed remote server where Zed looks for it,
//! `~/.zed_server/zed-remote-server-{channel}-{version}`, so a Zed client connects without
//! downloading anything. The file is a symlink to the binary shipped in the image, refreshed
//! on every start (so an image update brings a new version); a regular file a user put there
//! is left alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::config::{is_version, Config};
use crate::helpers::run_with_timeout;

pub use devbox_contract::status::ZedStatus;

pub fn target_path(home: &Path, channel: &str, version: &str) -> PathBuf {
    home.join(".zed_server")
        .join(format!("zed-remote-server-{channel}-{version}"))
}

/// The server's version: `DEVBOX_ZED_VERSION`, else what `BINARY version` prints.
fn version(cfg: &Config) -> Result<String, String> {
    if let Some(v) = &cfg.zed_version {
        return Ok(v.clone());
    }
    let out = run_with_timeout(
        Command::new(&cfg.zed_server_binary).arg("version"),
        Duration::from_secs(5),
    )
    .map_err(|e| {
        format!(
            "cannot run {} version: {e}",
            cfg.zed_server_binary.display()
        )
    })?;
    let v = out.stdout.trim().trim_start_matches('v').to_string();
    if out.success && is_version(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{} version printed {:?}; set DEVBOX_ZED_VERSION",
            cfg.zed_server_binary.display(),
            out.stdout.trim()
        ))
    }
}

/// Provisions the server; run as the dev user (see [`crate::prepare`]), so the link and its
/// directory are the user's.
pub fn provision(cfg: &Config) -> ZedStatus {
    let fail = |error: String| ZedStatus {
        provisioned: false,
        path: None,
        version: None,
        error: Some(error),
    };
    if !cfg.zed_server_binary.is_file() {
        return fail(format!(
            "no Zed remote server at {} (DEVBOX_ZED_SERVER_BINARY); Zed clients will download their own",
            cfg.zed_server_binary.display()
        ));
    }
    let version = match version(cfg) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let target = target_path(&cfg.home, &cfg.zed_channel, &version);
    let result = (|| -> std::io::Result<()> {
        let dir = cfg.home.join(".zed_server");
        std::fs::create_dir_all(&dir)?;
        match std::fs::symlink_metadata(&target) {
            Ok(m) if !m.file_type().is_symlink() => return Ok(()), // the user's own file
            Ok(_) => std::fs::remove_file(&target)?,
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&cfg.zed_server_binary, &target)
    })();
    match result {
        Ok(()) => ZedStatus {
            provisioned: true,
            path: Some(target.to_string_lossy().into_owned()),
            version: Some(version),
            error: None,
        },
        Err(e) => fail(format!("provisioning {}: {e}", target.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_where_zed_looks() {
        assert_eq!(
            target_path(Path::new("/home/dev"), "stable", "0.170.4"),
            PathBuf::from("/home/dev/.zed_server/zed-remote-server-stable-0.170.4")
        );
    }
}
