//! `FakeSecrets`: an in-memory FAKE of devboxd's `SecretSource` (1Password's `op read`),
//! `FakeNft`, a FAKE of `nft -f -` for devboxd's firewall, and `TestClock`, a clock a test moves
//! by hand. For in-process tests of the daemon's core.
//!
//! `FakeSecrets` answers the references it was given, counts every read, and can refuse: all
//! reads (1Password down, a revoked token) or one reference (an item that does not exist), with
//! the errors `op` gives for them. It does not model 1Password's own rate limits or latency.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use devboxd::clock::Clock;
use devboxd::secrets::{SecretError, SecretSource};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;

#[derive(Debug, Default)]
struct Vault {
    items: BTreeMap<String, String>,
    refused: BTreeSet<String>,
    refuse_all: Option<SecretError>,
    reads: Vec<String>,
}

/// The FAKE 1Password. Clones share one vault.
#[derive(Debug, Clone, Default)]
pub struct FakeSecrets {
    vault: Arc<Mutex<Vault>>,
}

impl FakeSecrets {
    fn vault(&self) -> MutexGuard<'_, Vault> {
        self.vault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `value` at `reference`.
    pub fn insert(&self, reference: &str, value: &str) {
        self.vault()
            .items
            .insert(reference.to_string(), value.to_string());
    }

    /// Every read fails with `error` (None: reads work again).
    pub fn refuse_all(&self, error: Option<SecretError>) {
        self.vault().refuse_all = error;
    }

    /// Reads of `reference` fail as `op` does for an item it cannot read.
    pub fn refuse(&self, reference: &str) {
        self.vault().refused.insert(reference.to_string());
    }

    /// How many reads were asked for (answered or not).
    pub fn reads(&self) -> usize {
        self.vault().reads.len()
    }

    /// The references read, in order.
    pub fn read_references(&self) -> Vec<String> {
        self.vault().reads.clone()
    }
}

impl SecretSource for FakeSecrets {
    async fn read(&self, reference: &str) -> Result<SecretString, SecretError> {
        let mut v = self.vault();
        v.reads.push(reference.to_string());
        if let Some(e) = &v.refuse_all {
            return Err(e.clone());
        }
        match v.items.get(reference) {
            Some(value) if !v.refused.contains(reference) => {
                Ok(SecretString::from(value.clone()))
            }
            _ => Err(SecretError::OpFailed {
                reference: reference.to_string(),
                stderr: format!("[ERROR] could not read secret '{reference}': isn't an item in the vault (fake)"),
            }),
        }
    }

    async fn check(&self) -> Result<String, SecretError> {
        match &self.vault().refuse_all {
            Some(e) => Err(e.clone()),
            None => Ok("the fake 1Password answers".into()),
        }
    }
}

/// A clock that stands still until the test moves it. Clones share one time.
#[derive(Debug, Clone)]
pub struct TestClock {
    now: Arc<Mutex<Timestamp>>,
}

impl TestClock {
    pub fn at(t: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(t)),
        }
    }

    fn now_mut(&self) -> MutexGuard<'_, Timestamp> {
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set(&self, t: Timestamp) {
        *self.now_mut() = t;
    }

    /// Moves the clock forward by `by` (saturating at the end of time).
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.now_mut();
        *now = now.checked_add(by).unwrap_or(Timestamp::MAX);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.now_mut()
    }
}

/// The FAKE `nft`: keeps every ruleset devboxd installs, or refuses them (as `nft` does without
/// CAP_NET_ADMIN). It does not parse or apply the rules. Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct FakeNft {
    scripts: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicBool>,
}

impl FakeNft {
    /// devboxd's firewall for `instance`, installing into this fake.
    pub fn firewall(&self, instance: &str) -> devboxd::firewall::Firewall {
        let (scripts, refuse) = (self.scripts.clone(), self.refuse.clone());
        devboxd::firewall::Firewall::new("nft".into(), instance, vec![], false).with_installer(
            move |script| {
                if refuse.load(Ordering::SeqCst) {
                    return Err(
                        "nft refused the isolation rules: Operation not permitted (fake)".into(),
                    );
                }
                scripts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(script.to_string());
                Ok(())
            },
        )
    }

    /// Every later install fails (`false`: they work again).
    pub fn refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    /// The last ruleset installed.
    pub fn last(&self) -> Option<String> {
        self.scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }

    pub fn installs(&self) -> usize {
        self.scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
