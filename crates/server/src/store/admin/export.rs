//! Reading the audit log for an export, page by page, as borrowed rows.
//!
//! On a SQLite file the export reads on a connection of its own, opened
//! read-only for the export and closed after it: WAL lets it read beside the
//! one writer connection without waiting for it or holding it up. A task of
//! its own reads there *ahead* of the encoder — packs of events, each one
//! short query returning one text value (see `PACKED`), at most `AHEAD`
//! packs waiting — so SQLite (on the connection's own thread) reads the next
//! events while the caller encodes these: the two halves of an export run on
//! two cores instead of taking turns on one. The typed SQLite driver hands
//! out each pack's text borrowed (no owned strings per cell, no conversion
//! through the `Any` driver). Everywhere else (PostgreSQL, an in-memory
//! SQLite database, which is private to its connection, an export past the
//! limit of own connections) it reads through the store's pool with the
//! same query, page by page when asked. Each query is one short read, so no
//! snapshot is held while the client is slow; memory stays at a few packs.

use super::{audit_page, AuditFilter, AUDIT_PAGE};
use crate::store::audit::EventRow;
use crate::store::{Engine, Store};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    /// The `seq` of the page's last row.
    pub last_seq: Option<i64>,
}

/// What an export reads: the manager's events up to `max_seq` (the chain
/// head when the export started), filtered, in `seq` order.
#[derive(Debug, Clone)]
pub struct Scope {
    pub manager_id: String,
    pub filter: AuditFilter,
    pub max_seq: i64,
}

/// Where an export reads from: a read-only connection to the SQLite file
/// for this export only, or the store's pool.
pub struct ExportReader {
    store: Store,
    own: Option<Box<SqliteConnection>>,
}

impl std::fmt::Debug for ExportReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportReader").field("own_connection", &self.own.is_some()).finish_non_exhaustive()
    }
}

/// Whether a SQLite URL names a database private to its connection.
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl ExportReader {
    /// Reads through the store's pool.
    pub fn shared(store: &Store) -> Self {
        Self { store: store.clone(), own: None }
    }

    /// A connection of the export's own where there can be one (a SQLite
    /// file), else the pool. `url` is the store's `database.url`.
    pub async fn open(store: &Store, url: &str) -> sqlx::Result<Self> {
        if store.engine() != Engine::Sqlite || in_memory(url) {
            return Ok(Self::shared(store));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(std::time::Duration::from_secs(5));
        Ok(Self { store: store.clone(), own: Some(Box::new(options.connect().await?)) })
    }

    /// Whether the export reads on a connection of its own.
    pub fn has_own_connection(&self) -> bool {
        self.own.is_some()
    }

    /// The events of `scope` after `after_seq`. On a connection of the
    /// export's own, the reading starts at once on a task of its own.
    pub fn events(self, scope: Scope, after_seq: i64) -> Events {
        let scope = Arc::new(scope);
        let source = match self.own {
            Some(conn) => {
                let (tx, packs) = mpsc::channel(AHEAD);
                let reader = tokio::spawn(read_ahead(conn, Arc::clone(&scope), after_seq, tx));
                Source::Ahead { packs, current: None, reader }
            }
            None => Source::Pool { after: after_seq, done: false },
        };
        Events { store: self.store, scope, source }
    }
}

/// The events of an export, handed out page by page in `seq` order.
#[derive(Debug)]
pub struct Events {
    store: Store,
    scope: Arc<Scope>,
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// Packs read ahead by `reader` on the export's own connection.
    Ahead { packs: mpsc::Receiver<sqlx::Result<Pack>>, current: Option<Pack>, reader: JoinHandle<u64> },
    /// A page query through the pool each time, after `after`.
    Pool { after: i64, done: bool },
}

impl Events {
    /// Calls `each` with the next events, at most `limit` of them, in `seq`
    /// order; fewer than `limit` only at the end.
    pub async fn page<E: std::error::Error + 'static>(
        &mut self,
        limit: i64,
        mut each: impl FnMut(EventRef<'_>) -> Result<(), E>,
    ) -> Result<PageRead, ExportError<E>> {
        let mut read = PageRead { rows: 0, last_seq: None };
        let Self { store, scope, source } = self;
        match source {
            Source::Ahead { packs, current, .. } => {
                while read.rows < limit {
                    let pack = match current {
                        Some(pack) => pack,
                        None => match packs.recv().await {
                            Some(pack) => current.insert(pack?),
                            None => break, // the reader read the last pack
                        },
                    };
                    let want = usize::try_from(limit - read.rows).unwrap_or(usize::MAX);
                    let (n, last) = pack.hand_out(store, scope, want, &mut each).await?;
                    read.rows += i64::try_from(n).unwrap_or(i64::MAX);
                    if last.is_some() {
                        read.last_seq = last;
                    }
                    if pack.taken >= pack.rows {
                        *current = None;
                        // Let the reader go on with the next query at once.
                        tokio::task::yield_now().await;
                    }
                }
            }
            Source::Pool { after, done } => {
                if *done {
                    return Ok(read);
                }
                let mut c = store.pool().acquire().await?;
                let rows = audit_page(&mut c, &scope.manager_id, &scope.filter, *after, scope.max_seq, limit).await?;
                drop(c);
                for row in &rows {
                    read.rows += 1;
                    read.last_seq = Some(row.seq);
                    each(EventRef::from(row)).map_err(ExportError::Encode)?;
                }
                match read.last_seq {
                    Some(seq) if read.rows == limit => *after = seq,
                    _ => *done = true,
                }
            }
        }
        Ok(read)
    }

    /// Stops reading (when the export ends early: the client went away, an
    /// error) and waits for the reader to close the export's connection.
    /// Returns how many packs it read (for the tests; 0 through the pool).
    pub async fn close(self) -> u64 {
        match self.source {
            Source::Ahead { packs, current, reader } => {
                drop((packs, current));
                reader.await.unwrap_or_default()
            }
            Source::Pool { .. } => 0,
        }
    }
}

/// Events per pack on SQLite: about 600 KB of text.
const PACK: i64 = 2_000;

/// Packs read ahead of the encoder, at most.
const AHEAD: usize = 4;

/// Reads packs on the export's own connection until the last one or until
/// the export goes away, then closes the connection. Returns how many
/// packs it read.
async fn read_ahead(
    mut conn: Box<SqliteConnection>,
    scope: Arc<Scope>,
    mut after: i64,
    packs: mpsc::Sender<sqlx::Result<Pack>>,
) -> u64 {
    let mut read = 0;
    loop {
        let args = PageArgs {
            manager_id: &scope.manager_id,
            filter: &scope.filter,
            after_seq: after,
            max_seq: scope.max_seq,
            limit: PACK,
        };
        let pack = match args.bind(&PACKED).fetch_one(&mut *conn).await.and_then(|row| Pack::new(row, after)) {
            Ok(Some(pack)) => pack,
            Ok(None) => break, // no events left
            Err(error) => {
                let _ = packs.send(Err(error)).await;
                break;
            }
        };
        read += 1;
        let (full, last) = (pack.rows == PACK as usize, pack.last);
        if packs.send(Ok(pack)).await.is_err() || !full {
            break; // the export went away, or that was the last pack
        }
        after = last;
    }
    let _ = conn.close().await;
    read
}

/// Separates the cells of an event in a pack (ASCII unit separator).
const CELL: char = '\u{1f}';
/// Separates the events of a pack (ASCII record separator).
const EVENT: char = '\u{1e}';

/// One value holding a whole pack of events, in order, so the driver
/// copies one string per pack instead of eleven values per event (that
/// copying — a `sqlite3_value_dup` and an `Arc` per cell, a channel message
/// per row — was most of an export's time), with the number of events and
/// the last `seq` beside it (the reader goes on from there without looking
/// into the text). Each event is its `seq`, `at`, which of `contract_id`,
/// `user_id` and `ip` are NULL (bits 1, 2, 4), then its nine text cells,
/// separated by `CELL`; events are separated by `EVENT`. `concat` and
/// `group_concat` copy each value whole by its length (a NUL byte in a cell
/// included) in one allocation per event, and three numbers per event are
/// all SQLite has to turn into text. `unpack` takes the pack only if it
/// has exactly as many separators as it wrote — no cell holds one — and
/// `seq` ascends (the aggregate has no `ORDER BY` of its own: SQLite would
/// sort again what the page query already gave in order); any other pack
/// is read again through the pool.
static PACKED: LazyLock<String> = LazyLock::new(|| {
    let c = format!("'{CELL}'");
    format!(
        "SELECT group_concat(concat(e.seq, {c}, e.at, {c}, \
     (e.contract_id IS NULL) + 2 * (e.user_id IS NULL) + 4 * (e.ip IS NULL), {c}, \
     e.actor_kind, {c}, e.actor_id, {c}, e.action, {c}, e.contract_id, {c}, e.user_id, {c}, e.ip, {c}, \
     e.detail, {c}, e.prev_hash, {c}, e.hash), '{EVENT}'), count(*), max(e.seq) FROM ({AUDIT_PAGE}) e"
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

/// One pack of events, read ahead: those after `after` up to `last`.
#[derive(Debug)]
struct Pack {
    after: i64,
    last: i64,
    /// How many events the pack holds, and how many were handed out.
    rows: usize,
    taken: usize,
    data: PackData,
}

enum PackData {
    /// `PACKED`'s row.
    Packed(SqliteRow),
    /// The pack read again row by row, its text not being what `PACKED`
    /// writes.
    Rows(Vec<EventRow>),
}

impl std::fmt::Debug for PackData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Packed(_) => f.write_str("Packed"),
            Self::Rows(rows) => f.debug_tuple("Rows").field(&rows.len()).finish(),
        }
    }
}

impl Pack {
    /// `None` if `PACKED` found no events.
    fn new(row: SqliteRow, after: i64) -> sqlx::Result<Option<Self>> {
        let rows: i64 = row.try_get(1)?;
        let last: Option<i64> = row.try_get(2)?;
        Ok(match (usize::try_from(rows), last) {
            (Ok(rows @ 1..), Some(last)) => Some(Self { after, last, rows, taken: 0, data: PackData::Packed(row) }),
            _ => None,
        })
    }

    /// Calls `each` with the next events of the pack, at most `want`.
    /// Returns how many and the last one's `seq`.
    async fn hand_out<E: std::error::Error + 'static>(
        &mut self,
        store: &Store,
        scope: &Scope,
        want: usize,
        each: &mut impl FnMut(EventRef<'_>) -> Result<(), E>,
    ) -> Result<(usize, Option<i64>), ExportError<E>> {
        if let PackData::Packed(row) = &self.data {
            let text: Option<&str> = row.try_get(0)?;
            let events = unpack(text.unwrap_or_default())
                .filter(|events| events.len() == self.rows && events.last().map(|e| e.seq) == Some(self.last));
            if let Some(events) = events {
                return hand_out(&events, &mut self.taken, want, each);
            }
            // Not what PACKED writes: these events row by row, through the
            // pool (the export's own connection is reading ahead).
            let mut c = store.pool().acquire().await?;
            let rows = audit_page(&mut c, &scope.manager_id, &scope.filter, self.after, self.last, PACK).await?;
            drop(c);
            self.rows = rows.len();
            self.data = PackData::Rows(rows);
        }
        let PackData::Rows(rows) = &self.data else { unreachable!("replaced above") };
        let events: Vec<EventRef<'_>> = rows.iter().map(EventRef::from).collect();
        hand_out(&events, &mut self.taken, want, each)
    }
}

/// Calls `each` with at most `want` of `events` from `taken` on.
fn hand_out<E: std::error::Error + 'static>(
    events: &[EventRef<'_>],
    taken: &mut usize,
    want: usize,
    each: &mut impl FnMut(EventRef<'_>) -> Result<(), E>,
) -> Result<(usize, Option<i64>), ExportError<E>> {
    let next = events.get(*taken..).unwrap_or_default();
    let next = &next[..want.min(next.len())];
    for event in next {
        each(*event).map_err(ExportError::Encode)?;
    }
    *taken += next.len();
    Ok((next.len(), next.last().map(|e| e.seq)))
}

/// Reads back what `PACKED` wrote; `None` if it is not exactly that.
fn unpack<'a>(packed: &'a str) -> Option<Vec<EventRef<'a>>> {
    let mut events: Vec<EventRef<'_>> = Vec::with_capacity(usize::try_from(PACK).unwrap_or(0));
    if packed.is_empty() {
        return Some(events);
    }
    for event in packed.split(EVENT) {
        let mut cells = event.split(CELL);
        let mut next = || cells.next();
        let seq: i64 = next()?.parse().ok()?;
        let at: i64 = next()?.parse().ok()?;
        let nulls: u8 = next()?.parse().ok()?;
        let [actor_kind, actor_id, action, contract_id, user_id, ip, detail, prev_hash, hash] =
            [next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?];
        if next().is_some() || nulls > 7 || events.last().is_some_and(|last| last.seq >= seq) {
            return None;
        }
        let nullable = |cell: &'a str, bit: u8| -> Option<Option<&'a str>> {
            match (nulls & bit != 0, cell.is_empty()) {
                (false, _) => Some(Some(cell)),
                (true, true) => Some(None),
                (true, false) => None,
            }
        };
        events.push(EventRef {
            seq,
            at,
            actor_kind,
            actor_id,
            action,
            contract_id: nullable(contract_id, 1)?,
            user_id: nullable(user_id, 2)?,
            ip: nullable(ip, 4)?,
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

    fn scope(filter: &AuditFilter) -> Scope {
        Scope { manager_id: "m_1".into(), filter: filter.clone(), max_seq: i64::MAX }
    }

    /// Every event, in pages of `page`, as an export reads them.
    async fn read_all(reader: ExportReader, filter: &AuditFilter, page: i64) -> Vec<Owned> {
        let mut events = reader.events(scope(filter), 0);
        let mut out = Vec::new();
        loop {
            let before = out.len();
            let read = events
                .page(page, |e| {
                    out.push(owned(e));
                    Ok::<(), std::io::Error>(())
                })
                .await
                .unwrap();
            assert_eq!(usize::try_from(read.rows).unwrap(), out.len() - before);
            assert_eq!(read.last_seq, out.last().filter(|_| read.rows > 0).map(|e| e.0));
            if read.rows < page {
                events.close().await;
                return out;
            }
        }
    }

    /// A SQLite file with contracts C-1 (the manager's) and C-2, and
    /// manager `m_1`.
    async fn store() -> (tempfile::TempDir, String, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url, 0).await.unwrap();
        store.migrate().await.unwrap();
        for sql in [
            "INSERT INTO contracts (id, name, created_at, updated_at) VALUES ('C-1', 'One', 0, 0), ('C-2', 'Two', 0, 0)",
            "INSERT INTO managers (id, name, email, token_hash, created_at) VALUES ('m_1', 'M', 'm@x.example', 'h', 0)",
            "INSERT INTO manager_contracts (manager_id, contract_id, assigned_at) VALUES ('m_1', 'C-1', 0)",
        ] {
            sqlx::query(sql).execute(store.pool()).await.unwrap();
        }
        (dir, url, store)
    }

    /// `n` plain events of C-1, `seq` 1 to `n`.
    async fn plain_events(store: &Store, n: i64) {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO audit_events (seq, at, actor_kind, actor_id, action, contract_id, user_id, ip, detail, \
             prev_hash, hash) SELECT i, 1795000000000 + i, 'user', 'u-' || i, 'login.allowed', 'C-1', 'u-' || i, \
             '203.0.113.5', '{}', 'p' || (i - 1), 'p' || i FROM n",
        )
        .bind(n)
        .execute(store.pool())
        .await
        .unwrap();
    }

    #[test]
    fn unpack_reads_what_packed_writes_and_nothing_else() {
        let one = "7\u{1f}1000\u{1f}5\u{1f}user\u{1f}b-1\u{1f}x\u{1f}\u{1f}\u{1f}\u{1f}{}\u{1f}p\u{1f}h";
        let events = unpack(one).unwrap();
        assert_eq!(events.len(), 1);
        let e = events[0];
        assert_eq!((e.seq, e.at, e.actor_kind, e.actor_id, e.action), (7, 1000, "user", "b-1", "x"));
        assert_eq!(
            (e.contract_id, e.user_id, e.ip, e.detail, e.prev_hash, e.hash),
            (None, Some(""), None, "{}", "p", "h")
        );
        assert_eq!(unpack("").unwrap(), vec![]);
        let two = format!("{one}\u{1e}{}", one.replacen('7', "8", 1));
        assert_eq!(unpack(&two).unwrap().len(), 2);
        let bad = |from: &str, to: &str| one.replacen(from, to, 1);
        for bad in [
            bad("\u{1f}h", ""),                    // eleven cells
            bad("\u{1f}h", "\u{1f}h\u{1f}"),       // thirteen
            bad("x", "x\u{1e}"),                   // an event separator in a cell
            bad("\u{1f}5\u{1f}", "\u{1f}8\u{1f}"), // bad NULL bits
            bad("\u{1f}5\u{1f}", "\u{1f}x\u{1f}"),
            bad("\u{1f}\u{1f}\u{1f}\u{1f}{}", "\u{1f}C\u{1f}\u{1f}\u{1f}{}"), // NULL with text
            bad("7", "x"),                                                    // not a number
            format!("{one}\u{1e}"),                                           // an empty event
        ] {
            assert_eq!(unpack(&bad), None, "{bad:?}");
        }
        // Out of order: read row by row instead.
        let swapped = format!("{}\u{1e}{one}", one.replacen('7', "8", 1));
        assert_eq!(unpack(&swapped), None);
    }

    /// The export's own read-only connection (packs read ahead) reads
    /// exactly what the pool reads, whatever the page size.
    #[tokio::test]
    async fn the_sqlite_reader_reads_what_the_pool_reads() {
        let (_dir, url, store) = store().await;
        let pool = store.pool();
        let nasty = ["", "plain", "a,b", "say \"hi\"", "two\nlines", "=1+1", "naïve “x” 😀", "nul\0byte", ":", "1,2:"];
        for seq in 1..=7_000i64 {
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
            .bind(if seq == 4_000 { "a\u{1e}b\u{1f}c".to_owned() } else { pick(3) })
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
        let filters = [
            AuditFilter::default(),
            AuditFilter { user_id: Some("plain".into()), ..AuditFilter::default() },
            AuditFilter { since: Some(1_795_000_000_700), until: Some(1_795_000_030_000), ..AuditFilter::default() },
            AuditFilter { contract_id: Some("C-2".into()), ..AuditFilter::default() },
        ];
        for filter in &filters {
            let expected = read_all(ExportReader::shared(&store), filter, 100_000).await;
            for page in [1, 7, 1_999, 2_000, 2_001, 10_000] {
                let own = ExportReader::open(&store, &url).await.unwrap();
                assert!(own.has_own_connection());
                assert_eq!(read_all(own, filter, page).await, expected, "{filter:?}, pages of {page}");
            }
        }
        let all = read_all(ExportReader::shared(&store), &AuditFilter::default(), 100_000).await;
        assert_eq!(all.len(), 5_000, "C-1 only: 5 in 7 events");
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in seq order");
        assert!(all.iter().any(|e| e.8.contains('\0')), "the NUL byte is read back");
        assert!(all.iter().any(|e| e.6.is_none()) && all.iter().any(|e| e.7.is_none()));

        assert!(all.iter().any(|e| e.3.contains('\u{1e}')), "the separators are read back");

        // NUL bytes and all, every pack is what `unpack` reads but the one
        // with separators in a cell (read again through the pool).
        let mut conn = SqliteConnectOptions::from_str(&url).unwrap().connect().await.unwrap();
        let (filter, mut after, mut unpacked, mut not) = (AuditFilter::default(), 0, 0, 0);
        loop {
            let args =
                PageArgs { manager_id: "m_1", filter: &filter, after_seq: after, max_seq: i64::MAX, limit: PACK };
            let Some(pack) = Pack::new(args.bind(&PACKED).fetch_one(&mut conn).await.unwrap(), after).unwrap() else {
                break;
            };
            let PackData::Packed(row) = &pack.data else { unreachable!() };
            match unpack(row.try_get(0).unwrap()) {
                Some(events) => {
                    assert_eq!((events.len(), events.last().unwrap().seq), (pack.rows, pack.last));
                    unpacked += events.len();
                }
                None => not += pack.rows,
            }
            after = pack.last;
        }
        assert_eq!((unpacked, not), (3_000, 2_000));
        store.close().await;
    }

    /// A pack whose text is not what `PACKED` writes is read again, row
    /// by row, through the pool: the same events, in the same place.
    #[tokio::test]
    async fn a_pack_that_does_not_unpack_is_read_through_the_pool() {
        let (_dir, url, store) = store().await;
        plain_events(&store, 10).await;
        let mut conn = SqliteConnectOptions::from_str(&url).unwrap().connect().await.unwrap();
        let (tx, packs) = mpsc::channel(AHEAD);
        for (after, last, text) in [
            (0, 4, "garbage"),
            (4, 7, "7\u{1f}1000\u{1f}0\u{1f}user\u{1f}b-1\u{1f}x\u{1f}\u{1f}\u{1f}\u{1f}{}\u{1f}p\u{1f}h"),
            (7, 10, ""),
        ] {
            let row = sqlx::query("SELECT $1, 3, $2").bind(text).bind(last).fetch_one(&mut conn).await.unwrap();
            tx.send(Ok(Pack::new(row, after).unwrap().unwrap())).await.unwrap();
        }
        drop(tx);
        let (scope, reader) = (Arc::new(scope(&AuditFilter::default())), tokio::spawn(async { 3 }));
        let source = Source::Ahead { packs, current: None, reader };
        let mut events = Events { store: store.clone(), scope, source };
        let mut seqs = Vec::new();
        let read = events
            .page(100, |e| {
                seqs.push(e.seq);
                Ok::<(), std::io::Error>(())
            })
            .await
            .unwrap();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(read, PageRead { rows: 10, last_seq: Some(10) });
        assert_eq!(events.close().await, 3);
        store.close().await;
    }

    /// When the export ends early (the client went away), the reader stops
    /// after the packs it had read ahead and closes its connection.
    #[tokio::test]
    async fn an_export_that_ends_early_stops_the_reader() {
        let (_dir, url, store) = store().await;
        let total = 40 * PACK;
        plain_events(&store, total).await;
        let mut events = ExportReader::open(&store, &url).await.unwrap().events(scope(&AuditFilter::default()), 0);
        let read = events.page(3, |_| Ok::<(), std::io::Error>(())).await.unwrap();
        assert_eq!(read, PageRead { rows: 3, last_seq: Some(3) });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let packs = tokio::time::timeout(std::time::Duration::from_secs(10), events.close()).await.unwrap();
        // The pack being encoded, AHEAD waiting, one being read.
        assert!((1..=u64::try_from(AHEAD).unwrap() + 2).contains(&packs), "{packs} packs read");
        // Read to the end, it reads them all.
        let mut events = ExportReader::open(&store, &url).await.unwrap().events(scope(&AuditFilter::default()), 0);
        let read = events.page(total + 1, |_| Ok::<(), std::io::Error>(())).await.unwrap();
        assert_eq!(read, PageRead { rows: total, last_seq: Some(total) });
        assert_eq!(events.close().await, 40);
        store.close().await;
    }

    /// A read that fails midway: the events before it are handed out in
    /// order, then the error, and nothing after it.
    #[tokio::test]
    async fn a_failed_read_midway_is_an_error_after_the_events_before_it() {
        let (_dir, url, store) = store().await;
        let total = 40 * PACK;
        plain_events(&store, total).await;
        let mut events = ExportReader::open(&store, &url).await.unwrap().events(scope(&AuditFilter::default()), 0);
        let mut seqs = Vec::new();
        let mut push = |e: EventRef<'_>| {
            seqs.push(e.seq);
            Ok::<(), std::io::Error>(())
        };
        assert_eq!(events.page(PACK, &mut push).await.unwrap().rows, PACK);
        // The reader's next query cannot be prepared.
        sqlx::query("DROP TABLE manager_contracts").execute(store.pool()).await.unwrap();
        let failed = loop {
            match events.page(PACK / 2, &mut push).await {
                Ok(read) => assert_eq!(read.rows, PACK / 2, "no short page before the error"),
                Err(error) => break error,
            }
        };
        assert!(matches!(failed, ExportError::Read(_)), "{failed}");
        let n = seqs.len();
        assert!(n < usize::try_from(total).unwrap() && n % usize::try_from(PACK).unwrap() == 0, "{n} events");
        assert_eq!(seqs, (1..=i64::try_from(n).unwrap()).collect::<Vec<_>>());
        events.close().await;
        store.close().await;
    }

    #[tokio::test]
    async fn an_in_memory_database_is_read_through_the_pool() {
        let store = Store::connect("sqlite::memory:", 0).await.unwrap();
        assert!(!ExportReader::open(&store, "sqlite::memory:").await.unwrap().has_own_connection());
    }
}
