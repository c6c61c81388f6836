//! The JSON Schema of the exported users file, generated from the serde model with schemars.
//!
//! The same schema is committed at `crates/devbox-schema/users.schema.json` (for editors and
//! other tools); a test fails when the two drift apart.

use serde_json::Value;

use crate::model::UsersFile;

/// The JSON Schema (draft 2020-12) of [`UsersFile`].
pub fn users_file_schema() -> Value {
    let schema = schemars::schema_for!(UsersFile);
    schema.to_value()
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn users_file_schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&users_file_schema()).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}
