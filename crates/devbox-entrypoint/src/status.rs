//! The status report of a dev container. Its types are the daemon's too and live in the
//! contract crate ([`devbox_contract::status`]); PID 1 writes them, `status --json` prints them.

pub use devbox_contract::status::*;
