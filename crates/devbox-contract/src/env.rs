//! The environment variables the entrypoint reads (every one documented in
//! docs/entrypoint.md). The daemon sets the first group on every container it creates; the rest
//! have defaults that suit the image and exist for tests and other images.

/// Container name = tailnet hostname. Set by the daemon.
pub const HOSTNAME: &str = "DEVBOX_HOSTNAME";
/// The owning user's name. Set by the daemon.
pub const OWNER: &str = "DEVBOX_OWNER";
/// Comma-separated Tailscale tags to advertise (default: [`crate::tags::default_tags`] of the
/// owner). Set by the daemon.
pub const TAGS: &str = "DEVBOX_TAGS";
/// `true` or `false`: run Syncthing. Set by the daemon.
pub const SYNCTHING: &str = "DEVBOX_SYNCTHING";
/// The owner's git identity (full name, e-mail, GitHub login), written into git's system
/// config. Set by the daemon from users.nix; not secrets.
pub const GIT_NAME: &str = "DEVBOX_GIT_NAME";
pub const GIT_EMAIL: &str = "DEVBOX_GIT_EMAIL";
pub const GIT_USER: &str = "DEVBOX_GIT_USER";

pub const CODE_SERVER: &str = "DEVBOX_CODE_SERVER";
pub const NIX_DAEMON: &str = "DEVBOX_NIX_DAEMON";
pub const USER: &str = "DEVBOX_USER";
pub const HOME: &str = "DEVBOX_HOME";
/// The tmpfs for the key, the status and the pid file; also read by the helper commands.
pub const RUN_DIR: &str = "DEVBOX_RUN_DIR";
pub const STATE_DIR: &str = "DEVBOX_STATE_DIR";
pub const CODE_SERVER_BIND: &str = "DEVBOX_CODE_SERVER_BIND";
pub const CODE_SERVER_PORT: &str = "DEVBOX_CODE_SERVER_PORT";
pub const SYNCTHING_HOME: &str = "DEVBOX_SYNCTHING_HOME";
pub const SYNC_FOLDER: &str = "DEVBOX_SYNC_FOLDER";
pub const SYNCTHING_GUI_ADDRESS: &str = "DEVBOX_SYNCTHING_GUI_ADDRESS";
pub const SYNCTHING_LISTEN: &str = "DEVBOX_SYNCTHING_LISTEN";
pub const ZED_SERVER_BINARY: &str = "DEVBOX_ZED_SERVER_BINARY";
pub const ZED_CHANNEL: &str = "DEVBOX_ZED_CHANNEL";
pub const ZED_VERSION: &str = "DEVBOX_ZED_VERSION";
pub const TAILSCALE_STATEDIR: &str = "DEVBOX_TAILSCALE_STATEDIR";
pub const TAILSCALE_LOGIN_SERVER: &str = "DEVBOX_TAILSCALE_LOGIN_SERVER";
pub const STOP_GRACE_MS: &str = "DEVBOX_STOP_GRACE_MS";
pub const RESTART_BACKOFF_MS: &str = "DEVBOX_RESTART_BACKOFF_MS";
pub const RESTART_BACKOFF_MAX_MS: &str = "DEVBOX_RESTART_BACKOFF_MAX_MS";
pub const ACTIVITY_INTERVAL_MS: &str = "DEVBOX_ACTIVITY_INTERVAL_MS";
pub const SESSION_MAX_AGE_MS: &str = "DEVBOX_SESSION_MAX_AGE_MS";
pub const LOGOUT_ON_STOP: &str = "DEVBOX_LOGOUT_ON_STOP";

/// Variables that look like an auth key passed the wrong way; the entrypoint refuses to start
/// with any of them set (the key travels on stdin only).
pub const FORBIDDEN_SECRET_VARS: &[&str] = &[
    "TS_AUTHKEY",
    "TS_AUTH_KEY",
    "TAILSCALE_AUTHKEY",
    "DEVBOX_TAILSCALE_AUTHKEY",
    "DEVBOX_AUTHKEY",
    "OP_SERVICE_ACCOUNT_TOKEN",
];
