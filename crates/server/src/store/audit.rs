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
    append_batch_framed(c, engine, events, "", false, None).await
}

/// The chain's head as `HEAD` reads it: the last event's `seq` and hash.
pub type Head = (i64, String);

/// The statement that reads the chain's head, as a literal: the writer
/// puts it into its fixed `BEGIN` calls with `concat!`.
macro_rules! head_sql {
    () => {
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    };
}
pub(crate) use head_sql;

/// Reads the chain's head (PostgreSQL adds the row lock).
pub(crate) const HEAD: &str = head_sql!();

/// `append_batch` for the SQLite group-commit writer's transaction,
/// begun and ended by hand: `before` (fixed statements, each followed by
/// `; `, e.g. `BEGIN IMMEDIATE; `) runs in the same call as the first
/// statement of the append, and with `commit` the `COMMIT` in the same
/// call as the last INSERT — so a batch that only appends is two calls.
/// `head`: the head as read earlier in this same write transaction (SQLite
/// lets no other writer in before it ends, and the writer's jobs append
/// nothing themselves), so it is not read again — one call less. If it
/// fails, the caller rolls back. PostgreSQL takes none of them (`""`,
/// `false`, `None`).
pub(crate) async fn append_batch_framed(
    c: &mut Conn,
    engine: Engine,
    events: Vec<(i64, NewEvent<'_>)>,
    before: &str,
    commit: bool,
    head: Option<Head>,
) -> sqlx::Result<i64> {
    debug_assert!(engine == Engine::Sqlite || (before.is_empty() && !commit && head.is_none()));
    let (seq, prev, mut before) = match head {
        Some((seq, hash)) => (seq, hash, before),
        None => {
            // `fetch_all`: a fetch of one row would stop at the first
            // statement's (empty) result when `before` holds statements.
            let head: Vec<Head> =
                sqlx::query_as(&format!("{before}{HEAD}{}", for_update(engine))).fetch_all(&mut *c).await?;
            let Some((seq, hash)) = head.into_iter().next() else {
                return Err(sqlx::Error::RowNotFound);
            };
            (seq, hash, "")
        }
    };
    let (rows, (seq, prev)) = chain((seq, prev), events);
    // The head moves in the same call as the last INSERT: one hand-over to
    // SQLite's thread, one round trip to PostgreSQL less per append — and
    // on PostgreSQL the head's lock is held until commit, so every other
    // appender waits for these calls. SQLite runs the statements of a call
    // in order, each taking its `?` parameters in turn; PostgreSQL takes
    // one statement per call, so there the INSERT is a data-modifying
    // `WITH` of the UPDATE (it runs whether or not the UPDATE reads it).
    let chunks = rows.len().div_ceil(500);
    for (i, chunk) in rows.chunks(500).enumerate() {
        let last = i + 1 == chunks;
        let insert = format!(
            "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES {}",
            values_rows(engine, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk.len())
        );
        let sql = match (last, engine) {
            (false, _) => format!("{before}{insert}"),
            (true, Engine::Sqlite) => {
                let end = if commit { "; COMMIT" } else { "" };
                format!("{before}{insert}; {MOVE_HEAD}{end}")
            }
            (true, Engine::Postgres) => {
                let n = chunk.len() * 11;
                format!(
                    "WITH appended AS ({insert}) UPDATE audit_head SET seq = ${}, hash = ${} WHERE id = 1",
                    n + 1,
                    n + 2
                )
            }
        };
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
        if last {
            query = query.bind(seq).bind(&prev);
        }
        query.execute(&mut *c).await?;
        before = "";
    }
    if rows.is_empty() {
        let end = if commit { "; COMMIT" } else { "" };
        let sql = format!("{before}UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1{end}");
        sqlx::query(&sql).bind(seq).bind(&prev).execute(&mut *c).await?;
    }
    Ok(seq)
}

/// An event as appended: the event, the hash before it, and its own.
pub(crate) type Chained = (AuditEvent, String, String);

/// `events` chained after `head`, in order; and the new head.
pub(crate) fn chain<'a>(head: Head, events: impl IntoIterator<Item = (i64, NewEvent<'a>)>) -> (Vec<Chained>, Head) {
    let (mut seq, mut prev) = head;
    let mut rows = Vec::new();
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
    (rows, (seq, prev))
}

/// The writer's own SQLite connection (`store::direct`): appends
/// `events` after `head`, read earlier in this same write transaction,
/// one cached statement per event, then moves the head.
pub(crate) fn append_direct(
    c: &rusqlite::Connection,
    head: Head,
    events: &[super::writer::Event],
) -> rusqlite::Result<()> {
    let (rows, (seq, hash)) = chain(head, events.iter().map(|e| (e.at_ms, e.as_new())));
    static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    });
    let mut insert = c.prepare_cached(&INSERT)?;
    for (e, prev_hash, hash) in &rows {
        insert.execute(rusqlite::params![
            e.seq,
            e.at_ms,
            e.actor_kind,
            e.actor_id,
            e.action,
            e.contract_id,
            e.user_id,
            e.ip,
            e.detail,
            prev_hash,
            hash
        ])?;
    }
    c.prepare_cached(MOVE_HEAD)?.execute(rusqlite::params![seq, hash])?;
    Ok(())
}

/// Moves the chain's head (SQLite's placeholders).
const MOVE_HEAD: &str = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1";

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
    sqlx::query_as(HEAD).fetch_one(c).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn event(i: usize) -> NewEvent<'static> {
        NewEvent {
            actor_kind: ActorKind::System,
            actor_id: "test",
            action: "test.event",
            contract_id: None,
            user_id: Some("u-1"),
            ip: None,
            detail: serde_json::json!({ "i": i }),
        }
    }

    /// Batches of one, of several INSERT chunks (500 rows each) and of
    /// none: every event is chained to the one before, and the head is
    /// the last event.
    #[tokio::test]
    async fn batches_of_any_size_extend_one_chain_and_move_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("a.db").display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        let (_, genesis) = head(&mut store.pool().acquire().await.unwrap()).await.unwrap();
        let mut total = 0;
        for size in [1, 1_234, 0, 500, 3] {
            let mut tx = store.begin().await.unwrap();
            let events = (0..size).map(|i| (1_000 + i as i64, event(total + i))).collect();
            let last = append_batch(&mut tx, store.engine(), events).await.unwrap();
            tx.commit().await.unwrap();
            total += size;
            assert_eq!(last, total as i64);
        }
        let mut c = store.pool().acquire().await.unwrap();
        let rows = page_after(&mut c, 0, 10_000).await.unwrap();
        assert_eq!(rows.len(), total);
        let mut prev = genesis;
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.seq, i as i64 + 1);
            assert_eq!(row.prev_hash, prev, "event {} links to the one before", row.seq);
            assert_eq!(row.hash, row.event().chain_hash(&row.prev_hash), "event {} hash", row.seq);
            prev = row.hash.clone();
        }
        assert_eq!(head(&mut c).await.unwrap(), (total as i64, prev));
    }
}
