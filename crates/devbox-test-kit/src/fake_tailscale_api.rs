//! Launching the FAKE Tailscale API (`fake-tailscale-api`, over the fake control plane) from tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::fakes::ARGV_LOG_ENV;
use crate::{bin_path, KitError, Result};

/// A running `fake-tailscale-api`, killed on drop.
pub struct FakeTailscaleApi {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234` (what devboxd's `tailscaleApiUrl` takes).
    pub url: String,
}

impl FakeTailscaleApi {
    /// Starts the API on `listen` (`127.0.0.1:0` for any free port) over the control plane file
    /// `control`, accepting the bearer key in `api_key_file`; argv goes next to `control`.
    pub fn start(listen: &str, control: &Path, api_key_file: &Path) -> Result<Self> {
        let mut child = Command::new(bin_path("fake-tailscale-api")?)
            .args(["--listen", listen, "--control"])
            .arg(control)
            .arg("--api-key-file")
            .arg(api_key_file)
            .env(ARGV_LOG_ENV, control.with_extension("argv.jsonl"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| KitError::io("starting fake-tailscale-api", e))?;
        // Its first line says where it listens (the port is chosen by the kernel).
        let mut first = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out)
                .read_line(&mut first)
                .map_err(|e| KitError::io("reading fake-tailscale-api's first line", e))?;
        }
        let api = Self {
            url: first
                .trim()
                .strip_prefix("listening on ")
                .unwrap_or("")
                .to_string(),
            child,
        };
        if api.url.is_empty() {
            return Err(KitError::Other(format!(
                "fake-tailscale-api said {first:?}"
            )));
        }
        Ok(api)
    }
}

impl Drop for FakeTailscaleApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
