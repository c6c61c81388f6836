//! The commands that change a container: create, start, stop, destroy. Each is a long
//! operation on the daemon whose steps are shown as they happen.

use devbox_api::{ClientError, CreateRequest, ErrorCode, StartRequest};

use super::{check_name, Ctx};
use crate::errors::{fail, invalid};
use crate::input::{ask, auth_key_if, interactive};
use crate::interrupt::in_flight;
use crate::print::print_json;
use crate::render;

/// `create`'s flags besides the name.
pub struct CreateOptions {
    pub cpu: Option<f64>,
    pub memory: Option<String>,
    pub with_syncthing: bool,
    pub no_start: bool,
    pub another: bool,
    pub auth_key_stdin: bool,
}

pub async fn create(ctx: &Ctx, name: String, opts: CreateOptions) -> anyhow::Result<()> {
    check_name(&name)?;
    let mut req = CreateRequest {
        name: name.clone(),
        cpu: opts.cpu,
        memory: opts.memory,
        syncthing: opts.with_syncthing,
        start: !opts.no_start,
        confirm_another: opts.another,
        auth_key: auth_key_if(opts.auth_key_stdin).await?,
    };
    let status = loop {
        in_flight("create", &name);
        match ctx.client.create(&req, ctx.steps()).await {
            // A second container needs a yes; a person at a terminal is asked for it.
            Err(ClientError::Api(e))
                if e.code == ErrorCode::NeedsConfirmation && !ctx.json && interactive() =>
            {
                say!("{}", e.message);
                let a = ask(&format!("Create {name} as well? [y/N]")).await?;
                if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") {
                    req.confirm_another = true;
                    continue;
                }
                return Err(fail(
                    ErrorCode::NeedsConfirmation,
                    format!("not created; pass --another to create {name} without asking"),
                ));
            }
            other => break other?,
        }
    };
    if ctx.json {
        print_json(&status)
    } else {
        render::created(&name, !opts.no_start, &status);
        Ok(())
    }
}

pub async fn start(ctx: &Ctx, name: &str, auth_key_stdin: bool) -> anyhow::Result<()> {
    check_name(name)?;
    let req = StartRequest {
        auth_key: auth_key_if(auth_key_stdin).await?,
    };
    in_flight("start", name);
    let status = ctx.client.start(name, &req, ctx.steps()).await?;
    if ctx.json {
        print_json(&status)
    } else {
        render::status(&status);
        Ok(())
    }
}

pub async fn stop(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    in_flight("stop", name);
    let info = ctx.client.stop(name, ctx.steps()).await?;
    if ctx.json {
        print_json(&info)
    } else {
        render::stopped(&info);
        Ok(())
    }
}

pub async fn destroy(ctx: &Ctx, name: &str, keep_volume: bool, yes: bool) -> anyhow::Result<()> {
    check_name(name)?;
    if !yes {
        confirm_destroy(ctx, name, keep_volume).await?;
    }
    in_flight("destroy", name);
    let r = ctx.client.destroy(name, keep_volume, ctx.steps()).await?;
    if ctx.json {
        print_json(&r)
    } else {
        render::destroyed(&r);
        Ok(())
    }
}

/// Destroy cannot be undone: a person types the name; off a terminal `--yes` is required.
async fn confirm_destroy(ctx: &Ctx, name: &str, keep_volume: bool) -> anyhow::Result<()> {
    if ctx.json || !interactive() {
        return Err(invalid(format!(
            "destroying {name} cannot be undone; pass --yes to confirm"
        )));
    }
    let what = if keep_volume {
        "(the home volume is kept)"
    } else {
        "and its home volume (all data in /home/dev)"
    };
    let a = ask(&format!("Destroy {name} {what}? Type the name to confirm:")).await?;
    if a != name {
        return Err(fail(
            ErrorCode::NeedsConfirmation,
            if a.is_empty() {
                "not destroyed".to_string()
            } else {
                format!("not destroyed: you typed {a:?}, not {name:?}")
            },
        ));
    }
    Ok(())
}
