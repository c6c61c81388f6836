//! Security: network isolation between users' containers and from the host (issue 11).
//!
//! Every container is on a network of its own, and devboxd's nftables table lets it reach
//! only the internet (plus the LAN ranges the admin allows): not another user's container, not
//! a service the host exposes only to its bridge, not cloud metadata (169.254.169.254).
//!
//! "The internet", "cloud metadata" and "the LAN" are network namespaces this test makes on
//! the host (a veth pair each), so no packet leaves the machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use devbox_test_kit::{host_program, poll_until};

// Not 8080: code-server listens there (on 127.0.0.1) in every dev container.
const PORT: u16 = 18080;

fn podman() -> Command {
    host_program("podman")
}

/// Runs `busybox ARGS` in a container; (exit ok, stdout + stderr).
fn in_container(name: &str, args: &[&str]) -> (bool, String) {
    let out = podman()
        .args(["exec", name, "/bin/busybox"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), both(&out))
}

/// What a TCP client in the container reads from ADDR:PORT (3 s connect timeout).
fn fetch_from(container: &str, addr: &str, port: u16) -> String {
    in_container(container, &["nc", "-w", "3", addr, &port.to_string()]).1
}

/// The container's address and its network's gateway, from Podman.
fn address_and_gateway(container: &str) -> (String, String) {
    let out = podman()
        .args([
            "inspect",
            container,
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.Gateway}}{{end}}",
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    let mut parts = text.split_whitespace();
    let ip = parts.next().unwrap_or_default().to_string();
    let gw = parts.next().unwrap_or_default().to_string();
    assert!(
        !ip.is_empty() && !gw.is_empty(),
        "no address for {container}: {text}"
    );
    (ip, gw)
}

/// A listener in the container that answers every connection with `reply`.
fn serve_in_container(container: &str, reply: &str) {
    // `-ll`: keep listening after each client; `-e`: the program (and its arguments) that
    // answers.
    let out = podman()
        .args(["exec", "-d", container, "/bin/busybox", "nc", "-ll", "-p"])
        .arg(PORT.to_string())
        .args(["-e", "/bin/busybox", "echo", reply])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "listener in {container}: {}",
        both(&out)
    );
    let mut last = String::new();
    let up = poll_until(Duration::from_secs(15), "listener in the container", || {
        last = fetch_from(container, "127.0.0.1", PORT);
        last.contains(reply).then_some(())
    });
    assert!(
        up.is_ok(),
        "the listener in {container} does not answer: {last}; processes: {}",
        in_container(container, &["ps"]).1
    );
}

/// A network namespace joined to the host by a veth pair: `host_addr` on the host's end,
/// `ns_addr` inside, with a listener inside that answers `reply`. Removed on drop, also when
/// the test fails.
struct Netns {
    name: String,
    host_if: String,
    listener: Option<Child>,
}

impl Netns {
    fn new(tag: &str, host_addr: &str, ns_addr: &str, prefix: u8, reply: &str) -> Netns {
        let id = format!("{}{}", std::process::id() % 100_000, tag);
        let ns = Netns {
            name: format!("dbxt-{id}"),
            host_if: format!("dbxh{id}"),
            listener: None,
        };
        let ns_if = format!("dbxn{id}");
        let ip = |args: &[&str]| {
            let out = host_program("ip").args(args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {}", both(&out));
        };
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{host_addr}/{prefix}"),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{ns_addr}/{prefix}"),
            "dev",
            &ns_if,
        ]);
        ip(&["-n", &ns.name, "link", "set", &ns_if, "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        let mut ns = ns;
        ns.listener = Some(
            host_program("ip")
                .args(["netns", "exec", &ns.name, "busybox", "nc", "-ll", "-p"])
                .arg(PORT.to_string())
                .args(["-e", "/bin/busybox", "echo", reply])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // The host reaches it (proves the listener is up before any container tries).
        let target = format!("{ns_addr}:{PORT}");
        poll_until(Duration::from_secs(10), "listener in the namespace", || {
            let mut s = std::net::TcpStream::connect_timeout(
                &target.parse().unwrap(),
                Duration::from_secs(1),
            )
            .ok()?;
            let mut buf = String::new();
            std::io::Read::read_to_string(&mut s, &mut buf).ok()?;
            buf.contains(reply).then_some(())
        })
        .unwrap();
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.listener.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

/// A listener on the host, bound to `addr` only; answers `reply` to every connection.
fn serve_on_host(addr: &str, reply: &'static str) -> u16 {
    let l = std::net::TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let _ = writeln!(s, "{reply}");
        }
    });
    port
}

fn world() -> World {
    World::new(
        &[("a", false), ("b", false), ("m", true)],
        Options::default(),
    )
}

fn create(w: &World, user: usize, base: &str) -> String {
    let name = w.name(base);
    ok(w.ctl_as(w.user(user), &["create", &name, "--another"]));
    name
}

fn networks_of(w: &World) -> Vec<String> {
    let out = podman()
        .args(["network", "ls", "--format", "{{.Name}}", "--filter"])
        .arg(format!("label=devbox.instance={}", w.instance))
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[host_test]
fn a_listener_in_bobs_container_is_unreachable_from_alices() {
    let w = world();
    let bob = create(&w, 1, "nb");
    let alice = create(&w, 0, "na");
    serve_in_container(&bob, "bob-private");
    let (bob_ip, _) = address_and_gateway(&bob);
    // Bob reaches his own listener at his address (the listener is up and not bound to lo).
    assert!(
        fetch_from(&bob, &bob_ip, PORT).contains("bob-private"),
        "bob's own listener does not answer at {bob_ip}"
    );
    let got = fetch_from(&alice, &bob_ip, PORT);
    assert!(
        !got.contains("bob-private"),
        "alice's container reached bob's listener at {bob_ip}:{PORT}"
    );
    // Nor the other way round, nor by a container name (DNS on a network of its own knows
    // only its own container).
    serve_in_container(&alice, "alice-private");
    let (alice_ip, _) = address_and_gateway(&alice);
    assert!(!fetch_from(&bob, &alice_ip, PORT).contains("alice-private"));
    assert!(!fetch_from(&bob, &alice, PORT).contains("alice-private"));

    // No network is left behind once the containers are gone.
    assert_eq!(networks_of(&w).len(), 2, "one network per container");
    ok(w.ctl_as(w.user(1), &["destroy", &bob, "--yes"]));
    ok(w.ctl_as(w.user(0), &["destroy", &alice, "--yes"]));
    assert_eq!(networks_of(&w), Vec::<String>::new());
}

#[host_test]
fn egress_reaches_the_internet_but_not_the_hosts_bridge_services_nor_cloud_metadata() {
    // A documentation range (TEST-NET-2) stands for the internet: not private, not local.
    let internet = Netns::new("i", "198.51.100.1", "198.51.100.2", 30, "internet-ok");
    // Cloud metadata, routed off the host as on a cloud VM.
    let metadata = Netns::new(
        "m",
        "169.254.169.253",
        "169.254.169.254",
        30,
        "metadata-secret",
    );
    let w = world();
    let alice = create(&w, 0, "eg");
    let (_, gateway) = address_and_gateway(&alice);
    let gateway_port = serve_on_host(&gateway, "host-bridge-secret");

    // Every finding, so one run shows all of them.
    let mut reached = vec![];
    let internet_ok = poll_until(Duration::from_secs(15), "egress to 198.51.100.2", || {
        fetch_from(&alice, "198.51.100.2", PORT)
            .contains("internet-ok")
            .then_some(())
    });
    if fetch_from(&alice, &gateway, gateway_port).contains("host-bridge-secret") {
        reached.push(format!(
            "a host service bound to its bridge gateway {gateway}"
        ));
    }
    if fetch_from(&alice, "169.254.169.254", PORT).contains("metadata-secret") {
        reached.push("cloud metadata at 169.254.169.254".to_string());
    }
    assert!(
        internet_ok.is_ok(),
        "the container cannot reach the internet"
    );
    // DNS on its own gateway (aardvark-dns) still answers: package managers need a resolver.
    let (ip, _) = address_and_gateway(&alice);
    let (resolved, answer) = in_container(&alice, &["nslookup", &alice]);
    assert!(
        resolved && answer.contains(&ip),
        "DNS on the gateway does not answer: {answer}"
    );
    assert_eq!(reached, Vec::<String>::new(), "the container reached these");
    drop(internet);
    drop(metadata);
}

#[host_test]
fn allowed_lan_cidrs_open_the_listed_lan_ranges_and_nothing_else() {
    let listed = Netns::new("l", "10.254.254.1", "10.254.254.2", 30, "lan-listed");
    let unlisted = Netns::new("u", "172.31.254.1", "172.31.254.2", 30, "lan-unlisted");
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({"allowedLanCidrs": ["10.254.254.0/30"]}),
            ..Options::default()
        },
    );
    let alice = create(&w, 0, "lan");
    let reached = poll_until(Duration::from_secs(15), "the listed LAN range", || {
        fetch_from(&alice, "10.254.254.2", PORT)
            .contains("lan-listed")
            .then_some(())
    });
    assert!(
        reached.is_ok(),
        "the container cannot reach an allowed LAN range"
    );
    assert!(
        !fetch_from(&alice, "172.31.254.2", PORT).contains("lan-unlisted"),
        "the container reached a LAN range that is not listed"
    );
    drop(listed);
    drop(unlisted);
}

#[host_test]
fn without_working_isolation_rules_nothing_starts_and_doctor_says_why() {
    let w = World::new(
        &[("a", false), ("m", true)],
        Options {
            extra_config: serde_json::json!({"nftCommand": "/nonexistent/nft"}),
            ..Options::default()
        },
    );
    let doctor = w.ctl_root(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(8), "{}", both(&doctor));
    let report = stdout(&doctor);
    assert!(
        report.contains("FAIL network") && report.contains("install nftables"),
        "{report}"
    );
    let name = w.name("nonft");
    let err = fails(w.ctl_as(w.user(0), &["create", &name]), 8);
    assert!(
        err.contains("network isolation rules") && err.contains("install nftables"),
        "{err}"
    );
    // Nothing half made: no container, volume or network.
    assert_eq!(w.podman_containers(), Vec::<String>::new());
    assert_eq!(w.podman_volumes(), Vec::<String>::new());
    assert_eq!(networks_of(&w), Vec::<String>::new());
}
