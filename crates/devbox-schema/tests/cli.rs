//! The `devbox-schema` binary: exit codes 0/1/2, both output formats, the `schema` command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_devbox-schema"))
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The example, exported by Nix's evaluator: a valid file to start from.
fn example_json() -> Value {
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
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn valid_file_exits_0_from_a_path_and_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.json");
    let json = serde_json::to_vec(&example_json()).unwrap();
    std::fs::write(&file, &json).unwrap();

    let out = bin().arg("validate").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 3 users, 1 admin\n");

    let out = run_stdin(&["validate", "-", "--format", "json"], &json);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], Value::Bool(true));
    assert_eq!(report["users"], 3);
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn invalid_file_exits_1_and_reports_every_problem() {
    let mut doc = example_json();
    doc["users"]["bob"]["uid"] = 5.into();
    doc["users"]["carol"]["email"] = "carol".into();
    doc["containers"]["defaultCpu"] = 0.into();
    let json = serde_json::to_vec(&doc).unwrap();

    let out = run_stdin(&["validate", "-"], &json);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("the users file has 3 problems:"),
        "{stderr}"
    );
    for expected in [
        "/users/bob/uid: uid 5 is outside 1000..=65533 [uid-out-of-range]",
        "/users/carol/email: `carol` is not an e-mail address [email-invalid]",
        "/containers/defaultCpu: defaultCpu 0 is not in (0, 256] [cpu-out-of-range]",
        "fix: pick an unused uid from 1000 to 65533",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    let out = run_stdin(&["validate", "-", "--format", "json"], &json);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], Value::Bool(false));
    let paths: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/containers/defaultCpu",
            "/users/bob/uid",
            "/users/carol/email"
        ]
    );
}

#[test]
fn problems_only_json_can_carry_are_reported() {
    let doc = example_json();
    // A duplicate key (a JSON text can have one, a Nix attribute set cannot).
    let json = serde_json::to_string(&doc).unwrap().replacen(
        "\"uid\":1001",
        "\"uid\":1001,\"uid\":1002",
        1,
    );
    let out = run_stdin(&["validate", "-", "--format", "json"], json.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["code"], "duplicate-key");
    assert_eq!(report["problems"][0]["path"], "/users/bob/uid");

    // A hand-edited `derived` section.
    let mut edited = doc.clone();
    edited["derived"]["perUser"]["bob"]["opReference"] = "op://Other/bob/password".into();
    edited["derived"]["adminUsers"] = serde_json::json!(["alice", "bob"]);
    let out = run_stdin(
        &["validate", "-", "--format", "json"],
        &serde_json::to_vec(&edited).unwrap(),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(&str, &str)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["code"].as_str().unwrap(), p["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("derived-mismatch", "/derived/adminUsers"),
            ("derived-mismatch", "/derived/perUser/bob/opReference"),
        ]
    );

    // The plain users.nix value, not run through the export.
    let mut raw = doc;
    raw.as_object_mut().unwrap().remove("derived");
    let out = run_stdin(&["validate", "-"], &serde_json::to_vec(&raw).unwrap());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("/derived: the required field `derived` is missing [missing-field]"),
        "{stderr}"
    );
}

#[test]
fn unreadable_input_exits_2() {
    let out = bin()
        .args(["validate", "/nonexistent/users.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read /nonexistent/users.json"),
        "{}",
        text(&out.stderr)
    );

    for input in [&b""[..], b"{\"users\": ", b"users = { };", b"\xff\xfe"] {
        let out = run_stdin(&["validate", "-"], input);
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        assert!(
            text(&out.stderr).starts_with("devbox-schema: "),
            "{input:?}"
        );

        let out = run_stdin(&["validate", "-", "--format", "json"], input);
        assert_eq!(out.status.code(), Some(2));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["valid"], Value::Bool(false));
        assert!(report["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[test]
fn json_that_is_not_an_object_is_invalid_not_unreadable() {
    for input in ["[]", "null", "42", "\"users\""] {
        let out = run_stdin(&["validate", "-", "--format", "json"], input.as_bytes());
        assert_eq!(out.status.code(), Some(1), "{input}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["problems"][0]["code"], "wrong-type", "{input}");
        assert_eq!(report["problems"][0]["path"], "", "{input}");
    }
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = bin().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("users.schema.json"))
            .unwrap();
    assert_eq!(text(&out.stdout), committed);
}

#[test]
fn bad_usage_exits_2_with_help() {
    let out = bin().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("<FILE>"),
        "{}",
        text(&out.stderr)
    );
}
