//! `devbox-entrypoint`: PID 1 of the nix-devbox dev container.
//!
//! It brings the container onto the user's tailnet (tailscaled in userspace networking,
//! `tailscale up --auth-key=file:...` once the controller delivered a key), runs code-server
//! and Syncthing as the dev user, pre-provisions the Zed remote server, reaps zombies,
//! restarts crashed services with backoff, reports status for the controller and stops
//! everything in order on SIGTERM. See docs/entrypoint.md.
//!
//! The rooms: `supervisor` puts PID 1 together from `pid1` (signals, reaping, stop stages),
//! `services` (the supervised programs), `login` (the Tailscale login state machine, no I/O)
//! with `tailscale` (its world: run dir and CLI) and `probes` (Syncthing device ID, activity);
//! `setup` runs once before them. `keys` and `cli` are the commands the controller runs;
//! `prepare` is the home preparation PID 1 has the dev user do.

pub mod activity;
pub mod cli;
pub mod config;
pub mod gitconfig;
pub mod helpers;
pub mod homefs;
pub mod http;
pub mod keys;
pub mod logging;
pub mod login;
pub mod passwd;
pub mod pid1;
pub mod prepare;
pub mod probes;
pub mod services;
pub mod setup;
pub mod status;
pub mod supervisor;
pub mod syncthing;
pub mod tailscale;
pub mod zed;
