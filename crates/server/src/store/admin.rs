//! What account managers read: every query is scoped to the contracts
//! assigned to the manager (joined through `manager_contracts`), so a
//! contract or user outside that scope is simply not found.
//! Lists use keyset pagination (`after` = the last key of the previous page).

pub mod export;

use super::users::UserRow;
use super::{Conn, Engine};
use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
pub struct ContractSummaryRow {
    pub id: String,
    pub name: String,
    pub updated_at: i64,
    pub users: i64,
    pub users_with_two_factor: i64,
}

/// `%q%` for LIKE, with LIKE's own wildcards escaped (`ESCAPE '\'`).
pub fn like_pattern(q: &str) -> String {
    let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Contracts are walked in id order and each is checked against the
/// manager's assignments (`EXISTS` on the primary key), so a page stops as
/// soon as it is full and needs no sort.
const CONTRACT_SUMMARY: &str = "SELECT c.id, c.name, c.updated_at, \
     (SELECT COUNT(*) FROM users u WHERE u.contract_id = c.id) AS users, \
     (SELECT COUNT(*) FROM users u WHERE u.contract_id = c.id AND u.enabled_at IS NOT NULL) AS users_with_two_factor \
     FROM contracts c \
     WHERE EXISTS (SELECT 1 FROM manager_contracts mc WHERE mc.manager_id = $1 AND mc.contract_id = c.id)";

pub async fn contracts(
    c: &mut Conn,
    manager_id: &str,
    q: Option<&str>,
    updated_since: Option<i64>,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ContractSummaryRow>> {
    sqlx::query_as(&format!(
        "{CONTRACT_SUMMARY} AND ($2 IS NULL OR c.search_text LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR c.updated_at >= $3) AND ($4 IS NULL OR c.id > $4) ORDER BY c.id LIMIT $5"
    ))
    .bind(manager_id)
    .bind(q.map(like_pattern))
    .bind(updated_since)
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await
}

pub async fn contract(c: &mut Conn, manager_id: &str, contract_id: &str) -> sqlx::Result<Option<ContractSummaryRow>> {
    sqlx::query_as(&format!("{CONTRACT_SUMMARY} AND c.id = $2"))
        .bind(manager_id)
        .bind(contract_id)
        .fetch_optional(c)
        .await
}

const USER_COLUMNS: &str = "u.id, u.contract_id, u.email, u.display_name, u.phone_sealed, u.phone_masked, \
    u.phone_digest, u.enabled_at, u.last_verified_at, u.failed_codes, u.locked_until, u.created_at, u.updated_at";

/// Users of one contract (assumed in scope), by id; `q` matches id, email or name.
pub async fn contract_users(
    c: &mut Conn,
    contract_id: &str,
    q: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.contract_id = $1 \
         AND ($2 IS NULL OR LOWER(u.id) LIKE $2 ESCAPE '\\' OR LOWER(u.email) LIKE $2 ESCAPE '\\' \
              OR LOWER(u.display_name) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR u.id > $3) ORDER BY u.id LIMIT $4"
    ))
    .bind(contract_id)
    .bind(q.map(like_pattern))
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Users of all the manager's contracts whose id or email contains `q`.
pub async fn search_users(
    c: &mut Conn,
    manager_id: &str,
    q: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN manager_contracts mc ON mc.contract_id = u.contract_id \
         AND mc.manager_id = $1 \
         WHERE ($2 IS NULL OR LOWER(u.id) LIKE $2 ESCAPE '\\' OR LOWER(u.email) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR u.id > $3) ORDER BY u.id LIMIT $4"
    ))
    .bind(manager_id)
    .bind(q.map(like_pattern))
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await
}

pub async fn user(c: &mut Conn, manager_id: &str, user_id: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN manager_contracts mc ON mc.contract_id = u.contract_id \
         AND mc.manager_id = $1 WHERE u.id = $2"
    ))
    .bind(manager_id)
    .bind(user_id)
    .fetch_optional(c)
    .await
}

/// Locks every user of a contract until the end of the transaction, in id
/// order, on PostgreSQL (SQLite's write transaction already excludes other
/// writers). A whole-contract disable starts here: each transaction that
/// changes one user locks that user first, so while these locks are held no
/// user of the contract can be enabled, and the users read next are the
/// users the disable changes.
pub async fn lock_contract_users(c: &mut Conn, engine: Engine, contract_id: &str) -> sqlx::Result<()> {
    if engine == Engine::Postgres {
        sqlx::query("SELECT id FROM users WHERE contract_id = $1 ORDER BY id FOR UPDATE")
            .bind(contract_id)
            .fetch_all(c)
            .await?;
    }
    Ok(())
}

/// Users of a contract with 2FA on, for a whole-contract disable.
pub async fn enabled_users(c: &mut Conn, contract_id: &str) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.contract_id = $1 AND u.enabled_at IS NOT NULL ORDER BY u.id"
    ))
    .bind(contract_id)
    .fetch_all(c)
    .await
}

/// Turns 2FA off for every user of a contract, and cancels their open
/// flows (their pending challenges end at their answer:
/// `service::logins::ensure_open`). Returns how many users changed.
pub async fn disable_contract(c: &mut Conn, contract_id: &str, now: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE flows SET step = 'cancelled', code_hash = NULL, updated_at = $2 \
         WHERE step NOT IN ('done', 'cancelled') AND user_id IN (SELECT id FROM users WHERE contract_id = $1)",
    )
    .bind(contract_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    let done = sqlx::query(
        "UPDATE users SET phone_sealed = NULL, phone_masked = NULL, phone_digest = NULL, enabled_at = NULL, \
         updated_at = $2 WHERE contract_id = $1 AND enabled_at IS NOT NULL",
    )
    .bind(contract_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected())
}

/// A user's notifications, newest first, after the `(created_at, id)` key.
pub async fn notifications(
    c: &mut Conn,
    user_id: &str,
    before: Option<(i64, &str)>,
    limit: i64,
) -> sqlx::Result<Vec<super::outbox::NotificationRow>> {
    let (at, id) = match before {
        Some((at, id)) => (Some(at), Some(id)),
        None => (None, None),
    };
    sqlx::query_as(
        "SELECT id, user_id, channel, purpose, recipient_masked, status, attempts, last_error, created_at, sent_at \
         FROM notifications WHERE user_id = $1 \
         AND ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(user_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Filters of the audit export. Times are Unix ms; `since` inclusive,
/// `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub contract_id: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The manager's audit events after `$2`, up to `$3`, filtered, in order.
pub(crate) const AUDIT_PAGE: &str = "SELECT e.seq, e.at, e.actor_kind, e.actor_id, e.action, e.contract_id, \
     e.user_id, e.ip, e.detail, e.prev_hash, e.hash FROM audit_events e \
     WHERE e.seq > $2 AND e.seq <= $3 \
     AND EXISTS (SELECT 1 FROM manager_contracts mc WHERE mc.manager_id = $1 AND mc.contract_id = e.contract_id) \
     AND ($4 IS NULL OR e.contract_id = $4) AND ($5 IS NULL OR e.user_id = $5) \
     AND ($6 IS NULL OR e.at >= $6) AND ($7 IS NULL OR e.at < $7) \
     ORDER BY e.seq LIMIT $8";

/// One page of the manager's audit events after `after_seq`, up to `max_seq`.
pub async fn audit_page(
    c: &mut Conn,
    manager_id: &str,
    filter: &AuditFilter,
    after_seq: i64,
    max_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<super::audit::EventRow>> {
    sqlx::query_as(AUDIT_PAGE)
        .bind(manager_id)
        .bind(after_seq)
        .bind(max_seq)
        .bind(filter.contract_id.as_deref())
        .bind(filter.user_id.as_deref())
        .bind(filter.since)
        .bind(filter.until)
        .bind(limit)
        .fetch_all(c)
        .await
}
