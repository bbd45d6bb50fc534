//! Challenges and flows (each owns at most one outstanding code), the
//! per-number send log, and the IPs/devices/countries users verified from.

use super::users::{UserRow, USER_COLUMNS};
use super::{Conn, Engine};
use sqlx::{FromRow, Row};

/// The two tables that own a code. Their code columns share names, so one
/// set of statements serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOwner {
    Challenge,
    Flow,
}

impl CodeOwner {
    fn table(self) -> &'static str {
        match self {
            Self::Challenge => "challenges",
            Self::Flow => "flows",
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub login_id: String,
    pub user_id: String,
    pub ip: String,
    pub device_id: String,
    pub user_agent: Option<String>,
    pub country: Option<String>,
    pub status: String,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_wrong: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct FlowRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub step: String,
    pub new_phone_sealed: Option<String>,
    pub new_phone_masked: Option<String>,
    pub new_phone_digest: Option<String>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_wrong: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub login_id: &'a str,
    pub user_id: &'a str,
    pub ip: &'a str,
    pub device_id: &'a str,
    pub user_agent: Option<&'a str>,
    pub country: Option<&'a str>,
    pub code_hash: &'a str,
    pub code_expires_at: i64,
    pub now: i64,
}

pub async fn insert_challenge(c: &mut Conn, n: NewChallenge<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO challenges (id, login_id, user_id, ip, device_id, user_agent, country, status, \
         code_hash, code_expires_at, code_wrong, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, 0, $10)",
    )
    .bind(n.id)
    .bind(n.login_id)
    .bind(n.user_id)
    .bind(n.ip)
    .bind(n.device_id)
    .bind(n.user_agent)
    .bind(n.country)
    .bind(n.code_hash)
    .bind(n.code_expires_at)
    .bind(n.now)
    .execute(c)
    .await
    .map(drop)
}

pub async fn find_challenge(c: &mut Conn, id: &str) -> sqlx::Result<Option<ChallengeRow>> {
    sqlx::query_as(
        "SELECT id, login_id, user_id, ip, device_id, user_agent, country, status, code_hash, \
         code_expires_at, code_wrong, created_at FROM challenges WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await
}

/// Finishes a pending challenge; false if it was not pending any more
/// (a racing verification won).
pub async fn finish_challenge(c: &mut Conn, id: &str, status: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE challenges SET status = $2, finished_at = $3, code_hash = NULL \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels every pending challenge of a user (2FA turned off).
pub async fn cancel_user_challenges(c: &mut Conn, user_id: &str, now: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE challenges SET status = 'cancelled', finished_at = $2, code_hash = NULL \
         WHERE user_id = $1 AND status = 'pending'",
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

pub struct NewFlow<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub step: &'a str,
    pub new_phone: Option<(&'a str, &'a str, &'a str)>,
    pub code_hash: &'a str,
    pub code_expires_at: i64,
    pub now: i64,
}

pub async fn insert_flow(c: &mut Conn, n: NewFlow<'_>) -> sqlx::Result<()> {
    let (sealed, masked, digest) = match n.new_phone {
        Some((s, m, d)) => (Some(s), Some(m), Some(d)),
        None => (None, None, None),
    };
    sqlx::query(
        "INSERT INTO flows (id, user_id, kind, step, new_phone_sealed, new_phone_masked, new_phone_digest, \
         code_hash, code_expires_at, code_wrong, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $9, $10, $10)",
    )
    .bind(n.id)
    .bind(n.user_id)
    .bind(n.kind)
    .bind(n.step)
    .bind(sealed)
    .bind(masked)
    .bind(digest)
    .bind(n.code_hash)
    .bind(n.code_expires_at)
    .bind(n.now)
    .execute(c)
    .await
    .map(drop)
}

pub async fn find_flow(c: &mut Conn, id: &str) -> sqlx::Result<Option<FlowRow>> {
    sqlx::query_as(
        "SELECT id, user_id, kind, step, new_phone_sealed, new_phone_masked, new_phone_digest, code_hash, \
         code_expires_at, code_wrong, expires_at, created_at FROM flows WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await
}

/// Moves a flow from `from` to `to` — only if it is still at `from`, so a
/// flow cannot be confirmed twice. The code is retired; `expires_at` is the
/// new deadline of the flow.
pub async fn advance_flow(
    c: &mut Conn,
    id: &str,
    from: &str,
    to: &str,
    expires_at: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE flows SET step = $3, code_hash = NULL, code_expires_at = NULL, code_wrong = 0, \
         expires_at = $4, updated_at = $5 WHERE id = $1 AND step = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(expires_at)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_flow_new_phone(
    c: &mut Conn,
    id: &str,
    (sealed, masked, digest): (&str, &str, &str),
) -> sqlx::Result<()> {
    sqlx::query("UPDATE flows SET new_phone_sealed = $2, new_phone_masked = $3, new_phone_digest = $4 WHERE id = $1")
        .bind(id)
        .bind(sealed)
        .bind(masked)
        .bind(digest)
        .execute(c)
        .await
        .map(drop)
}

/// Cancels every open flow of a user; returns how many.
pub async fn cancel_user_flows(c: &mut Conn, user_id: &str, now: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE flows SET step = 'cancelled', code_hash = NULL, updated_at = $2 \
         WHERE user_id = $1 AND step NOT IN ('done', 'cancelled')",
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

/// Installs a new outstanding code on a challenge or flow (resend, or the
/// next step), killing the old one. For flows the flow's deadline follows.
pub async fn replace_code(c: &mut Conn, owner: CodeOwner, id: &str, hash: &str, expires_at: i64) -> sqlx::Result<()> {
    let extra = match owner {
        CodeOwner::Flow => ", expires_at = $3",
        CodeOwner::Challenge => "",
    };
    sqlx::query(&format!(
        "UPDATE {} SET code_hash = $2, code_expires_at = $3, code_wrong = 0{extra} WHERE id = $1",
        owner.table()
    ))
    .bind(id)
    .bind(hash)
    .bind(expires_at)
    .execute(c)
    .await
    .map(drop)
}

pub async fn set_code_wrong(c: &mut Conn, owner: CodeOwner, id: &str, wrong: i64) -> sqlx::Result<()> {
    sqlx::query(&format!("UPDATE {} SET code_wrong = $2 WHERE id = $1", owner.table()))
        .bind(id)
        .bind(wrong)
        .execute(c)
        .await
        .map(drop)
}

/// Serialises the send limit of one phone digest until the end of the
/// transaction: on PostgreSQL a transaction-scoped advisory lock keyed by
/// the digest (a number may be shared by several users, so the user's row
/// lock does not cover it); SQLite's write transaction already does.
pub async fn lock_phone_sends(c: &mut Conn, engine: Engine, digest: &str) -> sqlx::Result<()> {
    if engine == Engine::Sqlite {
        return Ok(());
    }
    // The digest is hex of a keyed hash: its first 16 digits make a good key.
    let key = digest.get(..16).and_then(|hex| u64::from_str_radix(hex, 16).ok()).unwrap_or(0);
    let key = i64::from_ne_bytes(key.to_ne_bytes());
    // Wrapped so the row has a type the Any driver decodes (not `void`).
    sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
        .bind(key)
        .execute(c)
        .await
        .map(drop)
}

/// Sends to one phone digest since `since`: how many, and the oldest.
pub async fn recent_sends(c: &mut Conn, digest: &str, since: i64) -> sqlx::Result<(i64, Option<i64>)> {
    sqlx::query_as("SELECT COUNT(*), MIN(sent_at) FROM code_sends WHERE phone_digest = $1 AND sent_at > $2")
        .bind(digest)
        .bind(since)
        .fetch_one(c)
        .await
}

pub async fn record_send(c: &mut Conn, digest: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO code_sends (phone_digest, sent_at) VALUES ($1, $2)")
        .bind(digest)
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}

/// What a login decision reads, in one round trip: the user, and when they
/// last verified from this IP, this device and (if given) this country.
/// `None` if there is no such user.
pub async fn login_view(
    c: &mut Conn,
    user_id: &str,
    ip: &str,
    device: &str,
    country: Option<&str>,
) -> sqlx::Result<Option<(UserRow, Familiar)>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, \
         (SELECT last_verified_at FROM familiar WHERE user_id = $1 AND kind = 'ip' AND value = $2) AS seen_ip, \
         (SELECT last_verified_at FROM familiar WHERE user_id = $1 AND kind = 'device' AND value = $3) AS seen_device, \
         (SELECT last_verified_at FROM familiar WHERE user_id = $1 AND kind = 'country' AND value = $4) AS seen_country \
         FROM users WHERE id = $1"
    ))
    .bind(user_id)
    .bind(ip)
    .bind(device)
    .bind(country)
    .fetch_optional(c)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let familiar = Familiar {
        ip: row.try_get("seen_ip")?,
        device: row.try_get("seen_device")?,
        country: row.try_get("seen_country")?,
    };
    Ok(Some((UserRow::from_row(&row)?, familiar)))
}

/// When a user last verified from a login's IP, device and country.
#[derive(Debug, Clone, Copy)]
pub struct Familiar {
    pub ip: Option<i64>,
    pub device: Option<i64>,
    pub country: Option<i64>,
}

pub async fn remember(c: &mut Conn, user: &str, kind: &str, value: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO familiar (user_id, kind, value, last_verified_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, kind, value) DO UPDATE SET last_verified_at = excluded.last_verified_at",
    )
    .bind(user)
    .bind(kind)
    .bind(value)
    .bind(now)
    .execute(c)
    .await
    .map(drop)
}
