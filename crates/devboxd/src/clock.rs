//! Time, injectable so lifecycle rules (idle stop, stopped destroy) can be tested without waiting.

use std::path::PathBuf;

use jiff::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The daemon's clock: the wall clock, or (TEST HOOK `testClockFile`, refused unless `testHooks`)
/// the RFC 3339 time written in a file, read at every call so a test can move time forward.
#[derive(Debug, Clone)]
pub enum DaemonClock {
    System,
    File(PathBuf),
}

impl Clock for DaemonClock {
    fn now(&self) -> Timestamp {
        match self {
            DaemonClock::System => Timestamp::now(),
            DaemonClock::File(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or_else(Timestamp::now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_clock_reads_the_file_and_falls_back_to_the_wall_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("now");
        let clock = DaemonClock::File(path.clone());
        let before = Timestamp::now();
        assert!(clock.now() >= before);
        std::fs::write(&path, "2030-01-02T03:04:05Z\n").unwrap();
        assert_eq!(clock.now().to_string(), "2030-01-02T03:04:05Z");
        std::fs::write(&path, "garbage").unwrap();
        assert!(clock.now() >= before);
    }
}
