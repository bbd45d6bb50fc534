//! Storage: one `Store` over SQLite (embedded default) or PostgreSQL,
//! chosen by the scheme of `database.url`. Every statement is plain SQL that
//! both engines accept (`$1` placeholders, BIGINT times, TEXT), run through
//! sqlx's `Any` driver; the few engine-specific clauses are chosen by
//! `Engine`. Each SQL statement lives in the module of its table.
//!
//! On an SQLite file the two hottest paths call SQLite directly instead
//! (rusqlite, on the same bundled library; see `direct`): the group-commit
//! writer's own connection, and the login decision's read. They run the
//! same statements, written once in their table's module.

pub mod admin;
pub mod audit;
pub mod codes;
pub mod direct;
pub mod managers;
pub mod outbox;
pub mod tokens;
pub mod users;
pub mod writer;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::SqliteStats;

pub type Conn = AnyConnection;
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine behind a connection.
    pub fn of(c: &Conn) -> Self {
        if c.backend_name().eq_ignore_ascii_case("sqlite") {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database.url must start with sqlite:// or postgres:// (got {0:?})")]
    Scheme(String),
    #[error("cannot open the database at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot reach the database at {url}: gave up after {attempts} attempts over {secs:.1} s \
         (database.connect_retry_secs); last error: {source}"
    )]
    Unreachable {
        url: String,
        attempts: u32,
        secs: f64,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite file: the background checkpoints (see `Checkpoints`).
    checkpoints: Option<Arc<Checkpoints>>,
    /// Reads that need no transaction. SQLite: separate connections (WAL
    /// lets readers run beside the one writer) that cannot write
    /// (`query_only`); PostgreSQL: the same pool.
    read_pool: AnyPool,
    /// SQLite file: read connections kept out of `read_pool` between uses
    /// (see `HeldReaders`).
    held: Option<Arc<HeldReaders>>,
    engine: Engine,
    /// SQLite file: its path, for the group-commit writer's own
    /// connection (`direct::Direct`).
    sqlite_file: Option<std::path::PathBuf>,
    /// SQLite file: the login decision's read connections, called on the
    /// request's thread (`direct::DirectReaders`).
    direct_readers: Option<Arc<direct::DirectReaders>>,
}

/// SQLite read connections: the writer stays one connection.
const SQLITE_READERS: u32 = 4;

/// Of those, the ones `HeldReaders` keeps; the rest stay in the pool for
/// the other reads (a service token not yet cached).
const SQLITE_HELD_READERS: usize = SQLITE_READERS as usize - 1;

/// SQLite file: read connections taken from `read_pool` once and kept.
/// sqlx's pool pings every connection given back to it, and on SQLite a
/// ping is one more hand-over to the connection's thread and back: one
/// per login decision, beside the read itself. A connection here goes
/// back to `idle` instead, unpinged; an embedded file does not go away
/// the way a server can. A request dropped mid-read (its client gone)
/// gives its connection back too: sqlx's SQLite worker finishes or drops
/// the abandoned statement before it takes the next command.
#[derive(Debug)]
struct HeldReaders {
    pool: AnyPool,
    idle: std::sync::Mutex<Vec<sqlx::pool::PoolConnection<sqlx::Any>>>,
    /// One per connection that may be out at once.
    permits: tokio::sync::Semaphore,
}

impl HeldReaders {
    async fn get(&self) -> sqlx::Result<HeldReader<'_>> {
        let permit = self.permits.acquire().await.map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(HeldReader { conn: Some(conn), owner: self, _permit: permit })
    }

    /// Gives every idle connection back to the pool (before it closes).
    fn release_all(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// A connection of `HeldReaders`, back to its idle list when dropped.
pub struct HeldReader<'a> {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    owner: &'a HeldReaders,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for HeldReader<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.owner.idle.lock()) {
            if !self.owner.permits.is_closed() {
                idle.push(conn);
            }
        }
    }
}

/// What `Store::reader` lends.
pub enum Reader<'a> {
    Held(HeldReader<'a>),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl std::ops::Deref for Reader<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            Reader::Held(held) => held.conn.as_deref().unwrap_or_else(|| unreachable!("taken only on drop")),
            Reader::Pooled(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            Reader::Held(held) => held.conn.as_deref_mut().unwrap_or_else(|| unreachable!("taken only on drop")),
            Reader::Pooled(conn) => conn,
        }
    }
}

/// SQLite: how often the background task checkpoints the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// SQLite: WAL pages past which the writer starts the WAL over (see
/// `Store::restart_wal_if_due`); 65,536 pages of 4 KiB are 256 MiB.
/// Each restart stalls the writer for one checkpoint with two fsyncs, and
/// the next commit for a third, of the new WAL header (the checkpoint:
/// 3-20 ms measured here at 5,000 challenges/s, whatever the WAL's size,
/// `tollgate_sqlite_wal_restart_seconds`), so the larger the WAL may grow,
/// the rarer the stall: at 2,000 challenges/s a restart every 16 MiB
/// (every 0.2 s) gave a p99 of 16-31 ms, every 256 MiB (every 3 s) 10-14 ms
/// (docs/BENCHMARKS.md).
const WAL_RESTART_PAGES: i64 = 65_536;

/// SQLite: the writer's connection checkpoints inside a commit (SQLite's
/// `wal_autocheckpoint`) once the WAL holds this many times
/// `WAL_RESTART_PAGES`: never while the background task keeps up, and a
/// bound on the WAL when it does not (it got too little CPU; a CI run saw
/// the WAL reach 88 MiB against a test's 4 MiB restart size).
const WAL_BACKSTOP_FACTOR: i64 = 2;

/// SQLite: when the WAL starts over, a file larger than this is cut back
/// to it (`journal_size_limit`): above `WAL_RESTART_PAGES`, so that under
/// steady load the file keeps its pages (a cut file grows again page by
/// page, each page allocated and zeroed by the kernel), and after a burst
/// that outgrew it (a long read holding the WAL) the disk space is given
/// back.
const WAL_SIZE_LIMIT: i64 = 320 << 20;

/// SQLite: the settings of a connection that writes (the pool's, and the
/// group-commit writer's own, `direct::Direct`), as statements without
/// parameters.
/// * WAL, `synchronous = NORMAL`, a busy timeout, foreign keys.
/// * `background_checkpoints`: the background task checkpoints; SQLite's
///   own checkpoint in the committing connection is only the backstop for
///   when that task falls behind (too little CPU), at twice the restart
///   size (`WAL_BACKSTOP_FACTOR`).
/// * When SQLite starts the WAL over (a write after a complete
///   checkpoint, with no reader in the WAL), a larger file is cut back
///   (`WAL_SIZE_LIMIT`).
/// * Savepoints' undo records (the sub-journal) stay in memory instead of
///   spilling past 64 KiB into a temporary file. Set before the temporary
///   objects: changing it drops them.
/// * The one-statement challenge writes' view and trigger
///   (`codes::FAST_CHALLENGE_OBJECTS`).
pub(crate) fn sqlite_writer_setup(background_checkpoints: bool) -> String {
    let backstop = if background_checkpoints {
        format!("PRAGMA wal_autocheckpoint = {}; ", WAL_BACKSTOP_FACTOR * WAL_RESTART_PAGES)
    } else {
        String::new()
    };
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; \
         PRAGMA foreign_keys = ON; {backstop}PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}; \
         PRAGMA temp_store = MEMORY; {}",
        codes::FAST_CHALLENGE_OBJECTS
    )
}

/// SQLite file databases: the WAL is copied back into the database by a
/// task of its own (`PRAGMA wal_checkpoint(PASSIVE)` on a connection of
/// its own, every `CHECKPOINT_EVERY`), not by the connection that commits
/// (on the writer, `wal_autocheckpoint` is only a backstop far above
/// SQLite's default: see `WAL_BACKSTOP_FACTOR`). SQLite's automatic
/// checkpoint runs inside the commit that crosses 1,000 WAL pages by
/// default, so that commit's requests waited for it; a PASSIVE checkpoint neither waits for nor
/// blocks the writer or the readers. Durability is unchanged: a commit is
/// in the WAL either way (`synchronous = NORMAL`), and a checkpoint only
/// copies committed pages.
///
/// Under a steady stream of commits that alone never starts the WAL over
/// (SQLite does that only when a write begins right after a *complete*
/// checkpoint), so the file grew without end, and every frame then went
/// to a new page of the file: the kernel allocated and zeroed each one
/// (`zero_user_segments` under `ext4_block_write_begin`, a third of the
/// writer thread's time in a profile of the challenge load). So when a
/// background checkpoint finds more than `WAL_RESTART_PAGES` in the WAL,
/// it asks the writer (`restart_due`), which between two batches runs one
/// PASSIVE checkpoint of its own: it only has the frames of the commits
/// since the background one to copy, and its next write starts the WAL
/// over, into pages the file already has. That checkpoint syncs the WAL
/// and the database, the next write syncs the new WAL header, and the
/// writer waits for all three, so it is kept rare (`WAL_RESTART_PAGES`).
/// The background task keeps it short: it runs a second checkpoint right
/// before asking, so that the writer's has only the last moment's commits
/// to copy, and it syncs the database file after each of its checkpoints
/// (`checkpoint_loop`), so that the writer's sync has only those pages to
/// write. Each of the writer's restart checkpoints is timed
/// (`tollgate_sqlite_wal_restart_seconds`, and a debug-level log line),
/// including the rare one a reader kept short of the WAL's end, after
/// which the WAL goes on instead of starting over.
#[derive(Debug)]
struct Checkpoints {
    pool: AnyPool,
    task: tokio::task::JoinHandle<()>,
    restart_due: Arc<AtomicBool>,
    /// `WAL_RESTART_PAGES`, smaller in tests (`set_wal_restart_pages`).
    restart_pages: Arc<AtomicI64>,
    /// The database file's syncs and the WAL restarts, for `/metrics`.
    stats: Arc<SqliteStats>,
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Store {
    /// Opens (and for SQLite creates) the database. Does not migrate. One
    /// attempt: see `connect_with_retry` for start-up.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with_retry(url, max_connections, Duration::ZERO).await
    }

    /// Opens the database, retrying while it is unreachable (refused,
    /// timed out, starting up) with exponential backoff — 250 ms doubling
    /// up to 5 s — for at most `budget`; each failed attempt is logged.
    /// Anything else (bad scheme, bad credentials, unknown database) fails
    /// at once: waiting would not fix it.
    pub async fn connect_with_retry(url: &str, max_connections: u32, budget: Duration) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match Self::connect_once(url, max_connections).await {
                Ok(store) => return Ok(store),
                Err(StoreError::Connect { source, .. }) if is_transient(&source) => {
                    let elapsed = started.elapsed();
                    if elapsed + delay > budget {
                        return Err(StoreError::Unreachable {
                            url: shown,
                            attempts,
                            secs: elapsed.as_secs_f64(),
                            source,
                        });
                    }
                    tracing::warn!(
                        attempt = attempts,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %source,
                        "cannot reach the database at {shown}; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect_once(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (engine, url) = if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (Engine::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Engine::Postgres, url.to_owned())
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(StoreError::Scheme(format!("{scheme}:")));
        };
        let connect_error = |source| StoreError::Connect { url: redact_url(&url), source };
        let options = AnyConnectOptions::from_str(&url).map_err(connect_error)?;
        if engine == Engine::Postgres {
            // One plain connection first: it fails at once with the real
            // reason (refused, unknown host, bad password), where the pool
            // would keep trying until its acquire timeout.
            match tokio::time::timeout(Duration::from_secs(10), options.connect()).await {
                Ok(Ok(probe)) => {
                    let _ = probe.close().await;
                }
                Ok(Err(e)) => return Err(connect_error(e)),
                Err(_) => return Err(connect_error(sqlx::Error::PoolTimedOut)),
            }
        }
        let file = engine == Engine::Sqlite && !url.contains(":memory:") && !url.contains("mode=memory");
        let background_checkpoints = file;
        let max = match (engine, max_connections) {
            // One SQLite connection: writers are serialised anyway (the
            // audit chain), and a single writer never meets SQLITE_BUSY.
            (Engine::Sqlite, 0) => 1,
            (Engine::Postgres, 0) => 10,
            (_, n) => n,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // A ping before every use is a round trip to the connection's
            // thread; an embedded file does not go away like a server.
            .test_before_acquire(engine == Engine::Postgres)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(sqlite_writer_setup(background_checkpoints).as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        let read_pool = match engine {
            // Opened on first use (after `migrate` has set WAL mode). An
            // in-memory database is private to its connection: no readers.
            Engine::Sqlite if file => AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;").await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone()),
            _ => pool.clone(),
        };
        let sqlite_file = if file {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).map_err(connect_error)?;
            Some(options.get_filename().to_path_buf())
        } else {
            None
        };
        let checkpoints = background_checkpoints.then(|| {
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options);
            let restart_due = Arc::new(AtomicBool::new(false));
            let restart_pages = Arc::new(AtomicI64::new(WAL_RESTART_PAGES));
            let stats = Arc::new(SqliteStats::default());
            // Not on Apple's systems: Rust's `sync_data` is a full flush of
            // the drive's cache there (`F_FULLFSYNC`), far more than
            // SQLite's own `fsync`, ten times a second.
            let syncs = !cfg!(target_vendor = "apple");
            let database = sqlite_file.as_deref().filter(|_| syncs).and_then(|path| match sync_descriptor(path) {
                Ok(file) => Some(file),
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "cannot open the database file to sync it; \
                        the writer's WAL restarts will sync it alone");
                    None
                }
            });
            let task = tokio::spawn(checkpoint_loop(
                pool.clone(),
                database,
                CHECKPOINT_EVERY,
                Arc::clone(&restart_due),
                Arc::clone(&restart_pages),
                Arc::clone(&stats),
            ));
            Arc::new(Checkpoints { pool, task, restart_due, restart_pages, stats })
        });
        let held = (engine == Engine::Sqlite && file).then(|| {
            Arc::new(HeldReaders {
                pool: read_pool.clone(),
                idle: std::sync::Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(SQLITE_HELD_READERS),
            })
        });
        let direct_readers = sqlite_file.clone().map(|path| Arc::new(direct::DirectReaders::new(path)));
        Ok(Self { pool, checkpoints, read_pool, held, engine, sqlite_file, direct_readers })
    }

    /// Applies the migrations this binary has that the database lacks.
    /// Several instances may start at once (PostgreSQL: sqlx holds an
    /// advisory lock while migrating). Migrations newer than this binary
    /// are tolerated, so during a rolling upgrade an old instance still
    /// starts after a new one has migrated: migrations must therefore only
    /// add (expand), never drop or rename what a running release uses.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = match self.engine {
            Engine::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Engine::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(StoreError::Migrate)
    }

    /// A write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a read-then-write never fails half-way.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// For reads outside a transaction that may see any committed state
    /// (they never block the writer, nor wait for it).
    pub fn read_pool(&self) -> &AnyPool {
        &self.read_pool
    }

    /// A read connection for a hot read outside any transaction (the login
    /// decision). SQLite file: one of the `HeldReaders`; otherwise from
    /// `read_pool`.
    pub async fn reader(&self) -> sqlx::Result<Reader<'_>> {
        match &self.held {
            Some(held) => held.get().await.map(Reader::Held),
            None => self.read_pool.acquire().await.map(Reader::Pooled),
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// SQLite file: read connections called on the caller's own thread
    /// (`direct::DirectReaders`).
    pub fn direct_readers(&self) -> Option<&direct::DirectReaders> {
        self.direct_readers.as_deref()
    }

    /// SQLite file: one PASSIVE checkpoint now (the background task's
    /// step); returns SQLite's (busy, WAL pages, pages checkpointed).
    /// `None` for other databases.
    pub async fn checkpoint(&self) -> sqlx::Result<Option<(i64, i64, i64)>> {
        match &self.checkpoints {
            Some(c) => checkpoint_passive(&c.pool).await.map(Some),
            None => Ok(None),
        }
    }

    /// SQLite file, called by the writer between two batches: if a
    /// background checkpoint found the WAL past `WAL_RESTART_PAGES`, one
    /// PASSIVE checkpoint on the writer's connection, so that the next
    /// write can start the WAL over (see `Checkpoints`). It waits for no
    /// one; when a reader still holds the WAL, the next write appends and
    /// the next background checkpoint asks again. When the background
    /// task's own checkpoint was running (SQLite answers busy), it is
    /// asked again after the next batch rather than after the next tick:
    /// under a steady stream of commits each tick missed lets the WAL grow
    /// by another 100 ms of them.
    pub async fn restart_wal_if_due(&self) {
        if !self.take_restart_due() {
            return;
        }
        let began = std::time::Instant::now();
        let done = checkpoint_passive(&self.pool).await;
        self.restart_checkpointed(began, done.map_err(|e| e.to_string()));
    }

    /// Whether a WAL restart is due (see `restart_wal_if_due`), and no
    /// longer once asked.
    pub(crate) fn take_restart_due(&self) -> bool {
        self.checkpoints.as_ref().is_some_and(|c| c.restart_due.swap(false, Ordering::Relaxed))
    }

    /// The writer ran the restart's checkpoint (`Ok`: SQLite's busy, WAL
    /// pages, pages checkpointed): logs it, and if the background task's
    /// own checkpoint was running, asks again after the next batch.
    pub(crate) fn restart_checkpointed(&self, began: std::time::Instant, done: Result<(i64, i64, i64), String>) {
        match done {
            Ok((busy, wal, done)) => {
                let took = began.elapsed();
                let took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                tracing::debug!(busy, wal, done, took_us, "WAL checkpoint on the writer's connection");
                if let Some(c) = &self.checkpoints {
                    if busy != 0 {
                        c.restart_due.store(true, Ordering::Relaxed);
                    } else {
                        c.stats.restart_checkpointed(took);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "WAL checkpoint on the writer's connection failed"),
        }
    }

    /// SQLite file: its WAL's measurements (`/metrics`).
    pub fn sqlite_stats(&self) -> Option<&SqliteStats> {
        self.checkpoints.as_deref().map(|c| &*c.stats)
    }

    /// SQLite file: the writer's backstop (`wal_autocheckpoint`), in pages:
    /// `WAL_BACKSTOP_FACTOR` times the restart size.
    pub(crate) fn wal_backstop_pages(&self) -> Option<i64> {
        self.checkpoints.as_ref().map(|c| WAL_BACKSTOP_FACTOR * c.restart_pages.load(Ordering::Relaxed))
    }

    /// SQLite file: its path (the group-commit writer opens its own
    /// connection to it).
    pub(crate) fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// Tests: start the WAL over past `pages` instead of
    /// `WAL_RESTART_PAGES` (and the writer's backstop scaled alike).
    #[cfg(test)]
    pub(crate) async fn set_wal_restart_pages(&self, pages: i64) {
        if let Some(c) = &self.checkpoints {
            c.restart_pages.store(pages, Ordering::Relaxed);
            let backstop = format!("PRAGMA wal_autocheckpoint = {}", WAL_BACKSTOP_FACTOR * pages);
            self.pool.execute(backstop.as_str()).await.expect("the writer's backstop is set");
        }
    }

    /// Tests: a WAL restart is due, as if a background checkpoint had
    /// found the WAL past its restart size.
    #[cfg(test)]
    pub(crate) fn ask_wal_restart(&self) {
        if let Some(c) = &self.checkpoints {
            c.restart_due.store(true, Ordering::Relaxed);
        }
    }

    /// Tests: the background checkpoints stop (as if their task got no
    /// CPU at all).
    #[cfg(test)]
    pub(crate) fn stop_background_checkpoints(&self) {
        if let Some(c) = &self.checkpoints {
            c.task.abort();
        }
    }

    pub async fn close(&self) {
        if let Some(c) = &self.checkpoints {
            c.task.abort();
            c.pool.close().await;
        }
        if let Some(held) = &self.held {
            held.release_all();
        }
        self.read_pool.close().await;
        self.pool.close().await;
    }
}

async fn checkpoint_passive(pool: &AnyPool) -> sqlx::Result<(i64, i64, i64)> {
    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await
}

/// The background task (see `Checkpoints`): every `every`, a PASSIVE
/// checkpoint, then a sync of the database file if it copied anything.
/// SQLite syncs the database file at the end of a checkpoint only when
/// that checkpoint reached the WAL's end, which under a steady stream of
/// commits only the writer's own checkpoint before a WAL restart does: it
/// then had to write out every page copied since the restart before
/// (measured: 7 → 45 ms over a 20 s run at 5,000 challenges/s, as the
/// scattered pages grew with the file). Synced here, off the writer's
/// thread, the writer's sync has only the last moment's pages.
async fn checkpoint_loop(
    pool: AnyPool,
    mut database: Option<Arc<std::fs::File>>,
    every: Duration,
    restart_due: Arc<AtomicBool>,
    restart_pages: Arc<AtomicI64>,
    stats: Arc<SqliteStats>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The WAL frames checkpointed as of the last sync.
    let mut synced = 0;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        match checkpoint_passive(&pool).await {
            Ok((_, wal, mut done)) => {
                tracing::trace!(wal, done, "WAL checkpoint");
                let restart = wal > restart_pages.load(Ordering::Relaxed);
                if restart {
                    // Once more at once: this one copies only the commits
                    // made during the one before, so that the writer's
                    // own checkpoint (`restart_wal_if_due`) has only those
                    // of the last moment to copy and sync.
                    match checkpoint_passive(&pool).await {
                        Ok((_, _, again)) => done = again,
                        Err(error) => tracing::warn!(%error, "WAL checkpoint failed; trying again"),
                    }
                }
                if restart || (done > 0 && done != synced) {
                    if let Some(file) = &database {
                        if !sync_database(file, &stats).await {
                            database = None;
                        }
                        synced = done;
                    }
                }
                if restart {
                    restart_due.store(true, Ordering::Relaxed);
                }
            }
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed; trying again"),
        }
    }
}

/// `fdatasync` of the database file, on a blocking thread. False when it
/// failed: the task then stops syncing (one warning, not one per tick),
/// and SQLite's own sync before each WAL restart does all of it, as
/// before. Safe either way: SQLite starts the WAL over only after a
/// checkpoint that synced the file itself. (Linux reports a failed
/// write-back to every descriptor of the file since 4.13, so an error
/// this sync sees is not hidden from SQLite's.)
async fn sync_database(database: &Arc<std::fs::File>, stats: &SqliteStats) -> bool {
    let file = Arc::clone(database);
    let began = std::time::Instant::now();
    match tokio::task::spawn_blocking(move || file.sync_data()).await {
        Ok(Ok(())) => {
            stats.database_synced(began.elapsed());
            true
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "syncing the database file failed; leaving it to SQLite's own checkpoints from now on");
            false
        }
        // Shutting down.
        Err(_) => true,
    }
}

/// A descriptor of an SQLite database file, for `sync_database` (opened
/// for writing, never written through): one per
/// file for the life of the process, never closed. Closing any descriptor
/// of a file drops every POSIX lock the process holds on it, SQLite's own
/// included (SQLite keeps its descriptors open for that reason). Without
/// its lock, another process opening the database (a `tollgate-server`
/// command, a backup) could take the file for unused and, closing it,
/// checkpoint and delete the WAL under this one. So a file already held is
/// looked up without opening it again.
fn sync_descriptor(path: &std::path::Path) -> std::io::Result<Arc<std::fs::File>> {
    type Held = std::collections::HashMap<String, Arc<std::fs::File>>;
    static HELD: std::sync::LazyLock<std::sync::Mutex<Held>> = std::sync::LazyLock::new(Default::default);
    let key = file_identity(path)?;
    let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(file) = held.get(&key) {
        return Ok(Arc::clone(file));
    }
    // Writable: Windows flushes only through a handle that may write.
    let file = Arc::new(std::fs::OpenOptions::new().read(true).write(true).open(path)?);
    held.insert(key, Arc::clone(&file));
    Ok(file)
}

/// Which file `path` names (without opening it): device and inode.
#[cfg(unix)]
fn file_identity(path: &std::path::Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path)?;
    Ok(format!("{}:{}", meta.dev(), meta.ino()))
}

/// Which file `path` names: its canonical path.
#[cfg(not(unix))]
fn file_identity(path: &std::path::Path) -> std::io::Result<String> {
    Ok(std::fs::canonicalize(path)?.display().to_string())
}

/// Errors worth waiting out at start-up: the server is not (yet) there.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // cannot_connect_now (starting up, shutting down), too_many_connections
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("57P03" | "53300")),
        _ => false,
    }
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => url.split_once('@').map_or_else(|| url.to_owned(), |(_, host)| format!("***@{host}")),
    }
}

/// Runs `sql` (one or more statements without parameters) as one round
/// trip. Boxed: it gives the callers' futures a `Send` the compiler can see.
pub(crate) fn raw<'c>(c: &'c mut Conn, sql: &'static str) -> futures_util::future::BoxFuture<'c, sqlx::Result<()>> {
    // A bare string has no arguments: PostgreSQL's simple query protocol,
    // which takes several statements; SQLite runs them one after another.
    Box::pin(async move { sqlx::Executor::execute(c, sql).await.map(drop) })
}

/// `FOR UPDATE` where the engine has row locks; SQLite's write transaction
/// already excludes other writers.
pub(crate) fn for_update(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "",
        Engine::Postgres => " FOR UPDATE",
    }
}

/// The VALUES list of a multi-row INSERT: `row` (one row's parenthesised
/// list, parameters written `?`) repeated `rows` times. SQLite keeps the
/// anonymous `?`; PostgreSQL gets `$1`, `$2`, … in order. Why not `$n` on
/// SQLite too: for each parameter sqlx asks SQLite its name, which SQLite
/// finds by a linear scan of the statement's named parameters — quadratic
/// in the parameters of a statement (5,500 for 500 audit rows).
pub(crate) fn values_rows(engine: Engine, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity((row.len() + 24) * rows);
    let mut n = 0;
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        match engine {
            Engine::Sqlite => sql.push_str(row),
            Engine::Postgres => {
                for (j, part) in row.split('?').enumerate() {
                    if j > 0 {
                        n += 1;
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                    sql.push_str(part);
                }
            }
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Login reads reuse the same few connections without giving them back
    /// to the pool; a read dropped half-way leaves its connection usable;
    /// closing the store does not wait for them.
    #[tokio::test]
    async fn held_readers_are_reused_survive_a_dropped_read_and_let_the_store_close() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        for i in 0..20 {
            let mut c = store.reader().await.unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT $1").bind(i).fetch_one(&mut *c).await.unwrap();
            assert_eq!(n, i);
        }
        assert_eq!(store.read_pool.size(), 1, "one connection served every read in turn");
        assert_eq!(store.read_pool.num_idle(), 0, "and it was kept, not given back");

        // Three at once: three connections; the pool keeps one more for
        // the other reads.
        let (a, b, c) = (store.reader().await.unwrap(), store.reader().await.unwrap(), store.reader().await.unwrap());
        let other = tokio::time::timeout(Duration::from_secs(5), store.read_pool().acquire()).await;
        assert!(matches!(other, Ok(Ok(_))), "a read outside the held ones still gets a connection");
        drop((a, b, c, other));

        // A long read dropped half-way (a client gone): the next reads on
        // the held connections work.
        let slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000000) \
                    SELECT COUNT(*) FROM n";
        let dropped = tokio::time::timeout(Duration::from_millis(50), async {
            let mut c = store.reader().await.unwrap();
            sqlx::query_as::<_, (i64,)>(slow).fetch_one(&mut *c).await
        })
        .await;
        assert!(dropped.is_err(), "the slow read was cut off");
        for _ in 0..3 {
            let mut c = store.reader().await.unwrap();
            let (one,): (i64,) = sqlx::query_as("SELECT 1").fetch_one(&mut *c).await.unwrap();
            assert_eq!(one, 1);
        }
        tokio::time::timeout(Duration::from_secs(10), store.close()).await.expect("the store closes");
    }

    /// The bundled SQLite is built as `.cargo/config.toml` says: each
    /// connection's page cache of its own, behind no lock shared with the
    /// others, and no global lock around allocations.
    #[tokio::test]
    async fn the_bundled_sqlite_shares_no_page_cache_and_counts_no_allocations() {
        let store = Store::connect("sqlite::memory:", 0).await.unwrap();
        let used = |option: &'static str| {
            let pool = store.pool().clone();
            async move {
                let (used,): (i64,) =
                    sqlx::query_as("SELECT sqlite_compileoption_used($1)").bind(option).fetch_one(&pool).await.unwrap();
                used
            }
        };
        assert_eq!(used("ENABLE_MEMORY_MANAGEMENT").await, 0, "one page cache for every connection");
        assert_eq!(used("DEFAULT_MEMSTATUS=0").await, 1, "allocations counted under a global lock");
        // The check itself can fail: an option the build has.
        assert_eq!(used("THREADSAFE=1").await, 1);
    }

    /// The writer leaves checkpoints to the background task; checkpoints
    /// copy the WAL back and nothing committed is lost, across a reopen.
    #[tokio::test]
    async fn background_checkpoints_keep_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::connect(&url, 0).await.unwrap();
        store.migrate().await.unwrap();
        let (auto,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint").fetch_one(store.pool()).await.unwrap();
        assert_eq!(auto, WAL_BACKSTOP_FACTOR * WAL_RESTART_PAGES, "the writer checkpoints only as a backstop");
        let (limit,): (i64,) = sqlx::query_as("PRAGMA journal_size_limit").fetch_one(store.pool()).await.unwrap();
        assert_eq!(limit, WAL_SIZE_LIMIT, "a restarted WAL is cut back to 320 MiB");
        let (temp,): (i64,) = sqlx::query_as("PRAGMA temp_store").fetch_one(store.pool()).await.unwrap();
        assert_eq!(temp, 2, "savepoints' undo records stay in memory");
        for round in 0..3 {
            for i in 0..200 {
                tokens::init_setting(&mut store.pool().acquire().await.unwrap(), &format!("k-{round}-{i}"), "v")
                    .await
                    .unwrap();
            }
            let (busy, wal, done) = store.checkpoint().await.unwrap().unwrap();
            assert_eq!(busy, 0);
            assert!(wal > 0 && done == wal, "round {round}: {wal} WAL pages, {done} checkpointed");
        }
        // The background task runs too (every 100 ms).
        tokens::init_setting(&mut store.pool().acquire().await.unwrap(), "k-last", "v").await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (_, wal, done) = store.checkpoint().await.unwrap().unwrap();
        assert_eq!(wal, done);
        store.close().await;

        let again = Store::connect(&url, 0).await.unwrap();
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM settings WHERE key LIKE 'k-%'").fetch_one(again.pool()).await.unwrap();
        assert_eq!(n, 601);
        again.close().await;
    }

    /// The background task syncs the database file after its checkpoints,
    /// through one descriptor per file that is never closed: a second one
    /// opened and closed for the same file, under another name, would drop
    /// the process's POSIX locks on it (SQLite's).
    #[tokio::test]
    async fn the_database_file_is_synced_through_one_descriptor_held_for_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        let held = sync_descriptor(&path).unwrap();
        std::fs::hard_link(&path, dir.path().join("link.db")).unwrap();
        for name in [dir.path().join(".").join("s.db"), dir.path().join("link.db")] {
            assert!(Arc::ptr_eq(&held, &sync_descriptor(&name).unwrap()), "{}", name.display());
        }
        std::fs::write(dir.path().join("other.db"), b"").unwrap();
        assert!(!Arc::ptr_eq(&held, &sync_descriptor(&dir.path().join("other.db")).unwrap()));
        assert!(sync_descriptor(&dir.path().join("missing.db")).is_err());

        let stats = store.sqlite_stats().unwrap();
        let before = stats.database_syncs();
        for i in 0..50 {
            tokens::init_setting(&mut store.pool().acquire().await.unwrap(), &format!("s-{i}"), "v").await.unwrap();
        }
        let waited = std::time::Instant::now();
        while stats.database_syncs() == before {
            assert!(waited.elapsed() < Duration::from_secs(5), "the database file was never synced");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
        // Still held once the store is closed: the same descriptor again.
        assert!(Arc::ptr_eq(&held, &sync_descriptor(&path).unwrap()));
    }

    /// A sync that fails says so (the task then stops syncing) and is not
    /// timed as one that happened. `/dev/null` cannot be synced on Linux.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_sync_is_reported_and_not_timed() {
        let stats = SqliteStats::default();
        let null = Arc::new(std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap());
        assert!(!sync_database(&null, &stats).await);
        assert_eq!(stats.database_syncs(), 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.db");
        std::fs::write(&path, b"x").unwrap();
        assert!(sync_database(&sync_descriptor(&path).unwrap(), &stats).await);
        assert_eq!(stats.database_syncs(), 1);
    }

    #[test]
    fn both_engines_have_migrations_of_the_same_names() {
        let names = |migrator: sqlx::migrate::Migrator| {
            migrator.iter().map(|m| (m.version, m.description.to_string())).collect::<Vec<_>>()
        };
        let sqlite = names(sqlx::migrate!("./migrations/sqlite"));
        assert!(sqlite.len() >= 6, "{sqlite:?}");
        assert_eq!(sqlite, names(sqlx::migrate!("./migrations/postgres")));
    }

    /// SQLite's 0006 dropped the audit indexes by user and by contract: the
    /// export (the one reader of events by user or contract) walks the
    /// chain by `seq` whatever its filters, so every event paid for two
    /// indexes that nothing read.
    #[tokio::test]
    async fn sqlite_exports_audit_by_seq_without_the_dropped_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("a.db").display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        let (indexes,): (String,) = sqlx::query_as(
            "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema \
             WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(indexes, "sqlite_autoindex_audit_events_1");
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", admin::AUDIT_PAGE))
            .bind("m-1")
            .bind(0_i64)
            .bind(100_i64)
            .bind("c-1")
            .bind("u-1")
            .bind(None::<i64>)
            .bind(None::<i64>)
            .bind(10_i64)
            .fetch_all(store.pool())
            .await
            .unwrap();
        let plan: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        assert!(
            plan.iter().any(|step| step.contains("e USING INDEX sqlite_autoindex_audit_events_1 (seq>? AND seq<?)")),
            "{plan:?}"
        );
    }

    #[test]
    fn values_rows_numbers_parameters_for_postgres_only() {
        assert_eq!(values_rows(Engine::Sqlite, "(?, ?, 'x')", 2), "(?, ?, 'x'), (?, ?, 'x')");
        assert_eq!(values_rows(Engine::Postgres, "(?, ?, 'x')", 2), "($1, $2, 'x'), ($3, $4, 'x')");
        assert_eq!(values_rows(Engine::Postgres, "(?)", 1), "($1)");
        assert_eq!(values_rows(Engine::Postgres, "(?)", 0), "");
    }
}
