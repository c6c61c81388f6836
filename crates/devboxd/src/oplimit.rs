//! Bounds on 1Password reads (docs/security.md, "Bounds"): every create, start and rotate-key
//! reads a key with the ONE service account the whole team shares, and 1Password rate-limits
//! that account. So reads are limited per user (a token bucket) and for the account as a whole
//! (another bucket), and a successful read is kept briefly in memory so a start/stop storm does
//! not repeat it. The cache holds `SecretString`s, which zeroize their memory when dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The limits (daemon config `opRateLimit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpRateLimit {
    /// Reads one user may make in a burst.
    #[serde(default = "defaults::user_burst")]
    pub user_burst: u32,
    /// Seconds until a user gets one more read back.
    #[serde(default = "defaults::user_refill_secs")]
    pub user_refill_secs: u64,
    /// Reads the whole team (and the reconciler) may make in a burst.
    #[serde(default = "defaults::global_burst")]
    pub global_burst: u32,
    /// Seconds until the team gets one more read back.
    #[serde(default = "defaults::global_refill_secs")]
    pub global_refill_secs: u64,
    /// Seconds a successful read is reused for create/start (0: never). rotate-key always
    /// reads afresh (it exists to deliver the current key).
    #[serde(default = "defaults::cache_secs")]
    pub cache_secs: u64,
}

impl Default for OpRateLimit {
    fn default() -> Self {
        Self {
            user_burst: defaults::user_burst(),
            user_refill_secs: defaults::user_refill_secs(),
            global_burst: defaults::global_burst(),
            global_refill_secs: defaults::global_refill_secs(),
            cache_secs: defaults::cache_secs(),
        }
    }
}

impl OpRateLimit {
    pub fn validate(&self) -> Result<(), String> {
        if self.user_burst == 0 || self.global_burst == 0 {
            return Err("`opRateLimit.userBurst` and `globalBurst` must be at least 1".into());
        }
        if !(1..=86_400).contains(&self.user_refill_secs)
            || !(1..=86_400).contains(&self.global_refill_secs)
        {
            return Err(
                "`opRateLimit.userRefillSecs` and `globalRefillSecs` must be between 1 and 86400"
                    .into(),
            );
        }
        if self.cache_secs > 3600 {
            return Err("`opRateLimit.cacheSecs` must be at most 3600 (keys rotate)".into());
        }
        Ok(())
    }
}

mod defaults {
    // One user: a few creates/starts in a row, then one read a minute. The team: 30 in a row
    // (a host reboot restarting every container), then one every 4 s (900 an hour, below the
    // 1000 reads an hour of 1Password's smallest service-account plan).
    pub fn user_burst() -> u32 {
        6
    }
    pub fn user_refill_secs() -> u64 {
        60
    }
    pub fn global_burst() -> u32 {
        30
    }
    pub fn global_refill_secs() -> u64 {
        4
    }
    pub fn cache_secs() -> u64 {
        30
    }
}

/// A token bucket: `capacity` tokens, one more every `refill` up to the capacity.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    refill: Duration,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(capacity: u32, refill: Duration, now: Instant) -> Self {
        Self {
            capacity: f64::from(capacity),
            refill,
            tokens: f64::from(capacity),
            at: now,
        }
    }

    fn fill(&mut self, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64()
            / self.refill.as_secs_f64().max(1e-9);
        self.tokens = (self.tokens + gained).min(self.capacity);
        self.at = now;
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.fill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.refill.mul_f64(1.0 - self.tokens))
        }
    }

    /// Gives back a token taken for a read that did not happen.
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.fill(now);
        self.tokens >= self.capacity
    }
}

/// Why a read was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttled {
    /// This user's bucket is empty.
    User { retry_after: Duration },
    /// The team's bucket is empty.
    Global { retry_after: Duration },
}

impl Throttled {
    /// Whole seconds to wait, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let d = match self {
            Throttled::User { retry_after } | Throttled::Global { retry_after } => *retry_after,
        };
        d.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// The buckets and the cache.
pub struct OpGate {
    limits: OpRateLimit,
    users: std::sync::Mutex<HashMap<String, Bucket>>,
    global: std::sync::Mutex<Bucket>,
    cache: std::sync::Mutex<HashMap<String, (Instant, SecretString)>>,
}

impl OpGate {
    pub fn new(limits: OpRateLimit) -> Self {
        let global = Bucket::new(
            limits.global_burst,
            Duration::from_secs(limits.global_refill_secs),
            Instant::now(),
        );
        Self {
            limits,
            users: Default::default(),
            global: std::sync::Mutex::new(global),
            cache: Default::default(),
        }
    }

    pub fn limits(&self) -> &OpRateLimit {
        &self.limits
    }

    /// A value read less than `cacheSecs` ago.
    pub fn cached(&self, reference: &str, now: Instant) -> Option<SecretString> {
        let ttl = Duration::from_secs(self.limits.cache_secs);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Expired values are dropped (and so zeroized) as soon as anyone looks.
        cache.retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
        cache.get(reference).map(|(_, v)| v.clone())
    }

    pub fn remember(&self, reference: &str, value: &SecretString, now: Instant) {
        if self.limits.cache_secs == 0 {
            return;
        }
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(reference.to_string(), (now, value.clone()));
    }

    /// Takes a read from `user`'s bucket (None: the daemon itself, bounded by the team's
    /// bucket only) and from the team's.
    pub fn admit(&self, user: Option<&str>, now: Instant) -> Result<(), Throttled> {
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Full buckets carry no information: forget them, so the table stays small.
        users.retain(|_, b| !b.is_full(now));
        if let Some(u) = user {
            let bucket = users.entry(u.to_string()).or_insert_with(|| {
                Bucket::new(
                    self.limits.user_burst,
                    Duration::from_secs(self.limits.user_refill_secs),
                    now,
                )
            });
            bucket
                .take(now)
                .map_err(|retry_after| Throttled::User { retry_after })?;
        }
        let global = self
            .global
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(now);
        if let Err(retry_after) = global {
            if let Some(b) = user.and_then(|u| users.get_mut(u)) {
                b.give_back();
            }
            return Err(Throttled::Global { retry_after });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_bucket_gives_its_burst_then_one_per_refill() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2, Duration::from_secs(10), t0);
        assert!(b.take(t0).is_ok() && b.take(t0).is_ok());
        assert_eq!(b.take(t0), Err(Duration::from_secs(10)));
        assert_eq!(
            b.take(t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert!(b.take(t0 + Duration::from_secs(10)).is_ok());
        // Never more than the capacity, however long it waited.
        let later = t0 + Duration::from_secs(1000);
        assert!(b.take(later).is_ok() && b.take(later).is_ok() && b.take(later).is_err());
    }

    #[test]
    fn one_user_cannot_use_up_the_teams_reads() {
        let gate = OpGate::new(OpRateLimit {
            user_burst: 3,
            user_refill_secs: 60,
            global_burst: 5,
            global_refill_secs: 60,
            cache_secs: 30,
        });
        let t = Instant::now();
        for _ in 0..3 {
            assert!(gate.admit(Some("alice"), t).is_ok());
        }
        for _ in 0..100 {
            match gate.admit(Some("alice"), t) {
                Err(e @ Throttled::User { .. }) => assert_eq!(e.retry_after_secs(), 60),
                other => panic!("{other:?}"),
            }
        }
        assert!(gate.admit(Some("bob"), t).is_ok());
        assert!(gate.admit(None, t).is_ok());
        // The team's bucket is empty now: bob is refused, and his token is given back.
        assert!(matches!(
            gate.admit(Some("bob"), t),
            Err(Throttled::Global { .. })
        ));
        assert!(gate.admit(Some("bob"), t + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn the_cache_forgets_after_its_time() {
        let gate = OpGate::new(OpRateLimit {
            cache_secs: 30,
            ..OpRateLimit::default()
        });
        let t = Instant::now();
        gate.remember("op://v/i/f", &SecretString::from("k1"), t);
        let hit = gate.cached("op://v/i/f", t + Duration::from_secs(29));
        assert_eq!(
            hit.map(|s| s.expose_secret().to_string()).as_deref(),
            Some("k1")
        );
        assert!(gate
            .cached("op://v/i/f", t + Duration::from_secs(30))
            .is_none());
        assert!(gate.cached("op://v/other/f", t).is_none());
    }
}
