//! The server's only source of time. Tests use `ManualClock` to move time
//! forward (code expiry, lockouts, send windows) without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until moved. Starts at the real time.
#[derive(Debug)]
pub struct ManualClock {
    unix_ms: AtomicI64,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_at(SystemClock.now())
    }
}

impl ManualClock {
    pub fn starting_at(at: OffsetDateTime) -> Self {
        Self { unix_ms: AtomicI64::new(to_ms(at)) }
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.whole_milliseconds()).unwrap_or(i64::MAX);
        self.unix_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_ms(self.unix_ms.load(Ordering::SeqCst))
    }
}

/// Times are stored as Unix milliseconds (BIGINT on both engines).
pub fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(from_ms(1_000));
        assert_eq!(to_ms(clock.now()), 1_000);
        clock.advance(Duration::minutes(10));
        assert_eq!(to_ms(clock.now()), 601_000);
    }
}
