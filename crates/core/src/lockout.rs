//! Account lockout after consecutive wrong codes.
//!
//! Threat: an attacker who knows the password guesses SMS codes. Each code
//! dies after a few tries, but the attacker can ask for a new code, so the
//! per-code limit alone does not bound guessing. This counter spans codes:
//! a new code does NOT reset it, a right code does. At `lock_after`
//! consecutive failures (20 by default, never more than 100 — NIST SP
//! 800-63B rev 4 §3.2.2) the account is locked for `lock_for`, the user is
//! told by email, and the count starts again from zero when the lock ends.
//!
//! ```text
//!   count < N ──wrong──▶ count+1 ──(= N)──▶ locked(until) ──time──▶ count 0
//!      ▲                                          │
//!      └───────────────right code─────────────────┘ (only once unlocked)
//! ```

use time::{Duration, OffsetDateTime};

/// Never allow a configuration above NIST's ceiling.
pub const MAX_LOCK_AFTER: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    pub lock_after: u32,
    pub lock_for: Duration,
}

/// An account's failure state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountFailures {
    pub consecutive: u32,
    pub locked_until: Option<OffsetDateTime>,
}

/// What one wrong code did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; the account is still open.
    Counted,
    /// This failure reached the threshold: the account is now locked.
    Locked { until: OffsetDateTime },
}

impl AccountFailures {
    /// The state as of `now`: an expired lock is lifted and the count reset.
    pub fn at(self, now: OffsetDateTime) -> Self {
        match self.locked_until {
            Some(until) if until <= now => Self::default(),
            _ => self,
        }
    }

    /// `Some(remaining)` while the account is locked.
    pub fn locked_for(self, now: OffsetDateTime) -> Option<Duration> {
        self.locked_until.filter(|until| *until > now).map(|until| until - now)
    }

    pub fn record_failure(self, policy: LockPolicy, now: OffsetDateTime) -> (Self, FailureOutcome) {
        let current = self.at(now);
        let consecutive = current.consecutive.saturating_add(1);
        let threshold = policy.lock_after.clamp(1, MAX_LOCK_AFTER);
        if consecutive >= threshold {
            let until = now + policy.lock_for;
            let next = Self { consecutive, locked_until: Some(until) };
            (next, FailureOutcome::Locked { until })
        } else {
            (Self { consecutive, locked_until: None }, FailureOutcome::Counted)
        }
    }

    /// A right code clears the count.
    pub fn record_success(self) -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const POLICY: LockPolicy = LockPolicy { lock_after: 20, lock_for: Duration::minutes(15) };
    const T0: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    #[test]
    fn twentieth_consecutive_failure_locks_for_fifteen_minutes() {
        let mut state = AccountFailures::default();
        for i in 1..20 {
            let (next, outcome) = state.record_failure(POLICY, T0);
            assert_eq!(outcome, FailureOutcome::Counted, "failure {i}");
            state = next;
        }
        let (locked, outcome) = state.record_failure(POLICY, T0);
        assert_eq!(outcome, FailureOutcome::Locked { until: T0 + Duration::minutes(15) });
        assert_eq!(locked.locked_for(T0), Some(Duration::minutes(15)));
        assert_eq!(locked.locked_for(T0 + Duration::minutes(10)), Some(Duration::minutes(5)));
    }

    #[test]
    fn lock_ends_by_itself_and_count_restarts() {
        let locked = AccountFailures { consecutive: 20, locked_until: Some(T0) };
        assert_eq!(locked.locked_for(T0), None);
        assert_eq!(locked.at(T0), AccountFailures::default());
        let (after, outcome) = locked.record_failure(POLICY, T0 + Duration::seconds(1));
        assert_eq!(outcome, FailureOutcome::Counted);
        assert_eq!(after.consecutive, 1);
    }

    #[test]
    fn a_right_code_resets_the_count() {
        let state = AccountFailures { consecutive: 19, locked_until: None };
        assert_eq!(state.record_success(), AccountFailures::default());
    }

    #[test]
    fn threshold_never_exceeds_one_hundred() {
        let lax = LockPolicy { lock_after: 1000, lock_for: Duration::minutes(1) };
        let state = AccountFailures { consecutive: 99, locked_until: None };
        assert!(matches!(state.record_failure(lax, T0).1, FailureOutcome::Locked { .. }));
    }
}
