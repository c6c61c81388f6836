//! `rotate-key NAME` and `rotate-key --user USER`: a fresh Tailscale key into one running
//! container, or into every running container of a user.

use devbox_api::{ClientError, ContainerStatus, ErrorCode, RotateKeyRequest};

use super::{check_name, Ctx};
use crate::errors::{fail, invalid};
use crate::input::auth_key_if;
use crate::interrupt::in_flight;
use crate::print::print_json;
use crate::render;

pub async fn rotate_key(
    ctx: &Ctx,
    name: Option<String>,
    user: Option<String>,
    now: bool,
    auth_key_stdin: bool,
) -> anyhow::Result<()> {
    let auth_key = auth_key_if(auth_key_stdin).await?;
    let names: Vec<String> = match (name, user) {
        (Some(n), _) => {
            check_name(&n)?;
            vec![n]
        }
        (None, Some(u)) => running_of_user(ctx, &u).await?,
        (None, None) => return Err(invalid("name a container or pass --user USER")),
    };
    let req = RotateKeyRequest { now, auth_key };
    let mut done = Vec::new();
    let mut failed = None;
    for name in &names {
        in_flight("rotate-key", name);
        // Several containers in a row: each progress line says which one.
        let prefix = if names.len() > 1 { name.as_str() } else { "" };
        let steps = render::steps(ctx.json, prefix);
        match ctx.client.rotate_key(name, &req, steps).await {
            Ok(s) => {
                if !ctx.json {
                    render::rotated(name, &s, req.auth_key.is_some(), now);
                }
                done.push(s);
            }
            Err(e) => {
                // One container: main prints the error; several: say which one failed.
                if names.len() > 1 {
                    say!("devbox-ctl: rotate-key {name}: {e}");
                }
                failed = Some(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(partly_delivered(e, &done));
    }
    if ctx.json {
        // One document: the status for one named container, a list for --user.
        if done.len() == 1 && names.len() == 1 {
            print_json(&done[0])?;
        } else {
            print_json(&done)?;
        }
    }
    Ok(())
}

/// The running containers of `user`: admins may name anyone, others only themselves.
async fn running_of_user(ctx: &Ctx, user: &str) -> anyhow::Result<Vec<String>> {
    let me = ctx.client.whoami().await?;
    let all = user != me.user;
    if all && !me.is_admin {
        return Err(fail(
            ErrorCode::Forbidden,
            format!(
                "only admins may rotate another user's keys; `devbox-ctl rotate-key --user {}` does yours",
                me.user
            ),
        ));
    }
    let list = ctx.client.list(all).await?;
    let owned = list.iter().filter(|c| c.owner == user).count();
    let running: Vec<String> = list
        .into_iter()
        .filter(|c| c.owner == user && c.state == "running")
        .map(|c| c.name)
        .collect();
    if running.is_empty() && !ctx.json {
        render::nothing_to_rotate(user, owned, all);
    }
    Ok(running)
}

/// The last failure; with --json the one document is then the error, so it says which
/// containers did get the key.
fn partly_delivered(e: ClientError, done: &[ContainerStatus]) -> anyhow::Error {
    let delivered: Vec<&str> = done.iter().map(|s| s.container.name.as_str()).collect();
    if delivered.is_empty() {
        return e.into();
    }
    anyhow::Error::new(e).context(format!("delivered to {} only", delivered.join(", ")))
}
