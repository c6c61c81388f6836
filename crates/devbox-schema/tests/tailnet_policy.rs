//! `devbox-schema tailnet-policy`: the generated policy lets no user reach another user's
//! containers (for the example users.nix and for generated user sets), gives every user
//! Tailscale SSH into the orchestrator as themselves only, and uses only the documented fields
//! of Tailscale's policy file format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use devbox_schema::tailnet_policy::{tailnet_policy, Policy, ORCHESTRATOR_TAG};
use proptest::prelude::*;
use serde_json::{json, Value};

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

/// examples/users.nix, exported by Nix's evaluator.
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

/// A well-formed Ed25519 public key line, distinct per `seed`.
fn key(seed: u32) -> String {
    let mut body = vec![];
    for part in [b"ssh-ed25519".to_vec(), {
        let mut k = [7u8; 32];
        k[..4].copy_from_slice(&seed.to_be_bytes());
        k.to_vec()
    }] {
        body.extend_from_slice(&(part.len() as u32).to_be_bytes());
        body.extend_from_slice(&part);
    }
    format!(
        "ssh-ed25519 {}",
        base64::engine::general_purpose::STANDARD.encode(body)
    )
}

/// An exported users file for (name, admin) pairs, as lib/export-users.nix would print it.
fn users_json(users: &[(String, bool)], admins_reach_all: bool) -> Value {
    let mut u = serde_json::Map::new();
    let mut per_user = serde_json::Map::new();
    for (i, (name, admin)) in users.iter().enumerate() {
        u.insert(
            name.clone(),
            json!({"uid": 1000 + i, "description": format!("User {i}"),
                "email": format!("{name}@example.org"), "gitUser": format!("gh{i}"),
                "isAdmin": admin, "sshKeys": [key(i as u32)], "extraGroups": []}),
        );
        per_user.insert(
            name.clone(),
            json!({"opReference": format!("op://DevBox/{name}-tailscale-authkey/password"),
                "tailscaleTags": ["tag:devcontainer", format!("tag:{name}-container")]}),
        );
    }
    let mut all: Vec<String> = users.iter().map(|(n, _)| n.clone()).collect();
    all.sort();
    let mut admins: Vec<String> = users
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| n.clone())
        .collect();
    admins.sort();
    let mut containers = json!({"opVault": "DevBox", "maxPerUser": 5, "maxGlobal": 7,
        "defaultCpu": 2, "defaultMemory": "4G", "idleStopDays": 7, "stoppedDestroyDays": 14});
    if admins_reach_all {
        containers["adminsReachAll"] = json!(true);
    }
    json!({"users": u, "containers": containers,
        "derived": {"allUsers": all, "adminUsers": admins, "perUser": per_user}})
}

/// The tags a target in a policy rule stands for: `tag:x:PORTS` -> `tag:x`.
fn target(dst: &str) -> &str {
    dst.rsplit_once(':')
        .map(|(t, _)| t)
        .filter(|t| t.starts_with("tag:"))
        .unwrap_or(dst)
}

/// Whether `login` may open connections to a device carrying `tags`, by the ACLs.
fn acl_reaches(p: &Policy, login: &str, tags: &[String]) -> bool {
    p.acls.iter().any(|r| {
        (r.src.iter().any(|s| s == login || s == "*"))
            && r.dst
                .iter()
                .any(|d| d.starts_with('*') || tags.iter().any(|t| t == target(d)))
    })
}

/// The accounts `login` may Tailscale-SSH into on a device carrying `tags`.
fn ssh_accounts(p: &Policy, login: &str, tags: &[String]) -> BTreeSet<String> {
    p.ssh
        .iter()
        .filter(|r| r.src.iter().any(|s| s == login || s == "*"))
        .filter(|r| r.dst.iter().any(|d| d == "*" || tags.contains(d)))
        .flat_map(|r| r.users.iter().cloned())
        .collect()
}

fn container_tags(user: &str) -> Vec<String> {
    vec!["tag:devcontainer".into(), format!("tag:{user}-container")]
}

/// Every isolation property, for a validated users file.
fn check_isolation(users: &devbox_schema::UsersFile, policy: &Policy, host_tag: Option<&str>) {
    let reach_all = users.containers.admins_reach_all;
    for (a, ua) in &users.users {
        for b in users.users.keys() {
            let tags = container_tags(b);
            let may = a == b || (reach_all && ua.is_admin);
            assert_eq!(
                acl_reaches(policy, &ua.email, &tags),
                may,
                "{a} reaching {b}'s containers"
            );
            let accounts = ssh_accounts(policy, &ua.email, &tags);
            let expect: BTreeSet<String> = if may {
                BTreeSet::from(["dev".to_string()])
            } else {
                BTreeSet::new()
            };
            assert_eq!(accounts, expect, "{a} SSH into {b}'s containers");
        }
        if let Some(host) = host_tag {
            let host = vec![host.to_string()];
            assert!(acl_reaches(policy, &ua.email, &host), "{a} -> orchestrator");
            assert_eq!(
                ssh_accounts(policy, &ua.email, &host),
                BTreeSet::from([a.clone()]),
                "{a} SSH into the orchestrator: as themselves only"
            );
        }
    }
    // Containers reach nothing; nobody outside users.nix is named anywhere.
    let logins: BTreeSet<&str> = users.users.values().map(|u| u.email.as_str()).collect();
    for src in policy
        .acls
        .iter()
        .flat_map(|r| &r.src)
        .chain(policy.ssh.iter().flat_map(|r| &r.src))
    {
        assert!(logins.contains(src.as_str()), "unexpected source {src}");
    }
    // Every tag used has owners, and only the admins own tags.
    let admins: BTreeSet<&str> = users
        .users
        .values()
        .filter(|u| u.is_admin)
        .map(|u| u.email.as_str())
        .collect();
    for d in policy.acls.iter().flat_map(|r| &r.dst) {
        assert!(
            policy.tag_owners.contains_key(target(d)),
            "{d} has no owner"
        );
    }
    for owners in policy.tag_owners.values() {
        assert!(!owners.is_empty());
        assert!(owners.iter().all(|o| admins.contains(o.as_str())));
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn strings(v: &Value) -> Vec<&str> {
    let list = v.as_array().expect("a list");
    assert!(!list.is_empty(), "an empty list");
    list.iter().map(|s| s.as_str().expect("a string")).collect()
}

fn is_tag(s: &str) -> bool {
    devbox_schema::tailnet_policy::is_valid_tag(s)
}

/// The policy uses only documented fields of Tailscale's policy file, with the value forms the
/// documentation gives (see docs/users-nix.md for the pages checked).
fn check_format(v: &Value) {
    assert_eq!(keys(v), BTreeSet::from(["tagOwners", "acls", "ssh"]));
    for (tag, owners) in v["tagOwners"].as_object().unwrap() {
        assert!(is_tag(tag), "{tag}");
        for o in strings(owners) {
            assert!(o.contains('@'), "tag owner {o} is not a login");
        }
    }
    for rule in v["acls"].as_array().unwrap() {
        assert_eq!(keys(rule), BTreeSet::from(["action", "src", "dst"]));
        assert_eq!(rule["action"], "accept");
        for s in strings(&rule["src"]) {
            assert!(s.contains('@'), "{s}");
        }
        for d in strings(&rule["dst"]) {
            let (t, ports) = d.rsplit_once(':').unwrap();
            assert!(is_tag(t), "{d}");
            assert!(ports == "*" || ports.parse::<u16>().is_ok(), "{d}");
        }
    }
    for rule in v["ssh"].as_array().unwrap() {
        assert_eq!(
            keys(rule),
            BTreeSet::from(["action", "src", "dst", "users"])
        );
        assert_eq!(rule["action"], "accept");
        for d in strings(&rule["dst"]) {
            assert!(is_tag(d), "{d}");
        }
        for u in strings(&rule["users"]) {
            assert!(!u.is_empty() && u != "root", "{u}");
        }
        strings(&rule["src"]);
    }
}

#[test]
fn the_example_policy_isolates_users_and_has_the_documented_shape() {
    let example = example_json();
    let input = serde_json::to_vec(&example).unwrap();
    let out = run_stdin(&["tailnet-policy", "-"], &input);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("the policy is JSON");
    check_format(&printed);
    let users = devbox_schema::validate_json(&example).unwrap();
    let policy = tailnet_policy(&users, Some(ORCHESTRATOR_TAG));
    assert_eq!(printed, serde_json::to_value(&policy).unwrap());
    check_isolation(&users, &policy, Some(ORCHESTRATOR_TAG));
    // The example's users by name: alice (admin) does not reach bob's containers.
    let bob = container_tags("bob");
    assert!(!acl_reaches(&policy, "alice@example.org", &bob));
    assert!(acl_reaches(&policy, "bob@example.org", &bob));

    // With `adminsReachAll`, alice (the admin) reaches every container; bob still only his.
    let mut all = example.clone();
    all["containers"]["adminsReachAll"] = json!(true);
    let out = run_stdin(
        &["tailnet-policy", "-", "--no-orchestrator"],
        &serde_json::to_vec(&all).unwrap(),
    );
    assert_eq!(out.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_format(&printed);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("orchestrator"));
    let users = devbox_schema::validate_json(&all).unwrap();
    let policy = tailnet_policy(&users, None);
    check_isolation(&users, &policy, None);
    assert!(acl_reaches(&policy, "alice@example.org", &bob));
    assert!(!acl_reaches(
        &policy,
        "bob@example.org",
        &container_tags("carol")
    ));

    // A renamed orchestrator tag.
    let out = run_stdin(
        &[
            "tailnet-policy",
            "-",
            "--orchestrator-tag",
            "tag:devbox-host",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tag:devbox-host:22"));
}

#[test]
fn bad_input_prints_no_policy_and_says_what_to_fix() {
    let mut example = example_json();
    // bob's e-mail is alice's: alice's login would reach bob's containers.
    example["users"]["bob"]["email"] = json!("Alice@example.org");
    let out = run_stdin(
        &["tailnet-policy", "-"],
        &serde_json::to_vec(&example).unwrap(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("email-duplicate"), "{err}");
    assert!(err.contains("no policy printed"), "{err}");

    let out = run_stdin(
        &["tailnet-policy", "-", "--orchestrator-tag", "devbox"],
        &serde_json::to_vec(&example_json()).unwrap(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tag:devbox-orchestrator"));

    let out = run_stdin(&["tailnet-policy", "-"], b"not json");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

fn arb_users() -> impl Strategy<Value = (Vec<(String, bool)>, bool)> {
    (
        prop::collection::btree_map("[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,3})?", any::<bool>(), 1..7),
        any::<bool>(),
    )
        .prop_map(|(m, reach_all): (BTreeMap<String, bool>, bool)| {
            let mut v: Vec<(String, bool)> = m.into_iter().collect();
            // At least one admin, as the validator requires.
            v[0].1 = true;
            (v, reach_all)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_generated_user_set_lets_a_user_reach_another_users_containers(
        (users, reach_all) in arb_users()
    ) {
        let doc = users_json(&users, reach_all);
        // Names the validator refuses (reserved system names) are not user sets.
        let result = devbox_schema::validate_json(&doc);
        prop_assume!(result.is_ok());
        let valid = result.unwrap();
        let policy = tailnet_policy(&valid, Some(ORCHESTRATOR_TAG));
        check_isolation(&valid, &policy, Some(ORCHESTRATOR_TAG));
        check_format(&serde_json::to_value(&policy).unwrap());
    }
}
