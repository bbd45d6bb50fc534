//! Contracts and users, including each user's 2FA state and failure count.

use super::{for_update, Conn, Engine};
use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
pub struct ContractRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub contract_id: String,
    pub email: String,
    pub display_name: String,
    pub phone_sealed: Option<String>,
    pub phone_masked: Option<String>,
    pub phone_digest: Option<String>,
    pub enabled_at: Option<i64>,
    pub last_verified_at: Option<i64>,
    pub failed_codes: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    /// A row of `USER_COLUMNS` read on a direct connection
    /// (`store::direct`), by name as sqlx's `FromRow` does.
    pub(crate) fn from_direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            contract_id: row.get("contract_id")?,
            email: row.get("email")?,
            display_name: row.get("display_name")?,
            phone_sealed: row.get("phone_sealed")?,
            phone_masked: row.get("phone_masked")?,
            phone_digest: row.get("phone_digest")?,
            enabled_at: row.get("enabled_at")?,
            last_verified_at: row.get("last_verified_at")?,
            failed_codes: row.get("failed_codes")?,
            locked_until: row.get("locked_until")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

pub(crate) const USER_COLUMNS: &str = "id, contract_id, email, display_name, phone_sealed, phone_masked, \
    phone_digest, enabled_at, last_verified_at, failed_codes, locked_until, created_at, updated_at";

/// What contract search matches: id and name, lower-cased.
pub fn search_text(id: &str, name: &str) -> String {
    format!("{} {}", id.to_lowercase(), name.to_lowercase())
}

pub async fn find_contract(c: &mut Conn, id: &str) -> sqlx::Result<Option<ContractRow>> {
    sqlx::query_as("SELECT id, name, created_at, updated_at FROM contracts WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Creates the contract unless a row with this id exists (created by a
/// racing request, perhaps on another instance); returns whether it did.
pub async fn insert_contract(c: &mut Conn, id: &str, name: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(name)
    .bind(search_text(id, name))
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn rename_contract(c: &mut Conn, id: &str, name: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE contracts SET name = $2, search_text = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(search_text(id, name))
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}

/// A contract's `updated_at` moves with any change to its users.
pub async fn touch_contract(c: &mut Conn, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE contracts SET updated_at = $2 WHERE id = $1").bind(id).bind(now).execute(c).await.map(drop)
}

pub async fn find_user(c: &mut Conn, id: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(c).await
}

/// The user, locked until the end of the transaction on PostgreSQL (every
/// per-user transaction starts here, so the failure counter, the code
/// counters of the user's challenges and flows, and the flow steps are
/// read-modify-written by one instance at a time). SQLite's write
/// transaction already excludes other writers.
pub async fn lock_user(c: &mut Conn, engine: Engine, id: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1{}", for_update(engine)))
        .bind(id)
        .fetch_optional(c)
        .await
}

/// The user a challenge belongs to, the row locked for the transaction
/// (PostgreSQL), in one round trip; `None` if there is no such challenge.
/// The challenge itself is to be read after this, under the lock.
pub async fn lock_user_of_challenge(c: &mut Conn, engine: Engine, challenge_id: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM challenges WHERE id = $1){}",
        for_update(engine)
    ))
    .bind(challenge_id)
    .fetch_optional(c)
    .await
}

/// Creates the user unless a row with this id exists (created by a racing
/// request, perhaps on another instance); returns whether it did.
pub async fn insert_user(
    c: &mut Conn,
    id: &str,
    contract_id: &str,
    email: &str,
    display_name: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO users (id, contract_id, email, display_name, failed_codes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(contract_id)
    .bind(email)
    .bind(display_name)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_profile(
    c: &mut Conn,
    id: &str,
    contract_id: &str,
    email: &str,
    display_name: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET contract_id = $2, email = $3, display_name = $4, updated_at = $5 WHERE id = $1")
        .bind(id)
        .bind(contract_id)
        .bind(email)
        .bind(display_name)
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}

/// Registers `phone` as the user's second factor (enable or phone change).
pub async fn set_phone(
    c: &mut Conn,
    id: &str,
    sealed: &str,
    masked: &str,
    digest: &str,
    enabled_at: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET phone_sealed = $2, phone_masked = $3, phone_digest = $4, \
         enabled_at = $5, last_verified_at = $6, updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(sealed)
    .bind(masked)
    .bind(digest)
    .bind(enabled_at)
    .bind(now)
    .execute(c)
    .await
    .map(drop)
}

/// Turns 2FA off; returns whether it was on.
pub async fn clear_phone(c: &mut Conn, id: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET phone_sealed = NULL, phone_masked = NULL, phone_digest = NULL, \
         enabled_at = NULL, updated_at = $2 WHERE id = $1 AND enabled_at IS NOT NULL",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_failures(c: &mut Conn, id: &str, count: i64, locked_until: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET failed_codes = $2, locked_until = $3 WHERE id = $1")
        .bind(id)
        .bind(count)
        .bind(locked_until)
        .execute(c)
        .await
        .map(drop)
}

pub async fn mark_verified(c: &mut Conn, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET last_verified_at = $2, failed_codes = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}
