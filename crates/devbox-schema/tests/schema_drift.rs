//! The committed JSON Schema must be exactly what the model generates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn committed_schema_matches_the_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("users.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = devbox_schema::schema::users_file_schema_text();
    assert!(
        committed == generated,
        "crates/devbox-schema/users.schema.json is out of date with the model in src/model.rs.\n\
         Regenerate it from the repository root with:\n\
         \x20   cargo run -p devbox-schema -- schema > crates/devbox-schema/users.schema.json\n\
         and commit the result."
    );
}

#[test]
fn schema_describes_the_contract_fields() {
    let schema = devbox_schema::schema::users_file_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let required = schema["required"].as_array().unwrap();
    assert!(required.contains(&"users".into()) && required.contains(&"derived".into()));
    let user = &schema["$defs"]["User"]["properties"];
    for field in [
        "uid",
        "description",
        "email",
        "gitUser",
        "isAdmin",
        "sshKeys",
        "tailscaleSsh",
        "initialHashedPassword",
        "extraGroups",
    ] {
        assert!(
            user.get(field).is_some(),
            "User.{field} missing from the schema"
        );
    }
    assert_eq!(schema["$defs"]["User"]["additionalProperties"], false);
}
