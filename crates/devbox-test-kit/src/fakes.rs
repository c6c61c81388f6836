//! Shared plumbing of the fake binaries: argv recording.

use std::io::Write;

/// Environment variable naming the JSON-lines file where every fake appends its argv.
pub const ARGV_LOG_ENV: &str = "FAKE_ARGV_LOG";
/// Default argv log (inside the testbed container; tests on the host set [`ARGV_LOG_ENV`]).
pub const DEFAULT_ARGV_LOG: &str = "/tmp/devbox-fakes/argv.jsonl";

/// One recorded invocation of a fake.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Invocation {
    pub tool: String,
    pub argv: Vec<String>,
    pub pid: u32,
    pub uid: u32,
}

/// Appends this process's argv to the argv log; best effort (a fake must not fail because the
/// log directory is missing).
pub fn record_argv(tool: &str) {
    let path = std::env::var(ARGV_LOG_ENV).unwrap_or_else(|_| DEFAULT_ARGV_LOG.to_string());
    let inv = Invocation {
        tool: tool.to_string(),
        argv: std::env::args().skip(1).collect(),
        pid: std::process::id(),
        uid: nix::unistd::getuid().as_raw(),
    };
    let path = std::path::Path::new(&path);
    // Fakes run as root and as the dev user: the log must stay writable for both.
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        if !dir.exists() && std::fs::create_dir_all(dir).is_ok() {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
        }
    }
    if let (Ok(mut f), Ok(line)) = (
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path),
        serde_json::to_string(&inv),
    ) {
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o666));
        let _ = writeln!(f, "{line}");
    }
}

/// Reads every invocation recorded in a JSON-lines argv log.
pub fn read_argv_log(text: &str) -> Vec<Invocation> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
