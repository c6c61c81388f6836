//! FAKE Zed remote server (the real one is downloaded by Zed from zed.dev).
//!
//! `version` prints the version (as the real binary does); `run ...` writes `--pid-file` and
//! stays up until signalled (a connected Zed session); `proxy ...` relays stdin until EOF.

use std::io::Read;
use std::process::ExitCode;

use devbox_test_kit::fakes::record_argv;

pub const FAKE_ZED_VERSION: &str = "0.170.4";

fn main() -> ExitCode {
    record_argv("zed-remote-server");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("version") | Some("--version") => {
            println!("{FAKE_ZED_VERSION}");
            ExitCode::SUCCESS
        }
        Some("run") => {
            if let Some(i) = args.iter().position(|a| a == "--pid-file") {
                if let Some(p) = args.get(i + 1) {
                    let _ = std::fs::write(p, std::process::id().to_string());
                }
            }
            loop {
                std::thread::park();
            }
        }
        Some("proxy") => {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: zed-remote-server <version|run|proxy> ...");
            ExitCode::from(2)
        }
    }
}
