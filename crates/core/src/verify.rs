//! Checking a code someone typed against the one outstanding code.
//!
//! Order matters and is part of the contract (api.md):
//! 1. a code that has used up its tries is dead — every later check, right
//!    or wrong, is `too_many_attempts` (Twilio Verify: 5 checks);
//! 2. an expired code is `code_expired` (10 minutes, NIST SP 800-63B);
//! 3. a right code is accepted (the caller then retires it: single use);
//! 4. a wrong code uses one try; the last try answers `attempts_left: 0`.
//!
//! The account-wide failure count (`lockout`) is the caller's next step for
//! every `Mismatch`.

use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    pub length: u8,
    pub ttl: Duration,
    pub max_attempts: u32,
}

/// The outstanding code's stored state (its hash is checked by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeState {
    pub expires_at: OffsetDateTime,
    pub wrong_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Accepted,
    Mismatch { attempts_left: u32 },
    TooManyAttempts,
    Expired,
}

impl CodePolicy {
    pub fn expiry(&self, sent_at: OffsetDateTime) -> OffsetDateTime {
        sent_at + self.ttl
    }

    /// Decide a check; returns the outcome and the code's new state.
    pub fn check(&self, state: CodeState, matches: bool, now: OffsetDateTime) -> (CheckOutcome, CodeState) {
        if state.wrong_attempts >= self.max_attempts {
            return (CheckOutcome::TooManyAttempts, state);
        }
        if now >= state.expires_at {
            return (CheckOutcome::Expired, state);
        }
        if matches {
            return (CheckOutcome::Accepted, state);
        }
        let wrong_attempts = state.wrong_attempts + 1;
        let attempts_left = self.max_attempts.saturating_sub(wrong_attempts);
        (CheckOutcome::Mismatch { attempts_left }, CodeState { wrong_attempts, ..state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const POLICY: CodePolicy = CodePolicy { length: 6, ttl: Duration::minutes(10), max_attempts: 5 };
    const SENT: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    fn fresh() -> CodeState {
        CodeState { expires_at: POLICY.expiry(SENT), wrong_attempts: 0 }
    }

    #[test]
    fn right_code_within_ten_minutes_is_accepted() {
        let at = SENT + Duration::minutes(9);
        assert_eq!(POLICY.check(fresh(), true, at).0, CheckOutcome::Accepted);
    }

    #[test]
    fn code_expires_after_ten_minutes_even_if_right() {
        assert_eq!(POLICY.check(fresh(), true, SENT + Duration::minutes(10)).0, CheckOutcome::Expired);
        assert_eq!(POLICY.check(fresh(), false, SENT + Duration::hours(1)).0, CheckOutcome::Expired);
    }

    #[test]
    fn five_wrong_tries_count_down_then_the_code_is_dead() {
        let mut state = fresh();
        for left in (0..5).rev() {
            let (outcome, next) = POLICY.check(state, false, SENT);
            assert_eq!(outcome, CheckOutcome::Mismatch { attempts_left: left });
            state = next;
        }
        // Dead: the right code no longer works, nor does a wrong one.
        assert_eq!(POLICY.check(state, true, SENT).0, CheckOutcome::TooManyAttempts);
        assert_eq!(POLICY.check(state, false, SENT).0, CheckOutcome::TooManyAttempts);
        // Deadness wins over expiry.
        assert_eq!(POLICY.check(state, true, SENT + Duration::hours(1)).0, CheckOutcome::TooManyAttempts);
    }

    #[test]
    fn a_right_code_after_some_wrong_tries_still_works() {
        let (_, state) = POLICY.check(fresh(), false, SENT);
        let (_, state) = POLICY.check(state, false, SENT);
        assert_eq!(POLICY.check(state, true, SENT).0, CheckOutcome::Accepted);
    }
}
