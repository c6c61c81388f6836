//! `devbox-house [ROOT]`: prints every file and function over the house limits, largest first, and
//! exits 1 when there is one. See the crate docs for what counts as test code.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    match devbox_house::check_workspace(&root) {
        Ok(findings) if findings.is_empty() => {
            println!(
                "house rules hold: no non-test file over {} lines, no non-test fn over {} lines",
                devbox_house::MAX_FILE_LINES,
                devbox_house::MAX_FN_LINES
            );
            ExitCode::SUCCESS
        }
        Ok(findings) => {
            for f in &findings {
                println!("{f}");
            }
            eprintln!(
                "{} finding(s): split them by job (docs/architecture.md)",
                findings.len()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("devbox-house: {e:#}");
            ExitCode::from(2)
        }
    }
}
