//! `devbox-entrypoint`: PID 1 of the nix-devbox dev container.
//!
//! It brings the container onto the user's tailnet (tailscaled in userspace networking,
//! `tailscale up --auth-key=file:...` once the controller delivered a key), runs code-server
//! and Syncthing as the dev user, pre-provisions the Zed remote server, reaps zombies,
//! restarts crashed services with backoff, reports status for the controller and stops
//! everything in order on SIGTERM. See docs/entrypoint.md.

pub mod activity;
pub mod config;
pub mod gitconfig;
pub mod helpers;
pub mod homefs;
pub mod http;
pub mod keys;
pub mod logging;
pub mod passwd;
pub mod prepare;
pub mod status;
pub mod supervisor;
pub mod syncthing;
pub mod zed;
