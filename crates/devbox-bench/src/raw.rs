//! The baseline: the same dev container done with the raw `podman` CLI — the same image, CPUs,
//! memory (swap = memory), home volume, tmpfs, user-namespace mapping, environment and number
//! of labels as devboxd gives it, the same key delivery over `exec -i` and the same readiness
//! test (`devbox-entrypoint status --json` says ready). Only the controller is missing.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use devbox_entrypoint::status::Status;
use devbox_test_kit::podman::{podman, podman_output_within, podman_with_stdin};

/// The instance label of raw containers: never the daemon's own, so it does not count them.
pub fn raw_instance(instance: &str) -> String {
    format!("{instance}-raw")
}

/// Far above devboxd's per-volume ranges (1,000,000,000 + n * 65536 for the first slots) and
/// below Podman's own `containers` range, so raw containers never share ids with the daemon's.
const RAW_UID_BASE: u64 = 1_500_000_000;
const USERNS_SIZE: u64 = 65_536;

pub struct RawSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub owner: &'a str,
    pub instance: String,
    pub slot: u64,
}

impl RawSpec<'_> {
    pub fn volume(&self) -> String {
        format!("devbox-home-{}", self.name)
    }

    /// `podman volume create` + `podman create`, as devboxd's create makes them.
    pub fn create(&self) -> Result<()> {
        let base = RAW_UID_BASE + self.slot * USERNS_SIZE;
        let volume = self.volume();
        let uid_base_label = format!("devbox.uid-base={base}");
        let instance_label = format!("devbox.instance={}", self.instance);
        let owner_label = format!("devbox.owner={}", self.owner);
        let name_label = format!("devbox.name={}", self.name);
        podman(&[
            "volume",
            "create",
            "--label",
            "devbox.managed=true",
            "--label",
            &instance_label,
            "--label",
            &owner_label,
            "--label",
            &name_label,
            "--label",
            &uid_base_label,
            &volume,
        ])?;
        let created = format!("devbox.created-at={}", jiff::Timestamp::now());
        let userns =
            format!("auto:uidmapping=0:{base}:{USERNS_SIZE},gidmapping=0:{base}:{USERNS_SIZE}");
        let env_host = format!("DEVBOX_HOSTNAME={}", self.name);
        let env_owner = format!("DEVBOX_OWNER={}", self.owner);
        let env_tags = format!("DEVBOX_TAGS=tag:devcontainer,tag:{}-container", self.owner);
        let mount = format!("{volume}:/home/dev");
        podman(&[
            "create",
            "--name",
            &self.name,
            "--hostname",
            &self.name,
            "--cpus",
            "2",
            "--memory",
            "4g",
            "--memory-swap",
            "4g",
            "-v",
            &mount,
            "--tmpfs",
            "/run/devbox:rw,nosuid,nodev,size=16m,mode=0755",
            "--userns",
            &userns,
            "-e",
            &env_host,
            "-e",
            &env_owner,
            "-e",
            &env_tags,
            "-e",
            "DEVBOX_SYNCTHING=false",
            "--label",
            "devbox.managed=true",
            "--label",
            &instance_label,
            "--label",
            &owner_label,
            "--label",
            &name_label,
            "--label",
            &created,
            "--label",
            "devbox.options={\"cpu\":2.0,\"memoryBytes\":4294967296,\"syncthing\":false}",
            self.image,
        ])?;
        Ok(())
    }

    /// `podman start`, key delivery, wait until ready. Returns (key delivered, ready) instants.
    pub fn start_ready(&self, key: &str) -> Result<(Instant, Instant, Status)> {
        podman(&["start", &self.name])?;
        deliver_key(&self.name, key)?;
        let delivered = Instant::now();
        let status = wait_ready(&self.name, Duration::from_secs(60))?;
        Ok((delivered, Instant::now(), status))
    }

    /// What devboxd's stop does: `tailscale logout` through the entrypoint, then `podman stop`.
    pub fn stop(&self) -> Result<()> {
        podman(&["exec", &self.name, "devbox-entrypoint", "logout"])?;
        podman(&["stop", "-t", "10", &self.name])?;
        Ok(())
    }

    /// What devboxd's destroy of a stopped container does: remove the container and its volume.
    /// Like devboxd, retries a removal that Podman 4.3 fails with "userdata/shm: device or
    /// resource busy" (right after a stop), here back to back.
    pub fn destroy(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut tried = false;
        loop {
            match podman(&["rm", &self.name]) {
                Ok(_) => break,
                // A "busy" failure may still have removed it.
                Err(e) if tried && e.to_string().contains("no such container") => break,
                Err(e) if e.to_string().contains("busy") && Instant::now() < deadline => {
                    tried = true;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
        podman(&["volume", "rm", &self.volume()])?;
        Ok(())
    }
}

/// `podman exec -i NAME devbox-entrypoint deliver-key` with the key on stdin (retried briefly
/// while the entrypoint is not yet up, as devboxd does).
pub fn deliver_key(name: &str, key: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = podman_with_stdin(
            &["exec", "-i", name, "devbox-entrypoint", "deliver-key"],
            key.as_bytes(),
        )?;
        if out.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "deliver-key into {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).replace(key, "[key]")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The entrypoint's status, by exec.
pub fn status(name: &str) -> Result<Status> {
    let out = podman_output_within(
        &["exec", name, "devbox-entrypoint", "status", "--json"],
        Duration::from_secs(20),
    )?;
    if !out.status.success() {
        bail!(
            "status of {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("status JSON of {name}"))
}

/// Polls the status back to back (no pause beyond the exec itself) until ready.
pub fn wait_ready(name: &str, timeout: Duration) -> Result<Status> {
    let start = Instant::now();
    let mut last;
    loop {
        match status(name) {
            Ok(s) if s.ready => return Ok(s),
            Ok(s) => last = format!("phase {:?}", s.phase),
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() >= timeout {
            bail!("{name} not ready after {timeout:?}: {last}");
        }
    }
}

/// The host PID of a running container's PID 1 (the entrypoint).
pub fn host_pid(name: &str) -> Result<u32> {
    let pid = podman(&["inspect", "-f", "{{.State.Pid}}", name])?;
    let pid: u32 = pid
        .trim()
        .parse()
        .with_context(|| format!("PID of {name}: {pid:?}"))?;
    if pid == 0 {
        bail!("{name} is not running");
    }
    Ok(pid)
}

/// `podman inspect` state (running, exited, ...).
pub fn state(name: &str) -> Result<String> {
    Ok(podman(&["inspect", "-f", "{{.State.Status}}", name])?)
}
