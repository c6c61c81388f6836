//! The contract between `devboxd` (the controller) and `devbox-entrypoint` (PID 1 of every dev
//! container): what the daemon puts in the container's environment, which entrypoint commands it
//! runs through `podman exec`, what their exit codes mean, and the status report it reads back.
//! Each of these exists once, here; both sides use these types.
//!
//! Why a crate of its own and not a module of `devbox-api`: `devbox-api` carries the daemon's
//! HTTP client (tokio, hyper) and `devbox-schema` (JSON Schema validation, regex). The entrypoint
//! is a small synchronous PID 1 built into every container image; it needs none of that. This
//! crate depends on serde alone, and `devbox-api` re-exports it for the daemon and the CLI.

pub mod env;
pub mod exit;
pub mod status;
pub mod tags;
pub mod verb;

pub use exit::{KeyExit, RunExit};
pub use verb::Verb;

/// Where the daemon mounts the home volume in the container.
pub const HOME_PATH: &str = "/home/dev";
/// The tmpfs the entrypoint keeps its runtime files in (key, status, pid file); the default of
/// [`env::RUN_DIR`].
pub const RUN_PATH: &str = "/run/devbox";
