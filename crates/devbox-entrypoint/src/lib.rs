//! `devbox-entrypoint`: PID 1 of the nix-devbox dev container.
pub mod status;
