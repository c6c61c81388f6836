//! devboxd: the nix-devbox controller daemon. See docs/controller.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use devboxd::clock::DaemonClock;
use devboxd::config::Config;
use devboxd::podman::Podman;
use devboxd::secrets::OpCli;
use devboxd::server::{self, Daemon};
use devboxd::service::{Service, Settings};
use devboxd::state::StateStore;
use devboxd::users::Users;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// The nix-devbox controller daemon: the only component that talks to Podman.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// JSON config file (camelCase fields; see docs/controller.md).
    #[arg(long, env = "DEVBOXD_CONFIG")]
    config: PathBuf,
    /// Validate the config and the users file, then exit.
    #[arg(long)]
    check: bool,
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("DEVBOXD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Under systemd (JOURNAL_STREAM is set) log to journald with structured fields.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(layer) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .init();
            return;
        }
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .init();
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let users = Users::load(&config.users_file)?;
    if args.check {
        println!(
            "config {} and users file {} are valid ({} users)",
            args.config.display(),
            config.users_file.display(),
            users.file.users.len()
        );
        return Ok(());
    }
    init_logging();
    let state = StateStore::new(&config.state_dir);
    state
        .load()
        .with_context(|| format!("reading state in {}", config.state_dir.display()))?;
    if !config.network_isolation {
        tracing::warn!("network isolation is OFF (`networkIsolation: false`): containers share Podman's default network and reach each other and the host");
    }
    if config.test_hooks {
        tracing::warn!("TEST HOOKS are enabled in the config; never do this in production");
    }
    let op = OpCli {
        command: config.op_command.clone(),
        token_file: config.token_file(),
        timeout: Duration::from_secs(60),
    };
    let daemon: Arc<Daemon> = Arc::new(Service::new(
        Podman::new(&config.podman_socket),
        op,
        daemon_clock(&config),
        users,
        settings(&config),
        state,
    ));
    let listener = server::listen(&config.socket_path, &config.socket_group)?;
    tracing::info!(socket = %config.socket_path.display(), image = %config.image, instance = %config.instance, "devboxd listening");
    spawn_reconciler(
        daemon.clone(),
        Duration::from_secs(config.reconcile_interval_secs),
    );
    serve_until_signal(listener, daemon).await?;
    let _ = std::fs::remove_file(&config.socket_path);
    Ok(())
}

/// The service's settings from the config.
fn settings(config: &Config) -> Settings {
    Settings {
        image: config.image.clone(),
        instance: config.instance.clone(),
        ready_timeout: Duration::from_secs(config.ready_timeout_secs),
        userns: config.userns == "auto",
        notice_hours_before_stop: config.notice_hours_before_stop.clone(),
        notice_hours_before_destroy: config.notice_hours_before_destroy.clone(),
        tailscale_api_url: config.tailscale_api_url.clone(),
        tailnet: config.tailnet.clone(),
        fault_injection: config.fault_injection.clone(),
        op_rate_limit: config.op_rate_limit.clone(),
        notify_webhook_file: config.webhook_file(),
        confinement: devboxd::engine::Confinement {
            pids_limit: config.pids_limit,
            no_new_privileges: config.no_new_privileges,
            ..Default::default()
        },
        firewall: config.network_isolation.then(|| {
            Arc::new(devboxd::firewall::Firewall::new(
                config.nft_command.clone(),
                &config.instance,
                config
                    .allowed_lan_cidrs
                    .iter()
                    .filter_map(|c| c.parse().ok())
                    .collect(),
                config.allow_cloud_metadata,
            ))
        }),
        binds: config
            .test_bind_mounts
            .iter()
            .filter_map(|m| m.split_once(':'))
            .map(|(h, c)| (h.to_string(), c.to_string()))
            .collect(),
    }
}

fn daemon_clock(config: &Config) -> DaemonClock {
    match &config.test_clock_file {
        Some(path) => {
            tracing::warn!(path = %path.display(), "TEST HOOK: the daemon's clock is read from a file");
            DaemonClock::File(path.clone())
        }
        None => DaemonClock::System,
    }
}

/// The reconciler: once at start (reboot recovery), then every `interval`.
fn spawn_reconciler(daemon: Arc<Daemon>, interval: Duration) {
    tokio::spawn(async move {
        if let Err(e) = daemon.reconcile_at_start().await {
            tracing::error!(error = %e, "reconcile at start failed");
        }
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = daemon.reconcile_pass(true).await {
                tracing::error!(error = %e, "reconcile pass failed");
            }
        }
    });
}

/// Serves the socket until SIGTERM/SIGINT: then stops accepting and lets running operations
/// finish for a bounded time (each is undoable: an unfinished create is rolled back at the next
/// start).
async fn serve_until_signal(
    listener: tokio::net::UnixListener,
    daemon: Arc<Daemon>,
) -> anyhow::Result<()> {
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let serve = server::serve(listener, daemon, async move { stopped.notified().await });
    tokio::select! {
        r = serve => r.context("serving the socket")?,
        () = async {
            wait_for_signal().await;
            tracing::info!("devboxd shutting down");
            stop.notify_one();
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("operations still running after {}s; exiting anyway", SHUTDOWN_GRACE.as_secs()),
    }
    Ok(())
}

const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

async fn wait_for_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("devboxd: {e:#}");
        std::process::exit(1);
    }
}
