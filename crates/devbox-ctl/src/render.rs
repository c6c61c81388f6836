//! Everything devbox-ctl prints for people: status, tables, plans, confirmations. All of it goes
//! through `out!`/`say!`, which make control characters visible (`term::clean`); `--json`
//! output is printed elsewhere, exactly.

use devbox_api::validate::format_memory;
use devbox_api::{
    ContainerInfo, ContainerStatus, DesiredState, DestroyResult, DoctorReport, EntrypointStatus,
    KeptVolumeInfo, LifecyclePlan, Notice, PlanItem, PlannedNotice, WhoAmI,
};
use jiff::Timestamp;

use crate::when;

/// A desired state as its wire name (`running`, `stopped`).
fn desired_name(d: DesiredState) -> String {
    serde_json::to_string(&d)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

pub fn whoami(w: &WhoAmI) {
    out!(
        "{} (uid {}){}",
        w.user,
        w.uid,
        if w.is_admin { ", admin" } else { "" }
    );
}

/// `status`, and the result of `create`/`start`: state, resources, services, how to connect.
pub fn status(s: &ContainerStatus) {
    let c = &s.container;
    out!("{}  (owner {}, {})", c.name, c.owner, c.state);
    if let Some(why) = &c.orphaned {
        out!("  {why}");
    }
    out!(
        "  resources: {} CPU, {} memory; home volume {}",
        c.cpu,
        format_memory(c.memory_bytes),
        c.volume
    );
    if let Some(d) = c.desired {
        out!("  desired:   {}", desired_name(d));
    }
    match &s.entrypoint {
        Some(e) => entrypoint(&c.name, e),
        None if c.state == "running" => out!("  entrypoint: not answering"),
        None => {}
    }
    if let Some(next) = s.lifecycle.as_ref().and_then(|l| l.next.as_ref()) {
        out!(
            "  automatic: {} at {} (`devbox-ctl keep {}` postpones)",
            next.action,
            when::with_distance(&next.at, Timestamp::now()),
            c.name
        );
    }
    connect(s);
}

/// The entrypoint's part of `status`: phase, tailnet, services, activity.
fn entrypoint(name: &str, e: &EntrypointStatus) {
    out!(
        "  phase:     {}{}",
        e.phase,
        if e.ready {
            String::new()
        } else {
            format!(" (not ready; follow it with `devbox-ctl logs -f {name}`)")
        }
    );
    let ts = &e.tailscale;
    out!(
        "  tailscale: {}{}{}{}",
        ts.state,
        ts.ip
            .as_deref()
            .map(|i| format!(", {i}"))
            .unwrap_or_default(),
        ts.hostname
            .as_deref()
            .map(|h| format!(", {h}"))
            .unwrap_or_default(),
        ts.error
            .as_deref()
            .map(|i| format!(", error: {i}"))
            .unwrap_or_default()
    );
    for svc in &e.services {
        let restarts = if svc.restarts > 0 || svc.state == "running" {
            format!(" (restarts {})", svc.restarts)
        } else {
            String::new()
        };
        out!(
            "  service:   {} {}{}{}",
            svc.name,
            svc.state,
            restarts,
            svc.last_error
                .as_deref()
                .map(|x| format!(", last error: {x}"))
                .unwrap_or_default()
        );
    }
    if let Some(a) = &e.last_activity {
        out!("  activity:  {}", when::with_distance(a, Timestamp::now()));
    }
}

/// The connect lines of `status` (also for a stopped container, saying how to start it).
fn connect(s: &ContainerStatus) {
    let c = &s.container;
    if c.state == "running" {
        out!("Connect:");
    } else {
        out!("Connect (once started with `devbox-ctl start {}`):", c.name);
    }
    out!("  ssh:         {}", s.connect.ssh);
    out!("  code-server: {}", s.connect.code_server);
    if !s.connect.password.is_empty() {
        out!("  password:    {}", s.connect.password);
    }
    out!("  zed:         {}", s.connect.zed);
    if let Some(id) = &s.connect.syncthing_device_id {
        out!("  syncthing:   device ID {id}");
    }
    if let Some(gui) = &s.connect.syncthing_gui {
        out!("  sync GUI:    {gui}");
    }
}

pub fn created(name: &str, started: bool, s: &ContainerStatus) {
    out!(
        "Created {name}{}.",
        if started { "" } else { " (not started)" }
    );
    status(s);
}

pub fn stopped(info: &ContainerInfo) {
    out!("Stopped {} (home volume {} kept).", info.name, info.volume);
}

pub fn destroyed(r: &DestroyResult) {
    if r.volume_kept {
        out!(
            "Destroyed {}; kept volume {} (`devbox-ctl create {}` resumes it).",
            r.name,
            r.volume,
            r.name
        );
    } else {
        out!("Destroyed {} and its volume {}.", r.name, r.volume);
    }
}

/// The `list` table.
pub fn list(list: &[ContainerInfo]) {
    if list.is_empty() {
        out!("No dev containers. Create one with `devbox-ctl create NAME`.");
        return;
    }
    out!(
        "{:<24} {:<12} {:<10} {:<8} {:>4} {:>7} CREATED",
        "NAME",
        "OWNER",
        "STATE",
        "DESIRED",
        "CPU",
        "MEMORY"
    );
    for c in list {
        let desired = c.desired.map(desired_name).unwrap_or_else(|| "-".into());
        out!(
            "{:<24} {:<12} {:<10} {:<8} {:>4} {:>7} {}",
            c.name,
            c.owner,
            c.state,
            desired,
            c.cpu,
            format_memory(c.memory_bytes),
            when::short(&c.created_at)
        );
        if let Some(why) = &c.orphaned {
            out!("  ^ {why}");
        }
    }
}

/// The kept home volumes under the `list` table (nothing when there are none).
pub fn kept(kept: &[KeptVolumeInfo]) {
    if kept.is_empty() {
        return;
    }
    out!("Kept home volumes (`devbox-ctl create NAME` resumes one, `devbox-ctl destroy NAME` removes it):");
    out!(
        "{:<24} {:<12} {:>9} DESTROYED AUTOMATICALLY",
        "NAME",
        "OWNER",
        "SIZE"
    );
    for k in kept {
        out!(
            "{:<24} {:<12} {:>9} {}",
            k.name,
            k.owner,
            k.size_bytes
                .map(format_size)
                .unwrap_or_else(|| "?".to_string()),
            k.destroy_at
                .as_deref()
                .map(|t| when::with_distance(t, Timestamp::now()))
                .unwrap_or_else(|| "never".to_string())
        );
    }
}

/// Bytes as people read them (`0B`, `12K`, `3.4G`).
fn format_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes}B")
    } else {
        format_memory(bytes)
    }
}

/// When `rotate-key` finds no running container of the user to deliver to.
pub fn nothing_to_rotate(user: &str, owned: usize, all: bool) {
    if owned == 0 && !all {
        out!("You have no containers; nothing to do.");
    } else if owned == 0 {
        out!("{user} has no containers on this orchestrator (is the user name right? `devbox-ctl list --all` shows everyone's); nothing to do.");
    } else {
        out!("{user} has no running containers; every start fetches the current key anyway.");
    }
}

/// A key delivered by `rotate-key` (`own_key`: the user's, not 1Password's).
pub fn rotated(name: &str, s: &ContainerStatus, own_key: bool, now: bool) {
    let source = if own_key {
        "your key"
    } else {
        "your 1Password key"
    };
    if s.container.state != "running" {
        out!("{name} uses {source} from its next start.");
    } else {
        out!(
            "Delivered {source} to {name}{}.",
            if now {
                " and re-authenticated"
            } else {
                "; it is used at the next re-auth"
            }
        );
    }
}

/// `notices` (`login`: the SSH login hook, silent when there is nothing to say).
pub fn notices(notices: &[Notice], login: bool) {
    if notices.is_empty() {
        if !login {
            out!("No notices.");
        }
    } else {
        for n in notices {
            out!("devbox: {}", n.message);
        }
    }
}

/// The notices every other command shows on stderr.
pub fn notices_on_stderr(notices: &[Notice]) {
    for n in notices {
        say!("devbox notice: {}", n.message);
    }
}

pub fn kept_item(name: &str, item: &PlanItem) {
    match &item.next {
        Some(n) => out!(
            "Kept {name}: next automatic {} at {}.",
            n.action,
            when::with_distance(&n.at, Timestamp::now())
        ),
        None => out!("Kept {name}: no automatic action is scheduled."),
    }
}

/// `gc`: what the reconciler will do (`dry_run`) or did, and when.
pub fn plan(plan: &LifecyclePlan, dry_run: bool) {
    // Distances are from the daemon's clock, not this machine's.
    let now = plan.now.parse().unwrap_or_else(|_| Timestamp::now());
    out!(
        "{} (now {}; idle containers stop after {} days, stopped ones are destroyed after {} days; 0 = never)",
        if dry_run { "What would happen" } else { "Reconciled" },
        when::short(&plan.now),
        plan.idle_stop_days,
        plan.stopped_destroy_days
    );
    if plan.containers.is_empty() {
        out!("  no containers");
    }
    for c in &plan.containers {
        match &c.next {
            Some(n) => out!(
                "  {} ({}, {}): {} at {}",
                c.name,
                c.owner,
                c.state,
                n.action,
                when::with_distance(&n.at, now)
            ),
            None => out!("  {} ({}, {}): nothing scheduled", c.name, c.owner, c.state),
        }
        warnings(&c.notices, now);
    }
    for k in &plan.kept_volumes {
        match &k.next {
            Some(n) => out!(
                "  {} ({}, kept home volume): destroy at {}",
                k.name,
                k.owner,
                when::with_distance(&n.at, now)
            ),
            None => out!(
                "  {} ({}, kept home volume): nothing scheduled",
                k.name,
                k.owner
            ),
        }
        warnings(&k.notices, now);
    }
    for p in &plan.pending_cleanups {
        out!(
            "  {} ({}): destroyed, tailnet device cleanup pending since {} ({} attempts; last error: {})",
            p.name,
            p.owner,
            when::short(&p.since),
            p.attempts,
            p.last_error
        );
    }
}

/// The warnings planned before an automatic action.
fn warnings(notices: &[PlannedNotice], now: Timestamp) {
    for w in notices {
        out!(
            "      warning {}h before, at {}{}",
            w.hours_before,
            when::with_distance(&w.at, now),
            if w.sent { " (sent)" } else { "" }
        );
    }
}

/// `doctor`'s checks, after the line that the daemon answers at `socket`.
pub fn doctor(report: &DoctorReport, socket: &std::path::Path) {
    out!("ok   daemon: devboxd answers on {}", socket.display());
    for c in &report.checks {
        out!(
            "{} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
        if let Some(fix) = &c.fix {
            out!("     fix: {fix}");
        }
    }
}

/// `doctor` when the daemon cannot be reached.
pub fn doctor_unreachable(e: &devbox_api::ClientError) {
    out!("FAIL daemon: {e}");
}

/// A long operation's progress on stderr, one `==>` line per step (nothing with `--json`);
/// `prefix` names the container when several are worked on in a row.
pub fn steps<'a>(json: bool, prefix: &'a str) -> impl FnMut(&str) + 'a {
    move |m: &str| {
        if !json {
            if prefix.is_empty() {
                say!("==> {m}");
            } else {
                say!("==> {prefix}: {m}");
            }
        }
    }
}
