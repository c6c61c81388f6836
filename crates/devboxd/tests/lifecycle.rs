//! The whole lifecycle against real Podman with the testbed image (real devbox-entrypoint, fake
//! tailnet) and real Unix users: create, list, status, stop, start, rotate-key, logs, destroy,
//! kept volumes, resource limits, a slow first start (kept), doctor's 1Password checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use devbox_api::{ContainerInfo, ContainerStatus};

fn inspect(name: &str) -> serde_json::Value {
    let out = devbox_test_kit::host_program("podman")
        .args(["inspect", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

#[host_test]
fn create_list_status_stop_start_destroy() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let alice = w.user(0);
    let name = w.name("life");

    let out = ok(w.ctl_as(alice, &["--json", "create", &name]));
    let st: ContainerStatus = serde_json::from_str(&out).unwrap();
    assert_eq!(st.container.name, name);
    assert_eq!(st.container.owner, alice.name);
    assert_eq!(st.container.state, "running");
    let ep = st.entrypoint.expect("entrypoint status");
    assert!(ep.ready, "{ep:?}");
    assert_eq!(st.connect.ssh, format!("ssh dev@{name}"));

    // What Podman made: defaults 2 CPU / 4 GB, labels, hostname, mounts, no ports, userns.
    let i = inspect(&name);
    assert_eq!(i["HostConfig"]["NanoCpus"], 2_000_000_000i64);
    assert_eq!(i["HostConfig"]["Memory"], 4i64 << 30);
    assert_eq!(i["Config"]["Hostname"], name.as_str());
    let labels = &i["Config"]["Labels"];
    assert_eq!(labels["devbox.managed"], "true");
    assert_eq!(labels["devbox.owner"], alice.name.as_str());
    assert_eq!(labels["devbox.name"], name.as_str());
    assert!(labels["devbox.created-at"].as_str().unwrap().contains('T'));
    assert!(labels["devbox.options"]
        .as_str()
        .unwrap()
        .contains("\"cpu\":2"));
    let env: Vec<String> = serde_json::from_value(i["Config"]["Env"].clone()).unwrap();
    assert!(env.contains(&format!("DEVBOX_HOSTNAME={name}")), "{env:?}");
    assert!(env.contains(&format!("DEVBOX_OWNER={}", alice.name)));
    assert!(env.contains(&format!(
        "DEVBOX_TAGS=tag:devcontainer,tag:{}-container",
        alice.name
    )));
    assert!(env.contains(&"DEVBOX_SYNCTHING=false".to_string()));
    let ports = i["HostConfig"]["PortBindings"]
        .as_object()
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(ports, 0, "no published ports");
    let mounts = i["Mounts"].as_array().unwrap();
    assert!(
        mounts.iter().any(|m| m["Destination"] == "/home/dev"
            && m["Name"] == format!("devbox-home-{name}").as_str()),
        "{mounts:?}"
    );
    let userns = i["HostConfig"]["UsernsMode"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Container root is not host root: the container's uid 0 maps to an unprivileged range.
    let uid_map = devbox_test_kit::host_program("podman")
        .args(["exec", &name, "cat", "/proc/self/uid_map"])
        .output()
        .unwrap();
    let map = String::from_utf8_lossy(&uid_map.stdout).to_string();
    let host_start: u64 = map.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(host_start > 0, "userns {userns:?}, uid_map {map}");

    // The key went to the container's tmpfs only (0400) and is deleted once `tailscale up`
    // has used it: tailscaled keeps the login in its own state.
    let perm = devbox_test_kit::host_program("podman")
        .args([
            "exec",
            &name,
            "sh",
            "-c",
            "stat -c %a /run/devbox/tailscale-authkey 2>/dev/null || echo gone",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&perm.stdout).trim(), "gone");

    let list: Vec<ContainerInfo> =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "list"]))).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, name);
    let human = ok(w.ctl_as(alice, &["list"]));
    assert!(
        human.contains(&name) && human.contains("running"),
        "{human}"
    );

    let st: ContainerStatus =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "status", &name]))).unwrap();
    assert!(st.entrypoint.unwrap().ready);
    let human = ok(w.ctl_as(alice, &["status", &name]));
    assert!(human.contains(&format!("ssh dev@{name}")), "{human}");

    // The node is in the (fake) tailnet under the container's name.
    let control = devbox_test_kit::host_program("podman")
        .args(["exec", &name, "cat", "/var/lib/fake-tailscale/control.json"])
        .output()
        .unwrap();
    let control: serde_json::Value = serde_json::from_slice(&control.stdout).unwrap();
    assert!(
        control["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["hostname"] == name.as_str()),
        "{control}"
    );

    // Stop keeps the container and the volume; the state file records the intent.
    let stopped = std::time::Instant::now();
    ok(w.ctl_as(alice, &["stop", &name]));
    let stop_secs = stopped.elapsed().as_secs_f64();
    assert_eq!(inspect(&name)["State"]["Running"], false);
    let state = std::fs::read_to_string(w.state_dir.join("state.json")).unwrap();
    assert!(state.contains("\"desired\": \"stopped\""), "{state}");
    // Stop logged the node out of the (fake) tailnet: the ephemeral device is gone at once.
    let control = devbox_test_kit::host_program("podman")
        .args([
            "cp",
            &format!("{name}:/var/lib/fake-tailscale/control.json"),
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        control.status.success(),
        "{}",
        String::from_utf8_lossy(&control.stderr)
    );
    let tar = String::from_utf8_lossy(&control.stdout).to_string();
    assert!(tar.contains("\"devices\""), "{tar}");
    assert!(
        !tar.contains(&format!("\"hostname\":\"{name}\""))
            && !tar.contains(&format!("\"hostname\": \"{name}\"")),
        "device left after stop: {tar}"
    );
    let argv = devbox_test_kit::host_program("podman")
        .args([
            "cp",
            &format!("{name}:{}", devbox_test_kit::fakes::DEFAULT_ARGV_LOG),
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&argv.stdout).contains("\"logout\""),
        "no `tailscale logout` recorded"
    );
    println!("stop took {stop_secs:.2}s");

    // Data on the volume survives stop/start.
    let started = std::time::Instant::now();
    let st: ContainerStatus =
        serde_json::from_str(&ok(w.ctl_as(alice, &["--json", "start", &name]))).unwrap();
    println!("start took {:.2}s", started.elapsed().as_secs_f64());
    assert_eq!(st.container.state, "running");
    assert!(st.entrypoint.unwrap().ready);

    // rotate-key delivers the current key again.
    ok(w.ctl_as(alice, &["rotate-key", &name, "--now"]));

    let logs = ok(w.ctl_as(alice, &["logs", &name, "--tail", "50"]));
    assert!(!logs.is_empty());

    // logs -f keeps streaming: it delivers the history and new lines (a re-auth logs some), and
    // stays open until interrupted.
    let mut follow = devbox_test_kit::host_program("runuser")
        .args(["-u", &alice.name, "--"])
        .arg(&w.ctl)
        .arg("--socket")
        .arg(&w.socket)
        .args(["logs", "-f", "--tail", "1", &name])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a first log line");
    ok(w.ctl_as(alice, &["rotate-key", &name, "--now"]));
    let later = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a new log line while following");
    assert_ne!(first, later);
    assert!(
        follow.try_wait().unwrap().is_none(),
        "logs -f ended by itself"
    );
    // SIGTERM: runuser passes it on to devbox-ctl (SIGKILL would orphan it).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(follow.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    follow.wait().unwrap();

    // A mistyped name is not found, and the CLI suggests the caller's closest name.
    let e = fails(w.ctl_as(alice, &["status", &format!("{name}x")]), 5);
    assert!(e.contains(&format!("did you mean `{name}`?")), "{e}");

    // Destroy without --yes off a TTY refuses and changes nothing.
    let e = fails(w.ctl_as(alice, &["destroy", &name]), 2);
    assert!(e.contains("--yes") && !e.contains("exit 2"), "{e}");
    assert_eq!(w.podman_containers(), vec![name.clone()]);

    ok(w.ctl_as(alice, &["destroy", &name, "--yes"]));
    assert!(w.podman_containers().is_empty());
    assert!(w.podman_volumes().is_empty());
    let e = fails(w.ctl_as(alice, &["status", &name]), 5);
    assert!(e.contains("no dev container"), "{e}");
    let log = w.daemon_log();
    for action in ["create", "stop", "start", "rotate-key", "destroy"] {
        assert!(
            log.contains(&format!("action=\"{action}\""))
                || log.contains(&format!("action={action}")),
            "audit line for {action} missing:\n{log}"
        );
    }
}

#[host_test]
fn memory_limit_is_enforced_by_the_kernel() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let name = w.name("mem");
    ok(w.ctl_as(
        w.user(0),
        &["create", &name, "--cpu", "1", "--memory", "256M"],
    ));
    let i = inspect(&name);
    assert_eq!(i["HostConfig"]["NanoCpus"], 1_000_000_000i64);
    assert_eq!(i["HostConfig"]["Memory"], 256i64 << 20);
    // Within the limit: fine. Beyond it: the kernel's OOM killer ends the process.
    let small = devbox_test_kit::host_program("podman")
        .args([
            "exec",
            &name,
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=64M",
            "count=1",
        ])
        .output()
        .unwrap();
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    let big = devbox_test_kit::host_program("podman")
        .args([
            "exec",
            &name,
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=512M",
            "count=1",
        ])
        .output()
        .unwrap();
    assert!(
        !big.status.success(),
        "a 512M buffer fit in a 256M container"
    );
    println!(
        "over-limit dd: {:?} {}",
        big.status.code(),
        String::from_utf8_lossy(&big.stderr)
    );
    // The container (and its entrypoint) survive a process being killed.
    let st: ContainerStatus =
        serde_json::from_str(&ok(w.ctl_as(w.user(0), &["--json", "status", &name]))).unwrap();
    assert_eq!(st.container.state, "running");
}

#[host_test]
fn kept_volume_resumes_data_and_syncthing_identity() {
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    );
    let (alice, bob) = (w.user(0), w.user(1));
    let name = w.name("keep");
    let st: ContainerStatus = serde_json::from_str(&ok(
        w.ctl_as(alice, &["--json", "create", &name, "--with-syncthing"])
    ))
    .unwrap();
    let device = st
        .connect
        .syncthing_device_id
        .clone()
        .expect("syncthing device id");
    assert!(st.container.syncthing);
    let out = devbox_test_kit::host_program("podman")
        .args([
            "exec",
            "--user",
            "dev",
            &name,
            "sh",
            "-c",
            "echo precious > /home/dev/work.txt",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = ok(w.ctl_as(alice, &["destroy", &name, "--yes", "--keep-volume"]));
    assert!(out.contains("kept volume"), "{out}");
    assert!(w.podman_containers().is_empty());
    assert_eq!(w.podman_volumes(), vec![format!("devbox-home-{name}")]);

    // Someone else cannot adopt the kept volume by taking the name.
    let e = fails(w.ctl_as(bob, &["create", &name]), 6);
    assert!(e.contains("not your kept devbox home"), "{e}");
    assert!(w.podman_containers().is_empty());

    // The owner re-creates with the same name: data and Syncthing identity are back.
    let st: ContainerStatus = serde_json::from_str(&ok(
        w.ctl_as(alice, &["--json", "create", &name, "--with-syncthing"])
    ))
    .unwrap();
    assert_eq!(
        st.connect.syncthing_device_id.as_deref(),
        Some(device.as_str())
    );
    let out = devbox_test_kit::host_program("podman")
        .args(["exec", &name, "cat", "/home/dev/work.txt"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "precious");
    ok(w.ctl_as(alice, &["destroy", &name, "--yes"]));
    assert!(w.podman_volumes().is_empty());
}

#[host_test]
fn restarted_daemon_brings_desired_running_containers_back() {
    let mut w = World::new(&[("a", false), ("m", true)], Options::default());
    let up = w.name("up");
    let down = w.name("down");
    ok(w.ctl_as(w.user(0), &["create", &up]));
    ok(w.ctl_as(w.user(0), &["create", &down, "--another"]));
    ok(w.ctl_as(w.user(0), &["stop", &down]));
    // A host reboot: the daemon goes away and every container stops.
    w.stop_daemon();
    let out = devbox_test_kit::host_program("podman")
        .args(["stop", "-t", "2", &up])
        .output()
        .unwrap();
    assert!(out.status.success());
    w.restart_daemon();
    devbox_test_kit::poll_until(
        std::time::Duration::from_secs(30),
        "reconciled container ready",
        || {
            let o = w.ctl_as(w.user(0), &["--json", "status", &up]);
            let st: ContainerStatus = serde_json::from_slice(&o.stdout).ok()?;
            st.entrypoint.filter(|e| e.ready).map(|_| ())
        },
    )
    .unwrap();
    // The one the user stopped stays stopped.
    assert_eq!(inspect(&down)["State"]["Running"], false);
}

#[host_test]
fn doctor_reports_all_good_and_completions_and_man_page_render() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let out = ok(w.ctl_as(w.user(0), &["doctor"]));
    for check in ["daemon", "podman", "image", "network", "1password", "state"] {
        assert!(out.contains(&format!("ok   {check}")), "{out}");
    }
    let bash = ok(w.ctl_as(w.user(0), &["completions", "bash"]));
    assert!(
        bash.contains("devbox-ctl") && bash.contains("rotate-key"),
        "{bash}"
    );
    let man = ok(w.ctl_as(w.user(0), &["man"]));
    assert!(man.contains(".TH") && man.contains("Exit codes"), "{man}");
}

/// The owner's users.nix identity configures git in their container: the entrypoint writes it
/// (root's file on the tmpfs) from what devboxd passes, and the image's system gitconfig
/// includes it; nothing on the shared volume.
#[host_test]
fn the_owners_git_identity_configures_git_in_the_container() {
    let w = World::new(&[("a", false), ("m", true)], Options::default());
    let a = w.user(0);
    let name = w.name("git");
    ok(w.ctl_as(a, &["create", &name]));
    let exec = |args: &[&str]| {
        let o = devbox_test_kit::host_program("podman")
            .arg("exec")
            .arg(&name)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", both(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let text = exec(&["cat", "/run/devbox/gitconfig"]);
    assert_eq!(
        exec(&["stat", "-c", "%u %a", "/run/devbox/gitconfig"]),
        "0 644"
    );
    // Read back by real git.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gitconfig");
    std::fs::write(&file, &text).unwrap();
    let get = |key: &str| {
        let o = devbox_test_kit::host_program("git")
            .args(["config", "--file"])
            .arg(&file)
            .args(["--get", key])
            .output()
            .unwrap();
        assert!(o.status.success(), "{key}: {text}");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(get("user.name"), "Test User 0");
    assert_eq!(get("user.email"), format!("{}@example.org", a.name));
    assert_eq!(get("github.user"), a.name);
    // Nothing was put on the home volume for it.
    let home = exec(&["ls", "-a", "/home/dev"]);
    assert!(!home.contains(".gitconfig"), "{home}");
}

#[host_test]
fn a_slow_first_start_is_kept_running_and_says_what_is_pending() {
    // A control plane that answers logins after 20 s (a slow link), shared with the container.
    let tailnet = tempfile::tempdir().unwrap();
    devbox_test_kit::fake_tailscale::Control::at(tailnet.path().join("control.json"))
        .set_login_delay(20_000)
        .unwrap();
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            ready_timeout_secs: 3,
            extra_config: serde_json::json!({
                "testHooks": true,
                "userns": "",
                "testBindMounts": [format!("{}:/var/lib/fake-tailscale", tailnet.path().display())],
            }),
            ..Options::default()
        },
    );
    let a = w.user(0);
    let name = w.name("slow");
    let out = w.ctl_as(a, &["create", &name]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("keeps starting in the background")
            && err.contains("still pending: tailnet login")
            && err.contains(&format!("`devbox-ctl logs -f {name}`")),
        "{err}"
    );
    assert!(stdout(&out).contains("not ready"), "{}", stdout(&out));
    // Kept: nothing rolled back, the user has nothing to redo.
    assert_eq!(w.podman_containers(), vec![name.clone()]);
    let status = ok(w.ctl_as(a, &["status", &name]));
    assert!(
        status.contains("phase:") && status.contains(&format!("devbox-ctl logs -f {name}")),
        "{status}"
    );
    let list = ok(w.ctl_as(a, &["--json", "list"]));
    assert!(list.contains("\"desired\": \"running\""), "{list}");
    // It gets ready by itself once the login answers.
    devbox_test_kit::poll_until(std::time::Duration::from_secs(90), "ready later", || {
        let o = w.ctl_as(a, &["--json", "status", &name]);
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        (s["entrypoint"]["ready"] == serde_json::Value::Bool(true)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", w.daemon_log()));
}

/// `doctor` proves the service-account token works and that the caller's item exists and is
/// readable, never printing the key; each failure names its fix.
#[host_test]
fn doctor_proves_the_token_and_the_callers_item_and_names_each_fix() {
    let w = World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    );
    let store_path = w.dir.path().join("op-store.json");
    let store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();

    // All good: the token is accepted (as the service account) and the item read, not shown.
    let out = ok(w.ctl_as(w.user(0), &["doctor"]));
    assert!(
        out.contains("ok   1password") && out.contains("SERVICE_ACCOUNT"),
        "{out}"
    );
    assert!(
        out.contains("ok   your-key")
            && out.contains(&format!("{}-tailscale-authkey", w.user(0).name)),
        "{out}"
    );
    assert!(!out.contains(w.key_of(&w.user(0).name)), "{out}");
    let op_log = std::fs::read_to_string(&w.op_log).unwrap();
    assert!(op_log.contains("\"--me\""), "{op_log}");
    // root has no item of its own: only the token is checked.
    let root = both(&w.ctl_root(&["doctor"]));
    assert!(
        root.contains("ok   1password") && !root.contains("your-key"),
        "{root}"
    );

    // The caller's item is missing: the token still works; the fix says what to create.
    let mut s = store.clone();
    s["items"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.contains(&format!("/{}-tailscale-authkey/", w.user(1).name)));
    std::fs::write(&store_path, s.to_string()).unwrap();
    let o = w.ctl_as(w.user(1), &["doctor"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(8), "{}", both(&o));
    assert!(out.contains("ok   1password"), "{out}");
    assert!(
        out.contains("FAIL your-key")
            && out.contains("isn't an item")
            && out.contains(&format!("`{}-tailscale-authkey`", w.user(1).name))
            && out.contains("--auth-key-stdin"),
        "{out}"
    );

    // A wrong (revoked, expired) token: found by doctor, not at the next create.
    let mut s = store.clone();
    s["token"] = "ops_SOMETHING_ELSE".into();
    std::fs::write(&store_path, s.to_string()).unwrap();
    let o = w.ctl_as(w.user(2), &["doctor"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(8), "{}", both(&o));
    assert!(
        out.contains("FAIL 1password")
            && out.contains("invalid service account token")
            && out.contains("new service-account token"),
        "{out}"
    );
    assert!(
        !out.contains("your-key"),
        "no item check without a working token: {out}"
    );
    let token =
        std::fs::read_to_string(w.dir.path().join("creds/op-service-account-token")).unwrap();
    assert!(!out.contains(token.trim()));
    std::fs::write(&store_path, store.to_string()).unwrap();
}
