//! The world of devboxd's in-process tests: the daemon's core (`Service`) on the test kit's
//! FAKE engine, FAKE 1Password, FAKE `nft` (so network isolation's code paths run too) and test
//! clock, with a state dir in a tempdir. No root, no
//! Podman, no Unix accounts: users come from a users.json text.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use devbox_api::{ApiError, ContainerStatus, CreateRequest, DesiredState, ErrorCode};
use devbox_test_kit::fake_engine::FakeEngine;
use devbox_test_kit::fake_secrets::{FakeNft, FakeSecrets, TestClock};
use devboxd::engine::ExecOutput;
use devboxd::service::{Service, Settings, ENTRYPOINT};
use devboxd::state::{State, StateStore};
use devboxd::users::{Caller, Users};

pub type FakeService = Service<FakeEngine, FakeSecrets, TestClock>;

pub const IMAGE: &str = "localhost/devbox-devcontainer:fake";
pub const T0: &str = "2030-01-01T00:00:00Z";

/// alice, bob, dave: users; carol: an admin. 5 containers per user, 7 in all.
pub const USERS: &[(&str, u32, bool)] = &[
    ("alice", 1001, false),
    ("bob", 1002, false),
    ("carol", 1003, true),
    ("dave", 1004, false),
];

pub fn users_json(users: &[(&str, u32, bool)]) -> String {
    let mut u = serde_json::Map::new();
    let mut per_user = serde_json::Map::new();
    for (i, (name, uid, admin)) in users.iter().enumerate() {
        u.insert(
            name.to_string(),
            serde_json::json!({
                "uid": uid, "description": format!("{name} test"), "email": format!("{name}@example.org"),
                "gitUser": name, "isAdmin": admin,
                "sshKeys": [ssh_key(i as u8)],
            }),
        );
        per_user.insert(
            name.to_string(),
            serde_json::json!({
                "opReference": op_reference(name),
                "tailscaleTags": ["tag:devcontainer", format!("tag:{name}-container")],
            }),
        );
    }
    serde_json::json!({
        "users": u,
        "containers": {"maxPerUser": 5, "maxGlobal": 7, "opVault": "DevBox", "idleStopDays": 7, "stoppedDestroyDays": 14},
        "derived": {
            "allUsers": users.iter().map(|u| u.0).collect::<Vec<_>>(),
            "adminUsers": users.iter().filter(|u| u.2).map(|u| u.0).collect::<Vec<_>>(),
            "perUser": per_user,
        }
    })
    .to_string()
}

/// An ed25519 public key line the users validator accepts, one per seed.
fn ssh_key(seed: u8) -> String {
    use base64::Engine as _;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[seed.wrapping_add(1); 32]);
    format!(
        "ssh-ed25519 {} test@example.invalid",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

pub fn op_reference(user: &str) -> String {
    format!("op://DevBox/{user}-tailscale-authkey/password")
}

pub fn key_of(user: &str) -> String {
    format!("tskey-auth-fake{user}-CANARY")
}

/// The entrypoint's status report when everything runs.
pub fn ready_status(last_activity: Option<&str>) -> ExecOutput {
    let status = serde_json::json!({
        "phase": "running", "ready": true, "services": [],
        "tailscale": {"state": "running", "hostname": "fake"},
        "syncthing": {"enabled": false},
        "lastActivity": last_activity,
    });
    exit(0, &status.to_string())
}

pub fn exit(code: i64, stdout: &str) -> ExecOutput {
    ExecOutput {
        exit_code: code,
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    }
}

pub struct FakeWorld {
    pub engine: FakeEngine,
    pub secrets: FakeSecrets,
    pub clock: TestClock,
    /// The state dir's parent.
    pub dir: tempfile::TempDir,
    pub users: String,
    /// Network isolation (own network per container, the fake `nft`).
    pub isolation: bool,
    pub nft: FakeNft,
    /// Some: a real `nft` command instead of the fake (e.g. one that does not exist).
    pub nft_command: Option<std::path::PathBuf>,
}

impl FakeWorld {
    pub fn new() -> Self {
        let engine = FakeEngine::with_images(&[IMAGE]);
        engine.answer_exec(&[ENTRYPOINT, "status"], ready_status(None));
        engine.answer_exec(&[ENTRYPOINT, "deliver-key"], exit(0, ""));
        engine.answer_exec(&[ENTRYPOINT, "logout"], exit(0, ""));
        let secrets = FakeSecrets::default();
        for (u, _, _) in USERS {
            secrets.insert(&op_reference(u), &key_of(u));
        }
        // On a tmpfs where there is one: the state file is fsynced at every write, and these
        // tests write it thousands of times (what matters here is what is written).
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
                .or_else(|_| tempfile::tempdir())
                .unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        Self {
            engine,
            secrets,
            clock: TestClock::at(T0.parse().unwrap()),
            dir,
            users: users_json(USERS),
            isolation: true,
            nft: FakeNft::default(),
            nft_command: None,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            image: IMAGE.into(),
            instance: "fake".into(),
            ready_timeout: Duration::from_secs(2),
            firewall: self.isolation.then(|| {
                Arc::new(match &self.nft_command {
                    Some(nft) => {
                        devboxd::firewall::Firewall::new(nft.clone(), "fake", vec![], false)
                    }
                    None => self.nft.firewall("fake"),
                })
            }),
            op_rate_limit: devboxd::oplimit::OpRateLimit {
                user_burst: 1000,
                global_burst: 1000,
                cache_secs: 0,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A daemon on this world: the same engine, 1Password, clock and state dir. Building a
    /// second one after dropping the first is a daemon restart.
    pub fn service(&self) -> FakeService {
        Service::new(
            self.engine.clone(),
            self.secrets.clone(),
            self.clock.clone(),
            parsed(&self.users),
            self.settings(),
            self.store(),
        )
    }

    pub fn store(&self) -> StateStore {
        StateStore::new(&self.dir.path().join("state"))
    }

    pub fn state(&self) -> State {
        self.store().load().unwrap()
    }

    /// The fake nft's last ruleset.
    pub fn ruleset(&self) -> String {
        self.nft.last().unwrap_or_default()
    }

    /// Asserts nothing of container `name` exists: no container, home volume, network or
    /// state entry.
    pub fn assert_nothing_of(&self, name: &str, context: &str) {
        assert!(
            !self.engine.containers().iter().any(|c| c.name == name),
            "{context}: container {name} left: {:?}",
            self.engine.containers()
        );
        let volumes = self.engine.volumes();
        assert!(
            !volumes.contains_key(&format!("devbox-home-{name}")),
            "{context}: volume left: {volumes:?}"
        );
        assert!(
            !self
                .engine
                .networks()
                .iter()
                .any(|n| n.name == format!("devbox-net-{name}")),
            "{context}: network left: {:?}",
            self.engine.networks()
        );
        let state = self.state();
        assert!(
            !state.containers.contains_key(name),
            "{context}: state entry left: {:?}",
            state.containers.get(name)
        );
    }

    /// Asserts container `name` exists whole: container in `state`, labelled home volume,
    /// network, and a finished state entry desiring `desired`.
    pub fn assert_whole(&self, name: &str, state: &str, desired: DesiredState, context: &str) {
        let c = self
            .engine
            .containers()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{context}: no container {name}"));
        assert_eq!(c.state, state, "{context}");
        let volume = self.engine.volumes();
        let labels = volume
            .get(&format!("devbox-home-{name}"))
            .unwrap_or_else(|| panic!("{context}: no volume"));
        assert_eq!(
            labels.get("devbox.name").map(String::as_str),
            Some(name),
            "{context}"
        );
        if self.isolation {
            assert!(
                self.engine
                    .networks()
                    .iter()
                    .any(|n| n.name == format!("devbox-net-{name}")),
                "{context}: no network"
            );
        }
        let s = self.state();
        let e = s
            .containers
            .get(name)
            .unwrap_or_else(|| panic!("{context}: no state entry"));
        assert_eq!(e.pending_create, None, "{context}");
        assert_eq!(e.destroying, None, "{context}");
        assert_eq!(e.desired, desired, "{context}");
    }
}

/// The users file parsed (once per text: validating it takes milliseconds, and the crash tests
/// start thousands of daemons).
pub fn parsed(text: &str) -> Users {
    static CACHE: std::sync::Mutex<BTreeMap<String, Users>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap();
    cache
        .entry(text.to_string())
        .or_insert_with(|| Users::parse(text).unwrap())
        .clone()
}

pub fn caller(user: &str) -> Caller {
    parsed(&users_json(USERS))
        .caller(USERS.iter().find(|u| u.0 == user).unwrap().1)
        .unwrap()
}

pub fn req(name: &str) -> CreateRequest {
    CreateRequest {
        name: name.into(),
        cpu: None,
        memory: None,
        syncthing: false,
        start: true,
        confirm_another: true,
        auth_key: None,
    }
}

pub fn quiet(_: &str) {}

pub fn code(r: &Result<ContainerStatus, ApiError>) -> Option<ErrorCode> {
    r.as_ref().err().map(|e| e.code)
}

/// Labels of every managed volume, by name.
pub fn managed_volumes(engine: &FakeEngine) -> BTreeMap<String, BTreeMap<String, String>> {
    engine
        .volumes()
        .into_iter()
        .filter(|(_, l)| l.get("devbox.managed").map(String::as_str) == Some("true"))
        .collect()
}
