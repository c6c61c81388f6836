//! A second baseline: the same container driven through Podman's API socket with devboxd's own
//! engine (`devboxd::podman::Podman`, the calls the daemon makes) but without the daemon — no
//! CLI process, no socket hop, no 1Password round trip, no state file, no locks. What devbox-ctl
//! costs above this is the controller's own overhead; the raw CLI baseline additionally pays
//! one `podman` process start per command.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use devbox_entrypoint::status::Status;
use devboxd::engine::{ContainerId, ContainerSpec, Engine, EngineError};
use devboxd::podman::Podman;
// Exactly what devboxd execs: the program PID 1 runs (/proc/1/exe).
use devbox_contract::tags::default_tags;
use devbox_contract::{env, HOME_PATH};
use devboxd::service::ENTRYPOINT;

/// Above the raw CLI baseline's ranges (1,500,000,000 + n * 65536), below Podman's own.
const API_UID_BASE: u64 = 1_600_000_000;
const USERNS_SIZE: u64 = 65_536;

pub struct ApiSide {
    engine: Podman,
    rt: tokio::runtime::Runtime,
}

pub struct ApiSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub owner: &'a str,
    pub instance: String,
    pub slot: u64,
}

impl ApiSpec<'_> {
    pub fn volume(&self) -> String {
        format!("devbox-home-{}", self.name)
    }
}

/// As devboxd: one exact lookup by name, then the full ID for every call.
async fn resolve(engine: &Podman, name: &str) -> Result<ContainerId> {
    match engine.find(name).await? {
        Some(c) => Ok(c.id),
        None => bail!("no container named {name}"),
    }
}

impl ApiSide {
    pub fn new(podman_socket: &Path) -> Result<ApiSide> {
        Ok(ApiSide {
            engine: Podman::new(podman_socket),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building a tokio runtime")?,
        })
    }

    /// Volume + container as devboxd's create makes them.
    pub fn create(&self, spec: &ApiSpec) -> Result<()> {
        let base = API_UID_BASE + spec.slot * USERNS_SIZE;
        let mut labels = BTreeMap::new();
        labels.insert("devbox.managed".to_string(), "true".to_string());
        labels.insert("devbox.instance".to_string(), spec.instance.clone());
        labels.insert("devbox.owner".to_string(), spec.owner.to_string());
        labels.insert("devbox.name".to_string(), spec.name.clone());
        let mut vlabels = labels.clone();
        vlabels.insert("devbox.uid-base".to_string(), base.to_string());
        labels.insert(
            "devbox.created-at".to_string(),
            jiff::Timestamp::now().to_string(),
        );
        labels.insert(
            "devbox.options".to_string(),
            "{\"cpu\":2.0,\"memoryBytes\":4294967296,\"syncthing\":false}".to_string(),
        );
        let c = ContainerSpec {
            name: spec.name.clone(),
            image: spec.image.to_string(),
            hostname: spec.name.clone(),
            env: vec![
                (env::HOSTNAME.into(), spec.name.clone()),
                (env::OWNER.into(), spec.owner.to_string()),
                (env::TAGS.into(), default_tags(spec.owner).join(",")),
                (env::SYNCTHING.into(), "false".into()),
            ],
            labels,
            nano_cpus: 2_000_000_000,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            volume: spec.volume(),
            home_path: HOME_PATH.into(),
            // The engine-level bench keeps Podman's default network (no isolation cost here).
            network: None,
            tmpfs: vec![(
                "/run/devbox".into(),
                "rw,nosuid,nodev,size=16m,mode=0755".into(),
            )],
            userns: Some(format!(
                "auto:uidmapping=0:{base}:{USERNS_SIZE},gidmapping=0:{base}:{USERNS_SIZE}"
            )),
            binds: vec![],
            confinement: Default::default(),
        };
        self.rt.block_on(async {
            self.engine.create_volume(&spec.volume(), &vlabels).await?;
            self.engine.create(&c).await
        })?;
        Ok(())
    }

    /// Start, deliver the key over exec stdin, poll the status back to back until ready.
    pub fn start_ready(&self, name: &str, key: &str) -> Result<Status> {
        self.rt.block_on(async {
            let id = resolve(&self.engine, name).await?;
            self.engine.start(&id).await?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let out = self
                    .engine
                    .exec(
                        &id,
                        &[ENTRYPOINT, "deliver-key"],
                        Some(key.as_bytes()),
                        Duration::from_secs(30),
                    )
                    .await;
                match out {
                    Ok(o) if o.exit_code == 0 => break,
                    _ if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Ok(o) => bail!("deliver-key into {name} exited {}", o.exit_code),
                    Err(e) => bail!("deliver-key into {name}: {e}"),
                }
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let out = self
                    .engine
                    .exec(
                        &id,
                        &[ENTRYPOINT, "status", "--json"],
                        None,
                        Duration::from_secs(10),
                    )
                    .await;
                if let Ok(o) = out {
                    if o.exit_code == 0 {
                        if let Ok(s) = serde_json::from_slice::<Status>(&o.stdout) {
                            if s.ready {
                                return Ok(s);
                            }
                        }
                    }
                }
                if Instant::now() >= deadline {
                    bail!("{name} not ready within 60 s");
                }
            }
        })
    }

    /// Logout through the entrypoint, then stop.
    pub fn stop(&self, name: &str) -> Result<()> {
        self.rt.block_on(async {
            let id = resolve(&self.engine, name).await?;
            let o = self
                .engine
                .exec(&id, &[ENTRYPOINT, "logout"], None, Duration::from_secs(10))
                .await?;
            if o.exit_code != 0 {
                bail!("logout in {name} exited {}", o.exit_code);
            }
            self.engine.stop(&id, 10).await?;
            Ok(())
        })
    }

    /// Remove the (stopped) container and its volume.
    pub fn destroy(&self, spec: &ApiSpec) -> Result<()> {
        self.rt.block_on(async {
            // As devboxd: a removal that failed "busy" may still have removed it.
            if let Some(c) = self.engine.find(&spec.name).await? {
                match self.engine.remove(&c.id).await {
                    Ok(()) | Err(EngineError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match self.engine.volume(&spec.volume()).await? {
                Some(v) => self.engine.remove_volume(&v).await,
                None => Ok(()),
            }
        })?;
        Ok(())
    }
}
