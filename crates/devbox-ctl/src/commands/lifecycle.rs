//! The lifecycle commands (docs/lifecycle.md): notices, keep, gc; and the notices every other
//! command shows on stderr.

use super::{check_name, Ctx};
use crate::interrupt::in_flight;
use crate::print::print_json;
use crate::render;

pub async fn notices(ctx: &Ctx, login: bool) -> anyhow::Result<()> {
    let notices = match ctx.client.notices().await {
        Ok(n) => n,
        // The SSH login hook never fails a login.
        Err(_) if login => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        print_json(&notices)
    } else {
        render::notices(&notices, login);
        Ok(())
    }
}

pub async fn keep(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let item = ctx.client.keep(name).await?;
    if ctx.json {
        print_json(&item)
    } else {
        render::kept_item(name, &item);
        Ok(())
    }
}

pub async fn gc(ctx: &Ctx, dry_run: bool, all: bool) -> anyhow::Result<()> {
    let plan = if dry_run {
        ctx.client.lifecycle(all).await?
    } else {
        in_flight("gc", "");
        ctx.client.reconcile(ctx.steps()).await?
    };
    if ctx.json {
        print_json(&plan)
    } else {
        render::plan(&plan, dry_run);
        Ok(())
    }
}

/// Every command shows the caller's pending notices on stderr (best effort, quiet on failure).
pub async fn show_notices(client: &devbox_api::Client) {
    let fetch = client.notices();
    if let Ok(Ok(notices)) = tokio::time::timeout(std::time::Duration::from_secs(5), fetch).await {
        render::notices_on_stderr(&notices);
    }
}
