//! Service tokens (stored as SHA-256) and server settings.

use super::Conn;

pub async fn insert_service_token(c: &mut Conn, id: &str, name: &str, digest: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO service_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
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
