//! Per-container bounds (docs/security.md, "Bounds"): the admin's cpu/memory maxima from
//! users.nix, and the confinement every container gets: a pids limit, an explicit capability set
//! and `no-new-privileges`. The hard cpu/memory bounds themselves come from
//! `devbox_schema::bounds`, the same numbers users.nix is validated against.

use devbox_api::validate::format_memory;
use devbox_api::{ApiError, ErrorCode};
use devbox_schema::ContainerPolicy;

/// Default `pidsLimit`: processes + threads per container. A dev container runs a few dozen
/// services' worth; parallel builds (cargo, nix, make -j) stay in the hundreds.
pub const DEFAULT_PIDS_LIMIT: i64 = 4096;
/// Range accepted for `pidsLimit` (the entrypoint and its services alone need ~30).
pub const MIN_PIDS_LIMIT: i64 = 64;
/// See [`MIN_PIDS_LIMIT`].
pub const MAX_PIDS_LIMIT: i64 = 1 << 22;

/// The capabilities of a container's root (all others are dropped), chosen for what a dev
/// container does: the entrypoint sets up the home volume and runs services as `dev` (CHOWN,
/// DAC_OVERRIDE, FOWNER, FSETID, SETUID, SETGID, KILL), package managers and `nix` write files
/// for other owners (CHOWN, DAC_OVERRIDE, FOWNER, FSETID), a server may bind a low port
/// (NET_BIND_SERVICE), `chroot`-based tools work (SYS_CHROOT). Left out of Podman's default set:
/// SETPCAP and SETFCAP (no program here needs to change capability sets or file capabilities);
/// never granted: NET_RAW, NET_ADMIN, MKNOD, AUDIT_WRITE, SYS_ADMIN, SYS_PTRACE, ...
/// All of them are bounded further by the user namespace: container root is not host root.
pub const CONTAINER_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETGID",
    "SETUID",
    "SYS_CHROOT",
];

/// Refuses a request above the admin's maxima (users.nix `containers.maxCpu` / `maxMemory`).
pub fn check_admin_maxima(
    policy: &ContainerPolicy,
    cpu: f64,
    memory_bytes: u64,
) -> Result<(), ApiError> {
    if cpu > policy.max_cpu {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "--cpu {cpu} is above this orchestrator's maximum of {} CPUs per container (users.nix containers.maxCpu); ask for at most {}, or ask an admin to raise the maximum",
                policy.max_cpu, policy.max_cpu
            ),
        ));
    }
    // users.nix is validated at load, so maxMemory parses; if it did not, the hard bound holds.
    let max = devbox_schema::rules::parse_memory(&policy.max_memory)
        .unwrap_or(devbox_schema::bounds::MAX_MEMORY_BYTES);
    if memory_bytes > max {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "--memory {} is above this orchestrator's maximum of {} per container (users.nix containers.maxMemory); ask for at most {}, or ask an admin to raise the maximum",
                format_memory(memory_bytes),
                format_memory(max),
                format_memory(max)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_above_the_admin_maxima_are_refused_with_the_maximum() {
        let policy = ContainerPolicy {
            max_cpu: 4.0,
            max_memory: "8G".into(),
            ..ContainerPolicy::default()
        };
        assert!(check_admin_maxima(&policy, 4.0, 8 << 30).is_ok());
        let e = check_admin_maxima(&policy, 4.5, 1 << 30).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(
            e.message.contains("maximum of 4 CPUs") && e.message.contains("maxCpu"),
            "{e}"
        );
        let e = check_admin_maxima(&policy, 1.0, (8 << 30) + 1).unwrap_err();
        assert!(
            e.message.contains("maximum of 8G") && e.message.contains("maxMemory"),
            "{e}"
        );
    }
}
