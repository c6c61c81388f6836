use super::*;
use std::process::{Command, Stdio};

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(
        query_escape(r#"{"label":["a=b"]}"#),
        "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
    );
    assert_eq!(query_escape("web-1.x_~"), "web-1.x_~");
}

/// The list (libpod's API) and the lookups (Docker's compat API, typed and untyped) read the
/// same container alike, against a real Podman.
#[devbox_test_kit::host_test]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpod_list_and_compat_inspect_agree() {
    let image = devbox_test_kit::testbed::ensure_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podman.sock");
    let mut service = Command::new("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let name = devbox_test_kit::unique_name("rawtest");
    let label = format!("devbox.rawtest={name}");
    let made = Command::new("podman")
        .args(["create", "--name", &name, "--label", &label, &image])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let s = socket.clone();
    devbox_test_kit::poll_until(Duration::from_secs(30), "podman socket", || {
        std::os::unix::net::UnixStream::connect(&s).ok()
    })
    .unwrap();
    let podman = Podman::new(&socket);
    let labels = BTreeMap::from([("devbox.rawtest".to_string(), name.clone())]);
    let listed = podman.list_by_labels(&labels).await;
    let typed_one = podman.find(&name).await;
    let raw_one = podman.inspect_raw(&name).await;
    let missing = podman.inspect_raw(&format!("{name}-missing")).await;
    let _ = Command::new("podman").args(["rm", "-f", &name]).output();
    let _ = service.kill();
    let _ = service.wait();
    let listed = listed.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, name);
    assert_eq!(listed[0].state, "created");
    let typed_one = typed_one.unwrap().unwrap();
    // The list (libpod) and the lookup (compat, typed) describe the container alike.
    assert_eq!(listed[0], typed_one);
    assert_eq!(raw_one.unwrap().unwrap(), typed_one);
    assert_eq!(missing.unwrap(), None);
}

fn podman_ok(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(out.status.success(), "podman {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Podman's compat API resolves a container by unique ID prefix and a volume by unique name
/// prefix; the engine's lookups and removals never do.
#[devbox_test_kit::host_test]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_volume_removal_never_resolve_a_prefix() {
    let image = devbox_test_kit::testbed::ensure_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podman.sock");
    let mut service = Command::new("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let name = devbox_test_kit::unique_name("exacttest");
    let id = podman_ok(&["create", "--name", &name, &image]);
    let long = format!("{name}-volume-long");
    let short = format!("{name}-volume");
    podman_ok(&["volume", "create", "--label", "v=1", &long]);
    let s = socket.clone();
    devbox_test_kit::poll_until(Duration::from_secs(30), "podman socket", || {
        std::os::unix::net::UnixStream::connect(&s).ok()
    })
    .unwrap();
    let podman = Podman::new(&socket);
    let by_prefix = podman.find(&id[..12]).await;
    let by_name = podman.find(&name).await;
    let volume_by_prefix = podman.volume(&short).await;
    // A handle for a volume that no longer exists, whose name prefixes another one.
    let gone = Volume::from_engine(short.clone(), BTreeMap::new());
    let removed_gone = podman.remove_volume(&gone).await;
    let long_survived = podman.volume(&long).await;
    // A volume re-created with other labels after it was checked is left alone.
    let checked = podman.volume(&long).await.unwrap().unwrap();
    podman_ok(&["volume", "rm", &long]);
    podman_ok(&["volume", "create", "--label", "v=2", &long]);
    let changed = podman.remove_volume(&checked).await;
    let still_there = podman.volume(&long).await;
    let _ = Command::new("podman").args(["rm", "-f", &id]).output();
    let _ = Command::new("podman")
        .args(["volume", "rm", "-f", &long])
        .output();
    let _ = service.kill();
    let _ = service.wait();
    assert_eq!(by_prefix.unwrap(), None, "found by ID prefix");
    let by_name = by_name.unwrap().unwrap();
    assert_eq!(
        (by_name.id.as_str(), by_name.name.as_str()),
        (id.as_str(), name.as_str())
    );
    assert_eq!(
        volume_by_prefix.unwrap(),
        None,
        "volume found by name prefix"
    );
    assert_eq!(removed_gone, Ok(()));
    assert!(long_survived.unwrap().is_some(), "removed by name prefix");
    assert!(
        matches!(changed, Err(EngineError::Conflict(_))),
        "{changed:?}"
    );
    assert_eq!(
        still_there
            .unwrap()
            .unwrap()
            .labels()
            .get("v")
            .map(String::as_str),
        Some("2")
    );
}
