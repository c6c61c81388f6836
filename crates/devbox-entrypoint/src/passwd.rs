//! Looks users up in /etc/passwd directly (no NSS: the image has no NSS modules to load).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: String,
}

/// Finds `name` in a passwd-format text.
pub fn parse(text: &str, name: &str) -> Option<Account> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some(Account {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: PathBuf::from(f[5]),
            shell: f[6].to_string(),
        })
    })
}

/// Finds `name` in the passwd file at `path`.
pub fn lookup(path: &Path, name: &str) -> std::io::Result<Option<Account>> {
    Ok(parse(&std::fs::read_to_string(path)?, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dev_user() {
        let text =
            "root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1001:dev:/home/dev:/bin/bash\nbad:line\n";
        let a = parse(text, "dev").unwrap();
        assert_eq!((a.uid, a.gid), (1000, 1001));
        assert_eq!(a.home, PathBuf::from("/home/dev"));
        assert_eq!(a.shell, "/bin/bash");
        assert!(parse(text, "bad").is_none());
        assert!(parse(text, "nobody").is_none());
    }
}
