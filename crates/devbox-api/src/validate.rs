//! Input rules shared by the CLI (early, friendly errors) and the daemon (the authority).

use thiserror::Error;

/// The longest DNS label, and so the longest container name (it becomes the tailnet hostname).
pub const MAX_NAME_LEN: usize = 63;
// The bounds come from devbox-schema, which checks users.nix against the same numbers: a users
// file that validates never sets a default that the daemon refuses.
use devbox_schema::bounds::{MAX_MEMORY_TEXT, MIN_MEMORY_TEXT};
/// Smallest memory limit the daemon accepts (the entrypoint and its services need some room).
pub const MIN_MEMORY_BYTES: u64 = devbox_schema::bounds::MIN_MEMORY_BYTES;
/// Largest memory limit the daemon accepts (1 TiB; anything above is a typo).
pub const MAX_MEMORY_BYTES: u64 = devbox_schema::bounds::MAX_MEMORY_BYTES;
/// Largest CPU count accepted.
pub const MAX_CPUS: f64 = devbox_schema::bounds::MAX_CPU;

#[derive(Debug, Error, PartialEq)]
pub enum InvalidInput {
    #[error("the container name is empty; pick a name like `alice-dev` (lowercase letters, digits, hyphens)")]
    EmptyName,
    #[error("the container name is {len} characters long; it becomes a DNS hostname, so use at most {MAX_NAME_LEN}")]
    NameTooLong { len: usize },
    #[error("the container name {name:?} contains {bad:?}; use only lowercase ASCII letters a-z, digits 0-9 and hyphens (it becomes the tailnet hostname)")]
    NameBadChar { name: String, bad: char },
    #[error("the container name {name:?} starts or ends with a hyphen; DNS hostnames cannot, so drop the hyphen")]
    NameHyphenEdge { name: String },
    #[error("the container name {name:?} is only digits; add a letter (e.g. `dev-{name}`) so it is a valid hostname")]
    NameAllDigits { name: String },
    #[error("--cpu {0:?} is not a number of CPUs; use e.g. `--cpu 2` or `--cpu 0.5`")]
    CpuNotNumber(String),
    #[error("--cpu {0} is out of range; use a value above 0 and at most {MAX_CPUS}")]
    CpuOutOfRange(f64),
    #[error("--memory {0:?} is not a size; use a number with a unit, e.g. `4G`, `512M` or `8GiB`")]
    MemoryNotSize(String),
    #[error("--memory {0:?} is out of range; use between {MIN_MEMORY_TEXT} and {MAX_MEMORY_TEXT}")]
    MemoryOutOfRange(String),
    #[error("the Tailscale auth key is empty; pipe the key into `--auth-key-stdin` (e.g. from your password manager) or type it at the prompt")]
    AuthKeyEmpty,
    #[error("the Tailscale auth key is not a single token (it has spaces, control characters or is over {MAX_AUTH_KEY_LEN} bytes); supply exactly one key, like `tskey-auth-…`")]
    AuthKeyMalformed,
}

/// The longest auth key accepted (Tailscale's are about 60 bytes; Headscale's shorter).
pub const MAX_AUTH_KEY_LEN: usize = 512;

/// Checks a user-supplied Tailscale auth key's shape (the control plane judges the rest). Same
/// rule as the entrypoint's `deliver-key`. The error never contains the key.
pub fn validate_auth_key(key: &str) -> Result<(), InvalidInput> {
    if key.is_empty() {
        return Err(InvalidInput::AuthKeyEmpty);
    }
    if key.len() > MAX_AUTH_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(InvalidInput::AuthKeyMalformed);
    }
    Ok(())
}

/// Checks a container name: a DNS label of lowercase letters, digits and hyphens (FR-030/031).
pub fn validate_name(name: &str) -> Result<(), InvalidInput> {
    if name.is_empty() {
        return Err(InvalidInput::EmptyName);
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(InvalidInput::NameBadChar {
            name: name.to_string(),
            bad,
        });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(InvalidInput::NameTooLong { len: name.len() });
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(InvalidInput::NameHyphenEdge {
            name: name.to_string(),
        });
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(InvalidInput::NameAllDigits {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Checks a CPU count.
pub fn validate_cpu(cpu: f64) -> Result<f64, InvalidInput> {
    if devbox_schema::bounds::cpu_in_bounds(cpu) {
        Ok(cpu)
    } else {
        Err(InvalidInput::CpuOutOfRange(cpu))
    }
}

/// Parses a CPU count given as text.
pub fn parse_cpu(text: &str) -> Result<f64, InvalidInput> {
    let cpu: f64 = text
        .trim()
        .parse()
        .map_err(|_| InvalidInput::CpuNotNumber(text.to_string()))?;
    validate_cpu(cpu)
}

/// Parses a memory size like `4G`, `512M`, `4GiB`, `1.5g` or a plain byte count (binary units, as
/// Podman's `--memory` does) and checks its range.
pub fn parse_memory(text: &str) -> Result<u64, InvalidInput> {
    let not_size = || InvalidInput::MemoryNotSize(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.chars().filter(|c| *c == '.').count() > 1 {
        return Err(not_size());
    }
    let value: f64 = num.parse().map_err(|_| not_size())?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(not_size()),
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < MIN_MEMORY_BYTES as f64 || bytes > MAX_MEMORY_BYTES as f64 {
        // (Checked as f64 first: a huge value must not saturate into the range.)
        return Err(InvalidInput::MemoryOutOfRange(text.to_string()));
    }
    // In range, so the conversion cannot overflow.
    Ok(bytes.round() as u64)
}

/// Formats bytes the way users write them (`4G`, `512M`).
pub fn format_memory(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    for (size, unit) in UNITS {
        if bytes >= size {
            return format!("{:.1}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_names_pass() {
        for n in ["a", "alice-dev", "x1", "a-b-c", &"a".repeat(63), "1a"] {
            assert_eq!(validate_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn bad_names_fail_with_the_reason() {
        assert_eq!(validate_name(""), Err(InvalidInput::EmptyName));
        assert_eq!(
            validate_name(&"a".repeat(64)),
            Err(InvalidInput::NameTooLong { len: 64 })
        );
        for (n, bad) in [
            ("Alice", 'A'),
            ("a b", ' '),
            ("a;rm", ';'),
            ("a$(x)", '$'),
            ("../etc", '.'),
            ("a/b", '/'),
            ("a_b", '_'),
            ("аlice", 'а'), // Cyrillic a
            ("alice\u{200b}", '\u{200b}'),
        ] {
            match validate_name(n) {
                Err(InvalidInput::NameBadChar { bad: b, .. }) => assert_eq!(b, bad, "{n}"),
                other => panic!("{n}: {other:?}"),
            }
        }
        assert!(matches!(
            validate_name("-a"),
            Err(InvalidInput::NameHyphenEdge { .. })
        ));
        assert!(matches!(
            validate_name("a-"),
            Err(InvalidInput::NameHyphenEdge { .. })
        ));
        assert!(matches!(
            validate_name("123"),
            Err(InvalidInput::NameAllDigits { .. })
        ));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("4G"), Ok(4 << 30));
        assert_eq!(parse_memory("4GiB"), Ok(4 << 30));
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("1.5G"), Ok(3 << 29));
        assert_eq!(parse_memory("268435456"), Ok(256 << 20));
        for bad in ["", "G", "4X", "-4G", "4..G", "four", "1e9"] {
            assert!(
                matches!(parse_memory(bad), Err(InvalidInput::MemoryNotSize(_))),
                "{bad}"
            );
        }
        for out in ["1M", "0", "2T", "99999999999T"] {
            assert!(
                matches!(parse_memory(out), Err(InvalidInput::MemoryOutOfRange(_))),
                "{out}"
            );
        }
        assert_eq!(format_memory(4 << 30), "4G");
        assert_eq!(format_memory(512 << 20), "512M");
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpu("2"), Ok(2.0));
        assert_eq!(parse_cpu("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "1000", "0.0000001"] {
            assert!(parse_cpu(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_cpu("two"),
            Err(InvalidInput::CpuNotNumber(_))
        ));
    }

    proptest! {
        #[test]
        fn validators_never_panic(s in "\\PC*") {
            let _ = validate_name(&s);
            let _ = parse_memory(&s);
            let _ = parse_cpu(&s);
        }

        #[test]
        fn accepted_names_are_dns_labels(s in "[a-z0-9-]{1,70}") {
            if validate_name(&s).is_ok() {
                prop_assert!(s.len() <= 63);
                prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
            }
        }
    }
}
