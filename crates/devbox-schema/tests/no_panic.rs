//! The validator never panics: arbitrary JSON, arbitrary text, and random mutations of a valid
//! file all end in `Ok` or a list of problems.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use devbox_schema::{validate_json, validate_text, LoadError};
use proptest::prelude::*;
use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "users": {
            "alice": {
                "uid": 1000, "description": "Alice Example", "email": "alice@example.org",
                "gitUser": "alice-example", "isAdmin": true, "extraGroups": ["wheel"],
                "sshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIANzXIyqws2T3vpHfH5KOIZNyfET1oUgNvO7L+kAdLUp a@example.invalid"]
            }
        },
        "containers": {
            "opVault": "DevBox", "maxPerUser": 5, "maxGlobal": 7, "defaultCpu": 2,
            "defaultMemory": "4G", "idleStopDays": 7, "stoppedDestroyDays": 14
        },
        "derived": {
            "allUsers": ["alice"], "adminUsers": ["alice"],
            "perUser": { "alice": {
                "opReference": "op://DevBox/alice-tailscale-authkey/password",
                "tailscaleTags": ["tag:devcontainer", "tag:alice-container"]
            } }
        }
    })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("users"),
            Just("containers"),
            Just("derived"),
            Just("uid"),
            Just("sshKeys"),
            Just("ssh-ed25519 AAAA"),
            Just("4G"),
            Just("op://a/b/c"),
            Just("alice"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z]{0,12}",
                    Just("users".to_string()),
                    Just("alice".to_string()),
                    Just("uid".to_string()),
                    Just("sshKeys".to_string()),
                    Just("containers".to_string()),
                    Just("derived".to_string()),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer inside a value.
fn pointers(v: &Value, base: String, out: &mut Vec<String>) {
    out.push(base.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(c, format!("{base}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{base}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn assert_well_formed(result: Result<devbox_schema::UsersFile, Vec<devbox_schema::Problem>>) {
    if let Err(problems) = result {
        assert!(!problems.is_empty());
        for p in problems {
            assert!(!p.code.is_empty() && !p.message.is_empty() && !p.hint.is_empty());
            assert!(p.path.is_empty() || p.path.starts_with('/'), "{p}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        assert_well_formed(validate_json(&v));
        // And wrapped where a users file would be.
        assert_well_formed(validate_json(&json!({ "users": { "alice": v.clone() } })));
        assert_well_formed(validate_json(&json!({ "users": v.clone(), "derived": v })));
    }

    #[test]
    fn ssh_key_parser_never_panics_on_any_body(
        key_type in prop::sample::select(devbox_schema::ssh_key::KEY_TYPES),
        body in prop::collection::vec(any::<u8>(), 0..300),
        prefix_with_type in any::<bool>(),
        line in "\\PC{0,120}",
    ) {
        use base64::Engine as _;
        let mut blob = Vec::new();
        if prefix_with_type {
            blob.extend_from_slice(&(key_type.len() as u32).to_be_bytes());
            blob.extend_from_slice(key_type.as_bytes());
        }
        blob.extend_from_slice(&body);
        let text = format!("{key_type} {}", base64::engine::general_purpose::STANDARD.encode(&blob));
        if let Err(e) = devbox_schema::ssh_key::parse(&text) {
            assert!(!e.to_string().is_empty() && !e.hint().is_empty());
        }
        let _ = devbox_schema::ssh_key::parse(&line);
    }

    #[test]
    fn small_parsers_never_panic(s in "\\PC{0,40}") {
        let _ = devbox_schema::rules::parse_memory(&s);
        let _ = devbox_schema::rules::is_valid_name(&s);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        match validate_text(&s) {
            Ok(_) | Err(LoadError::NotJson(_)) | Err(LoadError::Invalid(_)) => {}
            Err(e) => panic!("unexpected error kind: {e}"),
        }
    }

    #[test]
    fn mutating_a_valid_file_never_panics(pick in any::<prop::sample::Index>(), replacement in arb_json()) {
        let doc = valid();
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let target = pick.get(&all).clone();
        let mut mutated = doc;
        if let Some(slot) = mutated.pointer_mut(&target) {
            *slot = replacement;
        }
        assert_well_formed(validate_json(&mutated));
    }

    #[test]
    fn removing_any_part_never_panics(pick in any::<prop::sample::Index>()) {
        let doc = valid();
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let target = pick.get(&all).clone();
        let mut mutated = doc;
        if let Some((parent, key)) = target.rsplit_once('/') {
            if let Some(Value::Object(m)) = mutated.pointer_mut(parent) {
                m.remove(key);
            }
        }
        assert_well_formed(validate_json(&mutated));
    }
}

#[test]
fn the_valid_fixture_is_valid() {
    let file = validate_json(&valid()).unwrap();
    assert_eq!(file.users["alice"].uid, 1000);
}
