//! Service and metrics tokens (stored as SHA-256) and server settings.

use super::Conn;

pub async fn insert_service_token(c: &mut Conn, id: &str, name: &str, digest: &str, now: i64) -> sqlx::Result<()> {
    insert_token(c, "service_tokens", id, name, digest, now).await
}

async fn insert_token(c: &mut Conn, table: &str, id: &str, name: &str, digest: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(&format!("INSERT INTO {table} (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)"))
        .bind(id)
        .bind(name)
        .bind(digest)
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}

/// The id of the live service token with this digest.
pub async fn find_service_token(c: &mut Conn, digest: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(digest)
            .fetch_optional(c)
            .await?;
    Ok(row.map(|(id,)| id))
}

/// A token that may read `GET /metrics` and nothing else.
pub async fn insert_metrics_token(c: &mut Conn, id: &str, name: &str, digest: &str, now: i64) -> sqlx::Result<()> {
    insert_token(c, "metrics_tokens", id, name, digest, now).await
}

/// Whether a live metrics token has this digest.
pub async fn is_metrics_token(c: &mut Conn, digest: &str) -> sqlx::Result<bool> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM metrics_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(digest)
            .fetch_optional(c)
            .await?;
    Ok(row.is_some())
}

/// Revokes a service or metrics token by id (`st_…` or `mt_…`); false if
/// no live token has that id.
pub async fn revoke_token(c: &mut Conn, id: &str, now: i64) -> sqlx::Result<bool> {
    let table = if id.starts_with("mt_") { "metrics_tokens" } else { "service_tokens" };
    let done = sqlx::query(&format!("UPDATE {table} SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"))
        .bind(id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One token as `service-token list` shows it (never the token).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    /// `service` or `metrics`.
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Every service and metrics token, oldest first.
pub async fn list_tokens(c: &mut Conn) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as(
        "SELECT id, 'service' AS kind, name, created_at, revoked_at FROM service_tokens \
         UNION ALL SELECT id, 'metrics' AS kind, name, created_at, revoked_at FROM metrics_tokens \
         ORDER BY created_at, id",
    )
    .fetch_all(c)
    .await
}

pub async fn get_setting(c: &mut Conn, key: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(c).await?;
    Ok(row.map(|(v,)| v))
}

/// Stores `value` unless the key is already set; returns the stored value
/// (so concurrent first starts agree on one).
pub async fn init_setting(c: &mut Conn, key: &str, value: &str) -> sqlx::Result<String> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&mut *c)
        .await?;
    let (stored,): (String,) =
        sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(c).await?;
    Ok(stored)
}
