//! Fair sharing under abuse (docs/security.md, "Bounds"): what one user can do to what the team
//! shares, each bound tried as the abuse it stops, against real Podman and real Unix users.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn podman_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = devbox_test_kit::host_program("podman")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A container that writes a terminal escape (set window title: ESC ] 2 ; x BEL) and an 8-bit
/// CSI to its log cannot drive the terminal of whoever reads `devbox-ctl logs`.
#[host_test]
fn a_container_cannot_send_escape_sequences_through_logs() {
    let _serial = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let (alice, admin) = (w.user(0), w.user(1));
    let name = w.name("esc");
    ok(w.ctl_as(alice, &["create", &name]));
    // What a service prints goes to the log (the entrypoint forwards it line by line), and
    // whoever is root in the container decides what its services are: replace code-server by
    // a script that prints the escape, and let the supervisor restart it.
    let script = "#!/bin/sh\nprintf 'before\\033]2;x\\007after \\302\\233 2J escape-test-end\\n'\nexec sleep 600\n";
    let o = podman_stdin(
        &[
            "exec",
            "-i",
            "--user",
            "0",
            &name,
            "sh",
            "-c",
            "rm -f /usr/bin/code-server && cat > /usr/bin/code-server && chmod 755 /usr/bin/code-server && kill $(pidof code-server)",
        ],
        script.as_bytes(),
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let logs = poll_until_logs(&w, admin, &name, "escape-test-end");
    assert!(
        !logs.contains(&0x1b),
        "raw ESC in: {}",
        String::from_utf8_lossy(&logs)
    );
    assert!(!logs.contains(&0x07), "raw BEL");
    let text = String::from_utf8_lossy(&logs);
    assert!(!text.contains('\u{9b}'), "raw C1 CSI in: {text}");
    assert!(text.contains(r"before\x1b]2;x\x07after"), "{text}");
    // --raw gives the exact bytes (for a file), on request only.
    let raw = w.ctl_as(admin, &["logs", &name, "--raw"]);
    assert!(raw.status.success());
    assert!(raw.stdout.windows(4).any(|b| b == b"\x1b]2;"));
}

fn poll_until_logs(w: &World, user: &TestUser, name: &str, marker: &str) -> Vec<u8> {
    let mut last = Vec::new();
    let found = devbox_test_kit::poll_until(std::time::Duration::from_secs(15), "log line", || {
        let o = w.ctl_as(user, &["logs", name]);
        assert!(o.status.success(), "{}", stderr(&o));
        last = o.stdout;
        String::from_utf8_lossy(&last)
            .contains(marker)
            .then_some(())
    });
    assert!(
        found.is_ok(),
        "no {marker:?} in the logs: {}",
        String::from_utf8_lossy(&last)
    );
    last
}

fn podman(args: &[&str]) -> std::process::Output {
    devbox_test_kit::host_program("podman")
        .args(args)
        .output()
        .unwrap()
}

fn inspect(name: &str) -> serde_json::Value {
    let o = podman(&["inspect", name]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()[0].clone()
}

/// A file of the container's pids cgroup (v1 hybrid here, v2 on NixOS).
fn pids_cgroup_file(name: &str, file: &str) -> String {
    let path = inspect(name)["State"]["CgroupPath"]
        .as_str()
        .unwrap()
        .to_string();
    for base in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
        if let Ok(text) = std::fs::read_to_string(format!("{base}{path}/{file}")) {
            return text;
        }
    }
    panic!("no pids cgroup file {file} for {name} ({path})");
}

/// users.nix sets maxCpu/maxMemory; devboxd refuses a request above them (devbox-schema
/// refuses users.nix defaults above them: tests/cases/invalid/*-default-above-max.nix).
#[host_test]
fn cpu_and_memory_above_the_admin_maximum_are_refused() {
    let _serial = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            default_memory: "512M".into(),
            extra_policy: serde_json::json!({"defaultCpu": 1, "maxCpu": 2, "maxMemory": "1G"}),
            ..Options::default()
        },
    );
    let alice = w.user(0);
    let name = w.name("max");
    let e = fails(w.ctl_as(alice, &["create", &name, "--cpu", "3"]), 2);
    assert!(
        e.contains("maximum of 2 CPUs") && e.contains("maxCpu"),
        "{e}"
    );
    let e = fails(w.ctl_as(alice, &["create", &name, "--memory", "2G"]), 2);
    assert!(
        e.contains("maximum of 1G") && e.contains("maxMemory"),
        "{e}"
    );
    assert!(w.podman_containers().is_empty() && w.podman_volumes().is_empty());
    // At the maximum: fine.
    ok(w.ctl_as(
        alice,
        &[
            "create",
            &name,
            "--cpu",
            "2",
            "--memory",
            "1G",
            "--no-start",
        ],
    ));
}

/// A fork bomb run by `dev` in one container stops at the pids limit; another user's container
/// keeps answering. Bounded: the bomb's container is destroyed at the end.
#[host_test]
fn a_fork_bomb_is_stopped_by_the_pids_limit_and_others_stay_responsive() {
    let _serial = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    const LIMIT: i64 = 256;
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            default_memory: "512M".into(),
            extra_config: serde_json::json!({"pidsLimit": LIMIT}),
            ..Options::default()
        },
    );
    let (alice, bob) = (w.user(0), w.user(1));
    let (bomb, calm) = (w.name("bomb"), w.name("calm"));
    ok(w.ctl_as(alice, &["create", &bomb, "--cpu", "1"]));
    ok(w.ctl_as(bob, &["create", &calm, "--cpu", "1"]));

    // The confinement is what devboxd chose, not Podman's defaults.
    let host = &inspect(&bomb)["HostConfig"];
    assert_eq!(host["PidsLimit"], LIMIT, "{host}");
    let caps: Vec<String> = serde_json::from_value(host["CapAdd"].clone()).unwrap_or_default();
    for c in ["CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SETFCAP"] {
        assert!(!caps
            .iter()
            .any(|x| x.eq_ignore_ascii_case(c) || format!("CAP_{x}") == c));
    }
    let o = podman(&[
        "exec",
        &bomb,
        "grep",
        "-E",
        "NoNewPrivs|CapBnd",
        "/proc/1/status",
    ]);
    let status = stdout(&o);
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // Bits 0 1 3 4 5 6 7 10 18: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
    // NET_BIND_SERVICE SYS_CHROOT, nothing else.
    assert!(status.contains("CapBnd:\t00000000000404fb"), "{status}");

    let o = podman(&[
        "exec",
        "-d",
        "--user",
        "dev",
        &bomb,
        "sh",
        "-c",
        "f() { f | f & }; f",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The kernel refuses forks at the limit (pids.events counts each refusal).
    let hit =
        devbox_test_kit::poll_until(std::time::Duration::from_secs(60), "pids limit hit", || {
            let events = pids_cgroup_file(&bomb, "pids.events");
            let refused: u64 = events
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            (refused > 0).then_some(refused)
        });
    assert!(hit.is_ok(), "the fork bomb never reached the limit");
    let current: i64 = pids_cgroup_file(&bomb, "pids.current")
        .trim()
        .parse()
        .unwrap();
    assert!(
        current <= LIMIT,
        "{current} processes in a container limited to {LIMIT}"
    );
    assert_eq!(
        pids_cgroup_file(&bomb, "pids.max").trim(),
        LIMIT.to_string()
    );

    // Meanwhile bob's container answers, through the daemon and directly.
    let t = std::time::Instant::now();
    let st = ok(w.ctl_as(bob, &["status", &calm]));
    assert!(st.contains("running"), "{st}");
    let o = podman(&["exec", &calm, "echo", "alive"]);
    assert_eq!(stdout(&o).trim(), "alive", "{}", stderr(&o));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "bob waited {:?}",
        t.elapsed()
    );
    // The owner can still get rid of it (ends the bomb).
    ok(w.ctl_as(alice, &["destroy", &bomb, "--yes"]));
    assert!(!w.podman_containers().contains(&bomb));
}

/// 1Password reads of the owner's key, from the fake `op`'s call log.
fn op_reads_of(w: &World, user: &str) -> usize {
    std::fs::read_to_string(&w.op_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("{user}-tailscale-authkey")))
        .count()
}

/// One user's rotate-key storm cannot use up the team's 1Password service account: it is
/// throttled per user (exit 9, "try again in N s"), the fake `op` sees at most the burst, and
/// another user's create goes through meanwhile.
#[host_test]
fn a_rotate_key_storm_is_throttled_and_others_still_create() {
    let _serial = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            default_memory: "512M".into(),
            extra_config: serde_json::json!({"opRateLimit": {
                "userBurst": 3, "userRefillSecs": 3600,
                "globalBurst": 50, "globalRefillSecs": 1, "cacheSecs": 60
            }}),
            ..Options::default()
        },
    );
    let (alice, bob) = (w.user(0), w.user(1));
    let name = w.name("storm");
    ok(w.ctl_as(alice, &["create", &name, "--cpu", "1"]));
    let mut done = 0;
    let mut refused = Vec::new();
    for _ in 0..15 {
        let o = w.ctl_as(alice, &["rotate-key", &name]);
        match o.status.code() {
            Some(0) => done += 1,
            Some(9) => refused.push(stderr(&o)),
            other => panic!("rotate-key exited {other:?}: {}", stderr(&o)),
        }
    }
    assert_eq!(done, 2, "the create took 1 of alice's 3 reads");
    assert_eq!(refused.len(), 13);
    assert!(
        refused.iter().all(|e| e.contains("try again in")
            && e.contains("1Password")
            && !e.contains("try again in 0 s")),
        "{refused:?}"
    );
    assert_eq!(
        op_reads_of(&w, &alice.name),
        3,
        "the bound in op's call log"
    );

    // Bob is not held up by alice's storm.
    let t = std::time::Instant::now();
    ok(w.ctl_as(bob, &["create", &w.name("calm"), "--cpu", "1"]));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(op_reads_of(&w, &bob.name), 1);

    // A start soon after a read reuses it (cached briefly in memory): alice's bucket is empty,
    // yet stop + start works without another call to op.
    ok(w.ctl_as(alice, &["stop", &name]));
    ok(w.ctl_as(alice, &["start", &name]));
    assert_eq!(op_reads_of(&w, &alice.name), 3);
    // --json carries the code for scripts.
    let o = w.ctl_as(alice, &["--json", "rotate-key", &name]);
    assert_eq!(o.status.code(), Some(9));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "rate-limited");
}

fn volume_label(volume: &str, label: &str) -> Option<String> {
    let o = podman(&["volume", "inspect", volume]);
    if !o.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["Labels"][label].as_str().map(str::to_string)
}

/// The tests of this file run one at a time: two of them check which user-namespace range
/// comes next (handed out machine-wide, lowest free first), which any other create would race.
static RANGES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn volume_of(name: &str) -> String {
    format!("devbox-home-{name}")
}

/// `create --no-start` + `destroy --keep-volume` in a loop cannot fill the disk and the
/// user-namespace ranges: it stops at maxKeptVolumesPerUser with a message naming the volumes
/// and how to remove them; `list` shows them with their size; `destroy NAME` removes one, and
/// its user-namespace range is the next one handed out.
#[host_test]
fn a_keep_volume_loop_stops_at_the_cap() {
    let _ranges = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options {
            extra_policy: serde_json::json!({"maxKeptVolumesPerUser": 2}),
            ..Options::default()
        },
    );
    let (alice, bob) = (w.user(0), w.user(1));
    let names: Vec<String> = (0..4).map(|i| w.name(&format!("keep{i}"))).collect();
    let mut kept = Vec::new();
    let mut refusal = None;
    for n in &names {
        let o = w.ctl_as(alice, &["create", n, "--no-start", "--another"]);
        if o.status.code() == Some(7) {
            refusal = Some(stderr(&o));
            break;
        }
        ok(o);
        ok(w.ctl_as(alice, &["destroy", n, "--keep-volume", "--yes"]));
        kept.push(n.clone());
    }
    assert_eq!(kept.len(), 2, "the loop stops at the cap");
    let e = refusal.expect("the third create is refused");
    assert!(
        e.contains("maxKeptVolumesPerUser")
            && e.contains(&kept[0])
            && e.contains(&kept[1])
            && e.contains(&format!("devbox-ctl destroy {} --yes", kept[0])),
        "{e}"
    );
    // Keeping one more through a destroy is refused the same way; the container stays.
    let extra = &names[3];
    ok(w.ctl_as(bob, &["create", extra, "--no-start"]));
    let admin = w.user(2);
    // (An admin destroying bob's container counts against bob's cap, not the admin's.)
    ok(w.ctl_as(admin, &["destroy", extra, "--keep-volume", "--yes"]));
    assert!(w.podman_volumes().contains(&volume_of(extra)));
    let third = &names[2];
    ok(w.ctl_as(alice, &["create", &kept[0], "--no-start", "--another"]));
    // Resuming kept[0] frees a place: a new home (third) may be made and kept, then keeping
    // kept[0] again is one too many.
    ok(w.ctl_as(alice, &["create", third, "--no-start", "--another"]));
    ok(w.ctl_as(alice, &["destroy", third, "--keep-volume", "--yes"]));
    let e = fails(
        w.ctl_as(alice, &["destroy", &kept[0], "--keep-volume", "--yes"]),
        7,
    );
    assert!(e.contains("maxKeptVolumesPerUser"), "{e}");
    assert!(
        w.podman_containers().contains(&kept[0]),
        "refused: nothing changed"
    );

    // list shows the kept volumes with their size; another user's are not shown.
    let list = ok(w.ctl_as(alice, &["list"]));
    assert!(list.contains("Kept home volumes"), "{list}");
    assert!(list.contains(&kept[1]) && list.contains(third), "{list}");
    assert!(!list.contains(extra.as_str()), "{list}");
    let line = list
        .lines()
        .find(|l| l.starts_with(kept[1].as_str()))
        .unwrap();
    assert!(
        line.contains('B') || line.contains('K'),
        "size shown: {line}"
    );

    // `destroy NAME` of a kept volume removes it for good (bob may not remove alice's).
    let e = fails(w.ctl_as(bob, &["destroy", &kept[1], "--yes"]), 4);
    assert!(e.contains("another user"), "{e}");
    let base = volume_label(&volume_of(&kept[1]), "devbox.uid-base").unwrap();
    ok(w.ctl_as(alice, &["destroy", &kept[1], "--yes"]));
    assert!(!w.podman_volumes().contains(&volume_of(&kept[1])));
    // The freed user-namespace range is handed out again (the lowest free one).
    let fresh = w.name("keepnew");
    ok(w.ctl_as(alice, &["create", &fresh, "--no-start", "--another"]));
    assert_eq!(
        volume_label(&volume_of(&fresh), "devbox.uid-base").as_deref(),
        Some(base.as_str())
    );
}

/// A kept volume follows the stopped-container rule: destroyed `stoppedDestroyDays` after it
/// was kept, warned first (notices, `gc --dry-run`), postponed by `keep`; its range is reused.
#[host_test]
fn a_kept_volume_expires_with_the_notice_first_and_its_range_is_reused() {
    let _ranges = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("now");
    let t0 = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 86_400).unwrap();
    let at = |hours: i64| {
        t0.checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap()
    };
    let set = |t: jiff::Timestamp| std::fs::write(&clock, t.to_string()).unwrap();
    set(t0);
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "testHooks": true, "testClockFile": clock, "reconcileIntervalSecs": 3600,
            }),
            ..Options::default()
        },
    );
    let (alice, admin) = (w.user(0), w.user(1));
    let name = w.name("exp");
    let volume = volume_of(&name);
    ok(w.ctl_as(alice, &["create", &name, "--no-start"]));
    let base = volume_label(&volume, "devbox.uid-base").unwrap();
    ok(w.ctl_as(alice, &["destroy", &name, "--keep-volume", "--yes"]));

    let plan: devbox_api::LifecyclePlan =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "gc", "--dry-run"]))).unwrap();
    assert_eq!(plan.kept_volumes.len(), 1, "{plan:?}");
    let item = &plan.kept_volumes[0];
    assert_eq!(item.state, "kept-volume");
    let destroy_at = at(14 * 24);
    assert_eq!(item.next.as_ref().unwrap().at, destroy_at.to_string());
    assert_eq!(item.notices.len(), 2, "72 h and 24 h before");

    // `keep` postpones: the clock starts again (here at +1 h).
    set(at(1));
    let kept: devbox_api::PlanItem =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "keep", &name]))).unwrap();
    let destroy_at = at(14 * 24 + 1);
    assert_eq!(kept.next.unwrap().at, destroy_at.to_string());

    // 72 h before: the warning, and the volume is still there.
    set(at(14 * 24 + 1 - 72));
    ok(w.ctl_as(admin, &["gc"]));
    let notices: Vec<devbox_api::Notice> =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "notices"]))).unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].kind, devbox_api::NoticeKind::DestroyWarning);
    assert!(
        notices[0].message.contains("kept home volume"),
        "{notices:?}"
    );
    assert_eq!(
        notices[0].deadline.as_deref(),
        Some(destroy_at.to_string().as_str())
    );
    assert!(w.podman_volumes().contains(&volume));

    // At the deadline: destroyed, and said so.
    set(destroy_at);
    ok(w.ctl_as(admin, &["gc"]));
    assert!(!w.podman_volumes().contains(&volume));
    let notices: Vec<devbox_api::Notice> =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "notices"]))).unwrap();
    assert!(
        notices
            .iter()
            .any(|n| n.kind == devbox_api::NoticeKind::Destroyed && n.message.contains(&volume)),
        "{notices:?}"
    );
    // Its user-namespace range is free again: the next home volume gets it.
    let next = w.name("exp2");
    ok(w.ctl_as(alice, &["create", &next, "--no-start"]));
    assert_eq!(
        volume_label(&volume_of(&next), "devbox.uid-base").as_deref(),
        Some(base.as_str())
    );
}

/// A local HTTP receiver: the body of each POST, in order.
fn webhook_sink() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hook/SECRET-PATH-CANARY",
        listener.local_addr().unwrap()
    );
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = bodies.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut len) = (String::new(), 0usize);
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_ok() {
                b.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).to_string());
            }
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (url, bodies)
}

/// The webhook URL named in users.nix by its 1Password reference: read through `op` (never in
/// users.json), the notices of kept volumes reach it, and it never shows in the daemon's log.
#[host_test]
fn the_webhook_url_comes_from_1password_and_kept_volume_notices_reach_it() {
    let _serial = RANGES.lock().unwrap_or_else(|e| e.into_inner());
    let (url, bodies) = webhook_sink();
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("now");
    let t0 = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 86_400).unwrap();
    std::fs::write(&clock, t0.to_string()).unwrap();
    let reference = "op://DevBox/devbox-webhook/url";
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({
                "testHooks": true, "testClockFile": clock, "reconcileIntervalSecs": 3600,
            }),
            extra_policy: serde_json::json!({"notifyWebhook": reference}),
            extra_items: vec![(reference.to_string(), url.clone())],
            ..Options::default()
        },
    );
    let (alice, admin) = (w.user(0), w.user(1));
    let name = w.name("hook");
    ok(w.ctl_as(alice, &["create", &name, "--no-start"]));
    ok(w.ctl_as(alice, &["destroy", &name, "--keep-volume", "--yes"]));
    let warn_at = t0
        .checked_add(jiff::SignedDuration::from_hours(14 * 24 - 24))
        .unwrap();
    std::fs::write(&clock, warn_at.to_string()).unwrap();
    ok(w.ctl_as(admin, &["gc"]));
    devbox_test_kit::poll_until(std::time::Duration::from_secs(15), "webhook", || {
        (!bodies.lock().unwrap().is_empty()).then_some(())
    })
    .unwrap();
    let body: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(body["kind"], "destroy-warning");
    assert_eq!(body["container"], name.as_str());
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("kept home volume"));
    let users_json = std::fs::read_to_string(w.dir.path().join("users.json")).unwrap();
    assert!(!users_json.contains("SECRET-PATH-CANARY"));
    assert!(
        !w.daemon_log().contains("SECRET-PATH-CANARY"),
        "the webhook URL in the daemon's log"
    );
}
