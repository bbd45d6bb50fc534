//! The server's keys, all derived from one master key (`codes.hmac_key`).
//!
//! * code hashes: HMAC-SHA-256 bound to the challenge or flow (core::code);
//! * sealing: XChaCha20-Poly1305 for what must be read back later but never
//!   sit in clear — phone numbers and the outbox's message text;
//! * phone digests: HMAC of the E.164 number, to count sends per number
//!   without storing it;
//! * tokens: random, shown once, stored as SHA-256 (they are high-entropy,
//!   so a fast hash is enough and needs no key).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tollgate_core::audit::hex;
use tollgate_core::code::CodeKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("codes.hmac_key must be base64 of at least 32 bytes")]
    BadMasterKey,
    #[error("sealed value is damaged or was sealed with another key")]
    Unseal,
}

pub struct Keys {
    pub code: CodeKey,
    seal: XChaCha20Poly1305,
    phone: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(…)")
    }
}

fn derive(master: &[u8], label: &str) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(master) {
        Ok(mac) => mac,
        Err(_) => return Sha256::digest([master, label.as_bytes()].concat()).into(),
    };
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Keys {
    pub fn from_master_b64(master_b64: &str) -> Result<Self, KeyError> {
        let master = STANDARD.decode(master_b64.trim()).map_err(|_| KeyError::BadMasterKey)?;
        if master.len() < 32 {
            return Err(KeyError::BadMasterKey);
        }
        let seal_key = derive(&master, "tollgate/seal/v1");
        Ok(Self {
            code: CodeKey::new(derive(&master, "tollgate/code/v1")),
            seal: XChaCha20Poly1305::new(&seal_key.into()),
            phone: derive(&master, "tollgate/phone/v1"),
        })
    }

    /// A new random master key, base64.
    pub fn generate_master_b64() -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    /// Encrypts `plain`; the result is base64(nonce ‖ ciphertext).
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        // Encryption of an in-memory buffer cannot fail for this cipher.
        let ct = self.seal.encrypt(XNonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        STANDARD.encode(out)
    }

    pub fn unseal(&self, sealed: &str) -> Result<String, KeyError> {
        let raw = STANDARD.decode(sealed).map_err(|_| KeyError::Unseal)?;
        if raw.len() < 24 {
            return Err(KeyError::Unseal);
        }
        let (nonce, ct) = raw.split_at(24);
        let plain = self.seal.decrypt(XNonce::from_slice(nonce), ct).map_err(|_| KeyError::Unseal)?;
        String::from_utf8(plain).map_err(|_| KeyError::Unseal)
    }

    /// A keyed digest of a phone number, to count sends per number.
    pub fn phone_digest(&self, e164: &str) -> String {
        hex(&derive(&self.phone, e164))
    }
}

/// A new random id or token: `prefix` + 32 random bytes, base64url
/// (`[A-Za-z0-9_-]`, 43 characters after the prefix).
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A shorter random id for challenges, flows, logins, notifications.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A new id for rows written at a high rate (challenges, notifications):
/// `prefix`, the creation time (milliseconds since 1970, 48 bits written
/// as 12 letters `a`–`p`, one per 4 bits), then 12 random bytes, base64url
/// (16 characters). Ids made later sort after earlier ones, so the unique
/// index on the id grows at its end — one page written per commit instead
/// of one random page per row, as with fully random ids — and 96 random
/// bits keep them unguessable. Letters, not hex digits: an id must not
/// hold a run of digits that reads (or is scrubbed) like a phone number.
/// The time is the system's, not the service clock: it only orders the
/// index.
pub fn ordered_id(prefix: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        .min(0xffff_ffff_ffff);
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    let time: String = (0..12).rev().map(|i| char::from(b'a' + ((ms >> (4 * i)) & 0xf) as u8)).collect();
    format!("{prefix}{time}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// How a token is stored: SHA-256, hex.
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_detects_tampering() {
        let keys = Keys::from_master_b64(&Keys::generate_master_b64()).unwrap();
        let sealed = keys.seal("+447400123456");
        assert!(!sealed.contains("7400123456"));
        assert_eq!(keys.unseal(&sealed).unwrap(), "+447400123456");
        let other = Keys::from_master_b64(&Keys::generate_master_b64()).unwrap();
        assert!(other.unseal(&sealed).is_err());
        let mut raw = STANDARD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(keys.unseal(&STANDARD.encode(raw)).is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes_of_base64() {
        assert!(Keys::from_master_b64("c2hvcnQ=").is_err());
        assert!(Keys::from_master_b64("not base64!").is_err());
    }

    #[test]
    fn ordered_ids_sort_by_creation_and_are_unique() {
        let first = ordered_id("ch_");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later: Vec<String> = (0..1_000).map(|_| ordered_id("ch_")).collect();
        assert_eq!(first.len(), "ch_".len() + 12 + 16, "{first}");
        assert!(first[3..15].chars().all(|c| ('a'..='p').contains(&c)), "{first}");
        assert!(later.iter().all(|id| id.as_str() > first.as_str()));
        let distinct: std::collections::HashSet<&String> = later.iter().collect();
        assert_eq!(distinct.len(), later.len());
    }

    #[test]
    fn tokens_use_the_documented_alphabet() {
        let t = random_token("tgs_");
        assert!(t.len() >= 32);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_ne!(token_digest(&t), t);
    }
}
