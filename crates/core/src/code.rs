//! One-time codes: generation, format and keyed hashing.
//!
//! A code is `length` decimal digits drawn uniformly from a CSPRNG
//! (6 digits ≥ 19.9 bits, NIST SP 800-63B). It is never stored: the server
//! keeps HMAC-SHA-256(key, owner ‖ code), where `owner` is the challenge or
//! flow the code was sent for, so a code only works for the request it was
//! sent for (ASVS 2.7.3). Comparison is constant time.

use hmac::{Hmac, Mac};
use rand::{CryptoRng, Rng, RngCore};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

pub const MIN_LENGTH: u8 = 6;
pub const MAX_LENGTH: u8 = 10;

/// A code as typed by the user or as generated: exactly `length` ASCII digits.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be exactly {expected} digits")]
pub struct CodeFormatError {
    pub expected: u8,
}

impl OtpCode {
    pub fn parse(raw: &str, length: u8) -> Result<Self, CodeFormatError> {
        if raw.len() == usize::from(length) && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CodeFormatError { expected: length })
        }
    }

    /// Draws a code uniformly from `0 ..= 10^length - 1`, zero-padded.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, length: u8) -> Self {
        let length = length.clamp(MIN_LENGTH, MAX_LENGTH);
        let bound = 10u64.pow(u32::from(length));
        let n = rng.gen_range(0..bound);
        Self(format!("{n:0width$}", width = usize::from(length)))
    }

    /// The digits, for the SMS body only.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(••••••)")
    }
}

/// The server key used to hash codes.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

/// HMAC-SHA-256 of a code, bound to its owner. Stored as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeHash([u8; 32]);

impl CodeKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn hash(&self, owner: &str, code: &OtpCode) -> CodeHash {
        // new_from_slice only fails for keys HMAC cannot take; any length works.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        mac.update(b"tollgate/code/v1\0");
        mac.update(owner.as_bytes());
        mac.update(b"\0");
        mac.update(code.0.as_bytes());
        CodeHash(mac.finalize().into_bytes().into())
    }

    /// Constant-time check of `code` against the stored hash.
    pub fn verify(&self, owner: &str, code: &OtpCode, stored: &CodeHash) -> bool {
        self.hash(owner, code).0.ct_eq(&stored.0).into()
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> ! {
    panic!("HMAC accepts keys of any length")
}

impl CodeHash {
    pub fn to_hex(&self) -> String {
        crate::audit::hex(&self.0)
    }

    pub fn from_hex(raw: &str) -> Option<Self> {
        crate::audit::unhex32(raw).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn generated_codes_have_the_configured_length_and_are_digits() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let code = OtpCode::generate(&mut rng, 6);
            assert_eq!(code.reveal().len(), 6);
            assert!(code.reveal().bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(OtpCode::generate(&mut rng, 8).reveal().len(), 8);
        // Shorter than NIST's six digits is never produced.
        assert_eq!(OtpCode::generate(&mut rng, 4).reveal().len(), 6);
    }

    #[test]
    fn generated_codes_cover_the_whole_range() {
        // Leading zeros must occur (≈10% of codes): the padding works and
        // the distribution is not biased away from small numbers.
        let mut rng = StdRng::seed_from_u64(42);
        let zeros = (0..10_000).filter(|_| OtpCode::generate(&mut rng, 6).reveal().starts_with('0')).count();
        assert!((800..1200).contains(&zeros), "{zeros}");
    }

    #[test]
    fn parse_accepts_exact_length_digits_only() {
        assert!(OtpCode::parse("012345", 6).is_ok());
        assert_eq!(OtpCode::parse("12345", 6), Err(CodeFormatError { expected: 6 }));
        assert_eq!(OtpCode::parse("1234567", 6), Err(CodeFormatError { expected: 6 }));
        assert_eq!(OtpCode::parse("12345a", 6), Err(CodeFormatError { expected: 6 }));
        assert_eq!(OtpCode::parse("١٢٣٤٥٦", 6), Err(CodeFormatError { expected: 6 }));
    }

    #[test]
    fn hash_binds_code_to_key_and_owner() {
        let key = CodeKey::new([1; 32]);
        let code = OtpCode::parse("123456", 6).unwrap();
        let stored = key.hash("ch_1", &code);
        assert!(key.verify("ch_1", &code, &stored));
        assert!(!key.verify("ch_2", &code, &stored));
        assert!(!CodeKey::new([2; 32]).verify("ch_1", &code, &stored));
        assert!(!key.verify("ch_1", &OtpCode::parse("123457", 6).unwrap(), &stored));
        assert_eq!(CodeHash::from_hex(&stored.to_hex()), Some(stored));
    }

    #[test]
    fn debug_never_shows_the_digits() {
        let code = OtpCode::parse("987654", 6).unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }
}
