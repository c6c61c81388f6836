//! `load_users_file`, the entry point devboxd uses at start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use devbox_schema::{load_users_file, LoadError};

fn exported_example() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = devbox_test_kit::host_program("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(root.join("lib/export-users.nix"))
        .arg("--arg")
        .arg("usersFile")
        .arg(root.join("examples/users.nix"))
        .output()
        .expect("nix-instantiate runs (install nix-bin: scripts/setup-debian.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn loads_a_valid_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.json");
    std::fs::write(&path, exported_example()).unwrap();
    let file = load_users_file(&path).unwrap();
    assert_eq!(file.users["alice"].uid, 1000);
    assert!(file.users["alice"].is_admin);
    assert_eq!(file.containers.max_global, 7);
    assert_eq!(
        file.containers.notify_webhook.as_deref(),
        Some("op://DevBox/devbox-webhook/url")
    );
}

#[test]
fn each_failure_has_its_own_variant_and_a_readable_message() {
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing.json");
    let err = load_users_file(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Unreadable { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("cannot read {}", missing.display())));

    let not_json = dir.path().join("users.nix");
    std::fs::write(&not_json, "{ users = { }; }").unwrap();
    let err = load_users_file(&not_json).unwrap_err();
    assert!(matches!(err, LoadError::NotJson(_)), "{err}");
    assert!(err.to_string().contains("lib/export-users.nix"), "{err}");

    let invalid = dir.path().join("invalid.json");
    std::fs::write(
        &invalid,
        exported_example().replace("\"uid\":1001", "\"uid\":1"),
    )
    .unwrap();
    let err = load_users_file(&invalid).unwrap_err();
    let LoadError::Invalid(problems) = &err else {
        panic!("expected Invalid, got {err}");
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "/users/bob/uid");
    assert_eq!(
        err.to_string(),
        "the users file has 1 problem:\n  /users/bob/uid: uid 1 is outside 1000..=65533 \
         [uid-out-of-range]\n      fix: pick an unused uid from 1000 to 65533 (below 1000 are \
         system accounts, 65534 is `nobody`)"
    );
}
