//! The users.nix model of nix-devbox and its validator.

pub mod model;

pub use model::{ContainerPolicy, Derived, DerivedUser, User, UsersFile};
