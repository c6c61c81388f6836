//! One scenario, run against both engines: the test kit's FAKE engine (a plain test) and real
//! Podman through its API socket (`#[host_test]`). Both must write the same transcript: that is
//! what proves the fake behaves like Podman where devboxd relies on it (name conflicts, exact
//! lookups, full IDs, labels round-trip, states, removal rules of containers, volumes and
//! networks in use, exec only in a running container, exec exit codes and output).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use devbox_test_kit::fake_engine::FakeEngine;
use devboxd::engine::{ContainerSpec, Engine, EngineError, ExecOutput};

fn kind<T>(r: &Result<T, EngineError>) -> &'static str {
    match r {
        Ok(_) => "Ok",
        Err(EngineError::NotFound(_)) => "NotFound",
        Err(EngineError::Conflict(_)) => "Conflict",
        Err(EngineError::Failed(_)) => "Failed",
        Err(EngineError::Unavailable(_)) => "Unavailable",
    }
}

fn spec(name: &str, image: &str, tag: &str, volume: &str, network: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: image.into(),
        hostname: "contract".into(),
        env: vec![("CONTRACT".into(), "1".into())],
        labels: BTreeMap::from([
            ("devbox.contract".into(), tag.into()),
            ("devbox.name".into(), name.into()),
        ]),
        nano_cpus: 1_000_000_000,
        memory_bytes: 256 << 20,
        volume: volume.into(),
        home_path: "/home/dev".into(),
        tmpfs: vec![],
        userns: None,
        binds: vec![],
        confinement: Default::default(),
        network: Some(network.into()),
    }
}

const EXIT_3: &[&str] = &["/bin/sh", "-c", "exit 3"];
const OUTPUT: &[&str] = &["/bin/sh", "-c", "echo out; echo err >&2"];

/// The scenario. `tag` makes every name unique; the answer is the transcript.
async fn scenario<E: Engine>(e: &E, image: &str, tag: &str) -> Vec<String> {
    let mut t = Vec::new();
    let (c1, c2) = (format!("{tag}-c1"), format!("{tag}-c2"));
    let (vol, vol2, vol3) = (
        format!("{tag}-vol"),
        format!("{tag}-vol2"),
        format!("{tag}-vol3"),
    );
    let net = format!("{tag}-net");
    let labels = BTreeMap::from([("devbox.contract".to_string(), tag.to_string())]);
    let quick = Duration::from_secs(30);

    t.push(format!(
        "find before create: {:?}",
        e.find(&c1).await.unwrap()
    ));
    t.push(format!(
        "network: {}",
        kind(&e.create_network(&net, &labels).await)
    ));
    t.push(format!(
        "network again: {}",
        kind(&e.create_network(&net, &labels).await)
    ));
    let first = BTreeMap::from([
        ("devbox.contract".into(), tag.into()),
        ("v".into(), "1".into()),
    ]);
    let second = BTreeMap::from([
        ("devbox.contract".into(), tag.into()),
        ("v".into(), "2".into()),
    ]);
    t.push(format!(
        "volume: {}",
        kind(&e.create_volume(&vol, &first).await)
    ));
    t.push(format!(
        "volume again: {}",
        kind(&e.create_volume(&vol, &second).await)
    ));
    let v = e.volume(&vol).await.unwrap().unwrap();
    t.push(format!("volume labels kept: {:?}", v.labels().get("v")));
    t.push(format!(
        "volume by prefix: {:?}",
        e.volume(&vol[..vol.len() - 1]).await.unwrap()
    ));

    let id1 = e.create(&spec(&c1, image, tag, &vol, &net)).await.unwrap();
    let full = id1.as_str().len() == 64 && id1.as_str().bytes().all(|b| b.is_ascii_hexdigit());
    t.push(format!("full id: {full}"));
    t.push(format!(
        "same name: {}",
        kind(&e.create(&spec(&c1, image, tag, &vol, &net)).await)
    ));
    let no_image = spec(
        &format!("{tag}-x"),
        "localhost/devbox-no-such-image:0",
        tag,
        &vol,
        &net,
    );
    t.push(format!("no image: {}", kind(&e.create(&no_image).await)));
    let no_net = spec(
        &format!("{tag}-y"),
        image,
        tag,
        &vol,
        &format!("{tag}-no-net"),
    );
    t.push(format!("no network: {}", kind(&e.create(&no_net).await)));
    let found = e.find(&c1).await.unwrap().unwrap();
    t.push(format!(
        "found: id {} name {} state {} labels {:?}",
        found.id == id1,
        found.name == c1,
        found.state,
        found.labels
    ));
    t.push(format!(
        "find by name prefix: {:?}",
        e.find(&c1[..c1.len() - 1]).await.unwrap()
    ));
    t.push(format!(
        "find by id prefix: {:?}",
        e.find(&id1.as_str()[..12]).await.unwrap()
    ));
    let listed: Vec<String> = e
        .list_by_labels(&labels)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    t.push(format!("listed: {}", listed == [c1.clone()]));
    t.push(format!(
        "inspect: {}",
        e.inspect(&id1).await.unwrap() == Some(found.clone())
    ));
    t.push(format!(
        "remove used network: {}",
        kind(&e.remove_network(&net).await)
    ));
    t.push(format!(
        "remove used volume: {}",
        kind(&e.remove_volume(&v).await)
    ));
    t.push(format!(
        "exec in created: {}",
        kind(&e.exec(&id1, EXIT_3, None, quick).await)
    ));

    // c2: no network of its own ("none"), a volume Podman makes on the fly.
    let id2 = e
        .create(&spec(&c2, image, tag, &vol2, "none"))
        .await
        .unwrap();
    let auto = e.volume(&vol2).await.unwrap().map(|v| v.labels().clone());
    t.push(format!("volume made on the fly: {auto:?}"));
    t.push(format!("start: {}", kind(&e.start(&id2).await)));
    t.push(format!("start again: {}", kind(&e.start(&id2).await)));
    let state = |r: Option<devboxd::engine::ContainerRecord>| r.map(|c| c.state);
    t.push(format!(
        "state: {:?}",
        state(e.inspect(&id2).await.unwrap())
    ));
    let code = e.exec(&id2, EXIT_3, None, quick).await.map(|o| o.exit_code);
    t.push(format!("exec exit code: {code:?}"));
    let out = e.exec(&id2, OUTPUT, None, quick).await.unwrap();
    t.push(format!(
        "exec output: {:?} {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    t.push(format!("stop: {}", kind(&e.stop(&id2, 1).await)));
    t.push(format!(
        "state: {:?}",
        state(e.inspect(&id2).await.unwrap())
    ));
    t.push(format!("stop again: {}", kind(&e.stop(&id2, 1).await)));
    t.push(format!(
        "exec in exited: {}",
        kind(&e.exec(&id2, EXIT_3, None, quick).await)
    ));
    t.push(format!("start after stop: {}", kind(&e.start(&id2).await)));
    t.push(format!("remove running: {}", kind(&e.remove(&id2).await)));
    t.push(format!(
        "inspect removed: {:?}",
        e.inspect(&id2).await.unwrap()
    ));
    t.push(format!("remove again: {}", kind(&e.remove(&id2).await)));

    t.push(format!("remove c1: {}", kind(&e.remove(&id1).await)));
    t.push(format!(
        "remove network: {}",
        kind(&e.remove_network(&net).await)
    ));
    t.push(format!(
        "network gone: {:?}",
        e.network(&net).await.unwrap()
    ));
    t.push(format!(
        "remove network again: {}",
        kind(&e.remove_network(&net).await)
    ));
    t.push(format!(
        "remove volume: {}",
        kind(&e.remove_volume(&v).await)
    ));
    t.push(format!("volume gone: {:?}", e.volume(&vol).await.unwrap()));
    t.push(format!(
        "remove gone volume: {}",
        kind(&e.remove_volume(&v).await)
    ));
    // A volume re-made with other labels after it was checked is left alone.
    e.create_volume(&vol3, &first).await.unwrap();
    let checked = e.volume(&vol3).await.unwrap().unwrap();
    e.remove_volume(&checked).await.unwrap();
    e.create_volume(&vol3, &second).await.unwrap();
    t.push(format!(
        "remove changed volume: {}",
        kind(&e.remove_volume(&checked).await)
    ));
    for name in [&vol2, &vol3] {
        if let Some(v) = e.volume(name).await.unwrap() {
            e.remove_volume(&v).await.unwrap();
        }
    }
    t.push(format!(
        "volumes left: {}",
        e.list_volumes_by_labels(&labels).await.unwrap().len()
    ));
    t.push(format!(
        "networks left: {}",
        e.list_networks_by_labels(&labels).await.unwrap().len()
    ));
    t
}

/// What both engines answer.
fn expected(tag: &str) -> Vec<String> {
    let c1 = format!("{tag}-c1");
    [
        "find before create: None".to_string(),
        "network: Ok".into(),
        "network again: Conflict".into(),
        "volume: Ok".into(),
        "volume again: Ok".into(),
        "volume labels kept: Some(\"1\")".into(),
        "volume by prefix: None".into(),
        "full id: true".into(),
        "same name: Failed".into(),
        "no image: NotFound".into(),
        "no network: Failed".into(),
        format!("found: id true name true state created labels {{\"devbox.contract\": \"{tag}\", \"devbox.name\": \"{c1}\"}}"),
        "find by name prefix: None".into(),
        "find by id prefix: None".into(),
        "listed: true".into(),
        "inspect: true".into(),
        "remove used network: Failed".into(),
        "remove used volume: Conflict".into(),
        "exec in created: Failed".into(),
        "volume made on the fly: Some({})".into(),
        "start: Ok".into(),
        "start again: Ok".into(),
        "state: Some(\"running\")".into(),
        "exec exit code: Ok(3)".into(),
        "exec output: \"out\\n\" \"err\\n\"".into(),
        "stop: Ok".into(),
        "state: Some(\"exited\")".into(),
        "stop again: Ok".into(),
        "exec in exited: Failed".into(),
        "start after stop: Ok".into(),
        "remove running: Ok".into(),
        "inspect removed: None".into(),
        "remove again: NotFound".into(),
        "remove c1: Ok".into(),
        "remove network: Ok".into(),
        "network gone: None".into(),
        "remove network again: NotFound".into(),
        "remove volume: Ok".into(),
        "volume gone: None".into(),
        "remove gone volume: Ok".into(),
        "remove changed volume: Conflict".into(),
        "volumes left: 0".into(),
        "networks left: 0".into(),
    ]
    .to_vec()
}

fn exit(code: i64, stdout: &str, stderr: &str) -> ExecOutput {
    ExecOutput {
        exit_code: code,
        stdout: stdout.into(),
        stderr: stderr.into(),
    }
}

#[tokio::test]
async fn the_fake_engine_answers_the_scenario_as_podman_does() {
    let image = "localhost/devbox-engine-contract:busybox";
    let fake = FakeEngine::with_images(&[image]);
    // The fake runs no processes: what the commands print is scripted (what is checked is
    // that the answers travel, and that exec needs a running container).
    fake.answer_exec(EXIT_3, exit(3, "", ""));
    fake.answer_exec(OUTPUT, exit(0, "out\n", "err\n"));
    let got = scenario(&fake, image, "contract").await;
    assert_eq!(got, expected("contract"));
}

/// A tiny image (busybox, sleeping as PID 1), imported from a rootfs: nothing can be pulled.
fn contract_image(dir: &std::path::Path) -> String {
    let image = "localhost/devbox-engine-contract:busybox";
    let exists = devbox_test_kit::host_program("podman")
        .args(["image", "exists", image])
        .status()
        .unwrap();
    if exists.success() {
        return image.into();
    }
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let tar = dir.join("rootfs.tar");
    let ok = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    let out = devbox_test_kit::host_program("podman")
        .args([
            "import",
            "--change",
            r#"CMD ["/bin/busybox","sleep","86400"]"#,
        ])
        .arg(&tar)
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    image.into()
}

#[devbox_test_kit::host_test]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_answers_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let image = contract_image(dir.path());
    let socket = dir.path().join("podman.sock");
    let mut service = devbox_test_kit::host_program("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let s = socket.clone();
    devbox_test_kit::poll_until(Duration::from_secs(30), "podman socket", || {
        std::os::unix::net::UnixStream::connect(&s).ok()
    })
    .unwrap();
    let podman = devboxd::podman::Podman::new(&socket);
    let tag = devbox_test_kit::unique_name("contract");
    let got = scenario(&podman, &image, &tag).await;
    // Whatever the scenario left (it cleans up after itself when it passes).
    let label = format!("label=devbox.contract={tag}");
    let _ = devbox_test_kit::host_program("podman")
        .args(["rm", "-f", "--filter", &label])
        .output();
    let _ = devbox_test_kit::host_program("podman")
        .args(["volume", "prune", "-f", "--filter", &label])
        .output();
    let _ = devbox_test_kit::host_program("podman")
        .args(["network", "prune", "-f", "--filter", &label])
        .output();
    let _ = service.kill();
    let _ = service.wait();
    assert_eq!(got, expected(&tag));
}
