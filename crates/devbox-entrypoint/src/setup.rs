//! What PID 1 does once, before it starts the services: its run dir (tmpfs), the home volume's
//! root, the git identity, and the home preparation it has the dev user do
//! ([`crate::prepare`]).

use std::process::Command;
use std::time::Duration;

use devbox_contract::Verb;

use crate::config::Config;
use crate::helpers::{last_line, run_with_timeout, write_atomic};
use crate::log_event;
use crate::passwd::Account;
use crate::prepare::Report;
use crate::probes::as_user;
use crate::status::ZedStatus;

/// Setup failures before the loop runs.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("user {0:?} is not in /etc/passwd: the image must have the dev user (DEVBOX_USER)")]
    NoUser(String),
}

pub fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SetupError {
    let context = context.into();
    move |source| SetupError::Io { context, source }
}

/// The run dir and tailscaled's state dir; stale flags and status of an earlier run removed;
/// our pid written for the doorbell.
pub fn run_dir(cfg: &Config) -> Result<(), SetupError> {
    let run_dir = &cfg.run_dir;
    std::fs::create_dir_all(run_dir).map_err(io_err(format!("create {}", run_dir.display())))?;
    std::fs::create_dir_all(&cfg.tailscale_statedir).map_err(io_err(format!(
        "create {}",
        cfg.tailscale_statedir.display()
    )))?;
    for stale in [cfg.reauth_flag(), cfg.logged_out_flag(), cfg.status_file()] {
        let _ = std::fs::remove_file(stale);
    }
    write_atomic(
        &cfg.pid_file(),
        nix::unistd::getpid().to_string().as_bytes(),
        0o644,
    )
    .map_err(io_err("write pid file"))
}

/// The home volume: a fresh volume is root's; the dev user must own it. Only its root is
/// touched as root (through a descriptor; it is a mount point dev cannot replace); everything
/// inside is prepared by a child running as dev.
pub fn home_root(cfg: &Config, account: &Account) -> Result<(), SetupError> {
    std::fs::create_dir_all(&cfg.home).map_err(io_err(format!("create {}", cfg.home.display())))?;
    let owner = (account.uid, account.gid);
    if crate::homefs::give_dir(&cfg.home, owner).map_err(io_err(format!(
        "give {} to {}",
        cfg.home.display(),
        account.name
    )))? {
        log_event!(
            "entrypoint",
            "gave {} to {}",
            cfg.home.display(),
            account.name
        );
    }
    // Directories an older entrypoint made as root (`~/.config`) go back to dev, through
    // descriptors (no symlink followed), or dev could not manage its own configuration.
    let older = [".config", ".local", ".local/state", ".local/share"];
    match crate::homefs::give_root_dirs(&cfg.home, &older, owner) {
        Ok(given) if !given.is_empty() => log_event!(
            "entrypoint",
            "gave {} (made by an older entrypoint as root) to {}",
            given.join(", "),
            account.name
        ),
        Ok(_) => {}
        Err(e) => log_event!(
            "entrypoint",
            "cannot give root's directories in the home to {}: {e}",
            account.name
        ),
    }
    Ok(())
}

/// The owner's git identity. Not fatal: a container without an author is better than no
/// container.
pub fn git_identity(cfg: &Config) {
    match crate::gitconfig::write(cfg) {
        Ok(()) if cfg.git_name.is_some() || cfg.git_email.is_some() => {
            log_event!(
                "git",
                "identity written to {}",
                crate::gitconfig::path(&cfg.run_dir).display()
            )
        }
        Ok(()) => {}
        Err(e) => log_event!("git", "cannot write the git identity: {e}"),
    }
}

/// Runs `devbox-entrypoint prepare-home` as the dev user (this same program, through
/// /proc/self/exe, so nothing on PATH is involved) and reads its report. A failure to run it
/// at all is reported against the services that need it.
pub fn prepare_home_as_user(account: &Account) -> Report {
    let mut cmd = Command::new("/proc/self/exe");
    as_user(&mut cmd, account)
        .args(Verb::PrepareHome.args())
        .env("HOME", &account.home)
        .current_dir("/");
    let failed = |why: String| Report {
        zed: ZedStatus {
            provisioned: false,
            path: None,
            version: None,
            error: Some(why.clone()),
        },
        code_server_error: Some(why.clone()),
        syncthing_error: Some(why),
        notes: Vec::new(),
    };
    match run_with_timeout(&mut cmd, Duration::from_secs(30)) {
        Ok(out) if out.success => match serde_json::from_str(&out.stdout) {
            Ok(report) => report,
            Err(e) => failed(format!("the home preparation printed no report: {e}")),
        },
        Ok(out) => failed(format!(
            "the home preparation as {} failed: {}",
            account.name,
            last_line(&out.stderr).unwrap_or_default()
        )),
        Err(e) => failed(format!("cannot run the home preparation: {e}")),
    }
}

/// The report's news for the log.
pub fn log_report(report: &Report) {
    match (&report.zed.path, &report.zed.error) {
        (Some(p), _) => log_event!("zed", "remote server provisioned at {p}"),
        (_, Some(e)) => log_event!("zed", "not provisioned: {e}"),
        _ => {}
    }
    for note in &report.notes {
        log_event!("entrypoint", "{note}");
    }
}
