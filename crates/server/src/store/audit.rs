//! The audit log: append under the head row's lock (one chain, no forks,
//! whatever the number of writers), and read back in `seq` order.

use super::{for_update, values_rows, Conn, Engine};
use sqlx::FromRow;
use tollgate_core::audit::{ActorKind, AuditEvent};

pub struct NewEvent<'a> {
    pub actor_kind: ActorKind,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub contract_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// Appends one event in the caller's transaction; returns its `seq`.
pub async fn append(c: &mut Conn, engine: Engine, at_ms: i64, e: NewEvent<'_>) -> sqlx::Result<i64> {
    append_batch(c, engine, vec![(at_ms, e)]).await
}

/// Appends many events in the caller's transaction: the head is read and
/// locked once, rows go in with multi-row INSERTs, the head moves once.
/// Returns the `seq` of the last event (the head).
pub async fn append_batch(c: &mut Conn, engine: Engine, events: Vec<(i64, NewEvent<'_>)>) -> sqlx::Result<i64> {
    let (mut seq, mut prev): (i64, String) =
        sqlx::query_as(&format!("SELECT seq, hash FROM audit_head WHERE id = 1{}", for_update(engine)))
            .fetch_one(&mut *c)
            .await?;
    let mut rows = Vec::with_capacity(events.len());
    for (at_ms, e) in events {
        seq += 1;
        let event = AuditEvent {
            seq,
            at_ms,
            actor_kind: e.actor_kind.as_str().to_owned(),
            actor_id: e.actor_id.to_owned(),
            action: e.action.to_owned(),
            contract_id: e.contract_id.map(str::to_owned),
            user_id: e.user_id.map(str::to_owned),
            ip: e.ip.map(str::to_owned),
            detail: e.detail.to_string(),
        };
        let hash = event.chain_hash(&prev);
        rows.push((event, std::mem::replace(&mut prev, hash.clone()), hash));
    }
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO audit_events (seq, at, actor_kind, actor_id, action, contract_id, user_id, ip, detail, \
             prev_hash, hash) VALUES {}",
            values_rows(engine, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for (e, prev_hash, hash) in chunk {
            query = query
                .bind(e.seq)
                .bind(e.at_ms)
                .bind(&e.actor_kind)
                .bind(&e.actor_id)
                .bind(&e.action)
                .bind(&e.contract_id)
                .bind(&e.user_id)
                .bind(&e.ip)
                .bind(&e.detail)
                .bind(prev_hash)
                .bind(hash);
        }
        query.execute(&mut *c).await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev)
        .execute(&mut *c)
        .await?;
    Ok(seq)
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub contract_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl EventRow {
    pub fn event(&self) -> AuditEvent {
        AuditEvent {
            seq: self.seq,
            at_ms: self.at,
            actor_kind: self.actor_kind.clone(),
            actor_id: self.actor_id.clone(),
            action: self.action.clone(),
            contract_id: self.contract_id.clone(),
            user_id: self.user_id.clone(),
            ip: self.ip.clone(),
            detail: self.detail.clone(),
        }
    }
}

const EVENT_COLUMNS: &str = "seq, at, actor_kind, actor_id, action, contract_id, user_id, ip, detail, prev_hash, hash";

/// The next page of events after `after_seq`, in order.
pub async fn page_after(c: &mut Conn, after_seq: i64, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(c)
        .await
}

/// The recorded head of the chain.
pub async fn head(c: &mut Conn) -> sqlx::Result<(i64, String)> {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(c).await
}

/// Events of one user, oldest first (tests and the admin views).
pub async fn for_user(c: &mut Conn, user_id: &str) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE user_id = $1 ORDER BY seq"))
        .bind(user_id)
        .fetch_all(c)
        .await
}
