//! SQLite file databases: the group-commit writer's own connection, which
//! the writer's thread calls directly (rusqlite, over the same bundled
//! SQLite that sqlx links: one library in the process).
//!
//! Why: sqlx runs each SQLite connection on a thread of its own, and every
//! call is a message to that thread and one back per statement. A batch of
//! the writer was ~6 such calls and ~11 wake-ups of the writer's thread;
//! on two cores under load each wake-up also waits for a core, so the
//! writer spent as much time waiting as working (docs/BENCHMARKS.md,
//! "The writer calls SQLite directly"). Here a batch is one thread's
//! uninterrupted work.
//!
//! The pool's one connection stays SQLite's other writer (every
//! `Store::begin` transaction). The writer holds it while this connection
//! writes (`writer::write_batch_direct`), so the two never meet
//! `SQLITE_BUSY`. Jobs that have no direct form (the general path of a
//! login challenge) run after the direct ones, in a transaction of their
//! own on that pooled connection.

use super::audit::{self, Head};
use super::writer::Event;
use super::Store;
use rusqlite::{Connection, OpenFlags};

/// The writer's own connection.
pub struct Direct {
    conn: Connection,
    /// The `wal_autocheckpoint` set, to follow `Store::wal_backstop_pages`.
    backstop: Option<i64>,
}

/// Statements of a batch, each prepared once and kept in the connection's
/// cache; a few more than the writer's statements, so none is evicted.
const CACHED_STATEMENTS: usize = 32;

impl Direct {
    /// Opens the writer's connection to `store`'s file, with the settings
    /// of the pool's writing connection (`sqlite_writer_setup`). `None`:
    /// not an SQLite file (PostgreSQL, or an in-memory database, which is
    /// private to the connection that made it).
    pub fn open(store: &Store) -> Option<rusqlite::Result<Self>> {
        let path = store.sqlite_file()?;
        let backstop = store.wal_backstop_pages();
        Some((|| {
            let conn =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.execute_batch(&super::sqlite_writer_setup(backstop.is_some()))?;
            conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
            // The setup's backstop is production's; the store's may be a
            // test's smaller one.
            let mut direct = Self { conn, backstop: None };
            direct.follow_backstop(backstop);
            Ok(direct)
        })())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs one statement without parameters (cached).
    pub fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(drop)
    }

    /// `BEGIN IMMEDIATE`, then the audit chain's head. SQLite lets no other
    /// writer in until the commit, so the commit's append uses it.
    pub fn begin_reading_head(&self) -> rusqlite::Result<Head> {
        self.exec("BEGIN IMMEDIATE")?;
        self.conn.prepare_cached(audit::HEAD)?.query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
    }

    /// Appends `events` after `head` and commits.
    pub fn commit_appending(&self, head: Head, events: &[Event]) -> rusqlite::Result<()> {
        if !events.is_empty() {
            audit::append_direct(&self.conn, head, events)?;
        }
        self.exec("COMMIT")
    }

    /// Undoes a batch that cannot be completed. After a failed call the
    /// transaction may or may not be open (a failed COMMIT leaves it
    /// open, a failed BEGIN never opened it, a full disk may have rolled
    /// it back already).
    pub fn rollback(&self) {
        if !self.conn.is_autocommit() {
            if let Err(error) = self.exec("ROLLBACK") {
                tracing::warn!(%error, "group commit: the failed batch's rollback failed");
            }
        }
    }

    /// One PASSIVE checkpoint: SQLite's (busy, WAL pages, pages
    /// checkpointed).
    pub fn checkpoint(&self) -> rusqlite::Result<(i64, i64, i64)> {
        self.conn
            .prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
    }

    /// Follows the store's backstop (tests shrink it with the restart
    /// size, `Store::set_wal_restart_pages`).
    pub fn follow_backstop(&mut self, pages: Option<i64>) {
        if let Some(pages) = pages.filter(|pages| self.backstop != Some(*pages)) {
            match self.conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {pages}")) {
                Ok(()) => self.backstop = Some(pages),
                Err(error) => tracing::warn!(%error, "group commit: cannot set the WAL backstop"),
            }
        }
    }
}

/// A direct call's error, as the error of sqlx's that jobs and the
/// writer answer with (its text names SQLite's error; no values).
pub fn db_error(error: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("SQLite: {error}"))
}

/// SQLite file: read connections that the login decision calls directly
/// on the request's own thread, instead of handing each read to a sqlx
/// connection's thread and being woken with the answer (two wake-ups per
/// login, and the reader thread's own work). A read here is a few point
/// lookups in a committed snapshot: WAL readers take no lock that a writer
/// holds, so it never waits for the writer. It never sleeps either: the
/// busy timeout is 0, and a read that SQLite answers busy (a moment of WAL
/// recovery) fails, and the caller reads through sqlx instead.
#[derive(Debug)]
pub struct DirectReaders {
    path: std::path::PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
}

/// Idle direct read connections kept; more are opened while more requests
/// read at once (at most one per runtime thread, as a read never awaits).
const IDLE_READERS: usize = 8;

impl DirectReaders {
    pub fn new(path: std::path::PathBuf) -> Self {
        Self { path, idle: std::sync::Mutex::new(Vec::new()) }
    }

    /// Runs `read` on an idle connection (or a new one), then keeps it.
    pub fn read<R>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> rusqlite::Result<R> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.execute_batch("PRAGMA busy_timeout = 0; PRAGMA query_only = ON;")?;
                conn
            }
        };
        let answer = read(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        answer
    }
}
