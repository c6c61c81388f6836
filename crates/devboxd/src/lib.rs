//! devboxd: the controller daemon of nix-devbox.
//!
//! It is the only component that talks to Podman. Users reach it through a Unix socket; the kernel's
//! peer credentials (SO_PEERCRED) say who they are. Podman's labels are the source of truth for what
//! exists; the daemon's own small state (desired state, timestamps) lives in `stateDir`.

pub mod bounds;
pub mod clock;
pub mod config;
pub mod engine;
pub mod firewall;
pub mod lifecycle;
pub mod oplimit;
pub mod podman;
pub mod secrets;
pub mod server;
pub mod service;
pub mod state;
pub mod tailnet;
pub mod users;
