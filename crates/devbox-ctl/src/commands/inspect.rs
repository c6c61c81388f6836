//! The commands that only look: whoami, list, status, logs, doctor.

use std::io::Write;

use devbox_api::{ClientError, ErrorCode, LogsQuery};

use super::{check_name, Ctx};
use crate::errors::fail;
use crate::print::print_json;
use crate::{render, term};

pub async fn whoami(ctx: &Ctx) -> anyhow::Result<()> {
    let w = ctx.client.whoami().await?;
    if ctx.json {
        print_json(&w)
    } else {
        render::whoami(&w);
        Ok(())
    }
}

pub async fn list(ctx: &Ctx, all: bool) -> anyhow::Result<()> {
    let list = ctx.client.list(all).await?;
    if ctx.json {
        return print_json(&list);
    }
    render::list(&list);
    // Kept volumes are for people; `--json` keeps the one document the list.
    let kept = ctx.client.kept_volumes(all).await?;
    render::kept(&kept);
    Ok(())
}

pub async fn status(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let s = ctx.client.status(name).await?;
    if ctx.json {
        print_json(&s)
    } else {
        render::status(&s);
        Ok(())
    }
}

pub async fn logs(
    ctx: &Ctx,
    name: &str,
    follow: bool,
    tail: Option<u32>,
    raw: bool,
) -> anyhow::Result<()> {
    check_name(name)?;
    let mut out = std::io::stdout();
    // The container writes these bytes: control sequences are made visible unless the
    // caller asked for the exact bytes (--raw, e.g. into a file).
    let mut cleaner = term::StreamCleaner::default();
    ctx.client
        .logs(name, &LogsQuery { follow, tail }, |b| {
            if raw {
                out.write_all(b)?;
            } else {
                out.write_all(cleaner.push(b).as_bytes())?;
            }
            out.flush()
        })
        .await?;
    if !raw {
        out.write_all(cleaner.finish().as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

pub async fn doctor(ctx: &Ctx) -> anyhow::Result<()> {
    let report = match ctx.client.doctor().await {
        Ok(r) => r,
        Err(e) => {
            // With --json, doctor's one stdout document is always the checks (main adds no
            // error document for it).
            if ctx.json {
                print_json(
                    &serde_json::json!({"checks": [{"name": "daemon", "ok": false, "detail": e.to_string()}]}),
                )?;
            } else if matches!(e, ClientError::Connect { .. }) {
                render::doctor_unreachable(&e);
            }
            return Err(e.into());
        }
    };
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    if ctx.json {
        print_json(&report)?;
    } else {
        render::doctor(&report, ctx.client.socket());
    }
    if failed > 0 {
        return Err(fail(
            ErrorCode::Unavailable,
            format!("{failed} check(s) failed"),
        ));
    }
    Ok(())
}
