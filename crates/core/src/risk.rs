//! Risk signals of a login: is this the user's normal behaviour?
//!
//! A login of a user with 2FA passes without a code only when every signal
//! is quiet: the IP was used in a verified login within `familiar_days`,
//! the device is one the user verified from, and (when a GeoIP database is
//! configured and knows the IP) the country is one the user verified from.
//! Otherwise the user must enter the code sent by SMS, and the answer lists
//! every signal that fired.

use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RiskSignal {
    NewIp,
    NewDevice,
    NewCountry,
}

impl RiskSignal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewIp => "new_ip",
            Self::NewDevice => "new_device",
            Self::NewCountry => "new_country",
        }
    }
}

/// What the store knows about this login's IP, device and country for
/// this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Familiarity {
    /// When this IP last passed a verified login of the user.
    pub ip_last_verified: Option<OffsetDateTime>,
    /// The device id was verified by this user before.
    pub device_known: bool,
    /// `None` when the country is unknown (no GeoIP database, or the IP is
    /// not in it); then it is no signal either way.
    pub country_known: Option<bool>,
}

pub fn assess(f: Familiarity, familiar_days: u32, now: OffsetDateTime) -> Vec<RiskSignal> {
    let horizon = now - Duration::days(i64::from(familiar_days));
    let mut signals = Vec::new();
    if f.ip_last_verified.is_none_or(|t| t < horizon) {
        signals.push(RiskSignal::NewIp);
    }
    if !f.device_known {
        signals.push(RiskSignal::NewDevice);
    }
    if f.country_known == Some(false) {
        signals.push(RiskSignal::NewCountry);
    }
    signals
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    fn familiar() -> Familiarity {
        Familiarity { ip_last_verified: Some(NOW - Duration::days(3)), device_known: true, country_known: Some(true) }
    }

    #[test]
    fn familiar_ip_device_and_country_raise_nothing() {
        assert!(assess(familiar(), 90, NOW).is_empty());
    }

    #[test]
    fn each_signal_fires_alone() {
        let ip = Familiarity { ip_last_verified: None, ..familiar() };
        assert_eq!(assess(ip, 90, NOW), vec![RiskSignal::NewIp]);
        let device = Familiarity { device_known: false, ..familiar() };
        assert_eq!(assess(device, 90, NOW), vec![RiskSignal::NewDevice]);
        let country = Familiarity { country_known: Some(false), ..familiar() };
        assert_eq!(assess(country, 90, NOW), vec![RiskSignal::NewCountry]);
    }

    #[test]
    fn an_ip_older_than_the_familiar_window_is_new() {
        let stale = Familiarity { ip_last_verified: Some(NOW - Duration::days(91)), ..familiar() };
        assert_eq!(assess(stale, 90, NOW), vec![RiskSignal::NewIp]);
        let edge = Familiarity { ip_last_verified: Some(NOW - Duration::days(90)), ..familiar() };
        assert!(assess(edge, 90, NOW).is_empty());
    }

    #[test]
    fn unknown_country_is_no_signal_and_all_signals_are_listed() {
        let unknown = Familiarity { country_known: None, ..familiar() };
        assert!(assess(unknown, 90, NOW).is_empty());
        let stranger = Familiarity::default();
        assert_eq!(
            assess(Familiarity { country_known: Some(false), ..stranger }, 90, NOW),
            vec![RiskSignal::NewIp, RiskSignal::NewDevice, RiskSignal::NewCountry]
        );
    }
}
