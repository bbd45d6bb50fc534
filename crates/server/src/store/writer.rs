//! Group commit: one task runs the writes of many requests in one database
//! transaction and answers each of them only after that transaction has
//! committed.
//!
//! Why: every login decision appends an audit event, and appending takes
//! the chain's head (`audit_head`) until commit — so with one transaction
//! per request, requests queue one commit (PostgreSQL: one WAL flush) at a
//! time. Here the writer takes whatever requests are waiting (up to
//! `MAX_BATCH`), runs each one's writes in a savepoint of one transaction,
//! appends all their audit events at the end (head read and moved once, one
//! multi-row INSERT), and commits once.
//!
//! Semantics, per job:
//! * the job's writes and its audit events are durable when, and only
//!   when, its answer is a success: nobody is answered before the commit;
//! * a job that fails (returns `Err`) is rolled back to its savepoint — its
//!   writes and its events are gone — and the other jobs of the batch are
//!   not affected; it is answered its own error after the batch ends;
//! * a job whose failure says `retry` (PostgreSQL aborted it as a deadlock
//!   or serialisation failure, or it waited more than 50 ms for a row lock:
//!   batches of two instances may lock the same rows in opposite orders)
//!   is rolled back and run again in the next batch, at most `MAX_TRIES`
//!   times;
//! * if the batch itself cannot be completed (begin, a savepoint, the audit
//!   append or the commit fails), the whole transaction is rolled back and
//!   every job that had succeeded is answered a database error: nothing of
//!   the batch is written, so no answer ever claims a write that is lost.
//!
//! The chain stays one chain: events are appended under the head's lock
//! (taken last in the batch, after the jobs' row locks, the order every
//! other transaction uses), in the order the jobs ran.
//! A job must not be cancelled half-way, which is why it runs on this task
//! and not on the request's (a client that disconnects drops its request
//! future, never a job).
//!
//! `Gather` puts many requests of one kind into one job, so that their
//! writes can be one database call (SQLite's login challenges).
//!
//! On an SQLite file the writer also has a connection of its own that its
//! thread calls directly (`store::direct`): a job with a direct form
//! (`submit_with_direct`, `append`, a `Gathered` whose `direct()` is true)
//! runs there, with the semantics above, in one transaction per batch;
//! jobs without one run after them in a second transaction on the pool's
//! connection, which the writer holds meanwhile.

use super::audit::{self, NewEvent};
use super::direct::Direct;
use super::{raw, Conn, Engine, Store};
use crate::metrics::WriterStats;
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tollgate_core::audit::ActorKind;

/// Jobs per transaction at most: bounds the wait of the last one.
const MAX_BATCH: usize = 128;
/// Runs of one job when PostgreSQL keeps aborting it (lock race).
const MAX_TRIES: u32 = 20;
/// PostgreSQL: how long a job may wait for a row lock (then: retry).
const JOB_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '50ms'";

/// An audit event a job asks for: chained and stored with the batch.
#[derive(Debug, Clone)]
pub struct Event {
    pub at_ms: i64,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: String,
    pub contract_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

impl Event {
    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            actor_kind: self.actor_kind,
            actor_id: &self.actor_id,
            action: &self.action,
            contract_id: self.contract_id.as_deref(),
            user_id: self.user_id.as_deref(),
            ip: self.ip.as_deref(),
            detail: self.detail.clone(),
        }
    }
}

/// What a job's error must tell the writer.
pub trait JobError: Send + 'static {
    /// The job lost a lock race (deadlock, serialisation failure) and may
    /// simply be run again.
    fn retry(&self) -> bool;
    /// The answer of a job whose batch could not be written.
    fn from_db(error: sqlx::Error) -> Self;
    /// A job run without the writer's savepoint (`submit_atomic`) failed
    /// and could not undo its own writes: the whole batch is dropped.
    fn broken(&self) -> bool {
        false
    }
}

/// How a job's run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// Rolled back; may run again (lock race).
    Retry,
    /// Rolled back; answered its error.
    Final,
    /// Left writes it could not undo: the batch cannot be committed.
    Broken,
}

/// A job's writes: run on the writer's transaction, returning the answer
/// and the audit events to append with it. `FnMut` because a job may be
/// run again (see `retry`); each run starts from a rolled-back state.
pub trait Work<T, E>:
    for<'c> FnMut(&'c mut Conn) -> BoxFuture<'c, Result<(T, Vec<Event>), E>> + Send + 'static
{
}
impl<T, E, F> Work<T, E> for F where
    F: for<'c> FnMut(&'c mut Conn) -> BoxFuture<'c, Result<(T, Vec<Event>), E>> + Send + 'static
{
}

/// A job's writes as calls on the writer's own SQLite connection
/// (`store::direct`): the same writes as its `Work`, for SQLite files,
/// where the writer calls SQLite directly on its own thread.
pub type DirectWork<T, E> = Box<dyn FnMut(&rusqlite::Connection) -> Result<(T, Vec<Event>), E> + Send>;

/// Helps closures get the higher-ranked signature of `Work`.
pub fn work<T, E, F>(f: F) -> F
where
    F: for<'c> FnMut(&'c mut Conn) -> BoxFuture<'c, Result<(T, Vec<Event>), E>> + Send + 'static,
{
    f
}

/// A job as the writer task sees it.
trait Job: Send {
    /// Runs the writes: `Ok(events)` keeps them, `Err` discards them.
    fn run<'c>(&'c mut self, c: &'c mut Conn) -> BoxFuture<'c, Result<Vec<Event>, Failed>>;
    /// Whether the job has a direct form (`run_direct`).
    fn has_direct(&self) -> bool;
    /// Runs the writes on the writer's own SQLite connection.
    fn run_direct(&mut self, c: &rusqlite::Connection) -> Result<Vec<Event>, Failed>;
    /// Answers the request: the batch committed (`Ok`) or was lost.
    fn finish(self: Box<Self>, batch: Result<(), String>);
    /// Counts a run; false once the job may not run again.
    fn may_retry(&mut self) -> bool;
    /// How the job is run (see `Mode`).
    fn mode(&self) -> Mode;
    /// When the job was submitted.
    fn queued(&self) -> Instant;
}

/// How the writer runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// In a savepoint of the writer's (`Writer::submit`).
    Savepoint,
    /// Without one: it undoes its own writes when it fails
    /// (`Writer::submit_atomic`).
    Atomic,
    /// It brings events and makes no call of its own (`Writer::append`).
    EventsOnly,
}

struct Pending<T, E, F> {
    work: F,
    direct: Option<DirectWork<T, E>>,
    outcome: Option<Result<T, E>>,
    answer: oneshot::Sender<Result<T, E>>,
    tries: u32,
    mode: Mode,
    queued: Instant,
}

impl<T, E: JobError, F> Pending<T, E, F> {
    /// Keeps a run's answer; returns its events, or how it failed.
    fn settle(&mut self, ran: Result<(T, Vec<Event>), E>) -> Result<Vec<Event>, Failed> {
        match ran {
            Ok((answer, events)) => {
                self.outcome = Some(Ok(answer));
                Ok(events)
            }
            Err(error) => {
                let failed = if error.broken() {
                    Failed::Broken
                } else if error.retry() {
                    Failed::Retry
                } else {
                    Failed::Final
                };
                self.outcome = Some(Err(error));
                Err(failed)
            }
        }
    }
}

impl<T, E, F> Job for Pending<T, E, F>
where
    T: Send + 'static,
    E: JobError,
    F: Work<T, E>,
{
    fn run<'c>(&'c mut self, c: &'c mut Conn) -> BoxFuture<'c, Result<Vec<Event>, Failed>> {
        Box::pin(async move {
            let ran = (self.work)(c).await;
            self.settle(ran)
        })
    }

    fn has_direct(&self) -> bool {
        self.direct.is_some()
    }

    fn run_direct(&mut self, c: &rusqlite::Connection) -> Result<Vec<Event>, Failed> {
        let ran = match &mut self.direct {
            Some(direct) => direct(c),
            None => Err(E::from_db(sqlx::Error::Protocol("the job has no direct form".into()))),
        };
        self.settle(ran)
    }

    fn finish(self: Box<Self>, batch: Result<(), String>) {
        let answer = match (self.outcome, batch) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(answer)), Ok(())) => Ok(answer),
            (_, Err(why)) => Err(E::from_db(sqlx::Error::Protocol(why))),
            (None, Ok(())) => Err(E::from_db(sqlx::Error::Protocol("the job did not run".into()))),
        };
        let _ = self.answer.send(answer);
    }

    fn may_retry(&mut self) -> bool {
        self.tries += 1;
        self.tries < MAX_TRIES
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn queued(&self) -> Instant {
        self.queued
    }
}

/// The handle requests submit their writes through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer task on `store`'s pool (one connection at a time:
    /// SQLite's single writer is shared with the other transactions).
    ///
    /// SQLite: the task runs on a thread of its own (a single-threaded
    /// runtime), not among the request tasks. A batch is a chain of
    /// hand-overs to the connection's thread, and on the shared runtime
    /// each answer woke the writer behind whatever request tasks were
    /// queued; at 4,000 challenges/s p99 was 196-739 ms that way, and
    /// 46-338 ms on its own thread (docs/BENCHMARKS.md). On an SQLite file
    /// that thread also has a connection of its own that it calls directly
    /// (`store::direct`), which runs every job that has a direct form. PostgreSQL stays on
    /// the shared runtime: its connections' sockets belong to the runtime
    /// that opened them, and the pool hands them to request tasks too.
    pub fn start(store: Store) -> Self {
        let stats = Arc::new(WriterStats::default());
        if store.engine() == Engine::Sqlite {
            match tokio::runtime::Builder::new_current_thread().enable_time().build() {
                Ok(runtime) => {
                    let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
                    let (thread_store, thread_stats) = (store.clone(), Arc::clone(&stats));
                    let started = std::thread::Builder::new()
                        .name("tollgate-writer".into())
                        .spawn(move || {
                            let direct = match Direct::open(&thread_store) {
                                Some(Ok(direct)) => Some(direct),
                                Some(Err(error)) => {
                                    tracing::warn!(%error, "group commit: no connection of its own; the writer uses the pool's");
                                    None
                                }
                                None => None,
                            };
                            runtime.block_on(run(thread_store, rx, thread_stats, direct))
                        });
                    match started {
                        Ok(_) => return Self { jobs, stats },
                        Err(error) => {
                            tracing::warn!(%error, "group commit: no thread of its own; the writer shares the server's runtime")
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "group commit: no runtime of its own; the writer shares the server's")
                }
            }
        }
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, rx, Arc::clone(&stats), None));
        Self { jobs, stats }
    }

    /// What the writer measures of its batches (for `/metrics`).
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Runs `work` in the next batch; answers once the batch is durable.
    pub async fn submit<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: JobError,
        F: Work<T, E>,
    {
        self.send(work, None, Mode::Savepoint).await
    }

    /// Like `submit`, with `direct`: the same writes as calls on the
    /// writer's own SQLite connection, which the writer runs instead of
    /// `work` where it has one (an SQLite file).
    pub async fn submit_with_direct<T, E, F, D>(&self, work: F, direct: D) -> Result<T, E>
    where
        T: Send + 'static,
        E: JobError,
        F: Work<T, E>,
        D: FnMut(&rusqlite::Connection) -> Result<(T, Vec<Event>), E> + Send + 'static,
    {
        self.send(work, Some(Box::new(direct)), Mode::Savepoint).await
    }

    /// Like `submit`, but the writer opens no savepoint around `work`
    /// (one round trip less): `work` must leave nothing written when it
    /// fails, or fail with an error that is `broken()` (then the whole
    /// batch is dropped and answered errors, as if its commit had failed).
    pub async fn submit_atomic<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: JobError,
        F: Work<T, E>,
    {
        self.send(work, None, Mode::Atomic).await
    }

    /// Appends `events` (and nothing else) with the next batch; answers
    /// once they are durable.
    pub async fn append<E: JobError>(&self, events: Vec<Event>) -> Result<(), E> {
        // Both forms share the events; a run takes its own copy.
        let events: Arc<[Event]> = events.into();
        let direct = Arc::clone(&events);
        self.send(
            work(move |_| Box::pin(std::future::ready(Ok(((), events.to_vec()))))),
            Some(Box::new(move |_| Ok(((), direct.to_vec())))),
            Mode::EventsOnly,
        )
        .await
    }

    async fn send<T, E, F>(&self, work: F, direct: Option<DirectWork<T, E>>, mode: Mode) -> Result<T, E>
    where
        T: Send + 'static,
        E: JobError,
        F: Work<T, E>,
    {
        let (answer, answered) = oneshot::channel();
        let job = Box::new(Pending { work, direct, outcome: None, answer, tries: 0, mode, queued: Instant::now() });
        if self.jobs.send(job).await.is_err() {
            return Err(E::from_db(sqlx::Error::PoolClosed));
        }
        answered.await.unwrap_or_else(|_| Err(E::from_db(sqlx::Error::PoolClosed)))
    }
}

/// What a gathered job answers: one `Out` per request, in order, and the
/// events to append.
pub type Answers<O> = (Vec<O>, Vec<Event>);

/// Writes that many requests of one kind can share one job, run as few
/// database calls (see `Gather`).
pub trait Gathered: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Out: Send + 'static;
    type Error: JobError + Clone;
    /// Runs the writes of `items` on the writer's transaction: answers one
    /// `Out` per item, in order, and the events to append. Without a
    /// savepoint (`savepoint()` false, as `Writer::submit_atomic`), on
    /// `Err` nothing of it may be left written, unless the error is
    /// `broken()`.
    fn run<'c>(
        &'c self,
        c: &'c mut Conn,
        items: &'c [Self::Item],
    ) -> BoxFuture<'c, Result<Answers<Self::Out>, Self::Error>>;

    /// Whether the writer wraps the job in a savepoint of its own (as
    /// `Writer::submit`): then a failed run is rolled back whatever it
    /// wrote, and run again — with the same items — when its error says
    /// `retry()`.
    fn savepoint(&self) -> bool {
        false
    }

    /// Whether `run_direct` does these writes on the writer's own SQLite
    /// connection, where it has one (an SQLite file).
    fn direct(&self) -> bool {
        false
    }

    /// `run` on the writer's own SQLite connection (only asked for when
    /// `direct()`), with the same contract.
    fn run_direct(&self, _c: &rusqlite::Connection, _items: &[Self::Item]) -> Result<Answers<Self::Out>, Self::Error> {
        Err(Self::Error::from_db(sqlx::Error::Protocol("no direct form".into())))
    }
}

/// Gathers requests of one kind into one writer job. The first request
/// that finds no job scheduled submits one; every request that arrives
/// before the writer runs that job joins it, and the job takes all of them
/// when it runs. So under load a job holds what arrived while the writer
/// was busy with the batch before — many requests, one job — and with no
/// load it holds one request and costs what a job of its own would.
///
/// Each request is answered once the batch that wrote its job is durable,
/// with its own `Out` (or, if the job or its batch failed, the error).
pub struct Gather<G: Gathered> {
    inner: Arc<GatherInner<G>>,
    writer: Writer,
}

impl<G: Gathered> Clone for Gather<G> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), writer: self.writer.clone() }
    }
}

impl<G: Gathered> std::fmt::Debug for Gather<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gather").finish_non_exhaustive()
    }
}

type Answer<G> = oneshot::Sender<Result<<G as Gathered>::Out, <G as Gathered>::Error>>;

struct GatherInner<G: Gathered> {
    runner: G,
    queue: Mutex<Waiting<G>>,
}

struct Waiting<G: Gathered> {
    items: Vec<G::Item>,
    answers: Vec<Answer<G>>,
    /// A job is submitted and has not yet taken the waiting requests.
    scheduled: bool,
}

/// What one job took from the queue: kept across a re-run of the job.
struct Taken<G: Gathered> {
    items: std::sync::OnceLock<Vec<G::Item>>,
    answers: Mutex<Vec<Answer<G>>>,
}

impl<G: Gathered> Taken<G> {
    /// The requests of the job: on its first run, every one waiting (and
    /// their answers); on a re-run, the same ones.
    fn take(&self, inner: &GatherInner<G>) -> &[G::Item] {
        self.items.get_or_init(|| {
            let mut queue = locked(&inner.queue);
            queue.scheduled = false;
            *locked(&self.answers) = std::mem::take(&mut queue.answers);
            std::mem::take(&mut queue.items)
        })
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<G: Gathered> Gather<G> {
    pub fn new(writer: Writer, runner: G) -> Self {
        let queue = Mutex::new(Waiting { items: Vec::new(), answers: Vec::new(), scheduled: false });
        Self { inner: Arc::new(GatherInner { runner, queue }), writer }
    }

    /// Joins the next job; answers once its batch is durable.
    pub async fn submit(&self, item: G::Item) -> Result<G::Out, G::Error> {
        let (answer, answered) = oneshot::channel();
        let schedule = {
            let mut queue = locked(&self.inner.queue);
            queue.items.push(item);
            queue.answers.push(answer);
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            // A task of its own answers the job's requests: none of them
            // may wait for another one's (cancellable) future.
            tokio::spawn(self.clone().job());
        }
        answered.await.unwrap_or_else(|_| Err(G::Error::from_db(sqlx::Error::PoolClosed)))
    }

    async fn job(self) {
        let taken: Arc<Taken<G>> =
            Arc::new(Taken { items: std::sync::OnceLock::new(), answers: Mutex::new(Vec::new()) });
        let (inner, mine) = (Arc::clone(&self.inner), Arc::clone(&taken));
        let direct: Option<DirectWork<Vec<G::Out>, G::Error>> = self.inner.runner.direct().then(|| {
            let (inner, mine) = (Arc::clone(&self.inner), Arc::clone(&taken));
            Box::new(move |c: &rusqlite::Connection| inner.runner.run_direct(c, mine.take(&inner))) as DirectWork<_, _>
        });
        let mode = if self.inner.runner.savepoint() { Mode::Savepoint } else { Mode::Atomic };
        let ran = self
            .writer
            .send(
                work(move |c| {
                    let (inner, mine) = (Arc::clone(&inner), Arc::clone(&mine));
                    Box::pin(async move { inner.runner.run(c, mine.take(&inner)).await })
                }),
                direct,
                mode,
            )
            .await;
        let answers = if taken.items.get().is_some() {
            std::mem::take(&mut *locked(&taken.answers))
        } else {
            // The job never ran (its batch failed first): whoever waits
            // now is answered that failure.
            let mut queue = locked(&self.inner.queue);
            queue.scheduled = false;
            queue.items.clear();
            std::mem::take(&mut queue.answers)
        };
        match ran {
            Ok(outs) if outs.len() == answers.len() => {
                for (answer, out) in answers.into_iter().zip(outs) {
                    let _ = answer.send(Ok(out));
                }
            }
            Ok(outs) => {
                let why = format!("a gathered job answered {} of {} requests", outs.len(), answers.len());
                for answer in answers {
                    let _ = answer.send(Err(G::Error::from_db(sqlx::Error::Protocol(why.clone()))));
                }
            }
            Err(error) => {
                for answer in answers {
                    let _ = answer.send(Err(error.clone()));
                }
            }
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Box<dyn Job>>, stats: Arc<WriterStats>, mut direct: Option<Direct>) {
    let mut again: Vec<Box<dyn Job>> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut again);
        if batch.is_empty() {
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let began = Instant::now();
        let oldest = batch.iter().map(|job| job.queued()).min().unwrap_or(began);
        let jobs = batch.len();
        again = match &mut direct {
            Some(direct) => write_batch_direct(&store, direct, batch).await,
            None => {
                let again = match BatchTx::open(&store).await {
                    Ok(tx) => write_batch(&store, tx, batch).await,
                    Err(error) => fail_all(batch, Vec::new(), &error),
                };
                store.restart_wal_if_due().await;
                again
            }
        };
        stats.batch(jobs, began.elapsed(), began.saturating_duration_since(oldest));
    }
}

/// The transaction of a batch.
///
/// * PostgreSQL: sqlx's.
/// * SQLite: begun and committed by hand on a pooled connection, so that
///   `BEGIN IMMEDIATE` rides on the batch's first call of the writer's
///   own and `COMMIT` on its last (the audit append): every call is a
///   hand-over to the connection's thread and back, and a batch of login
///   decisions that only append events is then two calls instead of four.
///   sqlx does not know of this transaction, so it is never given sqlx's
///   transaction API; a batch that fails is rolled back here (or its
///   connection closed, which rolls it back) before the connection goes
///   back to the pool. A batch is never dropped half-way: on SQLite the
///   writer's task is the whole `block_on` of its thread and ends only
///   between batches, when its channel closes.
enum BatchTx {
    Sqlx(super::Tx),
    /// `head`: the audit chain's head, read in the call that began the
    /// transaction (`None` until it has begun). No other writer gets in
    /// before the commit and jobs append no events themselves, so the
    /// commit's append need not read it again. (A job that did would make
    /// that append collide on `seq`: the batch fails whole, never a fork.)
    Sqlite {
        conn: sqlx::pool::PoolConnection<sqlx::Any>,
        head: Option<audit::Head>,
    },
}

impl BatchTx {
    async fn open(store: &Store) -> sqlx::Result<Self> {
        match store.engine() {
            Engine::Sqlite => Ok(Self::Sqlite { conn: store.pool().acquire().await?, head: None }),
            Engine::Postgres => Ok(Self::Sqlx(store.begin().await?)),
        }
    }

    fn conn(&mut self) -> &mut Conn {
        match self {
            Self::Sqlx(tx) => tx,
            Self::Sqlite { conn, .. } => conn,
        }
    }

    /// Opens the savepoint of the next job; on SQLite, if the transaction
    /// has not begun, `BEGIN IMMEDIATE` and the chain head's read first in
    /// the same call.
    async fn savepoint(&mut self) -> sqlx::Result<()> {
        match self {
            Self::Sqlite { conn, head } if head.is_none() => {
                *head = Some(begin_reading_head(conn, true).await?);
                Ok(())
            }
            _ => raw(self.conn(), "SAVEPOINT job").await,
        }
    }

    /// SQLite: begins now, before a job that makes its own calls.
    async fn begin_now(&mut self) -> sqlx::Result<()> {
        if let Self::Sqlite { conn, head } = self {
            if head.is_none() {
                *head = Some(begin_reading_head(conn, false).await?);
            }
        }
        Ok(())
    }

    /// Appends the batch's events and commits; a batch that cannot be
    /// committed is undone (`abort`). `open`: the savepoint `job` is still
    /// open (released first).
    async fn commit(mut self, engine: Engine, open: bool, events: &[Event]) -> sqlx::Result<()> {
        let rows = || events.iter().map(|e| (e.at_ms, e.as_new())).collect::<Vec<_>>();
        let done = match &mut self {
            Self::Sqlx(tx) => {
                async {
                    if open {
                        raw(tx, "RELEASE SAVEPOINT job").await?;
                    }
                    if engine == Engine::Postgres {
                        sqlx::query("SET LOCAL lock_timeout TO DEFAULT").execute(&mut **tx).await?;
                    }
                    if !events.is_empty() {
                        audit::append_batch(tx, engine, rows()).await?;
                    }
                    Ok(())
                }
                .await
            }
            Self::Sqlite { conn, head } => {
                let begun = head.is_some();
                let before = match (begun, open) {
                    (false, _) if events.is_empty() => return Ok(()), // nothing was written
                    (false, _) => "BEGIN IMMEDIATE; ",
                    (true, true) => "RELEASE SAVEPOINT job; ",
                    (true, false) => "",
                };
                if events.is_empty() {
                    raw(conn, if open { "RELEASE SAVEPOINT job; COMMIT" } else { "COMMIT" }).await
                } else {
                    audit::append_batch_framed(conn, engine, rows(), before, true, head.take()).await.map(drop)
                }
            }
        };
        match (done, self) {
            (Ok(()), Self::Sqlx(tx)) => tx.commit().await,
            (Ok(()), Self::Sqlite { .. }) => Ok(()),
            (Err(error), tx) => {
                tx.abort().await;
                Err(error)
            }
        }
    }

    /// Undoes a batch that cannot be completed.
    async fn abort(self) {
        match self {
            // sqlx rolls its transaction back when it is dropped.
            Self::Sqlx(tx) => drop(tx),
            Self::Sqlite { mut conn, .. } => {
                // After a failed call the transaction may or may not be
                // open (a failed COMMIT leaves it open, a failed BEGIN
                // never opened it): ROLLBACK, and if that fails for
                // another reason, close the connection (SQLite rolls back
                // what a closed connection left open).
                if let Err(error) = raw(&mut conn, "ROLLBACK").await {
                    if !error.to_string().contains("no transaction is active") {
                        tracing::warn!(%error, "group commit: closing the connection of a failed batch");
                        let _ = conn.close().await;
                    }
                }
            }
        }
    }
}

/// SQLite: `BEGIN IMMEDIATE`, the audit chain's head (`audit::HEAD`),
/// then with `savepoint` the first job's `SAVEPOINT job`, in one call.
async fn begin_reading_head(conn: &mut Conn, savepoint: bool) -> sqlx::Result<audit::Head> {
    let sql = if savepoint {
        concat!("BEGIN IMMEDIATE; ", audit::head_sql!(), "; SAVEPOINT job")
    } else {
        concat!("BEGIN IMMEDIATE; ", audit::head_sql!())
    };
    // `fetch_all`: every statement runs, and the head is the one row.
    let rows: Vec<audit::Head> = sqlx::query_as(sql).fetch_all(conn).await?;
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// SQLite file: writes one batch, its jobs with a direct form on the
/// writer's own connection (`write_direct`) and the others after them on
/// the pool's (`write_batch`), each part a transaction of its own; and
/// starts the WAL over if that is due (`Store::restart_wal_if_due`).
/// Throughout, the writer holds the pool's one connection, SQLite's other
/// writer, so that no other write transaction runs meanwhile: the two
/// connections never meet `SQLITE_BUSY`, and nothing commits between the
/// restart's checkpoint and the next write. Returns the jobs to run again.
async fn write_batch_direct(store: &Store, direct: &mut Direct, batch: Vec<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    let pooled = match store.pool().acquire().await {
        Ok(conn) => conn,
        Err(error) => return fail_all(batch, Vec::new(), &error),
    };
    let (mine, others): (Vec<_>, Vec<_>) = batch.into_iter().partition(|job| job.has_direct());
    direct.follow_backstop(store.wal_backstop_pages());
    let mut again = write_direct(direct, mine);
    if store.take_restart_due() {
        let began = Instant::now();
        store.restart_checkpointed(began, direct.checkpoint().map_err(|e| e.to_string()));
    }
    if !others.is_empty() {
        again.extend(write_batch(store, BatchTx::Sqlite { conn: pooled, head: None }, others).await);
    }
    again
}

/// Writes jobs in one transaction of the writer's own SQLite connection,
/// with the semantics of `write_batch`. Returns the jobs to run again.
fn write_direct(direct: &Direct, batch: Vec<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    if batch.is_empty() {
        return Vec::new();
    }
    let c = direct.conn();
    let head = match direct.begin_reading_head() {
        Ok(head) => head,
        Err(error) => {
            direct.rollback();
            return fail_all(batch, Vec::new(), &error);
        }
    };
    let mut kept: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut failed: Vec<Box<dyn Job>> = Vec::new();
    let mut again: Vec<Box<dyn Job>> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut jobs = batch.into_iter();
    while let Some(mut job) = jobs.next() {
        let step = run_direct(direct, job.as_mut());
        // A failure that made SQLite end the transaction (a full disk, an
        // I/O error) leaves nothing of the batch to commit.
        let ended = c.is_autocommit();
        match step {
            Ok(Ok(mine)) if !ended => {
                events.extend(mine);
                kept.push(job);
            }
            Ok(Err(Failed::Retry)) if !ended && job.may_retry() => again.push(job),
            Ok(Err(Failed::Final | Failed::Retry)) if !ended => failed.push(job),
            Ok(_) => {
                direct.rollback();
                kept.push(job);
                kept.extend(jobs);
                kept.extend(again);
                return fail_all(kept, failed, &"a job could not undo its writes");
            }
            Err(error) => {
                direct.rollback();
                kept.push(job);
                kept.extend(jobs);
                kept.extend(again);
                return fail_all(kept, failed, &error);
            }
        }
    }
    match direct.commit_appending(head, &events) {
        Ok(()) => {
            for job in kept.into_iter().chain(failed) {
                job.finish(Ok(()));
            }
            again
        }
        Err(error) => {
            direct.rollback();
            kept.extend(again);
            fail_all(kept, failed, &error)
        }
    }
}

/// Runs one job on the writer's own connection, in a savepoint if its
/// mode wants one (rolled back if it fails). `Err`: the savepoint's own
/// statements failed.
fn run_direct(direct: &Direct, job: &mut dyn Job) -> rusqlite::Result<Result<Vec<Event>, Failed>> {
    if job.mode() != Mode::Savepoint {
        return Ok(job.run_direct(direct.conn()));
    }
    direct.exec("SAVEPOINT job")?;
    let ran = job.run_direct(direct.conn());
    if ran.is_err() {
        direct.exec("ROLLBACK TO SAVEPOINT job")?;
    }
    direct.exec("RELEASE SAVEPOINT job")?;
    Ok(ran)
}

/// Writes one batch in `tx`; returns the jobs to run again.
async fn write_batch(store: &Store, mut tx: BatchTx, batch: Vec<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    // PostgreSQL: a job that waits long for a row another instance's batch
    // holds is rolled back and retried, rather than left to wait for that
    // whole batch — or for the deadlock detector (1 s) when both batches
    // wait for each other. The chain's head, taken last, is waited for.
    let postgres = store.engine() == Engine::Postgres;
    if postgres {
        if let Err(error) = sqlx::query(JOB_LOCK_TIMEOUT).execute(tx.conn()).await {
            tx.abort().await;
            return fail_all(batch, Vec::new(), &error);
        }
    }
    let mut kept: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut failed: Vec<Box<dyn Job>> = Vec::new();
    let mut again: Vec<Box<dyn Job>> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    // Whether the savepoint `job` is open and holds nothing yet: ending one
    // job's savepoint and opening the next one's is one round trip to the
    // database (SQLite: one hand-over to the connection's thread) instead
    // of two.
    let mut open = false;
    let mut jobs = batch.into_iter();
    while let Some(mut job) = jobs.next() {
        // Open the next job's savepoint with this one's end only if the
        // next job wants one: a job run without a savepoint must not write
        // inside another job's (a rollback of that one would undo it).
        let more = jobs.as_slice().first().is_some_and(|next| next.mode() == Mode::Savepoint);
        let step = async {
            match job.mode() {
                Mode::EventsOnly => return Ok(job.run(tx.conn()).await),
                Mode::Atomic => {
                    tx.begin_now().await?;
                    return Ok(job.run(tx.conn()).await);
                }
                Mode::Savepoint => {}
            }
            if !open {
                tx.savepoint().await?;
                open = true;
            }
            let ran = job.run(tx.conn()).await;
            let end = match (&ran, more) {
                (Ok(_), true) => "RELEASE SAVEPOINT job; SAVEPOINT job",
                (Ok(_), false) => "RELEASE SAVEPOINT job",
                (Err(_), true) => "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; SAVEPOINT job",
                (Err(_), false) => "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job",
            };
            open = false;
            raw(tx.conn(), end).await?;
            open = more;
            Ok::<_, sqlx::Error>(ran)
        };
        match step.await {
            Ok(Ok(mine)) => {
                events.extend(mine);
                kept.push(job);
            }
            Ok(Err(Failed::Retry)) if job.may_retry() => again.push(job),
            Ok(Err(Failed::Broken)) => {
                tx.abort().await;
                kept.push(job);
                kept.extend(jobs);
                kept.extend(again);
                let error = sqlx::Error::Protocol("a job could not undo its writes".into());
                return fail_all(kept, failed, &error);
            }
            Ok(Err(_)) => failed.push(job),
            Err(error) => {
                // The transaction is unusable: nothing of it is written.
                tx.abort().await;
                kept.push(job);
                kept.extend(jobs);
                kept.extend(again);
                return fail_all(kept, failed, &error);
            }
        }
    }
    match tx.commit(store.engine(), open, &events).await {
        Ok(()) => {
            for job in kept.into_iter().chain(failed) {
                job.finish(Ok(()));
            }
            again
        }
        Err(error) => {
            kept.extend(again);
            fail_all(kept, failed, &error)
        }
    }
}

/// Answers every job of a lost batch; returns no job to retry.
fn fail_all(lost: Vec<Box<dyn Job>>, failed: Vec<Box<dyn Job>>, error: &dyn std::fmt::Display) -> Vec<Box<dyn Job>> {
    tracing::error!(%error, jobs = lost.len() + failed.len(), "group commit: the batch was not written");
    let why = format!("group commit failed: {error}");
    for job in lost.into_iter().chain(failed) {
        job.finish(Err(why.clone()));
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tokens;

    #[derive(Debug, Clone, PartialEq)]
    enum TestError {
        Refused,
        Db(String),
    }

    impl JobError for TestError {
        fn retry(&self) -> bool {
            false
        }
        fn from_db(error: sqlx::Error) -> Self {
            Self::Db(error.to_string())
        }
    }

    fn event(i: usize) -> Event {
        Event {
            at_ms: 1_000 + i as i64,
            actor_kind: ActorKind::System,
            actor_id: "test".into(),
            action: "test.job".into(),
            contract_id: None,
            user_id: Some(format!("u-{i}")),
            ip: None,
            detail: serde_json::json!({ "i": i }),
        }
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("w.db").display()), 0).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    /// Job `i` stores setting `k-i` and one event; every 3rd job then
    /// refuses (its writes must vanish), every 7th (not 3rd) violates a
    /// constraint after writing (likewise), the rest succeed.
    async fn job(writer: Writer, i: usize) -> Result<usize, TestError> {
        writer
            .submit(work(move |c| {
                Box::pin(async move {
                    tokens::init_setting(c, &format!("k-{i}"), "v").await.map_err(TestError::from_db)?;
                    if i.is_multiple_of(3) {
                        return Err(TestError::Refused);
                    }
                    if i.is_multiple_of(7) {
                        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, 'again')")
                            .bind(format!("k-{i}"))
                            .execute(&mut *c)
                            .await
                            .map_err(TestError::from_db)?;
                    }
                    Ok((i, vec![event(i)]))
                })
            }))
            .await
    }

    #[tokio::test]
    async fn concurrent_jobs_commit_together_and_failures_are_rolled_back_alone() {
        jobs_commit_together_and_failures_are_rolled_back_alone(|_| false).await;
    }

    /// Direct jobs and pooled ones, submitted at once: each batch writes
    /// its direct jobs on the writer's own connection and the others on
    /// the pool's, each part a transaction, with the same semantics.
    #[tokio::test]
    async fn direct_and_pooled_jobs_commit_and_fail_alike() {
        jobs_commit_together_and_failures_are_rolled_back_alone(|i| i % 2 == 1).await;
    }

    /// 600 jobs at once (`direct_job` where `direct(i)`, else `job`): a
    /// failed job (refused, or a constraint error) is rolled back alone;
    /// every success is stored and chained, in one chain.
    async fn jobs_commit_together_and_failures_are_rolled_back_alone(direct: fn(usize) -> bool) {
        let (_dir, store) = store().await;
        let writer = Writer::start(store.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=600 {
            let writer = writer.clone();
            tasks.spawn(async move {
                let result = if direct(i) { direct_job(writer, i).await } else { job(writer, i).await };
                (i, result)
            });
        }
        let mut ok = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (i, result) = done.unwrap();
            match result {
                Ok(n) => {
                    assert_eq!(n, i);
                    assert!(i % 3 != 0 && i % 7 != 0, "job {i} should have failed");
                    ok.push(i);
                }
                Err(TestError::Refused) => assert_eq!(i % 3, 0, "job {i}"),
                Err(TestError::Db(e)) => assert!(i % 7 == 0 && i % 3 != 0 && e.contains("UNIQUE"), "job {i}: {e}"),
            }
        }
        ok.sort_unstable();
        let expected: Vec<usize> = (1..=600).filter(|i| i % 3 != 0 && i % 7 != 0).collect();
        assert_eq!(ok, expected);

        let mut c = store.pool().acquire().await.unwrap();
        // Exactly the successful jobs' writes and events are there.
        let keys: Vec<(String,)> =
            sqlx::query_as("SELECT key FROM settings WHERE key LIKE 'k-%'").fetch_all(&mut *c).await.unwrap();
        let mut keys: Vec<usize> = keys.iter().map(|(k,)| k[2..].parse().unwrap()).collect();
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let users: Vec<(String,)> = sqlx::query_as("SELECT user_id FROM audit_events WHERE action = 'test.job'")
            .fetch_all(&mut *c)
            .await
            .unwrap();
        let mut users: Vec<usize> = users.iter().map(|(u,)| u[2..].parse().unwrap()).collect();
        users.sort_unstable();
        assert_eq!(users, expected);
        drop(c);
        // One unbroken chain whose head is the last event.
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!(checked, u64::try_from(expected.len()).unwrap());
        assert_eq!(seq, i64::try_from(expected.len()).unwrap());
        store.close().await;
    }

    /// SQLite reads the chain's head when the batch begins, so a job that
    /// appended an event itself (instead of returning it) would leave that
    /// head stale: the batch's append then collides on `seq` and the whole
    /// batch fails, never a fork. The next batch reads the head again.
    #[tokio::test]
    async fn a_job_that_appends_itself_fails_its_batch_and_the_chain_stays_one() {
        let (_dir, store) = store().await;
        let writer = Writer::start(store.clone());
        let rogue = writer
            .submit(work(|c| {
                Box::pin(async move {
                    let own = event(1);
                    super::audit::append(c, Engine::Sqlite, own.at_ms, own.as_new())
                        .await
                        .map_err(TestError::from_db)?;
                    Ok((1, vec![event(2)]))
                })
            }))
            .await;
        assert!(matches!(&rogue, Err(TestError::Db(e)) if e.contains("UNIQUE")), "{rogue:?}");
        assert_eq!(job(writer.clone(), 4).await.unwrap(), 4);
        let users: Vec<(String,)> =
            sqlx::query_as("SELECT user_id FROM audit_events ORDER BY seq").fetch_all(store.pool()).await.unwrap();
        assert_eq!(users, vec![("u-4".to_owned(),)]);
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!((seq, checked), (1, 1));
        store.close().await;
    }

    /// The database refuses audit events whose actor is `poison`: the
    /// batch's audit append fails, after every job of the batch has run.
    async fn poison_events_of_actor_poison(store: &Store) {
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON audit_events WHEN NEW.actor_id = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_batch_that_cannot_be_written_answers_errors_and_writes_nothing_of_it() {
        let (_dir, store) = store().await;
        // An event the database refuses fails the batch's audit append,
        // after every job of the batch has run.
        poison_events_of_actor_poison(&store).await;
        let writer = Writer::start(store.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=200 {
            let writer = writer.clone();
            tasks.spawn(async move {
                let result: Result<usize, TestError> = writer
                    .submit(work(move |c| {
                        Box::pin(async move {
                            tokens::init_setting(c, &format!("k-{i}"), "v").await.map_err(TestError::from_db)?;
                            let mut e = event(i);
                            if i % 50 == 0 {
                                e.actor_id = "poison".into();
                            }
                            Ok((i, vec![e]))
                        })
                    }))
                    .await;
                (i, result)
            });
        }
        let mut ok = Vec::new();
        let mut lost = 0;
        while let Some(done) = tasks.join_next().await {
            match done.unwrap() {
                (i, Ok(n)) => {
                    assert_eq!(i, n);
                    assert_ne!(i % 50, 0, "a poisoned job cannot succeed");
                    ok.push(i);
                }
                (_, Err(TestError::Db(e))) => {
                    assert!(e.contains("group commit failed"), "{e}");
                    lost += 1;
                }
                (i, Err(e)) => panic!("job {i}: {e:?}"),
            }
        }
        assert!(lost >= 4, "the 4 poisoned jobs at least");
        ok.sort_unstable();
        // What was answered success is there, and nothing else.
        let keys: Vec<(String,)> =
            sqlx::query_as("SELECT key FROM settings WHERE key LIKE 'k-%'").fetch_all(store.pool()).await.unwrap();
        let mut keys: Vec<usize> = keys.iter().map(|(k,)| k[2..].parse().unwrap()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ok);
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!((seq, checked), (i64::try_from(ok.len()).unwrap(), u64::try_from(ok.len()).unwrap()));
        // The writer goes on.
        assert_eq!(job(writer.clone(), 1_003).await, Ok(1_003));
        store.close().await;
    }

    /// Batches of login decisions that only bring events (`append`) are
    /// begun and committed in the calls of the audit append; one whose
    /// append fails is rolled back whole, and the connection goes back to
    /// the pool clean (no transaction left open on it).
    #[tokio::test]
    async fn event_only_batches_commit_with_their_append_and_a_failed_one_leaves_nothing_open() {
        let (_dir, store) = store().await;
        poison_events_of_actor_poison(&store).await;
        let writer = Writer::start(store.clone());
        let poison = |i: usize| Event { actor_id: "poison".into(), ..event(i) };
        // A batch of one poisoned event: begun and failed in one call.
        match writer.append::<TestError>(vec![poison(0)]).await {
            Err(TestError::Db(e)) => assert!(e.contains("group commit failed"), "{e}"),
            other => panic!("{other:?}"),
        }
        // No transaction was left open on the (single) connection: sqlx's
        // own transaction begins and commits on it.
        let mut tx = store.begin().await.unwrap();
        tokens::init_setting(&mut tx, "after", "v").await.unwrap();
        tx.commit().await.unwrap();
        // Many at once, in batches however they fall: whatever was answered
        // success is stored, and nothing else.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=300 {
            let writer = writer.clone();
            tasks.spawn(async move {
                let e = if i % 100 == 0 { poison(i) } else { event(i) };
                (i, writer.append::<TestError>(vec![e]).await)
            });
        }
        let mut ok = Vec::new();
        for (i, done) in tasks.join_all().await {
            match done {
                Ok(()) => ok.push(i),
                Err(TestError::Db(e)) => assert!(e.contains("group commit failed"), "{e}"),
                Err(e) => panic!("event {i}: {e:?}"),
            }
        }
        assert!(ok.iter().all(|i| i % 100 != 0));
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!((seq, checked), (i64::try_from(ok.len()).unwrap(), u64::try_from(ok.len()).unwrap()));
        let stored: Vec<(String,)> =
            sqlx::query_as("SELECT user_id FROM audit_events ORDER BY seq").fetch_all(store.pool()).await.unwrap();
        let mut stored: Vec<usize> = stored.iter().map(|(u,)| u[2..].parse().unwrap()).collect();
        stored.sort_unstable();
        ok.sort_unstable();
        assert_eq!(stored, ok, "what was answered success is there, and nothing else");
        // And the writer goes on, an event-only batch and a job.
        writer.append::<TestError>(vec![event(1_001)]).await.unwrap();
        assert_eq!(job(writer.clone(), 1_003).await, Ok(1_003));
        store.close().await;
    }

    #[derive(Debug, Clone, PartialEq)]
    enum AtomicError {
        Clean,
        Broken,
    }

    impl JobError for AtomicError {
        fn retry(&self) -> bool {
            false
        }
        fn from_db(_: sqlx::Error) -> Self {
            Self::Clean
        }
        fn broken(&self) -> bool {
            *self == Self::Broken
        }
    }

    /// An atomic job (no writer savepoint) that writes `k-i`, then fails
    /// cleanly (undoing it), fails leaving it written (`Broken`), or
    /// succeeds.
    async fn atomic_job(writer: Writer, i: usize, how: Option<AtomicError>) -> Result<usize, AtomicError> {
        writer
            .submit_atomic(work(move |c| {
                let how = match &how {
                    None => None,
                    Some(AtomicError::Clean) => Some(AtomicError::Clean),
                    Some(AtomicError::Broken) => Some(AtomicError::Broken),
                };
                Box::pin(async move {
                    super::raw(c, "SAVEPOINT mine").await.map_err(AtomicError::from_db)?;
                    tokens::init_setting(c, &format!("k-{i}"), "v").await.map_err(AtomicError::from_db)?;
                    match how {
                        None => {
                            super::raw(c, "RELEASE SAVEPOINT mine").await.map_err(AtomicError::from_db)?;
                            Ok((i, vec![event(i)]))
                        }
                        Some(AtomicError::Clean) => {
                            super::raw(c, "ROLLBACK TO SAVEPOINT mine; RELEASE SAVEPOINT mine")
                                .await
                                .map_err(AtomicError::from_db)?;
                            Err(AtomicError::Clean)
                        }
                        Some(AtomicError::Broken) => {
                            super::raw(c, "RELEASE SAVEPOINT mine").await.map_err(AtomicError::from_db)?;
                            Err(AtomicError::Broken)
                        }
                    }
                })
            }))
            .await
    }

    async fn keys(store: &Store) -> Vec<usize> {
        let keys: Vec<(String,)> =
            sqlx::query_as("SELECT key FROM settings WHERE key LIKE 'k-%'").fetch_all(store.pool()).await.unwrap();
        let mut keys: Vec<usize> = keys.iter().map(|(k,)| k[2..].parse().unwrap()).collect();
        keys.sort_unstable();
        keys
    }

    /// Atomic jobs run between savepoint jobs: a savepoint job's rollback
    /// never takes an atomic job's writes with it, a clean failure leaves
    /// nothing, and all of them are chained.
    #[tokio::test]
    async fn atomic_jobs_mix_with_savepoint_jobs() {
        let (_dir, store) = store().await;
        let writer = Writer::start(store.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=400 {
            let writer = writer.clone();
            tasks.spawn(async move {
                let ok = if i % 2 == 0 {
                    let how = (i % 10 == 0).then_some(AtomicError::Clean);
                    atomic_job(writer, i, how).await.is_ok()
                } else {
                    job(writer, i).await.is_ok()
                };
                (i, ok)
            });
        }
        let mut ok: Vec<usize> = tasks.join_all().await.into_iter().filter(|(_, ok)| *ok).map(|(i, _)| i).collect();
        ok.sort_unstable();
        let expected: Vec<usize> =
            (1..=400).filter(|i| if i % 2 == 0 { i % 10 != 0 } else { i % 3 != 0 && i % 7 != 0 }).collect();
        assert_eq!(ok, expected);
        assert_eq!(keys(&store).await, expected);
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!((seq, checked), (i64::try_from(expected.len()).unwrap(), u64::try_from(expected.len()).unwrap()));
        store.close().await;
    }

    /// An atomic job that cannot undo its writes drops its whole batch:
    /// nothing of it is stored, every job in it is answered an error.
    #[tokio::test]
    async fn a_broken_atomic_job_drops_its_batch() {
        let (_dir, store) = store().await;
        let writer = Writer::start(store.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=200 {
            let writer = writer.clone();
            tasks.spawn(async move {
                let how = (i == 100).then_some(AtomicError::Broken);
                (i, atomic_job(writer, i, how).await)
            });
        }
        let mut ok = Vec::new();
        for (i, result) in tasks.join_all().await {
            match result {
                Ok(n) => {
                    assert_eq!(n, i);
                    ok.push(i);
                }
                Err(e) => assert!(i == 100 || e == AtomicError::Clean, "job {i}: {e:?}"),
            }
        }
        ok.sort_unstable();
        assert!(!ok.contains(&100));
        // Only what was answered success is stored: job 100's key too is gone.
        assert_eq!(keys(&store).await, ok);
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!((seq, checked), (i64::try_from(ok.len()).unwrap(), u64::try_from(ok.len()).unwrap()));
        assert_eq!(atomic_job(writer, 1_001, None).await, Ok(1_001));
        store.close().await;
    }

    /// `job`'s writes as a direct job (`Writer::submit_with_direct`): on an
    /// SQLite file the writer must run the direct form; its pooled form
    /// answers an error the tests would see.
    async fn direct_job(writer: Writer, i: usize) -> Result<usize, TestError> {
        let db = |e: rusqlite::Error| TestError::Db(e.to_string());
        writer
            .submit_with_direct(
                work(|_| Box::pin(async { Err(TestError::Db("the pooled form ran".into())) })),
                move |c: &rusqlite::Connection| {
                    c.execute("INSERT INTO settings (key, value) VALUES (?1, 'v')", [format!("k-{i}")]).map_err(db)?;
                    if i.is_multiple_of(3) {
                        return Err(TestError::Refused);
                    }
                    if i.is_multiple_of(7) {
                        c.execute("INSERT INTO settings (key, value) VALUES (?1, 'again')", [format!("k-{i}")])
                            .map_err(db)?;
                    }
                    Ok((i, vec![event(i)]))
                },
            )
            .await
    }

    /// A direct job that writes `k-i`, then per `how`: succeeds
    /// (`None`), fails leaving its writes (`Broken`), or ends the
    /// transaction as SQLite does on a full disk and still answers success
    /// (`Clean`).
    async fn direct_atomic_job(writer: Writer, i: usize, how: Option<AtomicError>) -> Result<usize, AtomicError> {
        writer
            .submit_with_direct(
                work(|_| Box::pin(async { Err(AtomicError::Clean) })),
                move |c: &rusqlite::Connection| {
                    c.execute("INSERT INTO settings (key, value) VALUES (?1, 'v')", [format!("k-{i}")])
                        .map_err(|_| AtomicError::Clean)?;
                    match how {
                        None => {}
                        Some(AtomicError::Broken) => return Err(AtomicError::Broken),
                        Some(AtomicError::Clean) => c.execute_batch("ROLLBACK").map_err(|_| AtomicError::Clean)?,
                    }
                    if i.is_multiple_of(100) {
                        // Holds the writer while the next batch queues.
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                    Ok((i, vec![event(i)]))
                },
            )
            .await
    }

    /// Gathered direct jobs (run without a savepoint) that write `k-i`
    /// for each item; item 1 then ends the transaction, as SQLite does on a
    /// full disk, and the job still answers success.
    struct EndsTransaction;

    impl Gathered for EndsTransaction {
        type Item = usize;
        type Out = usize;
        type Error = AtomicError;

        fn run<'c>(&'c self, _: &'c mut Conn, _: &'c [usize]) -> BoxFuture<'c, Result<Answers<usize>, AtomicError>> {
            Box::pin(async { Err(AtomicError::Clean) })
        }

        fn direct(&self) -> bool {
            true
        }

        fn run_direct(&self, c: &rusqlite::Connection, items: &[usize]) -> Result<Answers<usize>, AtomicError> {
            for i in items {
                c.execute("INSERT INTO settings (key, value) VALUES (?1, 'v')", [format!("k-{i}")])
                    .map_err(|_| AtomicError::Clean)?;
                if *i == 1 {
                    c.execute_batch("ROLLBACK").map_err(|_| AtomicError::Clean)?;
                }
            }
            Ok((items.to_vec(), items.iter().map(|i| event(*i)).collect()))
        }
    }

    /// A direct job that cannot undo its writes, or one after which SQLite
    /// has ended the transaction, drops its batch: every job of it is
    /// answered an error and nothing of it is stored — the jobs after the
    /// one that ended the transaction do not write outside it — and the
    /// writer goes on.
    #[tokio::test]
    async fn a_broken_direct_job_drops_its_batch() {
        let (_dir, store) = store().await;
        let writer = Writer::start(store.clone());
        let ends = Gather::new(writer.clone(), EndsTransaction);
        for round in 0..2 {
            let base = 100 * round;
            let first = tokio::spawn(direct_atomic_job(writer.clone(), base, None));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            // Queued in this order while the writer holds the first job:
            // one batch, the failing job first.
            let failing: BoxFuture<'_, Result<usize, AtomicError>> = if round == 0 {
                Box::pin(direct_atomic_job(writer.clone(), base + 1, Some(AtomicError::Broken)))
            } else {
                Box::pin(ends.submit(1))
            };
            let mut jobs = vec![failing];
            jobs.extend((2..=10).map(|i| {
                Box::pin(direct_atomic_job(writer.clone(), base + i, None)) as BoxFuture<'_, Result<usize, AtomicError>>
            }));
            let answers = futures_util::future::join_all(jobs).await;
            assert_eq!(first.await.unwrap(), Ok(base));
            assert!(answers.iter().all(Result::is_err), "round {round}: {answers:?}");
            let firsts: Vec<usize> = (0..=round).map(|r| 100 * r).collect();
            assert_eq!(keys(&store).await, firsts, "round {round}");
            let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
            assert_eq!((seq, checked), (round as i64 + 1, round as u64 + 1));
        }
        assert_eq!(direct_job(writer, 1_003).await, Ok(1_003));
        store.close().await;
    }

    /// Writes `k-i` for each gathered `i` and answers `2 i`; a group that
    /// holds `poison` is refused whole (its writes undone).
    struct Doubler {
        runs: std::sync::atomic::AtomicUsize,
        largest: std::sync::atomic::AtomicUsize,
        poison: usize,
    }

    impl Gathered for Doubler {
        type Item = usize;
        type Out = usize;
        type Error = TestError;

        fn run<'c>(&'c self, c: &'c mut Conn, items: &'c [usize]) -> BoxFuture<'c, Result<Answers<usize>, TestError>> {
            use std::sync::atomic::Ordering::SeqCst;
            self.runs.fetch_add(1, SeqCst);
            self.largest.fetch_max(items.len(), SeqCst);
            Box::pin(async move {
                super::raw(c, "SAVEPOINT mine").await.map_err(TestError::from_db)?;
                for i in items {
                    tokens::init_setting(c, &format!("k-{i}"), "v").await.map_err(TestError::from_db)?;
                }
                if items.contains(&self.poison) {
                    super::raw(c, "ROLLBACK TO SAVEPOINT mine; RELEASE SAVEPOINT mine")
                        .await
                        .map_err(TestError::from_db)?;
                    return Err(TestError::Refused);
                }
                super::raw(c, "RELEASE SAVEPOINT mine").await.map_err(TestError::from_db)?;
                Ok((items.iter().map(|i| 2 * i).collect(), items.iter().map(|i| event(*i)).collect()))
            })
        }
    }

    /// Requests that arrive together share jobs; each gets its own answer;
    /// a refused job answers its error to each of its requests and leaves
    /// nothing of theirs; the rest is written and chained.
    #[tokio::test]
    async fn gathered_requests_share_jobs_and_get_their_own_answers() {
        use std::sync::atomic::Ordering::SeqCst;
        let (_dir, store) = store().await;
        let doubler = Doubler { runs: 0.into(), largest: 0.into(), poison: 137 };
        let gather = Gather::new(Writer::start(store.clone()), doubler);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=300 {
            let gather = gather.clone();
            tasks.spawn(async move { (i, gather.submit(i).await) });
        }
        let (mut ok, mut refused) = (Vec::new(), Vec::new());
        for (i, answer) in tasks.join_all().await {
            match answer {
                Ok(out) => {
                    assert_eq!(out, 2 * i);
                    ok.push(i);
                }
                Err(TestError::Refused) => refused.push(i),
                Err(e) => panic!("request {i}: {e:?}"),
            }
        }
        assert!(refused.contains(&137), "{refused:?}");
        assert_eq!(ok.len() + refused.len(), 300);
        let runs = gather.inner.runner.runs.load(SeqCst);
        let largest = gather.inner.runner.largest.load(SeqCst);
        assert!(runs < 300 && largest > 1, "{runs} jobs for 300 requests, the largest of {largest}");
        ok.sort_unstable();
        assert_eq!(keys(&store).await, ok);
        let (seq, _, checked) = crate::cli::verify_chain(&store).await.unwrap().unwrap();
        assert_eq!((seq, checked), (i64::try_from(ok.len()).unwrap(), u64::try_from(ok.len()).unwrap()));
        // Alone, a request is a job of its own.
        assert_eq!(gather.submit(1_000).await, Ok(2_000));
        assert_eq!(gather.inner.runner.runs.load(SeqCst), runs + 1);
        store.close().await;
    }

    /// A steady stream of commits (the writer never idle) must not grow
    /// the WAL without end: the writer starts it over between batches once
    /// a background checkpoint has found it past `WAL_RESTART_PAGES`.
    /// Here 128 MiB go through the WAL; without the restart the file ends
    /// at least that big.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_commits_keeps_the_wal_bounded() {
        let largest = wal_under_a_steady_stream(true, |client| client % 2 == 0).await;
        assert!(largest < 64 << 20, "the WAL grew to {} MiB", largest >> 20);
    }

    /// A WAL restart asked of the writer runs between two batches, once,
    /// and is timed for `/metrics`. The background task is stopped, so
    /// that nothing else checkpoints; should its last checkpoint still be
    /// running, SQLite answers the writer's busy, and the writer asks
    /// again after its next batch (uncounted).
    #[tokio::test]
    async fn a_wal_restart_runs_once_between_batches_and_is_timed() {
        let (_dir, store) = store().await;
        store.stop_background_checkpoints();
        let stats = store.sqlite_stats().expect("an SQLite file's store has its WAL's measurements");
        let writer = Writer::start(store.clone());
        let set = |key: String| {
            writer.submit_with_direct(
                work(|_| Box::pin(async { Err::<((), Vec<Event>), _>(TestError::Db("pooled".into())) })),
                move |c: &rusqlite::Connection| {
                    c.execute("INSERT INTO settings (key, value) VALUES (?1, 'v')", [&key])
                        .map_err(|e| TestError::Db(e.to_string()))?;
                    Ok(((), Vec::new()))
                },
            )
        };
        set("r-first".into()).await.unwrap();
        let before = stats.wal_restarts();
        store.ask_wal_restart();
        let mut batches = 0;
        while stats.wal_restarts() == before {
            // The writer is one thread: once a batch is answered, the
            // restart after the batch before it has run.
            set(format!("r-{batches}")).await.unwrap();
            batches += 1;
            assert!(batches < 100, "the restart never ran");
        }
        for i in 0..3 {
            set(format!("r-after-{i}")).await.unwrap();
        }
        assert_eq!(stats.wal_restarts(), before + 1, "one restart asked, one run");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM settings WHERE key LIKE 'r-%'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 1 + batches + 3);
        store.close().await;
    }

    /// The same stream with the background checkpoints stopped (a task
    /// that gets no CPU): the writer's backstop, SQLite's own checkpoint
    /// at twice the restart size (8 MiB here), still bounds the WAL. A
    /// batch holds at most 2 MiB of these rows. Without the backstop the
    /// WAL takes all 128 MiB. Each of SQLite's two writing connections
    /// carries it: once with every job direct (the writer's own
    /// connection), once with every job pooled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_its_background_checkpoints_the_wal_stays_bounded_by_the_writers_backstop() {
        for (jobs, direct) in [("direct", (|_| true) as fn(usize) -> bool), ("pooled", |_| false)] {
            let largest = wal_under_a_steady_stream(false, direct).await;
            assert!(largest < 16 << 20, "{jobs} jobs: the WAL grew to {} MiB", largest >> 20);
        }
    }

    /// 8 clients write 1,024 jobs of 16 KiB each through the writer (the
    /// clients for which `direct` holds on the writer's own connection,
    /// the others on the pool's), with a restart size of 4 MiB; answers
    /// the largest size the WAL file was seen at.
    async fn wal_under_a_steady_stream(background: bool, direct: fn(usize) -> bool) -> u64 {
        let (dir, store) = store().await;
        // 4 MiB instead of 256: the same mechanism, with less to write.
        store.set_wal_restart_pages(1024).await;
        if !background {
            store.stop_background_checkpoints();
        }
        let wal = dir.path().join("w.db-wal");
        let writer = Writer::start(store.clone());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watch = {
            let (wal, done) = (wal.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut largest = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                largest
            })
        };
        // 8 clients, 1,024 jobs each, 16 KiB per job: 128 MiB of rows.
        // Without the restarts and the writer's backstop the WAL ends
        // larger than that. With them it stays a few MiB past the
        // threshold, or a few tens when the checkpoint task gets little
        // CPU: in the whole parallel suite 8-28 MiB (30-42 MiB, and 88 MiB
        // once in CI, before the backstop and the retry of a busy restart).
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..8 {
            let writer = writer.clone();
            clients.spawn(async move {
                for i in 0..1024 {
                    let value = format!("{client}-{i}-").repeat(16 * 1024 / 6);
                    let key = format!("w-{client}-{i}");
                    let pooled = {
                        let (key, value) = (key.clone(), value.clone());
                        work(move |c| {
                            let (key, value) = (key.clone(), value.clone());
                            Box::pin(async move {
                                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
                                    .bind(key)
                                    .bind(value)
                                    .execute(&mut *c)
                                    .await
                                    .map_err(TestError::from_db)?;
                                Ok(((), Vec::new()))
                            })
                        })
                    };
                    let result: Result<(), TestError> = if direct(client) {
                        writer
                            .submit_with_direct(pooled, move |c: &rusqlite::Connection| {
                                c.execute("INSERT INTO settings (key, value) VALUES (?1, ?2)", [&key, &value])
                                    .map_err(|e| TestError::Db(e.to_string()))?;
                                Ok(((), Vec::new()))
                            })
                            .await
                    } else {
                        writer.submit(pooled).await
                    };
                    result.unwrap();
                }
            });
        }
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let largest = watch.await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM settings WHERE key LIKE 'w-%'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 8 * 1024);
        assert!(largest > 0, "the WAL was never seen");
        store.close().await;
        largest
    }
}
