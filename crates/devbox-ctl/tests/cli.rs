//! devbox-ctl's behaviour that needs no daemon: usage errors, exit codes, `--json` errors, help,
//! man page and completions. (Everything that talks to devboxd is tested against a real daemon
//! and real Podman in crates/devboxd/tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};

fn ctl(args: &[&str]) -> Output {
    // A socket path that cannot exist, so nothing here can reach a real daemon by accident.
    let dir = std::env::temp_dir().join(format!("devbox-ctl-cli-test-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_devbox-ctl"))
        .env_remove("DEVBOX_SOCKET")
        .arg("--socket")
        .arg(dir.join("no-such.sock"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn an_unreachable_daemon_exits_3_and_says_what_to_check_once() {
    let o = ctl(&["list"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let e = text(&o.stderr);
    assert!(
        e.starts_with("devbox-ctl: cannot reach devboxd") && e.contains("socket group"),
        "{e}"
    );
    assert_eq!(
        e.matches("No such file or directory").count(),
        1,
        "the OS error is not repeated: {e}"
    );
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
}

#[test]
fn json_errors_are_one_json_object_on_stdout_with_code_and_exit_code() {
    let o = ctl(&["--json", "status", "alice-dev"]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "daemon-unreachable");
    assert_eq!(v["error"]["exitCode"], 3);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot reach devboxd"));

    // An error the CLI finds itself has a code too (never null).
    let o = ctl(&["--json", "destroy", "alice-dev"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "bad-request");
    assert_eq!(v["error"]["exitCode"], 2);
}

#[test]
fn destroy_without_yes_off_a_terminal_exits_2_before_contacting_the_daemon() {
    let o = ctl(&["destroy", "alice-dev"]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("pass --yes to confirm"), "{e}");
    assert!(
        !e.contains("exit 2"),
        "the exit code is not part of the message: {e}"
    );
    assert!(
        !e.contains("cannot reach"),
        "refused before any daemon call: {e}"
    );
}

#[test]
fn bad_input_exits_2_with_what_to_use_instead() {
    for (args, hint) in [
        (vec!["create", "alice-dev", "--memory", "lots"], "4G"),
        (vec!["create", "alice-dev", "--memory", "64M"], "128M"),
        (vec!["create", "alice-dev", "--cpu", "0"], "above 0"),
        (vec!["create", "Alice", "--cpu", "2"], "lowercase"),
        (vec!["status", "dev-"], "hyphen"),
        (vec!["logs", "1234"], "add a letter"),
        (vec!["statsu", "alice-dev"], "status"),
    ] {
        let o = ctl(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let e = text(&o.stderr);
        assert!(e.contains(hint), "{args:?}: {e}");
        assert!(
            !e.contains("cannot reach"),
            "{args:?} reached for the daemon: {e}"
        );
    }
}

#[test]
fn help_lists_exit_codes_and_how_to_start_and_every_name_is_explained() {
    let o = ctl(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = text(&o.stdout);
    assert!(
        h.contains("Exit codes:") && h.contains("devbox-ctl create"),
        "{h}"
    );
    for code in 0..=8 {
        assert!(
            h.contains(&format!("\n  {code}  ")),
            "exit code {code} missing: {h}"
        );
    }
    for cmd in [
        "start",
        "stop",
        "destroy",
        "status",
        "logs",
        "keep",
        "rotate-key",
    ] {
        let o = ctl(&[cmd, "--help"]);
        let h = text(&o.stdout);
        assert!(
            h.contains("devbox-ctl list"),
            "{cmd} --help does not explain NAME: {h}"
        );
    }
}

#[test]
fn man_page_and_completions_render() {
    let o = ctl(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let man = text(&o.stdout);
    assert!(man.contains(".TH") && man.contains("Exit codes"), "{man}");
    for shell in ["bash", "zsh", "fish"] {
        let o = ctl(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0));
        let c = text(&o.stdout);
        assert!(
            c.contains("rotate-key") && c.contains("with-syncthing"),
            "{shell}: {c}"
        );
    }
    // Neither needs the daemon, so neither prints a notice or an error.
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
}

#[test]
fn doctor_json_is_one_document_even_when_the_daemon_is_down() {
    let o = ctl(&["--json", "doctor"]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checks"][0]["name"], "daemon");
    assert_eq!(v["checks"][0]["ok"], false);
    let o = ctl(&["doctor"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o.stdout).starts_with("FAIL daemon: cannot reach devboxd"));
}
