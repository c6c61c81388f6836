//! devbox-bench: what each controller operation costs, as a ratio to the same work done with
//! raw Podman in the same run, plus list/status round trips, recovery after the containers
//! were killed, the entrypoint's own timings and the memory of devboxd and the entrypoint.
//! See docs/benchmarks.md. Run by scripts/bench.sh, as root, never by the test suite.

mod api;
mod lifecycle;
mod plot;
mod raw;
mod scale;
mod stats;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use devbox_test_kit::poll_until;

use crate::stats::{Basis, Comparison, Machine, Metric, Report, Summary, TargetResult};
use crate::world::{rss_kib, timed, World, WorldSpec, MAX_CONTAINERS};

/// Benchmarks devboxd/devbox-ctl against raw Podman on this machine (root, Podman set up by
/// scripts/setup-debian.sh, the workspace built with `--release`).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Repetitions of the create/stop/start/destroy cycle (each done by devbox-ctl and raw Podman).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Round trips of `devbox-ctl list` and of `devbox-ctl status` with all containers running.
    #[arg(long, default_value_t = 30)]
    list_reps: usize,
    /// Repetitions of the recovery (daemon restart after every container was killed).
    #[arg(long, default_value_t = 3)]
    recovery_reps: usize,
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench/results.json")]
    out: PathBuf,
    /// Keep a copy of devboxd's log here (profiling: run with DEVBOXD_LOG=debug).
    #[arg(long)]
    daemon_log: Option<PathBuf>,
    /// The image to run (default: the test kit's testbed image, built if needed).
    #[arg(long)]
    image: Option<String>,
    /// Instead of the classic run: the scale run at these numbers of running containers
    /// (e.g. 7,25,50), then the concurrency and burst phases; writes --scale-out and --plot.
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    scale: Option<Vec<usize>>,
    /// Seconds of each concurrency phase (idle reads, reads during mutations) of the scale run.
    #[arg(long, default_value_t = 8)]
    concurrent_secs: u64,
    /// Where the scale run's JSON goes.
    #[arg(long, default_value = "bench/scale.json")]
    scale_out: PathBuf,
    /// Where the scale run's SVG plot goes.
    #[arg(long, default_value = "bench/scale.svg")]
    plot: PathBuf,
}

#[derive(Default)]
pub(crate) struct Samples {
    ours: [Vec<f64>; 4],
    raw: [Vec<f64>; 4],
    api: [Vec<f64>; 4],
    ep_key_to_ready: Vec<f64>,
    ep_start_to_ready: Vec<f64>,
    ep_sigterm_exit: Vec<f64>,
    ep_rss: Vec<f64>,
    ep_hwm: Vec<f64>,
    daemon_idle_rss: Vec<f64>,
    daemon_busy_rss: Vec<f64>,
    daemon_hwm: Vec<f64>,
    create_loaded: Vec<f64>,
    list: Vec<f64>,
    status: Vec<f64>,
    raw_list: Vec<f64>,
    raw_status: Vec<f64>,
    daemon_start: Vec<f64>,
    podman_floor: Vec<f64>,
    recovery: Vec<f64>,
    destroy_running: Vec<f64>,
}

const CREATE: usize = 0;
const STOP: usize = 1;
const START: usize = 2;
const DESTROY: usize = 3;

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("devbox-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("devbox-bench must run as root (rootful Podman, a benchmark Unix user); use scripts/bench.sh");
    }
    if args.reps == 0 || args.list_reps == 0 || args.recovery_reps == 0 {
        bail!("--reps, --list-reps and --recovery-reps must be at least 1");
    }
    let started_at = jiff::Timestamp::now();
    let t_run = Instant::now();
    let loadavg_start = loadavg();
    let image = match &args.image {
        Some(i) => i.clone(),
        None => {
            eprintln!("== building (or finding) the testbed image");
            devbox_test_kit::testbed::ensure_image().context(
                "building the testbed image (run `cargo build --release --workspace --bins` first)",
            )?
        }
    };
    if let Some(levels) = args.scale {
        return scale::run(
            &image,
            &scale::ScaleArgs {
                levels,
                list_reps: args.list_reps,
                concurrent_secs: args.concurrent_secs,
                out: args.scale_out,
                plot: args.plot,
            },
        );
    }
    eprintln!("== starting Podman's API service and devboxd");
    let mut w = World::new(&image, WorldSpec::CLASSIC)?;
    let (s, n) = measure(&mut w, &args)?;
    if let Some(keep) = &args.daemon_log {
        std::fs::copy(&w.daemon_log, keep)
            .with_context(|| format!("copying devboxd's log to {}", keep.display()))?;
    }
    drop(w);
    let comparisons = comparisons(&s, n);
    let report = Report {
        started_at: started_at.to_string(),
        duration_secs: t_run.elapsed().as_secs_f64(),
        machine: machine(loadavg_start)?,
        repetitions: args.reps,
        containers: n,
        image,
        metrics: metrics(&s, n),
        targets: targets(&comparisons, &s, n),
        comparisons,
        notes: vec![
            "devbox-ctl times include the CLI process; raw CLI times include one podman process per command; \
             'engine API only' is devboxd's Podman engine called directly (no daemon, no CLI, no 1Password). \
             The sides are interleaved, their order rotating with each repetition; targets are judged on the raw CLI ratio."
                .to_string(),
        ],
    };
    print!("{}", report.table());
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// The classic run's measurements, in order; returns them with the number of containers filled.
fn measure(w: &mut World, args: &Args) -> Result<(Samples, usize)> {
    let mut s = Samples::default();

    // devboxd idle: it has answered one request and manages nothing.
    w.ctl(&["list"])?;
    daemon_rss(w, &mut s.daemon_idle_rss, &mut s.daemon_hwm)?;

    lifecycle::pairs(w, args.reps, &mut s)?;
    daemon_rss(w, &mut s.daemon_idle_rss, &mut s.daemon_hwm)?;

    let names = fill(w, &mut s)?;
    daemon_rss(w, &mut s.daemon_busy_rss, &mut s.daemon_hwm)?;
    for n in &names {
        let (rss, hwm) = rss_kib(raw::host_pid(n)?)?;
        s.ep_rss.push(rss);
        s.ep_hwm.push(hwm);
    }
    round_trips(w, &names, args.list_reps, &mut s)?;
    for rep in 0..args.recovery_reps {
        eprintln!("== recovery {}/{}", rep + 1, args.recovery_reps);
        recovery(w, &names, &mut s)?;
    }
    daemon_rss(w, &mut s.daemon_busy_rss, &mut s.daemon_hwm)?;
    eprintln!("== destroying the {} containers", names.len());
    for n in &names {
        let ((), ms) = timed(|| w.ctl(&["destroy", n, "--yes"]).map(|_| ()))?;
        s.destroy_running.push(ms);
    }
    Ok((s, names.len()))
}

/// Each devbox operation against the same work done with the raw Podman CLI (and the engine API).
fn comparisons(s: &Samples, n: usize) -> Vec<Comparison> {
    let mut comparisons = vec![
        Comparison::with_api(
            "create -> ready",
            "volume create + create + start + exec deliver-key + exec status until ready",
            &s.ours[CREATE],
            &s.raw[CREATE],
            &s.api[CREATE],
        ),
        Comparison::with_api(
            "stop",
            "exec devbox-entrypoint logout + stop",
            &s.ours[STOP],
            &s.raw[STOP],
            &s.api[STOP],
        ),
        Comparison::with_api(
            "start -> ready",
            "start + exec deliver-key + exec status until ready",
            &s.ours[START],
            &s.raw[START],
            &s.api[START],
        ),
        Comparison::with_api(
            "destroy",
            "rm + volume rm (container stopped)",
            &s.ours[DESTROY],
            &s.raw[DESTROY],
            &s.api[DESTROY],
        ),
    ];
    comparisons.push(Comparison::new(
        &format!("list ({n} running)"),
        "ps -a --filter label=... --format json",
        &s.list,
        &s.raw_list,
    ));
    comparisons.push(Comparison::new(
        &format!("status ({n} running)"),
        "inspect + exec devbox-entrypoint status --json",
        &s.status,
        &s.raw_status,
    ));
    comparisons
}

fn metrics(s: &Samples, n: usize) -> Vec<Metric> {
    vec![
        Metric::new(
            "one podman CLI call (inspect), the raw floor",
            "ms",
            &s.podman_floor,
        ),
        Metric::new("devboxd start -> socket accepts", "ms", &s.daemon_start),
        Metric::new(
            &format!("recovery: daemon restart -> {n} ready"),
            "ms",
            &s.recovery,
        ),
        Metric::new(
            "create -> ready, others running (ctl)",
            "ms",
            &s.create_loaded,
        ),
        Metric::new(
            "destroy of a running container (ctl)",
            "ms",
            &s.destroy_running,
        ),
        Metric::new(
            "entrypoint: key delivered -> ready",
            "ms",
            &s.ep_key_to_ready,
        ),
        Metric::new(
            "entrypoint: own start -> ready (status)",
            "ms",
            &s.ep_start_to_ready,
        ),
        Metric::new("entrypoint: SIGTERM -> exit", "ms", &s.ep_sigterm_exit),
        Metric::new("entrypoint VmRSS", "KiB", &s.ep_rss),
        Metric::new("entrypoint VmHWM", "KiB", &s.ep_hwm),
        Metric::new("devboxd VmRSS idle", "KiB", &s.daemon_idle_rss),
        Metric::new(
            &format!("devboxd VmRSS with {n} containers"),
            "KiB",
            &s.daemon_busy_rss,
        ),
        Metric::new("devboxd VmHWM (peak so far)", "KiB", &s.daemon_hwm),
    ]
}

/// The targets of docs/benchmarks.md, judged on this run.
fn targets(comparisons: &[Comparison], s: &Samples, n: usize) -> Vec<TargetResult> {
    let ratio = |i: usize| {
        comparisons[i]
            .ratio_of_medians
            .and_then(|r| Summary::of(&[r]))
    };
    let mut targets = Vec::new();
    for (i, c) in comparisons.iter().enumerate().take(4) {
        targets.push(TargetResult::check(
            &format!("{} ratio <= 1.2", c.operation),
            1.2,
            true,
            "x",
            Basis::Median,
            ratio(i),
        ));
    }
    let mb: f64 = 1000.0 * 1000.0 / 1024.0; // KiB in a (decimal) megabyte
    targets.extend([
        TargetResult::check(
            "stop -> exited < 1 s",
            1000.0,
            false,
            "ms",
            Basis::Max,
            comparisons[STOP].ours_ms,
        ),
        TargetResult::check(
            &format!("list with {n} containers < 50 ms"),
            50.0,
            false,
            "ms",
            Basis::Median,
            Summary::of(&s.list),
        ),
        TargetResult::check(
            &format!("recovery of {n} containers < 15 s"),
            15000.0,
            false,
            "ms",
            Basis::Max,
            Summary::of(&s.recovery),
        ),
        TargetResult::check(
            "entrypoint RSS < 10 MB",
            (10.0 * mb).round(),
            false,
            "KiB",
            Basis::Max,
            Summary::of(&s.ep_rss),
        ),
        TargetResult::check(
            "devboxd RSS < 30 MB",
            (30.0 * mb).round(),
            false,
            "KiB",
            Basis::Max,
            Summary::of(
                &s.daemon_idle_rss
                    .iter()
                    .chain(&s.daemon_busy_rss)
                    .copied()
                    .collect::<Vec<_>>(),
            ),
        ),
    ]);
    targets
}

fn daemon_rss(w: &World, rss: &mut Vec<f64>, hwm: &mut Vec<f64>) -> Result<()> {
    let pid = w.daemon_pid().context("devboxd is not running")?;
    let (r, h) = rss_kib(pid)?;
    rss.push(r);
    hwm.push(h);
    Ok(())
}

/// Creates containers up to the global limit through devbox-ctl.
fn fill(w: &World, s: &mut Samples) -> Result<Vec<String>> {
    let pid = std::process::id();
    let mut names = Vec::new();
    for i in 0..MAX_CONTAINERS {
        let name = format!("bf{i}-{pid}");
        eprintln!("== create {}/{MAX_CONTAINERS}: {name}", i + 1);
        let ((), ms) = timed(|| w.ctl(&["--json", "create", &name, "--another"]).map(|_| ()))?;
        if i > 0 {
            s.create_loaded.push(ms);
        }
        names.push(name);
    }
    Ok(names)
}

fn round_trips(w: &World, names: &[String], reps: usize, s: &mut Samples) -> Result<()> {
    eprintln!("== list/status round trips ({reps} each, against podman ps / inspect + exec)");
    let filter = format!("label=devbox.instance={}", w.instance);
    for i in 0..reps {
        let name = &names[i % names.len()];
        for side in 0..2 {
            if (side == 0) == (i % 2 == 0) {
                let (out, ms) = timed(|| w.ctl(&["list"]))?;
                let text = String::from_utf8_lossy(&out.stdout);
                if names.iter().any(|n| !text.contains(n.as_str())) {
                    bail!("devbox-ctl list does not show every container:\n{text}");
                }
                s.list.push(ms);
                let ((), ms) = timed(|| w.ctl(&["status", name]).map(|_| ()))?;
                s.status.push(ms);
            } else {
                let (text, ms) = timed(|| {
                    Ok(devbox_test_kit::podman::podman(&[
                        "ps", "-a", "--filter", &filter, "--format", "json",
                    ])?)
                })?;
                if names.iter().any(|n| !text.contains(n.as_str())) {
                    bail!("podman ps does not show every container:\n{text}");
                }
                s.raw_list.push(ms);
                let t0 = Instant::now();
                devbox_test_kit::podman::podman(&["inspect", name])?;
                s.podman_floor.push(t0.elapsed().as_secs_f64() * 1000.0);
                raw::status(name)?;
                s.raw_status.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(())
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: Z = exited, not yet reaped.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => true,
    }
}

/// Host reboot, in small: devboxd stops, every container's entrypoint gets SIGTERM (timed to
/// its exit), devboxd starts again and its reconciler brings them all back (timed until its
/// audit log says every start succeeded, then checked with each entrypoint's status).
fn recovery(w: &mut World, names: &[String], s: &mut Samples) -> Result<()> {
    w.stop_daemon()?;
    for n in names {
        let pid = raw::host_pid(n)?;
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid)?),
            nix::sys::signal::Signal::SIGTERM,
        )
        .with_context(|| format!("SIGTERM to the entrypoint of {n}"))?;
        let start = Instant::now();
        while !process_gone(pid) {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("the entrypoint of {n} did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        s.ep_sigterm_exit.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    for n in names {
        poll_until(Duration::from_secs(30), "podman to see the exit", || {
            raw::state(n).ok().filter(|st| st != "running")
        })?;
    }
    let offset = w.daemon_log_text().len();
    let t0 = Instant::now();
    w.start_daemon()?;
    s.daemon_start.push(t0.elapsed().as_secs_f64() * 1000.0);
    let want = names.len();
    let done = poll_until(Duration::from_secs(120), "every container back up", || {
        let log = w.daemon_log_text();
        let fresh = log.get(offset..).unwrap_or("");
        // The reconciler audits its starts as `reconcile-start` (older daemons: `start`).
        let (ok1, failed1) = count_audit(fresh, "reconcile-start");
        let (ok2, failed2) = count_audit(fresh, "start");
        let (ok, failed) = (ok1 + ok2, failed1 + failed2);
        (ok + failed >= want || fresh.contains("reconcile at start done"))
            .then_some(want - ok.min(want))
    })
    .with_context(|| {
        format!(
            "daemon log since its restart:\n{}",
            w.daemon_log_text().get(offset..).unwrap_or("")
        )
    })?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if done > 0 {
        bail!(
            "the reconciler failed to start {done} containers; daemon log:\n{}",
            w.daemon_log_text().get(offset..).unwrap_or("")
        );
    }
    for n in names {
        let st = raw::status(n)?;
        if !st.ready {
            bail!("{n} is not ready after the reconciler reported it started");
        }
    }
    s.recovery.push(ms);
    Ok(())
}

/// (ok, error) audit lines of `action` in devboxd's log text.
fn count_audit(log: &str, action: &str) -> (usize, usize) {
    let quoted = format!("action=\"{action}\"");
    let bare = format!("action={action} ");
    let mut ok = 0;
    let mut failed = 0;
    for line in log.lines().filter(|l| l.contains("devbox::audit")) {
        if !(line.contains(&quoted) || line.contains(&bare)) {
            continue;
        }
        if line.contains("result=\"ok\"") || line.contains("result=ok") {
            ok += 1;
        } else if line.contains("result=\"error\"") || line.contains("result=error") {
            failed += 1;
        }
    }
    (ok, failed)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine(loadavg_start: String) -> Result<Machine> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|r| r.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_total_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let uts = nix::sys::utsname::uname()?;
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default();
    let podman_version =
        devbox_test_kit::podman::podman(&["version", "--format", "{{.Client.Version}}"])
            .unwrap_or_else(|e| format!("unknown ({e})"));
    Ok(Machine {
        cpu_model,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        memory_total_kib,
        kernel: format!(
            "{} {}",
            uts.release().to_string_lossy(),
            uts.version().to_string_lossy()
        ),
        os,
        podman_version,
        loadavg_start,
        loadavg_end: loadavg(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_are_counted_by_action_and_result() {
        let log = "\
2026-01-01T00:00:00Z  INFO devbox::audit: audit uid=0 user=devboxd action=\"start\" container=\"a\" result=\"ok\"
2026-01-01T00:00:00Z  WARN devbox::audit: audit uid=0 user=devboxd action=\"start\" container=\"b\" result=\"error\" code=Unavailable
2026-01-01T00:00:00Z  INFO devbox::audit: audit uid=0 user=devboxd action=\"stop\" container=\"a\" result=\"ok\"
2026-01-01T00:00:00Z  INFO devboxd: reconcile: starting (desired running) container=c action=\"start\" result=\"ok\"
2026-01-01T00:00:00Z  INFO devbox::audit: audit uid=0 user=devboxd action=start container=d result=ok
";
        assert_eq!(count_audit(log, "start"), (2, 1));
        assert_eq!(count_audit(log, "stop"), (1, 0));
        assert_eq!(count_audit("", "start"), (0, 0));
    }

    #[test]
    fn a_missing_process_counts_as_gone_and_this_one_does_not() {
        assert!(!process_gone(std::process::id()));
        assert!(process_gone(u32::MAX));
    }
}
