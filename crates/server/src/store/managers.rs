//! Account managers, their tokens (stored as SHA-256) and assignments.

use super::Conn;
use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
pub struct ManagerRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn insert(c: &mut Conn, id: &str, name: &str, email: &str, digest: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO managers (id, name, email, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(name)
        .bind(email)
        .bind(digest)
        .bind(now)
        .execute(c)
        .await
        .map(drop)
}

/// The live (not revoked) manager holding this token digest.
pub async fn find_by_token(c: &mut Conn, digest: &str) -> sqlx::Result<Option<ManagerRow>> {
    sqlx::query_as(
        "SELECT id, name, email, created_at, revoked_at FROM managers WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(digest)
    .fetch_optional(c)
    .await
}

pub async fn find(c: &mut Conn, id: &str) -> sqlx::Result<Option<ManagerRow>> {
    sqlx::query_as("SELECT id, name, email, created_at, revoked_at FROM managers WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await
}

pub async fn list(c: &mut Conn) -> sqlx::Result<Vec<(ManagerRow, i64)>> {
    let rows: Vec<(String, String, String, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT m.id, m.name, m.email, m.created_at, m.revoked_at, \
         (SELECT COUNT(*) FROM manager_contracts mc WHERE mc.manager_id = m.id) \
         FROM managers m ORDER BY m.created_at, m.id",
    )
    .fetch_all(c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, email, created_at, revoked_at, n)| (ManagerRow { id, name, email, created_at, revoked_at }, n))
        .collect())
}

pub async fn revoke(c: &mut Conn, id: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE managers SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Assigns; returns false if it already was.
pub async fn assign(c: &mut Conn, manager_id: &str, contract_id: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO manager_contracts (manager_id, contract_id, assigned_at) VALUES ($1, $2, $3) \
         ON CONFLICT (manager_id, contract_id) DO NOTHING",
    )
    .bind(manager_id)
    .bind(contract_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn unassign(c: &mut Conn, manager_id: &str, contract_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM manager_contracts WHERE manager_id = $1 AND contract_id = $2")
        .bind(manager_id)
        .bind(contract_id)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_contracts(c: &mut Conn, manager_id: &str) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM manager_contracts WHERE manager_id = $1")
        .bind(manager_id)
        .fetch_one(c)
        .await?;
    Ok(n)
}

pub async fn is_assigned(c: &mut Conn, manager_id: &str, contract_id: &str) -> sqlx::Result<bool> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM manager_contracts WHERE manager_id = $1 AND contract_id = $2")
            .bind(manager_id)
            .bind(contract_id)
            .fetch_optional(c)
            .await?;
    Ok(row.is_some())
}
