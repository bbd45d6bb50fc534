//! Reading the audit log for an export, page by page, as borrowed rows.
//!
//! On a SQLite file the export reads on a connection of its own, opened
//! read-only for the export and closed after it: WAL lets it read beside the
//! one writer connection without waiting for it or holding it up, and the
//! typed SQLite driver hands out each row's text borrowed (no owned strings
//! per cell, no conversion through the `Any` driver). Everywhere else
//! (PostgreSQL, an in-memory SQLite database, which is private to its
//! connection) it reads through the store's pool with the same query.
//! Each page is one short read: the caller encodes it and lets go of the
//! rows before the next page, so no snapshot is held while the client is
//! slow.

use super::{audit_page, AuditFilter, AUDIT_PAGE};
use crate::store::audit::EventRow;
use crate::store::{Engine, Store};
use futures_util::TryStreamExt;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::sync::LazyLock;

/// One audit event, borrowed from wherever it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: &'a str,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub contract_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl<'a> From<&'a EventRow> for EventRef<'a> {
    fn from(r: &'a EventRow) -> Self {
        Self {
            seq: r.seq,
            at: r.at,
            actor_kind: &r.actor_kind,
            actor_id: &r.actor_id,
            action: &r.action,
            contract_id: r.contract_id.as_deref(),
            user_id: r.user_id.as_deref(),
            ip: r.ip.as_deref(),
            detail: &r.detail,
            prev_hash: &r.prev_hash,
            hash: &r.hash,
        }
    }
}

/// What one page held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRead {
    pub rows: i64,
    /// The `seq` of the page's last row (the key of the next page).
    pub last_seq: Option<i64>,
}

/// Where an export reads from.
pub enum ExportReader {
    /// A read-only connection to the SQLite file, for this export only.
    Sqlite(Box<SqliteConnection>),
    /// The store's pool (PostgreSQL, in-memory SQLite).
    Pool(Store),
}

impl std::fmt::Debug for ExportReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "ExportReader::Sqlite",
            Self::Pool(_) => "ExportReader::Pool",
        })
    }
}

/// Whether a SQLite URL names a database private to its connection.
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl ExportReader {
    /// `url` is the store's `database.url`.
    pub async fn open(store: &Store, url: &str) -> sqlx::Result<Self> {
        if store.engine() != Engine::Sqlite || in_memory(url) {
            return Ok(Self::Pool(store.clone()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(std::time::Duration::from_secs(5))
            // Rows cross from the driver's thread in bigger batches.
            .row_buffer_size(1024);
        Ok(Self::Sqlite(Box::new(options.connect().await?)))
    }

    /// Calls `each` with every event of the page after `after_seq` (up to
    /// `max_seq`, at most `limit` of them), in `seq` order.
    pub async fn page<E: std::error::Error + 'static>(
        &mut self,
        manager_id: &str,
        filter: &AuditFilter,
        after_seq: i64,
        max_seq: i64,
        limit: i64,
        mut each: impl FnMut(EventRef<'_>) -> Result<(), E>,
    ) -> Result<PageRead, ExportError<E>> {
        let mut read = PageRead { rows: 0, last_seq: None };
        match self {
            Self::Sqlite(conn) => {
                // Packs of at most PACK events, each one value (see PACKED).
                let mut after = after_seq;
                while read.rows < limit {
                    let want = (limit - read.rows).min(PACK);
                    let args = PageArgs { manager_id, filter, after_seq: after, max_seq, limit: want };
                    let row = args.bind(&PACKED).fetch_one(&mut **conn).await?;
                    let packed: Option<&str> = row.try_get(0)?;
                    let got = match unpack(packed.unwrap_or_default()) {
                        Some(events) => {
                            for event in &events {
                                each(*event).map_err(ExportError::Encode)?;
                            }
                            events.last().map(|e| (events.len(), e.seq))
                        }
                        // Not what PACKED writes (a NUL byte in a cell
                        // cuts `format`'s `%s` short): this pack row by row.
                        None => rows_of(conn, &args, &mut each).await?,
                    };
                    let Some((n, last)) = got else { break };
                    let n = i64::try_from(n).unwrap_or(i64::MAX);
                    read.rows += n;
                    read.last_seq = Some(last);
                    after = last;
                    if n < want {
                        break;
                    }
                }
            }
            Self::Pool(store) => {
                let mut c = store.pool().acquire().await?;
                let rows = audit_page(&mut c, manager_id, filter, after_seq, max_seq, limit).await?;
                drop(c);
                for row in &rows {
                    read.rows += 1;
                    read.last_seq = Some(row.seq);
                    each(EventRef::from(row)).map_err(ExportError::Encode)?;
                }
            }
        }
        Ok(read)
    }

    /// Closes the export's own connection, if it has one.
    pub async fn close(self) {
        if let Self::Sqlite(conn) = self {
            let _ = conn.close().await;
        }
    }
}

/// Events per packed value on SQLite: about 600 KB of text.
const PACK: i64 = 2_000;

/// One value holding a whole pack of events, in order, so the driver
/// copies one string per pack instead of eleven values per event (that
/// copying — a `sqlite3_value_dup` and an `Arc` per cell, a channel message
/// per row — was most of an export's time). Each event is written as its
/// `seq`, `at` and the byte lengths of its nine text cells (-1 for NULL),
/// then `:` and the nine cells back to back; `unpack` reads it back.
/// The aggregate has no `ORDER BY` of its own (SQLite would sort again what
/// the page query already gave in order): `unpack` checks that `seq`
/// ascends, and the pack is read row by row if it does not.
static PACKED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT group_concat(format('%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d:%s%s%s%s%s%s%s%s%s', \
     e.seq, e.at, octet_length(e.actor_kind), octet_length(e.actor_id), octet_length(e.action), \
     coalesce(octet_length(e.contract_id), -1), coalesce(octet_length(e.user_id), -1), \
     coalesce(octet_length(e.ip), -1), octet_length(e.detail), octet_length(e.prev_hash), \
     octet_length(e.hash), e.actor_kind, e.actor_id, e.action, e.contract_id, e.user_id, e.ip, e.detail, \
     e.prev_hash, e.hash), '') FROM ({AUDIT_PAGE}) e"
    )
});

/// The bounds and filters of one page query (`AUDIT_PAGE`'s parameters).
struct PageArgs<'a> {
    manager_id: &'a str,
    filter: &'a AuditFilter,
    after_seq: i64,
    max_seq: i64,
    limit: i64,
}

impl PageArgs<'_> {
    fn bind<'q>(&'q self, sql: &'q str) -> Query<'q, Sqlite, SqliteArguments<'q>> {
        sqlx::query(sql)
            .bind(self.manager_id)
            .bind(self.after_seq)
            .bind(self.max_seq)
            .bind(self.filter.contract_id.as_deref())
            .bind(self.filter.user_id.as_deref())
            .bind(self.filter.since)
            .bind(self.filter.until)
            .bind(self.limit)
    }
}

/// The page row by row, each cell decoded borrowed from the driver's row.
/// Returns how many events and the last `seq`, if any.
async fn rows_of<E>(
    conn: &mut SqliteConnection,
    args: &PageArgs<'_>,
    each: &mut impl FnMut(EventRef<'_>) -> Result<(), E>,
) -> Result<Option<(usize, i64)>, ExportError<E>>
where
    E: std::error::Error + 'static,
{
    let mut rows = args.bind(AUDIT_PAGE).fetch(conn);
    let mut got = None;
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        let event = EventRef {
            seq: row.try_get(0)?,
            at: row.try_get(1)?,
            actor_kind: row.try_get(2)?,
            actor_id: row.try_get(3)?,
            action: row.try_get(4)?,
            contract_id: row.try_get(5)?,
            user_id: row.try_get(6)?,
            ip: row.try_get(7)?,
            detail: row.try_get(8)?,
            prev_hash: row.try_get(9)?,
            hash: row.try_get(10)?,
        };
        n += 1;
        got = Some((n, event.seq));
        each(event).map_err(ExportError::Encode)?;
    }
    Ok(got)
}

/// Reads back what `PACKED` wrote; `None` if it is not exactly that.
fn unpack(mut packed: &str) -> Option<Vec<EventRef<'_>>> {
    let mut events: Vec<EventRef<'_>> = Vec::with_capacity(usize::try_from(PACK).unwrap_or(0));
    while !packed.is_empty() {
        let (head, rest) = packed.split_once(':')?;
        let mut numbers = [0i64; 11];
        let mut parts = head.split(',');
        for n in &mut numbers {
            *n = parts.next()?.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        packed = rest;
        let mut cells = [None::<&str>; 9];
        for (cell, &len) in cells.iter_mut().zip(&numbers[2..]) {
            if len >= 0 {
                let len = usize::try_from(len).ok()?;
                let (text, rest) = (packed.get(..len)?, packed.get(len..)?);
                *cell = Some(text);
                packed = rest;
            } else if len != -1 {
                return None;
            }
        }
        let [Some(actor_kind), Some(actor_id), Some(action), contract_id, user_id, ip, Some(detail), Some(prev_hash), Some(hash)] =
            cells
        else {
            return None;
        };
        if events.last().is_some_and(|last| last.seq >= numbers[0]) {
            return None;
        }
        events.push(EventRef {
            seq: numbers[0],
            at: numbers[1],
            actor_kind,
            actor_id,
            action,
            contract_id,
            user_id,
            ip,
            detail,
            prev_hash,
            hash,
        });
    }
    Some(events)
}

/// Reading failed, or the caller's `each` did.
#[derive(Debug, thiserror::Error)]
pub enum ExportError<E: std::error::Error + 'static> {
    #[error("cannot read audit events: {0}")]
    Read(#[from] sqlx::Error),
    #[error("cannot encode audit events: {0}")]
    Encode(#[source] E),
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned =
        (i64, i64, String, String, String, Option<String>, Option<String>, Option<String>, String, String, String);

    fn owned(e: EventRef<'_>) -> Owned {
        (
            e.seq,
            e.at,
            e.actor_kind.into(),
            e.actor_id.into(),
            e.action.into(),
            e.contract_id.map(Into::into),
            e.user_id.map(Into::into),
            e.ip.map(Into::into),
            e.detail.into(),
            e.prev_hash.into(),
            e.hash.into(),
        )
    }

    async fn read_all(reader: &mut ExportReader, filter: &AuditFilter, page: i64) -> Vec<Owned> {
        let (mut out, mut after) = (Vec::new(), 0);
        loop {
            let read = reader
                .page("m_1", filter, after, i64::MAX, page, |e| {
                    out.push(owned(e));
                    Ok::<(), std::io::Error>(())
                })
                .await
                .unwrap();
            match read.last_seq {
                Some(seq) if read.rows == page => after = seq,
                _ => return out,
            }
        }
    }

    #[test]
    fn unpack_reads_what_packed_writes_and_nothing_else() {
        let one = "7,1000,4,3,1,-1,0,-1,2,1,1:userb-1x{}ph";
        let events = unpack(one).unwrap();
        assert_eq!(events.len(), 1);
        let e = events[0];
        assert_eq!((e.seq, e.at, e.actor_kind, e.actor_id, e.action), (7, 1000, "user", "b-1", "x"));
        assert_eq!(
            (e.contract_id, e.user_id, e.ip, e.detail, e.prev_hash, e.hash),
            (None, Some(""), None, "{}", "p", "h")
        );
        assert_eq!(unpack("").unwrap(), vec![]);
        let two = format!("{one}{}", one.replacen('7', "8", 1));
        assert_eq!(unpack(&two).unwrap().len(), 2);
        for bad in [
            "7,1000,4,3,1,-1,0,-1,2,1,1:userb-1x{}p",       // short
            "7,1000,4,3,1,-1,0,-1,2,1,1:userb-1x{}phX",     // trailing bytes
            "7,1000,4,3,1,-2,0,-1,2,1,1:userb-1x{}ph",      // a bad length
            "7,1000,-1,3,1,-1,0,-1,2,1,1:b-1x{}ph",         // NULL where there is none
            "7,1000,4,3,1,-1,0,-1,2,1:userb-1x{}ph",        // ten numbers
            "7,1000,4,3,1,-1,0,-1,2,1,1,1:userb-1x{}ph",    // twelve
            "7,1000,5,3,1,-1,0,-1,1,1,1:user\u{e9}-1x{}ph", // not on a char boundary
        ] {
            assert_eq!(unpack(bad), None, "{bad}");
        }
        // Out of order: read row by row instead.
        let swapped = format!("{}{one}", one.replacen('7', "8", 1));
        assert_eq!(unpack(&swapped), None);
    }

    /// The export's own read-only connection (packed, and row by row where
    /// a pack cannot be trusted) reads exactly what the pool reads.
    #[tokio::test]
    async fn the_sqlite_reader_reads_what_the_pool_reads() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url, 0).await.unwrap();
        store.migrate().await.unwrap();
        let pool = store.pool();
        for sql in [
            "INSERT INTO contracts (id, name, created_at, updated_at) VALUES ('C-1', 'One', 0, 0), ('C-2', 'Two', 0, 0)",
            "INSERT INTO managers (id, name, email, token_hash, created_at) VALUES ('m_1', 'M', 'm@x.example', 'h', 0)",
            "INSERT INTO manager_contracts (manager_id, contract_id, assigned_at) VALUES ('m_1', 'C-1', 0)",
        ] {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        let nasty = ["", "plain", "a,b", "say \"hi\"", "two\nlines", "=1+1", "naïve “x” 😀", "nul\0byte", ":", "1,2:"];
        for seq in 1..=700i64 {
            let pick = |k: i64| nasty[usize::try_from((seq * k) % 10).unwrap()].to_owned();
            let contract = match seq % 7 {
                0 => None,
                1 => Some("C-2"),
                _ => Some("C-1"),
            };
            let detail = if seq == 333 { pick(1) + "\0" } else { pick(3) };
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor_kind, actor_id, action, contract_id, user_id, ip, detail, \
                 prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(seq * 3)
            .bind(1_795_000_000_000 + seq * 7)
            .bind(pick(1))
            .bind(pick(3))
            .bind(pick(7))
            .bind(contract)
            .bind((seq % 3 != 0).then(|| pick(9)))
            .bind((seq % 5 != 0).then(|| pick(11)))
            .bind(detail)
            .bind(pick(13))
            .bind(pick(17))
            .execute(pool)
            .await
            .unwrap();
        }
        let mut own = ExportReader::open(&store, &url).await.unwrap();
        assert!(matches!(own, ExportReader::Sqlite(_)));
        let mut shared = ExportReader::Pool(store.clone());
        let filters = [
            AuditFilter::default(),
            AuditFilter { user_id: Some("plain".into()), ..AuditFilter::default() },
            AuditFilter { since: Some(1_795_000_000_700), until: Some(1_795_000_003_000), ..AuditFilter::default() },
            AuditFilter { contract_id: Some("C-2".into()), ..AuditFilter::default() },
        ];
        for filter in &filters {
            let expected = read_all(&mut shared, filter, 10_000).await;
            for page in [1, 7, 2_000, 2_001, 10_000] {
                assert_eq!(read_all(&mut own, filter, page).await, expected, "{filter:?}, pages of {page}");
            }
        }
        let all = read_all(&mut shared, &AuditFilter::default(), 10_000).await;
        assert_eq!(all.len(), 500, "C-1 only: 5 in 7 events");
        assert!(all.iter().any(|e| e.8.contains('\0')), "the NUL byte is read back");
        assert!(all.iter().any(|e| e.6.is_none()) && all.iter().any(|e| e.7.is_none()));
        own.close().await;
        store.close().await;
    }

    #[tokio::test]
    async fn an_in_memory_database_is_read_through_the_pool() {
        let store = Store::connect("sqlite::memory:", 0).await.unwrap();
        assert!(matches!(ExportReader::open(&store, "sqlite::memory:").await.unwrap(), ExportReader::Pool(_)));
    }
}
