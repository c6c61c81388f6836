//! `FakeEngine`: an in-memory FAKE of the container engine behind devboxd's `Engine` trait, for
//! in-process tests of the daemon's core that need no root and no Podman.
//!
//! It models what the daemon relies on, as Podman 4.3's API answers it (measured against the
//! real thing; `tests/engine_contract.rs` in devboxd runs one scenario against both):
//!
//! - containers: full 64-hex IDs, exact-name and exact-ID lookups, labels, states `created` ->
//!   `running` -> `exited`; a taken name refuses a create (Podman: a 500, `Failed`), as do a
//!   missing image (`NotFound`) and a missing network (`Failed`); a missing named volume is made
//!   on the fly without labels (as Podman does); `remove` is forced (the trait's contract);
//! - volumes: exact names, labels; creating a taken name answers with the existing volume
//!   (labels unchanged, as Podman's compat API does); removing one a container uses is refused
//!   (`Conflict`), one whose labels changed since it was looked at too (the trait's contract);
//! - networks: a taken name is a `Conflict`; removing one a container uses is refused;
//! - exec: only in a running container (else `Failed`, "container state improper"); answers
//!   are scripted per argv prefix (and optionally per container), every exec is recorded with
//!   its stdin;
//! - injected faults at any call: fail the next call of an operation, every call of it, or the
//!   n-th call from now; or hang there forever (before or after its effect), which is how a
//!   test makes a daemon die in the middle of an operation: it drops the future and builds a
//!   new service on the same engine.
//!
//! It does NOT model: resources (cpu, memory, pids), processes (a `running` container runs
//! nothing, never exits by itself; exec answers are scripted), user namespaces, networking (no
//! addresses, no traffic), images beyond their names, ID-prefix resolution (the daemon's engine
//! never uses it), logs (one fixed line), Podman's own delays (every call yields once, or waits
//! a set latency, so concurrent operations interleave).
//!
//! Clones share one world, like two clients of one Podman.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use devboxd::engine::{
    ByteStream, ContainerId, ContainerRecord, ContainerSpec, Engine, EngineError, ExecOutput,
    Labels, NetworkRecord, Volume,
};

/// One recorded engine call: the operation (the trait method's name) and what it was about
/// (a container or volume name or ID, a network name, an exec's argv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: &'static str,
    pub target: String,
}

/// One recorded exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRecord {
    pub container: String,
    pub argv: Vec<String>,
    pub stdin: Option<Vec<u8>>,
}

/// Where a hang happens relative to the call's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hang {
    /// The call never reaches the engine (a daemon killed while sending it).
    BeforeEffect,
    /// The engine did it, the answer never arrives (a daemon killed while waiting for it).
    AfterEffect,
}

#[derive(Debug, Clone)]
enum Trigger {
    /// The next call of this operation.
    Next(&'static str),
    /// Every call of this operation.
    Always(&'static str),
    /// The call with this sequence number.
    Seq(usize),
}

#[derive(Debug, Clone)]
enum Action {
    Fail(EngineError),
    Hang(Hang),
}

#[derive(Debug, Clone)]
struct Fault {
    trigger: Trigger,
    action: Action,
}

#[derive(Debug, Clone)]
struct FakeContainer {
    id: String,
    name: String,
    state: String,
    labels: Labels,
    image: String,
    spec: ContainerSpec,
}

impl FakeContainer {
    fn record(&self) -> ContainerRecord {
        ContainerRecord {
            id: ContainerId::from_engine(self.id.clone()),
            name: self.name.clone(),
            state: self.state.clone(),
            labels: self.labels.clone(),
            image: self.image.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct ExecAnswer {
    container: Option<String>,
    argv_prefix: Vec<String>,
    output: ExecOutput,
}

/// Network modes Podman knows without a network object.
const NETWORK_MODES: &[&str] = &["none", "host", "private", "bridge"];

#[derive(Debug, Default)]
struct World {
    containers: BTreeMap<String, FakeContainer>,
    volumes: BTreeMap<String, Labels>,
    networks: BTreeMap<String, NetworkRecord>,
    images: BTreeSet<String>,
    calls: Vec<Call>,
    execs: Vec<ExecRecord>,
    faults: Vec<Fault>,
    answers: Vec<ExecAnswer>,
    hung: usize,
    made: u64,
    bridges: u64,
    latency: Duration,
}

impl World {
    /// Takes the fault (if any) for the call numbered `seq` of `op`.
    fn fault_for(&mut self, seq: usize, op: &'static str) -> Option<Action> {
        let i = self.faults.iter().position(|f| match f.trigger {
            Trigger::Next(o) | Trigger::Always(o) => o == op,
            Trigger::Seq(n) => n == seq,
        })?;
        if matches!(self.faults[i].trigger, Trigger::Always(_)) {
            Some(self.faults[i].action.clone())
        } else {
            Some(self.faults.remove(i).action)
        }
    }

    fn new_id(&mut self) -> String {
        self.made += 1;
        // splitmix64: IDs that differ from the first digit on, like Podman's random ones.
        (0..4u64)
            .map(|k| {
                let mut z = (self.made * 4 + k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                format!("{:016x}", z ^ (z >> 31))
            })
            .collect()
    }

    fn by_id(&mut self, id: &ContainerId) -> Result<&mut FakeContainer, EngineError> {
        self.containers.get_mut(id.as_str()).ok_or_else(|| {
            EngineError::NotFound(format!(
                "no container with name or ID \"{}\" found: no such container",
                id.as_str()
            ))
        })
    }

    fn uses_volume(&self, volume: &str) -> Option<&FakeContainer> {
        self.containers.values().find(|c| c.spec.volume == volume)
    }

    fn uses_network(&self, network: &str) -> Option<&FakeContainer> {
        self.containers
            .values()
            .find(|c| c.spec.network.as_deref() == Some(network))
    }

    fn create(&mut self, spec: &ContainerSpec) -> Result<ContainerId, EngineError> {
        if !self.images.contains(&spec.image) {
            return Err(EngineError::NotFound(format!(
                "no such image: {}: image not known",
                spec.image
            )));
        }
        if let Some(c) = self.containers.values().find(|c| c.name == spec.name) {
            return Err(EngineError::Failed(format!(
                "500: container create: the container name \"{}\" is already in use by {}. You have to remove that container to be able to reuse that name: that name is already in use",
                spec.name, c.id
            )));
        }
        if let Some(net) = &spec.network {
            if !NETWORK_MODES.contains(&net.as_str()) && !self.networks.contains_key(net) {
                return Err(EngineError::Failed(format!(
                    "500: container create: unable to find network with name or ID {net}: network not found"
                )));
            }
        }
        // Podman makes a named volume a container mounts if it does not exist (no labels).
        self.volumes.entry(spec.volume.clone()).or_default();
        let id = self.new_id();
        self.containers.insert(
            id.clone(),
            FakeContainer {
                id: id.clone(),
                name: spec.name.clone(),
                state: "created".into(),
                labels: spec.labels.clone(),
                image: spec.image.clone(),
                spec: spec.clone(),
            },
        );
        Ok(ContainerId::from_engine(id))
    }

    fn exec(
        &mut self,
        id: &ContainerId,
        cmd: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, EngineError> {
        let c = self.by_id(id)?;
        if c.state != "running" {
            return Err(EngineError::Failed(
                "500: can only create exec sessions on running containers: container state improper".into(),
            ));
        }
        let name = c.name.clone();
        self.execs.push(ExecRecord {
            container: name.clone(),
            argv: cmd.iter().map(|s| s.to_string()).collect(),
            stdin: stdin.map(<[u8]>::to_vec),
        });
        // The most specific answer: for this container before any container, longest prefix.
        let answer = self
            .answers
            .iter()
            .filter(|a| a.container.as_ref().is_none_or(|c| *c == name))
            .filter(|a| {
                a.argv_prefix.len() <= cmd.len()
                    && a.argv_prefix.iter().zip(cmd).all(|(p, c)| p == c)
            })
            .max_by_key(|a| (a.container.is_some(), a.argv_prefix.len()));
        Ok(answer.map(|a| a.output.clone()).unwrap_or(ExecOutput {
            exit_code: 0,
            stdout: vec![],
            stderr: vec![],
        }))
    }

    fn remove_volume(&mut self, volume: &Volume) -> Result<(), EngineError> {
        let Some(labels) = self.volumes.get(volume.name()) else {
            return Ok(());
        };
        if labels != volume.labels() {
            return Err(EngineError::Conflict(format!(
                "the volume {} changed since it was checked (other labels); left alone",
                volume.name()
            )));
        }
        if let Some(c) = self.uses_volume(volume.name()) {
            return Err(EngineError::Conflict(format!(
                "volume {} is being used by the following container(s): {}: volume is being used",
                volume.name(),
                c.id
            )));
        }
        self.volumes.remove(volume.name());
        Ok(())
    }

    fn remove_network(&mut self, name: &str) -> Result<(), EngineError> {
        if !self.networks.contains_key(name) {
            return Err(EngineError::NotFound(format!(
                "unable to find network with name or ID {name}: network not found"
            )));
        }
        if self.uses_network(name).is_some() {
            return Err(EngineError::Failed(format!(
                "500: \"{name}\" has associated containers with it. Use -f to forcibly delete containers and pods: network is being used"
            )));
        }
        self.networks.remove(name);
        Ok(())
    }
}

fn has_labels(have: &Labels, want: &Labels) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// The in-memory FAKE engine (see the module docs for what it models and what not).
#[derive(Debug, Clone, Default)]
pub struct FakeEngine {
    world: Arc<Mutex<World>>,
}

impl FakeEngine {
    /// An empty engine that knows the images `images`.
    pub fn with_images(images: &[&str]) -> Self {
        let e = Self::default();
        e.world().images = images.iter().map(|s| s.to_string()).collect();
        e
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call takes `latency` before it acts (Podman's answers take milliseconds), so
    /// concurrent operations overlap as they do against the real engine.
    pub fn set_latency(&self, latency: Duration) {
        self.world().latency = latency;
    }

    // ------------------------------------------------------------ faults

    /// The next call of `op` (an `Engine` method's name) fails with `error`.
    pub fn fail_next(&self, op: &'static str, error: EngineError) {
        self.world().faults.push(Fault {
            trigger: Trigger::Next(op),
            action: Action::Fail(error),
        });
    }

    /// Every call of `op` fails with `error` until [`FakeEngine::clear_faults`].
    pub fn fail_always(&self, op: &'static str, error: EngineError) {
        self.world().faults.push(Fault {
            trigger: Trigger::Always(op),
            action: Action::Fail(error),
        });
    }

    /// The `n`-th call from now (0: the next one), whatever it is, fails with `error`.
    pub fn fail_call(&self, n: usize, error: EngineError) {
        let mut w = self.world();
        let seq = w.calls.len() + n;
        w.faults.push(Fault {
            trigger: Trigger::Seq(seq),
            action: Action::Fail(error),
        });
    }

    /// The `n`-th call from now never answers (see [`Hang`]); [`FakeEngine::hung`] then says so.
    pub fn hang_call(&self, n: usize, hang: Hang) {
        let mut w = self.world();
        let seq = w.calls.len() + n;
        w.faults.push(Fault {
            trigger: Trigger::Seq(seq),
            action: Action::Hang(hang),
        });
    }

    /// Forgets every injected fault and the count of hung calls (their callers are gone).
    pub fn clear_faults(&self) {
        let mut w = self.world();
        w.faults.clear();
        w.hung = 0;
    }

    /// How many calls are hanging (never answered).
    pub fn hung(&self) -> usize {
        self.world().hung
    }

    /// Waits until a call hangs (polls every millisecond; bounded by the caller's timeout).
    pub async fn until_hung(&self) {
        while self.hung() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    // ------------------------------------------------------------ exec answers

    /// Execs whose argv starts with `argv_prefix` (in any container) answer `output`. The
    /// longest matching prefix wins; an exec nothing matches exits 0 with no output.
    pub fn answer_exec(&self, argv_prefix: &[&str], output: ExecOutput) {
        self.push_answer(None, argv_prefix, output);
    }

    /// As [`FakeEngine::answer_exec`], in the container named `container` only (wins over
    /// answers for any container).
    pub fn answer_exec_in(&self, container: &str, argv_prefix: &[&str], output: ExecOutput) {
        self.push_answer(Some(container.to_string()), argv_prefix, output);
    }

    fn push_answer(&self, container: Option<String>, argv_prefix: &[&str], output: ExecOutput) {
        let argv_prefix: Vec<String> = argv_prefix.iter().map(|s| s.to_string()).collect();
        let mut w = self.world();
        w.answers
            .retain(|a| !(a.container == container && a.argv_prefix == argv_prefix));
        w.answers.push(ExecAnswer {
            container,
            argv_prefix,
            output,
        });
    }

    // ------------------------------------------------------------ what happened

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }

    /// Every exec so far, with its stdin.
    pub fn execs(&self) -> Vec<ExecRecord> {
        self.world().execs.clone()
    }

    pub fn containers(&self) -> Vec<ContainerRecord> {
        self.world()
            .containers
            .values()
            .map(FakeContainer::record)
            .collect()
    }

    /// The spec a container was created from.
    pub fn spec_of(&self, name: &str) -> Option<ContainerSpec> {
        let w = self.world();
        w.containers
            .values()
            .find(|c| c.name == name)
            .map(|c| c.spec.clone())
    }

    pub fn volumes(&self) -> BTreeMap<String, Labels> {
        self.world().volumes.clone()
    }

    pub fn networks(&self) -> Vec<NetworkRecord> {
        self.world().networks.values().cloned().collect()
    }

    /// Sets a container's state behind the daemon's back (e.g. `exited`: it died, or the host
    /// rebooted). Returns whether it exists.
    pub fn set_state(&self, name: &str, state: &str) -> bool {
        let mut w = self.world();
        match w.containers.values_mut().find(|c| c.name == name) {
            Some(c) => {
                c.state = state.to_string();
                true
            }
            None => false,
        }
    }

    /// Every container stops, as when the host reboots.
    pub fn reboot(&self) {
        for c in self.world().containers.values_mut() {
            if c.state == "running" {
                c.state = "exited".into();
            }
        }
    }

    /// Runs one call: records it, applies an injected fault, else `effect` on the world.
    async fn call<T>(
        &self,
        op: &'static str,
        target: &str,
        effect: impl FnOnce(&mut World) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        // Every real engine call is I/O, where other tasks run meanwhile: so here too (races
        // between concurrent operations happen as they would against Podman).
        let latency = self.world().latency;
        if latency.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(latency).await;
        }
        let (result, hang) = {
            let mut w = self.world();
            let seq = w.calls.len();
            w.calls.push(Call {
                op,
                target: target.to_string(),
            });
            match w.fault_for(seq, op) {
                Some(Action::Fail(e)) => return Err(e),
                Some(Action::Hang(Hang::BeforeEffect)) => {
                    w.hung += 1;
                    (None, true)
                }
                Some(Action::Hang(Hang::AfterEffect)) => {
                    w.hung += 1;
                    (Some(effect(&mut w)), true)
                }
                None => (Some(effect(&mut w)), false),
            }
        };
        match result {
            Some(r) if !hang => r,
            _ => std::future::pending().await,
        }
    }
}

impl Engine for FakeEngine {
    async fn ping(&self) -> Result<String, EngineError> {
        self.call("ping", "", |_| Ok("fake-engine".into())).await
    }

    async fn image_exists(&self, image: &str) -> Result<bool, EngineError> {
        self.call("image_exists", image, |w| Ok(w.images.contains(image)))
            .await
    }

    async fn volume(&self, name: &str) -> Result<Option<Volume>, EngineError> {
        self.call("volume", name, |w| {
            Ok(w.volumes
                .get(name)
                .map(|l| Volume::from_engine(name.to_string(), l.clone())))
        })
        .await
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<(), EngineError> {
        self.call("create_volume", name, |w| {
            // A taken name answers with the existing volume, its labels unchanged (Podman).
            w.volumes
                .entry(name.to_string())
                .or_insert_with(|| labels.clone());
            Ok(())
        })
        .await
    }

    async fn remove_volume(&self, volume: &Volume) -> Result<(), EngineError> {
        self.call("remove_volume", volume.name(), |w| w.remove_volume(volume))
            .await
    }

    async fn list_volumes_by_labels(
        &self,
        labels: &Labels,
    ) -> Result<Vec<(String, Labels)>, EngineError> {
        self.call("list_volumes_by_labels", "", |w| {
            Ok(w.volumes
                .iter()
                .filter(|(_, l)| has_labels(l, labels))
                .map(|(n, l)| (n.clone(), l.clone()))
                .collect())
        })
        .await
    }

    async fn volume_sizes(&self) -> Result<BTreeMap<String, u64>, EngineError> {
        self.call("volume_sizes", "", |w| {
            Ok(w.volumes.keys().map(|n| (n.clone(), 0)).collect())
        })
        .await
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &Labels,
    ) -> Result<NetworkRecord, EngineError> {
        self.call("create_network", name, |w| {
            if w.networks.contains_key(name) {
                return Err(EngineError::Conflict(format!(
                    "network name {name} already used: network already exists"
                )));
            }
            // Every network a bridge of its own (Podman does not reuse one while it exists).
            w.bridges += 1;
            let n = NetworkRecord {
                name: name.to_string(),
                interface: format!("podman{}", w.bridges),
                labels: labels.clone(),
            };
            w.networks.insert(name.to_string(), n.clone());
            Ok(n)
        })
        .await
    }

    async fn network(&self, name: &str) -> Result<Option<NetworkRecord>, EngineError> {
        self.call("network", name, |w| Ok(w.networks.get(name).cloned()))
            .await
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.call("remove_network", name, |w| w.remove_network(name))
            .await
    }

    async fn list_networks_by_labels(
        &self,
        labels: &Labels,
    ) -> Result<Vec<NetworkRecord>, EngineError> {
        self.call("list_networks_by_labels", "", |w| {
            Ok(w.networks
                .values()
                .filter(|n| has_labels(&n.labels, labels))
                .cloned()
                .collect())
        })
        .await
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, EngineError> {
        self.call("create", &spec.name, |w| w.create(spec)).await
    }

    async fn start(&self, id: &ContainerId) -> Result<(), EngineError> {
        self.call("start", id.as_str(), |w| {
            w.by_id(id)?.state = "running".into();
            Ok(())
        })
        .await
    }

    async fn stop(&self, id: &ContainerId, _timeout_secs: u32) -> Result<(), EngineError> {
        self.call("stop", id.as_str(), |w| {
            let c = w.by_id(id)?;
            if c.state == "running" {
                c.state = "exited".into();
            }
            Ok(())
        })
        .await
    }

    async fn remove(&self, id: &ContainerId) -> Result<(), EngineError> {
        // Forced, as the trait says (the Podman backend stops, then removes with force).
        self.call("remove", id.as_str(), |w| {
            w.by_id(id)?;
            w.containers.remove(id.as_str());
            Ok(())
        })
        .await
    }

    async fn find(&self, name: &str) -> Result<Option<ContainerRecord>, EngineError> {
        self.call("find", name, |w| {
            Ok(w.containers
                .values()
                .find(|c| c.name == name)
                .map(FakeContainer::record))
        })
        .await
    }

    async fn inspect(&self, id: &ContainerId) -> Result<Option<ContainerRecord>, EngineError> {
        self.call("inspect", id.as_str(), |w| {
            Ok(w.containers.get(id.as_str()).map(FakeContainer::record))
        })
        .await
    }

    async fn list_by_labels(&self, labels: &Labels) -> Result<Vec<ContainerRecord>, EngineError> {
        self.call("list_by_labels", "", |w| {
            Ok(w.containers
                .values()
                .filter(|c| has_labels(&c.labels, labels))
                .map(FakeContainer::record)
                .collect())
        })
        .await
    }

    async fn exec(
        &self,
        id: &ContainerId,
        cmd: &[&str],
        stdin: Option<&[u8]>,
        _timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.call("exec", &cmd.join(" "), |w| w.exec(id, cmd, stdin))
            .await
    }

    fn logs(&self, id: &ContainerId, _follow: bool, _tail: Option<u32>) -> ByteStream {
        let w = self.world();
        let item = match w.containers.get(id.as_str()) {
            Some(c) => Ok(format!("fake logs of {}\n", c.name).into_bytes()),
            None => Err(EngineError::NotFound(format!(
                "no container with name or ID \"{}\" found: no such container",
                id.as_str()
            ))),
        };
        Box::pin(futures_util::stream::iter([item]))
    }
}
