//! The notification outbox. Rows are written in the transaction of the
//! change they report and claimed by delivery workers with a lease, so any
//! number of workers (and instances) deliver each row once; PostgreSQL
//! claims with `FOR UPDATE SKIP LOCKED`.

use super::{values_rows, Conn, Engine};
use sqlx::FromRow;

pub struct NewNotification<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub contract_id: &'a str,
    pub channel: &'a str,
    pub purpose: &'a str,
    pub recipient_masked: &'a str,
    pub payload_sealed: &'a str,
    pub now: i64,
}

/// Binds a queued notification's values in the order of the INSERTs'
/// `(id, user_id, contract_id, channel, purpose, recipient_masked,
/// payload_sealed, 'queued', 0, created_at, next_attempt_at, updated_at)`.
pub(crate) fn bind_new<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    n: &NewNotification<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(n.id)
        .bind(n.user_id)
        .bind(n.contract_id)
        .bind(n.channel)
        .bind(n.purpose)
        .bind(n.recipient_masked)
        .bind(n.payload_sealed)
        .bind(n.now)
        .bind(n.now)
        .bind(n.now)
}

pub async fn enqueue(c: &mut Conn, engine: Engine, n: NewNotification<'_>) -> sqlx::Result<()> {
    // A batch of one: one place builds the INSERT.
    enqueue_batch(c, engine, std::slice::from_ref(&n)).await
}

/// Queues many notifications with multi-row INSERTs.
pub async fn enqueue_batch(c: &mut Conn, engine: Engine, rows: &[NewNotification<'_>]) -> sqlx::Result<()> {
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO notifications (id, user_id, contract_id, channel, purpose, recipient_masked, \
             payload_sealed, status, attempts, created_at, next_attempt_at, updated_at) VALUES {}",
            values_rows(engine, "(?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)", chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for n in chunk {
            query = bind_new(query, n);
        }
        query.execute(&mut *c).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: String,
    pub channel: String,
    pub purpose: String,
    pub payload_sealed: Option<String>,
    pub attempts: i64,
}

/// Claims up to `limit` due rows until `lease_until`. A claimed row's
/// `next_attempt_at` moves to the lease's end too: a row out for delivery
/// is not due, so the next claim's index scan (`notifications_due`) no
/// longer walks over every row still out for delivery (with several
/// batches in flight, hundreds per claim), and a row whose worker died
/// falls due again when its lease runs out. `claimed_until` stays the
/// lease itself (and what an older release checks).
pub async fn claim_due(
    c: &mut Conn,
    engine: Engine,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(&claim_sql(engine)).bind(lease_until).bind(now).bind(limit).fetch_all(c).await
}

/// `claim_due`'s statement: `$1` the lease's end, `$2` now, `$3` the limit.
fn claim_sql(engine: Engine) -> String {
    let skip_locked = match engine {
        Engine::Sqlite => "",
        Engine::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    format!(
        "UPDATE notifications SET claimed_until = $1, next_attempt_at = $1 WHERE id IN (\
           SELECT id FROM notifications WHERE status = 'queued' AND next_attempt_at <= $2 \
           AND (claimed_until IS NULL OR claimed_until < $2) \
           ORDER BY next_attempt_at LIMIT $3{skip_locked}) \
         RETURNING id, channel, purpose, payload_sealed, attempts"
    )
}

/// `claim_due` on the group-commit writer's own SQLite connection
/// (`store::direct`), in its transaction.
pub(crate) fn claim_due_direct(
    c: &rusqlite::Connection,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Claimed>> {
    let mut claim = c.prepare_cached(&claim_sql(Engine::Sqlite))?;
    let rows = claim.query_map(rusqlite::params![lease_until, now, limit], |row| {
        Ok(Claimed {
            id: row.get(0)?,
            channel: row.get(1)?,
            purpose: row.get(2)?,
            payload_sealed: row.get(3)?,
            attempts: row.get(4)?,
        })
    })?;
    rows.collect()
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider took it: `sent`, its text erased.
    Sent { provider_id: Option<String> },
    /// Tried again at `next_at` (ms).
    Retry { error: String, next_at: i64 },
    /// Given up: `failed`, its text erased.
    Failed { error: String },
}

/// One delivery attempt's result, to be recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub outcome: Outcome,
    pub now: i64,
}

pub async fn mark_sent(c: &mut Conn, id: &str, attempts: i64, provider_id: Option<&str>, now: i64) -> sqlx::Result<()> {
    let outcome = Outcome::Sent { provider_id: provider_id.map(str::to_owned) };
    record(c, Engine::of(c), &[Attempt { id: id.to_owned(), attempts, outcome, now }]).await
}

pub async fn mark_retry(
    c: &mut Conn,
    id: &str,
    attempts: i64,
    error: &str,
    next_at: i64,
    now: i64,
) -> sqlx::Result<()> {
    let outcome = Outcome::Retry { error: error.to_owned(), next_at };
    record(c, Engine::of(c), &[Attempt { id: id.to_owned(), attempts, outcome, now }]).await
}

/// Gives a notification up: `failed`, and its text erased.
pub async fn mark_failed(c: &mut Conn, id: &str, attempts: i64, error: &str, now: i64) -> sqlx::Result<()> {
    let outcome = Outcome::Failed { error: error.to_owned() };
    record(c, Engine::of(c), &[Attempt { id: id.to_owned(), attempts, outcome, now }]).await
}

/// Gives back the lease a row was queued with (a login code's SMS that its
/// instance's worker could not take): due at `now`, for any worker's next
/// claim. Only a row never tried.
pub async fn release(c: &mut Conn, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(RELEASE).bind(now).bind(id).execute(c).await.map(drop)
}

/// `release` on the group-commit writer's own SQLite connection.
pub(crate) fn release_direct(c: &rusqlite::Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    c.prepare_cached(RELEASE)?.execute(rusqlite::params![now, id]).map(drop)
}

/// `$1` now, `$2` the row (numbered in order of appearance: SQLite numbers
/// `$n` that way).
const RELEASE: &str = "UPDATE notifications SET claimed_until = NULL, next_attempt_at = $1 \
     WHERE id = $2 AND status = 'queued' AND attempts = 0";

/// Records many delivery results with one UPDATE per 200 rows (a batch of
/// deliveries is one round trip, and on SQLite's single writer one short
/// transaction instead of one per message). Per row, exactly what the
/// three outcomes mean: `sent` sets the provider id and `sent_at`; a retry
/// keeps the row `queued` with its text and moves `next_attempt_at`;
/// `sent` and `failed` erase the text; every row loses its lease.
pub async fn record(c: &mut Conn, engine: Engine, attempts: &[Attempt]) -> sqlx::Result<()> {
    for chunk in attempts.chunks(200) {
        let sql = record_sql(engine, chunk.len());
        let mut query = sqlx::query(&sql);
        for a in chunk {
            let (status, provider_id, error, next_at) = a.columns();
            query =
                query.bind(&a.id).bind(status).bind(a.attempts).bind(provider_id).bind(error).bind(next_at).bind(a.now);
        }
        query.execute(&mut *c).await?;
    }
    Ok(())
}

/// `record` on the group-commit writer's own SQLite connection
/// (`store::direct`), in its transaction: one cached statement per row
/// (a call there costs no hand-over).
pub(crate) fn record_direct(c: &rusqlite::Connection, attempts: &[Attempt]) -> rusqlite::Result<()> {
    let mut update = c.prepare_cached(&record_sql(Engine::Sqlite, 1))?;
    for a in attempts {
        let (status, provider_id, error, next_at) = a.columns();
        update.execute(rusqlite::params![a.id, status, a.attempts, provider_id, error, next_at, a.now])?;
    }
    Ok(())
}

/// `record`'s statement for `rows` results, each `(id, status, attempts,
/// provider_id, last_error, next_at, now)`.
fn record_sql(engine: Engine, rows: usize) -> String {
    format!(
        "WITH r (id, status, attempts, provider_id, last_error, next_at, now) AS (VALUES {}) \
         UPDATE notifications SET status = r.status, attempts = r.attempts, \
         provider_id = CASE WHEN r.status = 'sent' THEN r.provider_id ELSE notifications.provider_id END, \
         sent_at = CASE WHEN r.status = 'sent' THEN r.now ELSE notifications.sent_at END, \
         payload_sealed = CASE WHEN r.status = 'queued' THEN notifications.payload_sealed ELSE NULL END, \
         claimed_until = NULL, last_error = r.last_error, \
         next_attempt_at = COALESCE(r.next_at, notifications.next_attempt_at), updated_at = r.now \
         FROM r WHERE notifications.id = r.id",
        values_rows(engine, "(?, ?, ?, ?, ?, ?, ?)", rows)
    )
}

impl Attempt {
    /// What `record` writes of the outcome: status, provider id, error,
    /// next attempt.
    fn columns(&self) -> (&'static str, Option<&str>, Option<&str>, Option<i64>) {
        match &self.outcome {
            Outcome::Sent { provider_id } => ("sent", provider_id.as_deref(), None, None),
            Outcome::Retry { error, next_at } => ("queued", None, Some(error.as_str()), Some(*next_at)),
            Outcome::Failed { error } => ("failed", None, Some(error.as_str()), None),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub channel: String,
    pub purpose: String,
    pub recipient_masked: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// How many notifications are in each status (for `/metrics`).
pub async fn depth(c: &mut Conn) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT status, COUNT(*) FROM notifications GROUP BY status ORDER BY status").fetch_all(c).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    async fn queued(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("o.db").display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        let mut c = store.pool().acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ('c-1', 'C', 'c', 1, 1)",
        )
        .execute(&mut *c)
        .await
        .unwrap();
        let ids: Vec<String> = (0..n).map(|i| format!("n-{i:03}")).collect();
        let rows: Vec<NewNotification<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| NewNotification {
                id,
                user_id: "u-1",
                contract_id: "c-1",
                channel: "sms",
                purpose: "login",
                recipient_masked: "+44•••56",
                payload_sealed: "sealed",
                now: 1_000 + i as i64,
            })
            .collect();
        enqueue_batch(&mut c, Engine::Sqlite, &rows).await.unwrap();
        drop(c);
        (dir, store)
    }

    /// The claimed ids, sorted (RETURNING gives no order).
    fn ids(rows: &[Claimed]) -> Vec<&str> {
        let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        ids
    }

    /// Rows out for delivery are not due: a second claim takes the next
    /// ones (oldest first), not them; when a lease runs out its row is due
    /// again; a retry is due at its own time, and a sent row never again.
    #[tokio::test]
    async fn a_claimed_row_is_not_due_until_its_lease_runs_out() {
        let (_dir, store) = queued(5).await;
        let mut c = store.pool().acquire().await.unwrap();
        let first = claim_due(&mut c, Engine::Sqlite, 2_000, 60_000, 2).await.unwrap();
        assert_eq!(ids(&first), ["n-000", "n-001"]);
        let second = claim_due(&mut c, Engine::Sqlite, 2_001, 60_001, 10).await.unwrap();
        assert_eq!(ids(&second), ["n-002", "n-003", "n-004"]);
        assert!(claim_due(&mut c, Engine::Sqlite, 59_999, 119_999, 10).await.unwrap().is_empty());

        let results = [
            Attempt { id: "n-002".into(), attempts: 1, outcome: Outcome::Sent { provider_id: None }, now: 3_000 },
            Attempt {
                id: "n-003".into(),
                attempts: 1,
                outcome: Outcome::Retry { error: "busy".into(), next_at: 70_000 },
                now: 3_000,
            },
        ];
        record(&mut c, Engine::Sqlite, &results).await.unwrap();
        // n-004's lease (60,001) is not over at 60,000; n-000 and n-001's is.
        let expired = claim_due(&mut c, Engine::Sqlite, 60_001, 120_001, 10).await.unwrap();
        assert_eq!(ids(&expired), ["n-000", "n-001"]);
        let later = claim_due(&mut c, Engine::Sqlite, 70_000, 130_000, 10).await.unwrap();
        assert_eq!(ids(&later), ["n-003", "n-004"], "n-004's lease is over, n-003's retry is due");
        assert!(later.iter().all(|r| r.attempts == i64::from(r.id == "n-003")));
    }
}
