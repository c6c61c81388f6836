//! The users.nix model of nix-devbox and its validator.
//!
//! - [`model`]: the serde types of the exported users file ([`UsersFile`]), the contract every
//!   other crate reads.
//! - [`validate`]: [`validate_json`], [`validate_text`] and [`load_users_file`] check a file
//!   against the JSON Schema ([`schema`]) and the semantic [`rules`], returning the typed file or
//!   every [`Problem`] (JSON path, what is wrong, how to fix it).
//! - [`bounds`]: the hard bounds of container resources, shared with devboxd and devbox-ctl.
//! - [`ssh_key`]: OpenSSH public-key parsing used by the rules.
//! - [`tailnet_policy`]: the Tailscale/Headscale policy generated from a users file.

pub mod bounds;
pub mod model;
pub mod problem;
pub mod rules;
pub mod schema;
pub mod ssh_key;
pub mod tailnet_policy;
pub mod validate;

pub use model::{ContainerPolicy, Derived, DerivedUser, User, UsersFile};
pub use problem::Problem;
pub use validate::{load_users_file, validate_json, validate_text, LoadError};
