//! The hard bounds of container resources, in ONE place: devbox-schema checks users.nix against
//! them, devboxd checks every request against them (through devbox-api's validators), and
//! devbox-ctl quotes them in its messages. Admins set their own, lower maxima in users.nix
//! (`containers.maxCpu`, `containers.maxMemory`); these bounds only catch typos (an extra zero,
//! a wrong unit) and values the kernel or Podman cannot honour.

/// Most CPUs a container may be given (and the largest `maxCpu`).
pub const MAX_CPU: f64 = 256.0;
/// Smallest CPU share Podman can express (a millicpu).
pub const MIN_CPU: f64 = 0.001;
/// Smallest memory a dev container can work in (the entrypoint and its services need room).
pub const MIN_MEMORY_BYTES: u64 = 128 << 20;
/// Most memory a container may be given (and the largest `maxMemory`): 1 TiB.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;
/// `MIN_MEMORY_BYTES` and `MAX_MEMORY_BYTES` as users write them.
pub const MIN_MEMORY_TEXT: &str = "128M";
/// See [`MIN_MEMORY_TEXT`].
pub const MAX_MEMORY_TEXT: &str = "1T";

/// users.nix default of `containers.maxCpu`.
pub const DEFAULT_MAX_CPU: f64 = 16.0;
/// users.nix default of `containers.maxMemory`.
pub const DEFAULT_MAX_MEMORY: &str = "64G";
/// users.nix default of `containers.maxKeptVolumesPerUser`.
pub const DEFAULT_MAX_KEPT_VOLUMES_PER_USER: u32 = 5;

/// Whether a CPU count is within the hard bounds.
pub fn cpu_in_bounds(cpu: f64) -> bool {
    cpu.is_finite() && cpu > 0.0 && cpu <= MAX_CPU && (cpu * 1e9).round() >= MIN_CPU * 1e9
}

/// Whether a memory size in bytes is within the hard bounds.
pub fn memory_in_bounds(bytes: u64) -> bool {
    (MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_say_the_numbers() {
        assert_eq!(crate::rules::parse_memory("128M"), Some(MIN_MEMORY_BYTES));
        assert_eq!(crate::rules::parse_memory("1024G"), Some(MAX_MEMORY_BYTES));
        assert_eq!(MAX_MEMORY_TEXT, "1T");
        let max = crate::rules::parse_memory(DEFAULT_MAX_MEMORY).unwrap_or(0);
        assert!(memory_in_bounds(max));
        assert!(cpu_in_bounds(DEFAULT_MAX_CPU) && cpu_in_bounds(MIN_CPU) && cpu_in_bounds(MAX_CPU));
        assert!(!cpu_in_bounds(0.0) && !cpu_in_bounds(MAX_CPU + 1.0) && !cpu_in_bounds(f64::NAN));
    }
}
