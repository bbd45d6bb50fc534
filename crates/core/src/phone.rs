//! Phone numbers that can receive an SMS code.
//!
//! NIST SP 800-63B asks the verifier to make sure the number is a real
//! phone: only E.164 input is accepted (`+` and digits, no national
//! formats), it is validated against libphonenumber's metadata, and numbers
//! whose type cannot take SMS (fixed line, premium rate, shared cost, toll
//! free, VoIP, pager, UAN, voicemail, unknown) are refused.

use crate::mask::mask_phone;
use phonenumber::{metadata::DATABASE, Mode, Type};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("must be in E.164 form, e.g. +447400123456")]
    NotE164,
    #[error("is not a valid phone number")]
    Invalid,
    #[error("cannot receive SMS (it is a {0} number)")]
    CannotReceiveSms(&'static str),
}

/// A validated, SMS-capable phone number. `Debug` and `Display` show only
/// the masked form, so a whole number never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    e164: String,
    masked: String,
}

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let digits = raw.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        if digits.len() < 7
            || digits.len() > 15
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PhoneError::NotE164);
        }
        let parsed = phonenumber::parse(None, raw).map_err(|_| PhoneError::Invalid)?;
        if !parsed.is_valid() {
            return Err(PhoneError::Invalid);
        }
        match parsed.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile | Type::PersonalNumber => {}
            other => return Err(PhoneError::CannotReceiveSms(type_name(other))),
        }
        let e164 = parsed.format().mode(Mode::E164).to_string();
        let masked = mask_phone(parsed.code().value(), &parsed.national().to_string());
        Ok(Self { e164, masked })
    }

    /// The whole number, for the SMS provider and for encryption at rest only.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// `+44•••••••456`.
    pub fn masked(&self) -> &str {
        &self.masked
    }
}

fn type_name(kind: Type) -> &'static str {
    match kind {
        Type::FixedLine => "fixed-line",
        Type::TollFree => "toll-free",
        Type::PremiumRate => "premium-rate",
        Type::SharedCost => "shared-cost",
        Type::Voip => "VoIP",
        Type::Pager => "pager",
        Type::Uan => "UAN",
        Type::Voicemail => "voicemail",
        _ => "non-mobile",
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mobile_numbers_in_e164() {
        let uk = PhoneNumber::parse("+447400123456").unwrap();
        assert_eq!(uk.e164(), "+447400123456");
        assert_eq!(uk.masked(), "+44•••••••456");
        // US numbers are "fixed line or mobile" in the metadata.
        assert!(PhoneNumber::parse("+12015550123").is_ok());
    }

    #[test]
    fn refuses_anything_but_e164() {
        for raw in ["07400123456", "+44 7400 123456", "447400123456", "+", "+0123456789", ""] {
            assert_eq!(PhoneNumber::parse(raw), Err(PhoneError::NotE164), "{raw}");
        }
    }

    #[test]
    fn refuses_invalid_numbers() {
        assert_eq!(PhoneNumber::parse("+4412"), Err(PhoneError::NotE164));
        assert_eq!(PhoneNumber::parse("+447000000"), Err(PhoneError::Invalid));
    }

    #[test]
    fn refuses_numbers_that_cannot_take_sms() {
        // UK fixed line (London), premium rate (09), toll free (0800).
        assert_eq!(PhoneNumber::parse("+442079460000"), Err(PhoneError::CannotReceiveSms("fixed-line")));
        assert_eq!(PhoneNumber::parse("+449098790000"), Err(PhoneError::CannotReceiveSms("premium-rate")));
        assert_eq!(PhoneNumber::parse("+448001111111"), Err(PhoneError::CannotReceiveSms("toll-free")));
    }

    #[test]
    fn debug_and_display_never_show_the_whole_number() {
        let n = PhoneNumber::parse("+447400123456").unwrap();
        assert!(!format!("{n:?}").contains("7400123"));
        assert!(!format!("{n}").contains("7400123"));
    }
}
