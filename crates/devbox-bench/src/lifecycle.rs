//! The lifecycle pairs of the classic run: create/stop/start/destroy through devbox-ctl, with
//! the raw Podman CLI and with devboxd's engine over the API alone, each side on a container of
//! its own.

use std::time::Instant;

use anyhow::{bail, Result};

use crate::raw::{self, RawSpec};
use crate::world::{timed, World};
use crate::{api, Samples, CREATE, DESTROY, START, STOP};

/// The three sides, interleaved: the order rotates with each repetition.
pub(crate) fn pairs(w: &World, reps: usize, s: &mut Samples) -> Result<()> {
    let api = api::ApiSide::new(&w.podman_socket)?;
    for rep in 0..reps {
        eprintln!("== lifecycle repetition {}/{reps}", rep + 1);
        for turn in 0..3 {
            match (turn + rep) % 3 {
                0 => ctl_cycle(w, rep, s)?,
                1 => raw_cycle(w, rep, s)?,
                _ => api_cycle(&api, w, rep, s)?,
            }
        }
    }
    Ok(())
}

/// Through devbox-ctl (the CLI process included), each step checked to have really happened.
fn ctl_cycle(w: &World, rep: usize, s: &mut Samples) -> Result<()> {
    let name = format!("bc{rep}-{}", std::process::id());
    let ((), ms) = timed(|| w.ctl(&["--json", "create", &name, "--another"]).map(|_| ()))?;
    s.ours[CREATE].push(ms);
    if !raw::status(&name)?.ready {
        bail!("{name} is not ready after devbox-ctl create returned");
    }
    let ((), ms) = timed(|| w.ctl(&["--json", "stop", &name]).map(|_| ()))?;
    s.ours[STOP].push(ms);
    let st = raw::state(&name)?;
    if st != "exited" && st != "stopped" {
        bail!("{name} is {st} after devbox-ctl stop returned");
    }
    let ((), ms) = timed(|| w.ctl(&["--json", "start", &name]).map(|_| ()))?;
    s.ours[START].push(ms);
    // Destroy from stopped on both sides (the same work for the raw side).
    w.ctl(&["--json", "stop", &name])?;
    let ((), ms) = timed(|| w.ctl(&["--json", "destroy", &name, "--yes"]).map(|_| ()))?;
    s.ours[DESTROY].push(ms);
    // Checked outside the timing: the work was really done.
    let volume = format!("devbox-home-{name}");
    for (what, args) in [
        ("container", ["container", "exists", name.as_str()]),
        ("volume", ["volume", "exists", volume.as_str()]),
    ] {
        if devbox_test_kit::podman::podman_output(&args)?
            .status
            .success()
        {
            bail!("the {what} of {name} still exists after devbox-ctl destroy returned");
        }
    }
    Ok(())
}

/// The same work with the raw Podman CLI, one podman process per command; also the
/// entrypoint's own timings of each start.
fn raw_cycle(w: &World, rep: usize, s: &mut Samples) -> Result<()> {
    let spec = RawSpec {
        name: format!("br{rep}-{}", std::process::id()),
        image: &w.image,
        owner: &w.user,
        instance: raw::raw_instance(&w.instance),
        slot: rep as u64,
    };
    let t0 = Instant::now();
    spec.create()?;
    let (delivered, ready, status) = spec.start_ready(&w.key)?;
    s.raw[CREATE].push(ms_between(t0, ready));
    entrypoint_timing(s, delivered, ready, &status);
    let ((), ms) = timed(|| spec.stop())?;
    s.raw[STOP].push(ms);
    let t0 = Instant::now();
    let (delivered, ready, status) = spec.start_ready(&w.key)?;
    s.raw[START].push(ms_between(t0, ready));
    entrypoint_timing(s, delivered, ready, &status);
    spec.stop()?;
    let ((), ms) = timed(|| spec.destroy())?;
    s.raw[DESTROY].push(ms);
    Ok(())
}

/// devboxd's engine called directly over Podman's API socket (no daemon, no CLI, no 1Password).
fn api_cycle(api: &api::ApiSide, w: &World, rep: usize, s: &mut Samples) -> Result<()> {
    let spec = api::ApiSpec {
        name: format!("ba{rep}-{}", std::process::id()),
        image: &w.image,
        owner: &w.user,
        instance: format!("{}-api", w.instance),
        slot: rep as u64,
    };
    let t0 = Instant::now();
    api.create(&spec)?;
    api.start_ready(&spec.name, &w.key)?;
    s.api[CREATE].push(ms_between(t0, Instant::now()));
    let ((), ms) = timed(|| api.stop(&spec.name))?;
    s.api[STOP].push(ms);
    let (_, ms) = timed(|| api.start_ready(&spec.name, &w.key))?;
    s.api[START].push(ms);
    api.stop(&spec.name)?;
    let ((), ms) = timed(|| api.destroy(&spec))?;
    s.api[DESTROY].push(ms);
    Ok(())
}

fn ms_between(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1000.0
}

/// The entrypoint's own view: from its start to the status that first said ready.
fn entrypoint_timing(
    s: &mut Samples,
    delivered: Instant,
    ready: Instant,
    status: &devbox_entrypoint::status::Status,
) {
    s.ep_key_to_ready.push(ms_between(delivered, ready));
    let parse = |t: &str| t.parse::<jiff::Timestamp>().ok();
    if let (Some(a), Some(b)) = (parse(&status.started_at), parse(&status.updated_at)) {
        let ms = (b.as_millisecond() - a.as_millisecond()) as f64;
        if ms >= 0.0 {
            s.ep_start_to_ready.push(ms);
        }
    }
}
