//! SMS-pumping defence: at most `max_sends` codes to one phone number per
//! `window`, whatever their purpose (Twilio Verify: 5 per 10 minutes).
//! The store counts the sends to a number within the window; this decides.

use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    pub max_sends: u32,
    pub window: Duration,
}

/// The sends already made to one number within the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentSends {
    pub count: u32,
    /// The oldest send still inside the window, if any.
    pub oldest: Option<OffsetDateTime>,
}

/// How long until another send would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up, at least 1 — for the `Retry-After` header.
    pub fn seconds(self) -> u64 {
        let ms = self.0.whole_milliseconds().max(1);
        u64::try_from((ms + 999) / 1000).unwrap_or(1)
    }
}

impl SendPolicy {
    /// The start of the window that `now` looks back over.
    pub fn window_start(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.window
    }

    pub fn check(&self, recent: RecentSends, now: OffsetDateTime) -> Result<(), RetryAfter> {
        if recent.count < self.max_sends {
            return Ok(());
        }
        let frees_at = recent.oldest.map_or(now + self.window, |t| t + self.window);
        Err(RetryAfter((frees_at - now).max(Duration::seconds(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const POLICY: SendPolicy = SendPolicy { max_sends: 5, window: Duration::minutes(10) };

    #[test]
    fn five_sends_pass_the_sixth_is_refused_until_the_oldest_leaves_the_window() {
        let now = datetime!(2026-11-27 12:00 UTC);
        for count in 0..5 {
            let recent = RecentSends { count, oldest: Some(now - Duration::minutes(3)) };
            assert_eq!(POLICY.check(recent, now), Ok(()));
        }
        let full = RecentSends { count: 5, oldest: Some(now - Duration::minutes(3)) };
        let wait = POLICY.check(full, now).unwrap_err();
        assert_eq!(wait, RetryAfter(Duration::minutes(7)));
        assert_eq!(wait.seconds(), 420);
    }

    #[test]
    fn retry_after_is_at_least_one_second_and_rounds_up() {
        assert_eq!(RetryAfter(Duration::milliseconds(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::milliseconds(1500)).seconds(), 2);
        assert_eq!(RetryAfter(Duration::ZERO).seconds(), 1);
    }

    #[test]
    fn window_start_looks_back_one_window() {
        let now = datetime!(2026-11-27 12:00 UTC);
        assert_eq!(POLICY.window_start(now), datetime!(2026-11-27 11:50 UTC));
    }
}
