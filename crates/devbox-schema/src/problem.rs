//! One thing wrong with a users file: where, what, and how to fix it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A problem found in a users file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// JSON pointer (RFC 6901) into the exported JSON, e.g. `/users/alice/sshKeys/0`; `""` is the
    /// whole document. In `users.nix` the same place is `users.alice.sshKeys` (entry 0).
    pub path: String,
    /// Stable machine-readable identifier of the rule, e.g. `uid-out-of-range`.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Problem {
    /// A new problem.
    pub fn new(
        path: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The path as shown to humans: `/` for the whole document.
    pub fn display_path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [{}]\n    fix: {}",
            self.display_path(),
            self.message,
            self.code,
            self.hint
        )
    }
}

/// Appends one JSON-pointer segment (escaping `~` and `/`) to `base`.
pub fn child(base: &str, segment: &str) -> String {
    format!("{base}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

/// Appends an array index to `base`.
pub fn index(base: &str, i: usize) -> String {
    format!("{base}/{i}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_segments_are_escaped() {
        assert_eq!(child("/users", "a/b~c"), "/users/a~1b~0c");
        assert_eq!(index("/users/alice/sshKeys", 2), "/users/alice/sshKeys/2");
    }

    #[test]
    fn display_shows_path_message_code_and_fix() {
        let p = Problem::new("", "x", "what", "how");
        assert_eq!(p.to_string(), "/: what [x]\n    fix: how");
    }
}
