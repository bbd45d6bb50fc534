//! The local cache: a SQLite file in the app data dir.
//!
//! It holds the contract index (for instant type-ahead), recently viewed
//! contracts and users, and the history of exports made on this machine. It
//! holds no tokens and no phone numbers (labels are scrubbed of long digit
//! runs), everything in it can be rebuilt from the server, and sign-out
//! deletes the file ([`Cache::wipe`]).
//!
//! Type-ahead runs up to three index lookups per keystroke, each bounded by
//! `LIMIT`, so the cost does not grow with the number of contracts:
//! 1. contract id prefix (B-tree range on `id_key`),
//! 2. name prefix (B-tree range on `name_key`),
//! 3. word prefixes inside names (FTS5 with prefix indexes).
//!
//! See docs/BENCHMARKS.md ("Console") for the measured cost.

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use tollgate_proto::admin::ContractSummary;
use tollgate_proto::Time;
use ts_rs::TS;

use crate::error::{CommandError, ErrorCode};

/// How many recently viewed items are kept.
pub const RECENT_KEEP: i64 = 50;

/// One type-ahead result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, TS)]
pub struct ContractHit {
    pub contract_id: String,
    pub name: String,
    #[ts(type = "number")]
    pub users: i64,
    #[ts(type = "number")]
    pub users_with_two_factor: i64,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RecentKind {
    Contract,
    User,
}

impl RecentKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Contract => "contract",
            Self::User => "user",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RecentItem {
    pub kind: RecentKind,
    pub item_id: String,
    pub label: String,
    /// RFC 3339.
    pub viewed_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Completed,
    Cancelled,
    Failed,
}

impl ExportStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, CommandError> {
        match s {
            "completed" => Ok(Self::Completed),
            "cancelled" => Ok(Self::Cancelled),
            "failed" => Ok(Self::Failed),
            _ => Err(CommandError::internal("unknown export status in cache")),
        }
    }
}

/// One audit export made from this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ExportRecord {
    #[ts(type = "number")]
    pub export_id: i64,
    /// e.g. `contract:c_123`, `user:u_9`, `all`.
    pub scope: String,
    pub file_path: String,
    #[ts(type = "number")]
    pub rows: i64,
    pub status: ExportStatus,
    pub started_at: String,
    pub finished_at: String,
}

/// What a new export record needs.
#[derive(Debug, Clone)]
pub struct NewExport<'a> {
    pub scope: &'a str,
    pub file_path: &'a Path,
    pub rows: i64,
    pub status: ExportStatus,
    pub started_at: Time,
    pub finished_at: Time,
}

pub struct Cache {
    pool: SqlitePool,
    path: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) the cache file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, CommandError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::config::io_error("create the data folder", &e))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(db_error)?;
        sqlx::migrate!("./migrations").run(&pool).await.map_err(|e| {
            tracing::error!(error = %e, "cache migration failed");
            CommandError::new(
                ErrorCode::Io,
                "The local cache could not be prepared. Sign out and in again to rebuild it.",
            )
        })?;
        tracing::debug!(path = %path.display(), "cache opened");
        Ok(Self { pool, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inserts or updates contracts from the server, and remembers the newest
    /// `updated_at` seen for the next incremental sync. One transaction.
    pub async fn upsert_contracts(&self, contracts: &[ContractSummary]) -> Result<u64, CommandError> {
        self.write_contracts(contracts, false).await
    }

    /// Makes the index exactly `contracts` (a full reload at sign-in drops
    /// contracts no longer assigned). One transaction: searches see the old
    /// index or the new one.
    pub async fn replace_contracts(&self, contracts: &[ContractSummary]) -> Result<u64, CommandError> {
        self.write_contracts(contracts, true).await
    }

    async fn write_contracts(&self, contracts: &[ContractSummary], replace: bool) -> Result<u64, CommandError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if replace {
            sqlx::query("DELETE FROM contracts").execute(&mut *tx).await.map_err(db_error)?;
            sqlx::query("DELETE FROM sync_state WHERE key = 'contracts_synced_through'")
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let mut newest: Option<Time> = None;
        for c in contracts {
            sqlx::query(
                "INSERT INTO contracts (contract_id, name, id_key, name_key, users, users_with_two_factor, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (contract_id) DO UPDATE SET
                   name = excluded.name, id_key = excluded.id_key, name_key = excluded.name_key,
                   users = excluded.users, users_with_two_factor = excluded.users_with_two_factor,
                   updated_at = excluded.updated_at",
            )
            .bind(&c.contract_id)
            .bind(&c.name)
            .bind(c.contract_id.to_lowercase())
            .bind(c.name.to_lowercase())
            .bind(i64::try_from(c.users).unwrap_or(i64::MAX))
            .bind(i64::try_from(c.users_with_two_factor).unwrap_or(i64::MAX))
            .bind(rfc3339(c.updated_at)?)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            newest = Some(newest.map_or(c.updated_at, |n| n.max(c.updated_at)));
        }
        if let Some(newest) = newest {
            let known = synced_through_in(&mut tx).await?;
            if known.is_none_or(|k| newest > k) {
                sqlx::query(
                    "INSERT INTO sync_state (key, value) VALUES ('contracts_synced_through', ?1)
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(rfc3339(newest)?)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(contracts.len() as u64)
    }

    /// The newest `updated_at` in the index: the `updated_since` of the next sync.
    pub async fn contracts_synced_through(&self) -> Result<Option<Time>, CommandError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        synced_through_in(&mut conn).await
    }

    /// The name of a contract in the index, if it is there.
    pub async fn contract_name(&self, contract_id: &str) -> Result<Option<String>, CommandError> {
        sqlx::query_scalar("SELECT name FROM contracts WHERE contract_id = ?1")
            .bind(contract_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    pub async fn contract_count(&self) -> Result<i64, CommandError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM contracts").fetch_one(&self.pool).await.map_err(db_error)
    }

    /// Type-ahead: contracts whose id or name starts with `query`, then those
    /// with a word in the name starting with each word of `query`. Case-insensitive.
    pub async fn search_contracts(&self, query: &str, limit: u32) -> Result<Vec<ContractHit>, CommandError> {
        let key = query.trim().to_lowercase();
        let limit = i64::from(limit.clamp(1, 100));
        if key.is_empty() {
            return Ok(Vec::new());
        }
        let upper = format!("{key}\u{10FFFF}");
        let mut hits: Vec<ContractHit> = Vec::new();
        let cols = "contract_id, name, users, users_with_two_factor, updated_at";
        for column in ["id_key", "name_key"] {
            let sql = format!(
                "SELECT {cols} FROM contracts WHERE {column} >= ?1 AND {column} < ?2 ORDER BY {column} LIMIT ?3"
            );
            let rows: Vec<ContractHit> = sqlx::query_as(&sql)
                .bind(&key)
                .bind(&upper)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            push_unique(&mut hits, rows);
            if hits.len() as i64 >= limit {
                hits.truncate(limit as usize);
                return Ok(hits);
            }
        }
        if let Some(expr) = fts_prefix_query(&key) {
            let rows: Vec<ContractHit> = sqlx::query_as(
                "SELECT c.contract_id, c.name, c.users, c.users_with_two_factor, c.updated_at
                 FROM contracts_fts f JOIN contracts c ON c.rowid = f.rowid
                 WHERE contracts_fts MATCH ?1 LIMIT ?2",
            )
            .bind(expr)
            .bind(limit + hits.len() as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            push_unique(&mut hits, rows);
        }
        hits.truncate(limit as usize);
        Ok(hits)
    }

    /// The first `limit` contracts of the index by name (an empty search box).
    pub async fn list_contracts(&self, limit: u32) -> Result<Vec<ContractHit>, CommandError> {
        sqlx::query_as(
            "SELECT contract_id, name, users, users_with_two_factor, updated_at FROM contracts
             ORDER BY name_key, contract_id LIMIT ?1",
        )
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)
    }

    /// Remembers that a contract or user was opened (moves it to the top).
    pub async fn record_view(
        &self,
        kind: RecentKind,
        item_id: &str,
        label: &str,
        at: Time,
    ) -> Result<(), CommandError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO recent_items (kind, item_id, label, viewed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, item_id) DO UPDATE SET label = excluded.label, viewed_at = excluded.viewed_at",
        )
        .bind(kind.as_str())
        .bind(item_id)
        .bind(scrub_digits(label))
        .bind(rfc3339(at)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "DELETE FROM recent_items WHERE rowid NOT IN
               (SELECT rowid FROM recent_items ORDER BY viewed_at DESC LIMIT ?1)",
        )
        .bind(RECENT_KEEP)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub async fn recent(&self, limit: u32) -> Result<Vec<RecentItem>, CommandError> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT kind, item_id, label, viewed_at FROM recent_items ORDER BY viewed_at DESC, rowid DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(kind, item_id, label, viewed_at)| {
                let kind = match kind.as_str() {
                    "contract" => RecentKind::Contract,
                    "user" => RecentKind::User,
                    _ => return Err(CommandError::internal("unknown recent item kind in cache")),
                };
                Ok(RecentItem { kind, item_id, label, viewed_at })
            })
            .collect()
    }

    pub async fn record_export(&self, e: &NewExport<'_>) -> Result<i64, CommandError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO exports (scope, file_path, rows, status, started_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING export_id",
        )
        .bind(e.scope)
        .bind(e.file_path.to_string_lossy().into_owned())
        .bind(e.rows)
        .bind(e.status.as_str())
        .bind(rfc3339(e.started_at)?)
        .bind(rfc3339(e.finished_at)?)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(id)
    }

    pub async fn exports(&self, limit: u32) -> Result<Vec<ExportRecord>, CommandError> {
        type Row = (i64, String, String, i64, String, String, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT export_id, scope, file_path, rows, status, started_at, finished_at
             FROM exports ORDER BY export_id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(export_id, scope, file_path, rows, status, started_at, finished_at)| {
                Ok(ExportRecord {
                    export_id,
                    scope,
                    file_path,
                    rows,
                    status: ExportStatus::parse(&status)?,
                    started_at,
                    finished_at,
                })
            })
            .collect()
    }

    /// Closes the database and deletes its files (sign-out).
    pub async fn wipe(self) -> Result<(), CommandError> {
        self.pool.close().await;
        Self::delete_files(&self.path)
    }

    /// Deletes a cache that is not open (sign-out when it was never opened).
    pub fn delete_files(path: &Path) -> Result<(), CommandError> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::remove_file(PathBuf::from(p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::config::io_error("delete the local cache", &e)),
            }
        }
        tracing::info!("local cache deleted");
        Ok(())
    }
}

async fn synced_through_in(conn: &mut sqlx::SqliteConnection) -> Result<Option<Time>, CommandError> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM sync_state WHERE key = 'contracts_synced_through'")
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    v.map(|s| Time::parse(&s, &Rfc3339).map_err(|_| CommandError::internal("bad sync time in cache"))).transpose()
}

fn push_unique(hits: &mut Vec<ContractHit>, rows: Vec<ContractHit>) {
    for r in rows {
        if !hits.iter().any(|h| h.contract_id == r.contract_id) {
            hits.push(r);
        }
    }
}

/// `acme co` → `"acme"* "co"*` (every word must prefix-match a word of the name).
fn fts_prefix_query(key: &str) -> Option<String> {
    let words: Vec<String> = key
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Replaces runs of 7 or more digits (a phone number, or most of one) with `…`.
fn scrub_digits(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().filter(char::is_ascii_digit).count() >= 7 {
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in label.chars() {
        if c.is_ascii_digit() || (!run.is_empty() && matches!(c, ' ' | '-' | '.' | '(' | ')')) || c == '+' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn rfc3339(t: Time) -> Result<String, CommandError> {
    t.format(&Rfc3339).map_err(|_| CommandError::internal("time formatting failed"))
}

fn db_error(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "local cache error");
    CommandError::new(
        ErrorCode::Io,
        "The local cache could not be read or written. Sign out and in again to rebuild it.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn contract(id: &str, name: &str, at: Time) -> ContractSummary {
        ContractSummary {
            contract_id: id.into(),
            name: name.into(),
            users: 10,
            users_with_two_factor: 4,
            updated_at: at,
        }
    }

    #[tokio::test]
    async fn type_ahead_by_id_name_and_word() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).await.unwrap();
        let t = datetime!(2026-11-01 10:00 UTC);
        cache
            .upsert_contracts(&[
                contract("c_acme", "Acme Corporation", t),
                contract("c_beta", "Beta Industries", t),
                contract("c_zeta", "Zeta (formerly Acme Logistics)", t),
                contract("c_ac9", "Ãccent Holdings", t),
            ])
            .await
            .unwrap();
        let ids = |hits: Vec<ContractHit>| hits.into_iter().map(|h| h.contract_id).collect::<Vec<_>>();

        assert_eq!(ids(cache.search_contracts("c_ac", 10).await.unwrap()), ["c_ac9", "c_acme"]);
        assert_eq!(ids(cache.search_contracts("ACME", 10).await.unwrap()), ["c_acme", "c_zeta"]);
        assert_eq!(ids(cache.search_contracts("corp", 10).await.unwrap()), ["c_acme"]);
        assert_eq!(ids(cache.search_contracts("acme log", 10).await.unwrap()), ["c_zeta"]);
        assert_eq!(ids(cache.search_contracts("accent", 10).await.unwrap()), ["c_ac9"], "diacritics folded");
        assert_eq!(ids(cache.search_contracts("industries", 1).await.unwrap()), ["c_beta"]);
        assert!(cache.search_contracts("  ", 10).await.unwrap().is_empty());
        assert!(cache.search_contracts("\"*()", 10).await.unwrap().is_empty());
        assert!(cache.search_contracts("nothing", 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn upsert_updates_the_index_and_the_sync_point() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).await.unwrap();
        assert_eq!(cache.contracts_synced_through().await.unwrap(), None);
        let t1 = datetime!(2026-11-01 10:00 UTC);
        let t2 = datetime!(2026-11-02 10:00 UTC);
        cache.upsert_contracts(&[contract("c_1", "Old Name", t2), contract("c_2", "Other", t1)]).await.unwrap();
        assert_eq!(cache.contracts_synced_through().await.unwrap(), Some(t2));
        cache.upsert_contracts(&[contract("c_1", "New Name", t1)]).await.unwrap();
        assert_eq!(cache.contracts_synced_through().await.unwrap(), Some(t2), "never moves back");
        assert_eq!(cache.contract_count().await.unwrap(), 2);
        assert!(cache.search_contracts("old", 10).await.unwrap().is_empty(), "FTS follows updates");
        assert_eq!(cache.search_contracts("new", 10).await.unwrap()[0].name, "New Name");
    }

    #[tokio::test]
    async fn recent_items_newest_first_bounded_and_without_phone_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).await.unwrap();
        let t = datetime!(2026-11-01 10:00 UTC);
        for i in 0..(RECENT_KEEP + 5) {
            let at = t + time::Duration::minutes(i);
            cache.record_view(RecentKind::User, &format!("u_{i}"), &format!("User {i}"), at).await.unwrap();
        }
        cache
            .record_view(RecentKind::Contract, "c_1", "Acme, call +44 7700 900123", t + time::Duration::hours(5))
            .await
            .unwrap();
        let recent = cache.recent(100).await.unwrap();
        assert_eq!(recent.len() as i64, RECENT_KEEP);
        assert_eq!(recent[0].kind, RecentKind::Contract);
        assert_eq!(recent[0].label, "Acme, call …");
        assert_eq!(recent[1].item_id, format!("u_{}", RECENT_KEEP + 4));
    }

    #[tokio::test]
    async fn export_history_and_wipe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let cache = Cache::open(&path).await.unwrap();
        let t = datetime!(2026-11-01 10:00 UTC);
        let out = dir.path().join("tollgate-audit-all-2026-11-01.csv");
        let id = cache
            .record_export(&NewExport {
                scope: "all",
                file_path: &out,
                rows: 1200,
                status: ExportStatus::Completed,
                started_at: t,
                finished_at: t + time::Duration::seconds(3),
            })
            .await
            .unwrap();
        let list = cache.exports(10).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].export_id, id);
        assert_eq!(list[0].status, ExportStatus::Completed);
        assert_eq!(list[0].rows, 1200);
        assert_eq!(list[0].finished_at, "2026-11-01T10:00:03Z");

        cache.wipe().await.unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn scrub_keeps_short_numbers() {
        assert_eq!(scrub_digits("Contract 2024 ref 12-34"), "Contract 2024 ref 12-34");
        assert_eq!(scrub_digits("+15550001234"), "…");
    }
}
