//! The wire contract between `devboxd` and `devbox-ctl`: request and response types, the error body,
//! the progress events of long operations, the routes, input validation both sides share, and the
//! client.
//!
//! Transport: HTTP/1.1 with JSON bodies over the daemon's Unix socket. Long operations (create, start,
//! stop, destroy, rotate-key) answer `200` with newline-delimited JSON [`Event`]s ending in exactly one
//! `done` or `error` event; everything else answers JSON, errors as [`ApiError`] with a matching status.

/// The daemon-entrypoint contract, for the daemon.
pub use devbox_contract as contract;

pub mod client;
pub mod routes;
pub mod types;
pub mod validate;

pub use client::{Client, ClientError};
pub use types::*;
