//! The scale run (`devbox-bench --scale 7,25,50`): how each cost grows with the number of
//! running containers, and what concurrent users feel. One world, one run: at each N the list
//! and status round trips (against `podman ps` / `podman inspect` + exec, interleaved), one
//! reconcile pass, one more create, devboxd's memory, each container's host memory, and a
//! simulated host restart; then 20 users reading while others mutate, and 10 users creating at
//! once against a global limit of 10. Writes JSON and an SVG plot. See docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::stats::{Machine, Summary};
use crate::world::{rss_kib, timed, World, WorldSpec};
use crate::{raw, Samples};

/// Users in the scale world: the concurrency phase has 20 readers of different users.
const USERS: usize = 20;
/// The burst phase: this many users create at once against a global limit of the same number.
const BURST: usize = 10;

pub struct ScaleArgs {
    pub levels: Vec<usize>,
    pub list_reps: usize,
    pub concurrent_secs: u64,
    pub out: PathBuf,
    pub plot: PathBuf,
}

/// What was measured with `n` containers running.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub n: usize,
    /// `devbox-ctl list --all` (admin, every container), ms.
    pub list_ms: Option<Summary>,
    /// `podman ps -a --filter label=... --format json`, ms.
    pub podman_ps_ms: Option<Summary>,
    /// `devbox-ctl status NAME`, ms.
    pub status_ms: Option<Summary>,
    /// `podman inspect` + exec `devbox-entrypoint status --json`, ms.
    pub podman_status_ms: Option<Summary>,
    /// `devbox-ctl gc` (an admin's reconcile pass over every container), ms.
    pub reconcile_pass_ms: Option<Summary>,
    /// `devbox-ctl create` -> ready of container n+1, ms.
    pub create_one_more_ms: Option<f64>,
    /// Simulated host restart: devboxd started -> all n ready again, ms.
    pub recovery_ms: Option<f64>,
    /// devboxd's VmRSS with n containers, KiB.
    pub daemon_rss_kib: f64,
    /// Host memory of one container: PSS of every process in it (entrypoint + services), KiB.
    pub container_pss_kib: Option<Summary>,
    /// Podman's conmon of one container, PSS KiB.
    pub conmon_pss_kib: Option<Summary>,
    /// devbox-entrypoint alone, VmRSS KiB.
    pub entrypoint_rss_kib: Option<Summary>,
}

/// 20 users reading (list + status of their own) idle, then while other users' containers
/// are created, stopped, started, re-keyed and destroyed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Concurrency {
    pub readers: usize,
    pub containers_running: usize,
    pub seconds_per_phase: u64,
    pub idle_read_ms: Option<Summary>,
    pub mutating_read_ms: Option<Summary>,
    /// p95 under mutations / p95 idle.
    pub p95_ratio: Option<f64>,
    pub mutations_done: usize,
    pub failed_reads: usize,
    pub failed_mutations: usize,
}

/// 10 users creating at once with a global limit of 10.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Burst {
    pub users: usize,
    pub global_limit: usize,
    pub admitted: usize,
    pub failed: usize,
    pub containers_after: usize,
    /// A create beyond the limit afterwards was refused (no overshoot).
    pub over_limit_refused: bool,
    pub total_ms: f64,
    pub create_ms: Option<Summary>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleReport {
    pub started_at: String,
    pub duration_secs: f64,
    pub machine: Machine,
    pub image: String,
    pub levels: Vec<Level>,
    pub concurrency: Concurrency,
    pub burst: Burst,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

pub fn run(image: &str, args: &ScaleArgs) -> Result<()> {
    let started_at = jiff::Timestamp::now();
    let t_run = Instant::now();
    let loadavg_start = crate::loadavg();
    let mut levels = args.levels.clone();
    levels.sort_unstable();
    levels.dedup();
    let top = *levels.last().context("--scale needs at least one N")?;
    if levels[0] == 0 {
        bail!("--scale levels must be at least 1");
    }
    // Headroom: one more create at each level, and the mutator's own containers.
    let limit = u32::try_from(top + 4)?;
    eprintln!("== scale: {USERS} users, levels {levels:?}, global limit {limit}");
    let mut w = World::new(
        image,
        WorldSpec {
            users: USERS,
            max_per_user: limit,
            max_global: limit,
        },
    )?;
    let pid = std::process::id();
    let mut names: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for &n in &levels {
        while names.len() < n {
            let i = names.len();
            let owner = i % USERS;
            let name = format!("s{i}-{pid}");
            eprintln!("== create {}/{n}: {name}", i + 1);
            w.ctl_as(owner, &["--json", "create", &name, "--another"])?;
            names.push((owner, name));
        }
        out.push(level(&mut w, &names, args.list_reps)?);
    }
    let concurrency = concurrency(&w, &names, args.concurrent_secs)?;
    eprintln!("== destroying the {} containers", names.len());
    for (owner, name) in &names {
        w.ctl_as(*owner, &["destroy", name, "--yes"])?;
    }
    let burst = burst(&mut w)?;
    drop(w);

    let targets = targets(&out, &concurrency, &burst);
    let report = ScaleReport {
        started_at: started_at.to_string(),
        duration_secs: t_run.elapsed().as_secs_f64(),
        machine: crate::machine(loadavg_start)?,
        image: image.to_string(),
        levels: out,
        concurrency,
        burst,
        targets,
        notes: vec![
            "list is `devbox-ctl list --all` by an admin (every container); status is of one \
             container, cycling; both include the CLI process, as the podman side includes \
             its own process. Readers in the concurrency phase are separate processes of \
             different users on the same 2 cores as the mutations."
                .to_string(),
        ],
    };
    print!("{}", table(&report));
    write_files(&report, &args.out, &args.plot)?;
    Ok(())
}

/// Everything measured at one N.
fn level(w: &mut World, names: &[(usize, String)], reps: usize) -> Result<Level> {
    let n = names.len();
    eprintln!("== N = {n}: list/status round trips ({reps} each, interleaved with podman)");
    let filter = format!("label=devbox.instance={}", w.instance);
    let (mut list, mut ps, mut status, mut raw_status) = (vec![], vec![], vec![], vec![]);
    for i in 0..reps {
        let (_, name) = &names[i % n];
        for side in 0..2 {
            if (side == 0) == (i % 2 == 0) {
                let (o, ms) = timed(|| w.ctl(&["list", "--all"]))?;
                let text = String::from_utf8_lossy(&o.stdout);
                if names.iter().any(|(_, c)| !text.contains(c.as_str())) {
                    bail!("devbox-ctl list --all does not show every container:\n{text}");
                }
                list.push(ms);
                let (_, ms) = timed(|| w.ctl(&["status", name]))?;
                status.push(ms);
            } else {
                let (text, ms) = timed(|| {
                    Ok(devbox_test_kit::podman::podman(&[
                        "ps", "-a", "--filter", &filter, "--format", "json",
                    ])?)
                })?;
                if names.iter().any(|(_, c)| !text.contains(c.as_str())) {
                    bail!("podman ps does not show every container");
                }
                ps.push(ms);
                let t0 = Instant::now();
                devbox_test_kit::podman::podman(&["inspect", name])?;
                raw::status(name)?;
                raw_status.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    let mut reconcile = vec![];
    for _ in 0..3 {
        let (_, ms) = timed(|| w.ctl(&["gc"]))?;
        reconcile.push(ms);
    }
    let daemon_rss_kib = rss_kib(w.daemon_pid().context("devboxd is not running")?)?.0;

    let (mut cgroup, mut conmon, mut entry) = (vec![], vec![], vec![]);
    for (_, name) in names.iter().take(10) {
        let pid = raw::host_pid(name)?;
        entry.push(rss_kib(pid)?.0);
        if let Some(kib) = container_pss_kib(pid) {
            cgroup.push(kib);
        }
        if let Some(kib) = parent_pid(pid).and_then(pss_kib) {
            conmon.push(kib);
        }
    }

    let extra = format!("s{n}x-{}", std::process::id());
    eprintln!("== N = {n}: one more create");
    let (_, create_ms) = timed(|| w.ctl(&["--json", "create", &extra, "--another"]))?;
    w.ctl(&["destroy", &extra, "--yes"])?;

    eprintln!("== N = {n}: simulated host restart");
    let running: Vec<String> = names.iter().map(|(_, c)| c.clone()).collect();
    let mut s = Samples::default();
    crate::recovery(w, &running, &mut s)?;

    Ok(Level {
        n,
        list_ms: Summary::of(&list),
        podman_ps_ms: Summary::of(&ps),
        status_ms: Summary::of(&status),
        podman_status_ms: Summary::of(&raw_status),
        reconcile_pass_ms: Summary::of(&reconcile),
        create_one_more_ms: Some(create_ms),
        recovery_ms: s.recovery.first().copied(),
        daemon_rss_kib,
        container_pss_kib: Summary::of(&cgroup),
        conmon_pss_kib: Summary::of(&conmon),
        entrypoint_rss_kib: Summary::of(&entry),
    })
}

/// Host memory of the container a process is in, KiB: the proportional set size (PSS: shared
/// pages split among their users) of every process in its memory cgroup (v1 or v2). The
/// cgroup's own counters miss file pages first touched by another cgroup (the binaries all
/// containers share), and summing VmRSS would count those in full for each container.
fn container_pss_kib(pid: u32) -> Option<f64> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let procs = cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            Some(format!("/sys/fs/cgroup/memory{path}/cgroup.procs"))
        } else if controllers.is_empty() {
            Some(format!("/sys/fs/cgroup{path}/cgroup.procs"))
        } else {
            None
        }
    })?;
    let pids = std::fs::read_to_string(procs).ok()?;
    let total: f64 = pids
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter_map(pss_kib)
        .sum();
    (total > 0.0).then_some(total)
}

/// Pss of one process from /proc/PID/smaps_rollup, KiB.
fn pss_kib(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Readers of 20 users (each: list + status of a container of their own, in a loop), first
/// alone, then while a mutator cycles other containers through create/stop/start/rotate/destroy.
fn concurrency(w: &World, names: &[(usize, String)], secs: u64) -> Result<Concurrency> {
    let own: Vec<Option<String>> = (0..USERS)
        .map(|u| names.iter().find(|(o, _)| *o == u).map(|(_, c)| c.clone()))
        .collect();
    eprintln!("== concurrency: {USERS} readers for {secs} s, idle");
    let idle = read_phase(w, &own, secs, false);
    eprintln!("== concurrency: {USERS} readers for {secs} s, with mutations");
    let busy = read_phase(w, &own, secs, true);
    let (i, b) = (Summary::of(&idle.samples), Summary::of(&busy.samples));
    Ok(Concurrency {
        readers: USERS,
        containers_running: names.len(),
        seconds_per_phase: secs,
        idle_read_ms: i,
        mutating_read_ms: b,
        p95_ratio: match (i, b) {
            (Some(i), Some(b)) if i.p95 > 0.0 => Some(b.p95 / i.p95),
            _ => None,
        },
        mutations_done: busy.mutations_done,
        failed_reads: idle.failed_reads + busy.failed_reads,
        failed_mutations: busy.failed_mutations,
    })
}

/// What one phase of the concurrency run saw.
struct Phase {
    /// Every successful read's round trip, ms.
    samples: Vec<f64>,
    failed_reads: usize,
    mutations_done: usize,
    failed_mutations: usize,
}

/// One reader per user (`own[u]`: that user's container, if any) for `secs` seconds; with
/// `mutate`, the calling thread mutates containers meanwhile.
fn read_phase(w: &World, own: &[Option<String>], secs: u64, mutate: bool) -> Phase {
    let stop = AtomicBool::new(false);
    let samples = Mutex::new(Vec::new());
    let failed_reads = AtomicUsize::new(0);
    let (mut done, mut failed) = (0, 0);
    std::thread::scope(|scope| {
        for (u, container) in own.iter().enumerate() {
            let (stop, samples, failed_reads) = (&stop, &samples, &failed_reads);
            scope.spawn(move || {
                read_until_stopped(w, u, container.as_deref(), stop, samples, failed_reads)
            });
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        if mutate {
            (done, failed) = mutate_until(w, deadline);
        } else {
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    Phase {
        samples: samples.into_inner().unwrap_or_default(),
        failed_reads: failed_reads.into_inner(),
        mutations_done: done,
        failed_mutations: failed,
    }
}

/// One reader: `list` and `status` of its own container as user `u`, again and again.
fn read_until_stopped(
    w: &World,
    u: usize,
    container: Option<&str>,
    stop: &AtomicBool,
    samples: &Mutex<Vec<f64>>,
    failed_reads: &AtomicUsize,
) {
    while !stop.load(Ordering::Relaxed) {
        let one = |args: &[&str]| match timed(|| w.ctl_as(u, args)) {
            Ok((_, ms)) => {
                if let Ok(mut s) = samples.lock() {
                    s.push(ms);
                }
            }
            Err(_) => {
                failed_reads.fetch_add(1, Ordering::Relaxed);
            }
        };
        one(&["list"]);
        if let Some(c) = container {
            one(&["status", c]);
        }
    }
}

/// Whole create/stop/start/rotate-key/destroy cycles until `deadline`; (done, failed) steps.
fn mutate_until(w: &World, deadline: Instant) -> (usize, usize) {
    let (mut done, mut failed) = (0, 0);
    let mut cycle = 0;
    while Instant::now() < deadline {
        // The mutator acts as users 0..4 in turn, on containers of its own.
        let u = cycle % 4;
        let name = format!("m{cycle}-{}", std::process::id());
        cycle += 1;
        for args in [
            vec!["--json", "create", name.as_str(), "--another"],
            vec!["--json", "stop", name.as_str()],
            vec!["--json", "start", name.as_str()],
            vec!["--json", "rotate-key", name.as_str(), "--now"],
            vec!["--json", "destroy", name.as_str(), "--yes"],
        ] {
            match w.ctl_as(u, &args) {
                Ok(_) => done += 1,
                Err(e) => {
                    eprintln!("mutation failed: {e:#}");
                    failed += 1;
                }
            }
        }
    }
    (done, failed)
}

/// 10 users create at once with a global limit of 10 (daemon restarted with that users file).
fn burst(w: &mut World) -> Result<Burst> {
    eprintln!("== burst: {BURST} users create at once, global limit {BURST}");
    w.stop_daemon()?;
    w.write_users_file(1, u32::try_from(BURST)?)?;
    w.start_daemon()?;
    let pid = std::process::id();
    let results = Mutex::new(Vec::new());
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for u in 0..BURST {
            let results = &results;
            let w = &*w;
            scope.spawn(move || {
                let name = format!("b{u}-{pid}");
                let r = timed(|| w.ctl_as(u, &["--json", "create", &name]));
                if let Ok(mut v) = results.lock() {
                    v.push((u, name, r.map(|(_, ms)| ms)));
                }
            });
        }
    });
    let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let results = results.into_inner().unwrap_or_default();
    let created: Vec<(usize, String)> = results
        .iter()
        .filter(|(_, _, r)| r.is_ok())
        .map(|(u, n, _)| (*u, n.clone()))
        .collect();
    for (_, name, r) in &results {
        if let Err(e) = r {
            eprintln!("burst create {name} failed: {e:#}");
        }
    }
    let times: Vec<f64> = results
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok().copied())
        .collect();
    let count = || -> Result<usize> {
        let filter = format!("label=devbox.instance={}", w.instance);
        Ok(
            devbox_test_kit::podman::podman(&["ps", "-a", "-q", "--filter", &filter])?
                .split_whitespace()
                .count(),
        )
    };
    // One more, by a user with no container yet: the global limit must refuse it.
    let over = format!("b{BURST}-{pid}");
    let over_limit_refused = w.ctl_as(BURST, &["--json", "create", &over]).is_err();
    let containers_after = count()?;
    for (u, name) in &created {
        w.ctl_as(*u, &["destroy", name, "--yes"])?;
    }
    if !over_limit_refused {
        let _ = w.ctl_as(BURST, &["destroy", &over, "--yes"]);
    }
    Ok(Burst {
        users: BURST,
        global_limit: BURST,
        admitted: created.len(),
        failed: results.len() - created.len(),
        containers_after,
        over_limit_refused,
        total_ms,
        create_ms: Summary::of(&times),
    })
}

fn targets(levels: &[Level], c: &Concurrency, b: &Burst) -> Vec<Target> {
    let mut t = Vec::new();
    let mut check =
        |target: String, measured: Option<f64>, unit: &str, ok: &dyn Fn(f64) -> bool| {
            t.push(Target {
                target,
                measured: measured
                    .map(|m| format!("{m:.1} {unit}"))
                    .unwrap_or_else(|| "-".into()),
                met: measured.is_some_and(ok),
            });
        };
    // Judged at the largest N (the targets are at 50).
    if let Some(top) = levels.last() {
        let n = top.n;
        check(
            format!("list median < 50 ms at {n}"),
            top.list_ms.map(|s| s.median),
            "ms",
            &|m| m < 50.0,
        );
        check(
            format!("list p95 < 100 ms at {n}"),
            top.list_ms.map(|s| s.p95),
            "ms",
            &|m| m < 100.0,
        );
        check(
            format!("status p95 < 300 ms at {n}"),
            top.status_ms.map(|s| s.p95),
            "ms",
            &|m| m < 300.0,
        );
        check(
            format!("recovery of {n} < 30 s"),
            top.recovery_ms.map(|ms| ms / 1000.0),
            "s",
            &|s| s < 30.0,
        );
        check(
            format!("devboxd RSS < 40 MB at {n}"),
            Some(top.daemon_rss_kib * 1024.0 / 1e6),
            "MB",
            &|mb| mb < 40.0,
        );
    }
    check(
        "read p95 under mutations < 2x idle p95".into(),
        c.p95_ratio,
        "x",
        &|r| r < 2.0,
    );
    let failures = c.failed_reads + c.failed_mutations + b.failed;
    let overshoot = b.containers_after.saturating_sub(b.global_limit);
    check(
        "zero quota overshoot and zero failed operations".into(),
        Some((failures + overshoot + usize::from(!b.over_limit_refused)) as f64),
        "problems",
        &|x| x == 0.0,
    );
    t
}

fn fmt(s: Option<Summary>) -> String {
    s.map(|s| format!("{:.0}/{:.0}/{:.0}/{:.0}", s.min, s.median, s.p95, s.max))
        .unwrap_or_else(|| "-".into())
}

pub fn table(r: &ScaleReport) -> String {
    let m = &r.machine;
    let mut out = format!(
        "machine: {} ({} cores), podman {}, load average start {} / end {}\n\n",
        m.cpu_model, m.cores, m.podman_version, m.loadavg_start, m.loadavg_end
    );
    out.push_str(&levels_table(&r.levels));
    out.push_str(&phases_lines(r));
    for t in &r.targets {
        out.push_str(&format!(
            "{:<50} {:>14} {}\n",
            t.target,
            t.measured,
            if t.met { "met" } else { "NOT MET" }
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// One row per N, under a two-line header.
fn levels_table(levels: &[Level]) -> String {
    let mut out = format!(
        "{:>4} {:>19} {:>19} {:>19} {:>19} {:>9} {:>9} {:>9} {:>9}\n",
        "N",
        "list ms",
        "podman ps ms",
        "status ms",
        "inspect+exec ms",
        "gc ms",
        "create ms",
        "recover s",
        "devboxd MB"
    );
    out.push_str(&format!(
        "{:>4} {:>19} {:>19} {:>19} {:>19}\n",
        "", "min/med/p95/max", "min/med/p95/max", "min/med/p95/max", "min/med/p95/max"
    ));
    for l in levels {
        out.push_str(&format!(
            "{:>4} {:>19} {:>19} {:>19} {:>19} {:>9} {:>9} {:>9} {:>9}\n",
            l.n,
            fmt(l.list_ms),
            fmt(l.podman_ps_ms),
            fmt(l.status_ms),
            fmt(l.podman_status_ms),
            l.reconcile_pass_ms
                .map(|s| format!("{:.0}", s.median))
                .unwrap_or_else(|| "-".into()),
            l.create_one_more_ms
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into()),
            l.recovery_ms
                .map(|v| format!("{:.1}", v / 1000.0))
                .unwrap_or_else(|| "-".into()),
            format!("{:.1}", l.daemon_rss_kib * 1024.0 / 1e6),
        ));
    }
    out
}

/// The per-container memory at the largest N, and a line each for the concurrency and burst
/// phases.
fn phases_lines(r: &ScaleReport) -> String {
    let mut out = String::new();
    if let Some(l) = r.levels.last() {
        let med = |s: Option<Summary>| s.map(|s| s.median / 1024.0).unwrap_or(0.0);
        out.push_str(&format!(
            "\nper container (median of up to 10): {:.1} MiB PSS of its processes (the entrypoint's own VmRSS: {:.1} MiB), conmon {:.1} MiB PSS\n",
            med(l.container_pss_kib),
            med(l.entrypoint_rss_kib),
            med(l.conmon_pss_kib)
        ));
    }
    let c = &r.concurrency;
    out.push_str(&format!(
        "concurrency: {} readers, {} containers, {} s per phase: reads idle {} ms, with mutations {} ms (min/med/p95/max), p95 ratio {}; {} mutations, {} failed reads, {} failed mutations\n",
        c.readers,
        c.containers_running,
        c.seconds_per_phase,
        fmt(c.idle_read_ms),
        fmt(c.mutating_read_ms),
        c.p95_ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()),
        c.mutations_done,
        c.failed_reads,
        c.failed_mutations
    ));
    let b = &r.burst;
    out.push_str(&format!(
        "burst: {} users create at once, limit {}: {} admitted, {} failed, {} containers after, one over the limit refused: {}; total {:.1} s, each {} ms\n\n",
        b.users,
        b.global_limit,
        b.admitted,
        b.failed,
        b.containers_after,
        if b.over_limit_refused { "yes" } else { "NO" },
        b.total_ms / 1000.0,
        fmt(b.create_ms)
    ));
    out
}

fn write_files(r: &ScaleReport, json: &Path, svg: &Path) -> Result<()> {
    for p in [json, svg] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    std::fs::write(json, serde_json::to_string_pretty(r)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    crate::plot::scale_svg(r, svg)?;
    eprintln!("wrote {} and {}", json.display(), svg.display());
    Ok(())
}
