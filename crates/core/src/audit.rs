//! The audit log's hash chain.
//!
//! Every decision and change is one event. Each event's `hash` is
//! SHA-256 over the previous event's hash and the event's canonical bytes,
//! so editing or deleting a stored row breaks the chain at that row, and a
//! gap in `seq` is visible. Cutting off the newest events is visible only
//! against a head (`seq`, `hash`) anchored elsewhere, which `audit verify`
//! prints (ASVS 7.3.3).

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    User,
    Manager,
    Service,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Manager => "manager",
            Self::Service => "service",
            Self::System => "system",
        }
    }
}

/// An event's content: everything the hash covers except `prev_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub seq: i64,
    /// Unix milliseconds, UTC.
    pub at_ms: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub contract_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    /// A compact JSON object, stored and hashed as these exact bytes.
    pub detail: String,
}

impl AuditEvent {
    /// Canonical bytes: a JSON array of the fields in a fixed order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let fields = serde_json::json!([
            self.seq,
            self.at_ms,
            self.actor_kind,
            self.actor_id,
            self.action,
            self.contract_id,
            self.user_id,
            self.ip,
            self.detail,
        ]);
        fields.to_string().into_bytes()
    }

    /// `hash` = SHA-256(prev_hash ‖ 0x0a ‖ canonical bytes), lowercase hex.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        let mut sha = Sha256::new();
        sha.update(prev_hash.as_bytes());
        sha.update(b"\n");
        sha.update(self.canonical_bytes());
        hex(&sha.finalize())
    }
}

/// Where and why the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event seq {seq}: expected seq {expected} (events are missing)")]
    Gap { seq: i64, expected: i64 },
    #[error("event seq {seq}: prev_hash does not match the previous event's hash")]
    PrevMismatch { seq: i64 },
    #[error("event seq {seq}: hash does not match its content (the row was edited)")]
    HashMismatch { seq: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match self {
            Self::Gap { seq, .. } | Self::PrevMismatch { seq } | Self::HashMismatch { seq } => *seq,
        }
    }
}

/// Checks stored events one by one, in `seq` order, with memory flat.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    head_hash: String,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { expected_seq: 1, head_hash: GENESIS.to_owned(), checked: 0 }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, event: &AuditEvent, prev_hash: &str, hash: &str) -> Result<(), ChainBreak> {
        if event.seq != self.expected_seq {
            return Err(ChainBreak::Gap { seq: event.seq, expected: self.expected_seq });
        }
        if prev_hash != self.head_hash {
            return Err(ChainBreak::PrevMismatch { seq: event.seq });
        }
        if event.chain_hash(prev_hash) != hash {
            return Err(ChainBreak::HashMismatch { seq: event.seq });
        }
        self.expected_seq += 1;
        self.head_hash = hash.to_owned();
        self.checked += 1;
        Ok(())
    }

    /// `(seq, hash)` of the last event checked; `(0, GENESIS)` if none.
    pub fn head(&self) -> (i64, &str) {
        (self.expected_seq - 1, &self.head_hash)
    }

    pub fn checked(&self) -> u64 {
        self.checked
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

pub fn unhex32(raw: &str) -> Option<[u8; 32]> {
    let bytes = raw.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, action: &str) -> AuditEvent {
        AuditEvent {
            seq,
            at_ms: 1_790_000_000_000 + seq,
            actor_kind: "user".into(),
            actor_id: "u-1".into(),
            action: action.into(),
            contract_id: Some("C-1".into()),
            user_id: Some("u-1".into()),
            ip: Some("203.0.113.9".into()),
            detail: r#"{"k":"v"}"#.into(),
        }
    }

    fn chain(n: i64) -> Vec<(AuditEvent, String, String)> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = event(seq, "login.allowed");
                let hash = e.chain_hash(&prev);
                let row = (e, prev.clone(), hash.clone());
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[(AuditEvent, String, String)]) -> Result<ChainVerifier, ChainBreak> {
        let mut v = ChainVerifier::default();
        for (e, prev, hash) in rows {
            v.push(e, prev, hash)?;
        }
        Ok(v)
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let rows = chain(5);
        let v = verify(&rows).unwrap();
        assert_eq!(v.head(), (5, rows[4].2.as_str()));
        assert_eq!(v.checked(), 5);
        assert_eq!(ChainVerifier::default().head(), (0, GENESIS));
    }

    #[test]
    fn an_edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].0.detail = r#"{"k":"forged"}"#.into();
        assert_eq!(verify(&rows).unwrap_err(), ChainBreak::HashMismatch { seq: 3 });
    }

    #[test]
    fn an_edited_row_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        rows[2].0.action = "login.challenged".into();
        rows[2].2 = rows[2].0.chain_hash(&rows[2].1);
        assert_eq!(verify(&rows).unwrap_err(), ChainBreak::PrevMismatch { seq: 4 });
    }

    #[test]
    fn a_deleted_row_is_a_gap() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(verify(&rows).unwrap_err(), ChainBreak::Gap { seq: 3, expected: 2 });
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = event(1, "a");
        let h = base.chain_hash(GENESIS);
        let variants = [
            AuditEvent { at_ms: 1, ..base.clone() },
            AuditEvent { actor_kind: "manager".into(), ..base.clone() },
            AuditEvent { actor_id: "x".into(), ..base.clone() },
            AuditEvent { contract_id: None, ..base.clone() },
            AuditEvent { user_id: None, ..base.clone() },
            AuditEvent { ip: None, ..base.clone() },
        ];
        for v in variants {
            assert_ne!(v.chain_hash(GENESIS), h);
        }
        assert_ne!(base.chain_hash(&"1".repeat(64)), h);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0xab; 32];
        assert_eq!(unhex32(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex32("zz"), None);
    }
}
