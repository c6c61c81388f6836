//! devbox-ctl's behaviour that needs no daemon: usage errors, exit codes, `--json` errors, help,
//! man page and completions. (Everything that talks to devboxd is tested against a real daemon
//! and real Podman in crates/devboxd/tests.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

/// Runs devbox-ctl on a real pseudo-terminal (`script`), waits until the prompt is shown, then
/// types `input` (a Ctrl-C is the byte 0x03, turned into SIGINT by the terminal).
fn on_a_terminal(args: &[&str], input: &[u8]) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(format!("devbox-ctl-cli-test-{}", std::process::id()));
    let line = format!(
        "{} --socket {} {}",
        env!("CARGO_BIN_EXE_devbox-ctl"),
        dir.join("no-such.sock").display(),
        args.join(" ")
    );
    let mut child = devbox_test_kit::host_program("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("DEVBOX_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) is needed for the terminal tests");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains("to confirm:") {
        assert!(Instant::now() < deadline, "no prompt: {}", text(&seen));
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.extend(chunk);
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("devbox-ctl did not finish: {}", text(&seen));
        }
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.extend(chunk);
        }
    };
    drop(stdin);
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.extend(chunk);
    }
    (status.code(), text(&seen))
}

#[test]
fn the_destroy_prompt_on_a_terminal_wants_the_exact_name_and_ctrl_c_ends_it() {
    // A wrong name: nothing is destroyed, exit 6, and the message says why.
    let (code, out) = on_a_terminal(&["destroy", "alice-dev"], b"alice\n");
    assert_eq!(code, Some(6), "{out}");
    assert!(
        out.contains(r#"not destroyed: you typed "alice", not "alice-dev""#),
        "{out}"
    );
    // Ctrl-C at the prompt ends the program at once (130), destroying nothing.
    let (code, out) = on_a_terminal(&["destroy", "alice-dev"], b"\x03");
    assert_eq!(code, Some(130), "{out}");
    assert!(!out.contains("cannot reach"), "{out}");
    // The exact name confirms: only then is the daemon asked (here: unreachable, exit 3).
    let (code, out) = on_a_terminal(&["destroy", "alice-dev", "--keep-volume"], b"alice-dev\n");
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("the home volume is kept") && out.contains("cannot reach devboxd"),
        "{out}"
    );
}

#[test]
fn a_closed_or_full_stdout_never_makes_it_panic() {
    for args in [vec!["completions", "bash"], vec!["man"], vec!["--help"]] {
        // The reader goes away at once (`devbox-ctl man | head -0`).
        let mut child = Command::new(env!("CARGO_BIN_EXE_devbox-ctl"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let e = text(&o.stderr);
        assert!(!e.contains("panicked"), "{args:?}: {e}");
        assert!(matches!(o.status.code(), Some(0 | 141)), "{args:?}: {o:?}");
        // A stdout that cannot take the text: a message and exit 1, not a panic.
        if args[0] != "--help" {
            let full = std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let o = Command::new(env!("CARGO_BIN_EXE_devbox-ctl"))
                .args(&args)
                .stdout(full)
                .output()
                .unwrap();
            let e = text(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
            assert!(
                e.contains("cannot write to stdout") && !e.contains("panicked"),
                "{e}"
            );
        }
    }
}
