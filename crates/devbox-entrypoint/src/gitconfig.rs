//! The owner's git identity: written by PID 1 at every start to `$DEVBOX_RUN_DIR/gitconfig`
//! (root's, 0644, on the tmpfs) from `DEVBOX_GIT_NAME`, `DEVBOX_GIT_EMAIL` and `DEVBOX_GIT_USER`,
//! which devboxd sets from the owner's users.nix entry. The image's system gitconfig includes
//! that file (git skips a missing include), so commits made in the container have an author
//! without the user editing anything on the shared volume, and `~/.gitconfig` still overrides.

use std::path::{Path, PathBuf};

use crate::config::Config;

/// Where the identity is written (the image's `/etc/gitconfig` has `include.path` to it).
pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("gitconfig")
}

/// A git-config value in double quotes, with the characters git treats specially escaped.
fn quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The file's text, or None when no identity is configured.
pub fn render(cfg: &Config) -> Option<String> {
    let mut user = String::new();
    if let Some(n) = &cfg.git_name {
        user.push_str(&format!("\tname = {}\n", quoted(n)));
    }
    if let Some(e) = &cfg.git_email {
        user.push_str(&format!("\temail = {}\n", quoted(e)));
    }
    let mut text = String::new();
    if !user.is_empty() {
        text.push_str("# Written by devbox-entrypoint from the owner's users.nix entry.\n[user]\n");
        text.push_str(&user);
    }
    if let Some(u) = &cfg.git_user {
        text.push_str(&format!("[github]\n\tuser = {}\n", quoted(u)));
    }
    (!text.is_empty()).then_some(text)
}

/// Writes (or, without an identity, removes) the file.
pub fn write(cfg: &Config) -> std::io::Result<()> {
    let p = path(&cfg.run_dir);
    match render(cfg) {
        Some(text) => crate::helpers::write_atomic(&p, text.as_bytes(), 0o644),
        None => match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(env: &[(&str, &str)]) -> Config {
        let mut all = vec![("DEVBOX_HOSTNAME", "box"), ("DEVBOX_OWNER", "alice")];
        all.extend_from_slice(env);
        Config::from_lookup(|k| {
            all.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn identity_is_rendered_quoted_and_git_reads_it_back() {
        let c = cfg(&[
            ("DEVBOX_GIT_NAME", r#"Alice "Al" Back\slash; #1"#),
            ("DEVBOX_GIT_EMAIL", "alice@example.org"),
            ("DEVBOX_GIT_USER", "alice-gh"),
        ]);
        let text = render(&c).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gitconfig");
        std::fs::write(&f, &text).unwrap();
        let get = |key: &str| {
            let o = devbox_test_kit::host_program("git")
                .args(["config", "--file"])
                .arg(&f)
                .args(["--get", key])
                .output()
                .unwrap();
            assert!(o.status.success(), "{key}: {text}");
            String::from_utf8(o.stdout).unwrap().trim_end().to_string()
        };
        assert_eq!(get("user.name"), r#"Alice "Al" Back\slash; #1"#);
        assert_eq!(get("user.email"), "alice@example.org");
        assert_eq!(get("github.user"), "alice-gh");
        assert_eq!(render(&cfg(&[])), None);
    }
}
