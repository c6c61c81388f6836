//! The documented pipeline, end to end, with Nix's real evaluator and the real binary:
//!
//!   nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile FILE
//!     | devbox-schema validate - --format json
//!
//! The example must pass; every file in tests/cases/invalid/ must fail exactly as its header
//! says: `# expect: CODE PATH` lines are the complete set of problems the validator reports;
//! `# expect-eval-error: TEXT` means the export itself stops with a message containing TEXT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn export(users_file: &Path) -> Output {
    devbox_test_kit::host_program("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(repo_root().join("lib/export-users.nix"))
        .arg("--arg")
        .arg("usersFile")
        .arg(users_file)
        .output()
        .expect("nix-instantiate runs (install nix-bin: scripts/setup-debian.sh)")
}

fn validate(json: &[u8], format: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devbox-schema"))
        .args(["validate", "-", "--format", format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(json).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_example_exports_and_validates() {
    let out = export(&repo_root().join("examples/users.nix"));
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = validate(&out.stdout, "text");
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout).trim(),
        "ok: 3 users, 1 admin"
    );

    // The export fills defaults and derives names, references and tags exactly as the Rust
    // naming functions do.
    let file = devbox_schema::validate_text(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(file.derived.all_users, ["alice", "bob", "carol"]);
    assert_eq!(file.derived.admin_users, ["alice"]);
    let bob = &file.derived.per_user["bob"];
    assert_eq!(
        bob.op_reference.as_deref(),
        Some("op://DevBox/bob-tailscale-authkey/password")
    );
    assert_eq!(
        bob.tailscale_tags,
        ["tag:devcontainer", "tag:bob-container"]
    );
    assert_eq!(file.users["bob"].extra_groups, Vec::<String>::new());
    assert_eq!(file.containers.default_memory, "4G");
}

#[test]
fn defaults_are_filled_by_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.nix");
    let base = repo_root().join("crates/devbox-schema/tests/cases/base.nix");
    std::fs::write(
        &users,
        format!(
            "let b = import {}; in {{ users = b.users // {{ bob = removeAttrs b.users.bob [ \"isAdmin\" ]; }}; containers.opVault = \"Team Vault\"; }}",
            base.display()
        ),
    )
    .unwrap();
    let out = export(&users);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["users"]["bob"]["isAdmin"], Value::Bool(false));
    assert_eq!(json["users"]["bob"]["extraGroups"], serde_json::json!([]));
    assert_eq!(
        json["containers"],
        serde_json::json!({
            "opVault": "Team Vault", "maxPerUser": 5, "maxGlobal": 7, "defaultCpu": 2,
            "defaultMemory": "4G", "maxCpu": 16, "maxMemory": "64G", "maxKeptVolumesPerUser": 5,
            "idleStopDays": 7, "stoppedDestroyDays": 14
        })
    );
    assert_eq!(
        json["derived"]["perUser"]["alice"]["opReference"],
        "op://Team Vault/alice-tailscale-authkey/password"
    );
    assert_eq!(validate(&out.stdout, "json").status.code(), Some(0));
}

#[test]
fn a_null_vault_means_no_1password_references() {
    // A team without 1Password: users supply their keys with `--auth-key-stdin`.
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.nix");
    let base = repo_root().join("crates/devbox-schema/tests/cases/base.nix");
    std::fs::write(
        &users,
        format!(
            "let b = import {}; in {{ users = b.users; containers.opVault = null; }}",
            base.display()
        ),
    )
    .unwrap();
    let out = export(&users);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["containers"]["opVault"], Value::Null);
    let alice = json["derived"]["perUser"]["alice"].as_object().unwrap();
    assert!(!alice.contains_key("opReference"), "{alice:?}");
    assert_eq!(
        validate(&out.stdout, "json").status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A vault of the wrong type still stops the export with what to write.
    std::fs::write(
        &users,
        format!(
            "let b = import {}; in {{ users = b.users; containers.opVault = 1; }}",
            base.display()
        ),
    )
    .unwrap();
    let out = export(&users);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("or null"));
}

#[test]
fn a_missing_users_file_is_named() {
    let out = export(Path::new("/nonexistent/users.nix"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("users.nix: the file /nonexistent/users.nix does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_relative_string_path_is_explained() {
    let out = devbox_test_kit::host_program("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(repo_root().join("lib/export-users.nix"))
        .args(["--argstr", "usersFile", "examples/users.nix"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is a relative string; pass a Nix path (--arg usersFile ./users.nix"),
        "{stderr}"
    );
}

struct Case {
    name: String,
    expected: BTreeSet<(String, String)>,
    eval_errors: Vec<String>,
}

fn read_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let mut expected = BTreeSet::new();
    let mut eval_errors = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# expect: ") {
            let (code, path) = rest.split_once(' ').unwrap();
            expected.insert((code.to_string(), path.to_string()));
        } else if let Some(rest) = line.strip_prefix("# expect-eval-error: ") {
            eval_errors.push(rest.to_string());
        }
    }
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(
        expected.is_empty() != eval_errors.is_empty(),
        "{name}: a case expects either problems or an evaluation error"
    );
    Case {
        name,
        expected,
        eval_errors,
    }
}

#[test]
fn every_broken_users_nix_fails_with_its_expected_problems() {
    let dir = repo_root().join("crates/devbox-schema/tests/cases/invalid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "only {} cases", paths.len());

    let mut failures = Vec::new();
    let mut codes = BTreeSet::new();
    for path in &paths {
        let case = read_case(path);
        let out = export(path);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !case.eval_errors.is_empty() {
            if out.status.success() {
                failures.push(format!("{}: the export succeeded", case.name));
            }
            for text in &case.eval_errors {
                if !stderr.contains(text) {
                    failures.push(format!("{}: stderr lacks {text:?}:\n{stderr}", case.name));
                }
            }
            codes.insert(format!("eval:{}", case.name));
            continue;
        }
        if !out.status.success() {
            failures.push(format!("{}: the export failed:\n{stderr}", case.name));
            continue;
        }
        let checked = validate(&out.stdout, "json");
        if checked.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit code {:?}, expected 1",
                case.name,
                checked.status.code()
            ));
        }
        let report: Value = serde_json::from_slice(&checked.stdout).unwrap();
        let problems = report["problems"].as_array().unwrap();
        let got: BTreeSet<(String, String)> = problems
            .iter()
            .map(|p| {
                (
                    p["code"].as_str().unwrap().to_string(),
                    p["path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if got != case.expected || got.len() != problems.len() {
            failures.push(format!(
                "{}: expected {:?}\n  got {}",
                case.name,
                case.expected,
                serde_json::to_string_pretty(problems).unwrap()
            ));
        }
        for p in problems {
            for field in ["message", "hint"] {
                if p[field].as_str().unwrap_or_default().trim().is_empty() {
                    failures.push(format!("{}: a problem has no {field}", case.name));
                }
            }
        }
        codes.extend(got.into_iter().map(|(code, _)| code));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(codes.len() >= 30, "only {} distinct failures", codes.len());
}

#[test]
fn every_valid_case_exports_and_validates() {
    let dir = repo_root().join("crates/devbox-schema/tests/cases/valid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "only {} valid cases", paths.len());
    for path in &paths {
        let out = export(path);
        assert!(
            out.status.success(),
            "{}: export failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let checked = validate(&out.stdout, "text");
        assert_eq!(
            checked.status.code(),
            Some(0),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        // The new fields reach the model: the export fills tailscaleSsh, passes the hash.
        let file = devbox_schema::validate_text(&String::from_utf8(out.stdout).unwrap()).unwrap();
        assert!(file
            .users
            .values()
            .all(|u| !u.ssh_keys.is_empty() || u.tailscale_ssh));
    }
}

#[test]
fn tailscale_ssh_and_console_hash_are_exported() {
    let path =
        repo_root().join("crates/devbox-schema/tests/cases/valid/tailscale-ssh-with-keys.nix");
    let out = export(&path);
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["users"]["bob"]["tailscaleSsh"], Value::Bool(true));
    assert_eq!(json["users"]["alice"]["tailscaleSsh"], Value::Bool(false));
    assert!(json["users"]["bob"]["initialHashedPassword"]
        .as_str()
        .unwrap()
        .starts_with("$2b$10$"));
    assert!(json["users"]["alice"]
        .get("initialHashedPassword")
        .is_none());
}

#[test]
fn a_plain_password_is_not_echoed() {
    let path = repo_root().join("crates/devbox-schema/tests/cases/invalid/password-plain.nix");
    let out = export(&path);
    assert!(out.status.success());
    for format in ["text", "json"] {
        let checked = validate(&out.stdout, format);
        let all = [checked.stdout, checked.stderr].concat();
        let all = String::from_utf8_lossy(&all);
        assert!(all.contains("mkpasswd -m yescrypt"), "{all}");
        assert!(!all.contains("CANARY"), "{all}");
    }
}

#[test]
fn secrets_in_a_broken_file_are_not_echoed() {
    let path = repo_root()
        .join("crates/devbox-schema/tests/cases/invalid/api-key-instead-of-reference.nix");
    let out = export(&path);
    assert!(out.status.success());
    for format in ["text", "json"] {
        let checked = validate(&out.stdout, format);
        let all = [checked.stdout, checked.stderr].concat();
        let all = String::from_utf8_lossy(&all);
        assert!(all.contains("tailscaleApiKeyRef"), "{all}");
        assert!(!all.contains("CANARY"), "{all}");
    }
}
