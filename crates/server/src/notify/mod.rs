//! Delivery of the outbox. A worker claims due rows with a lease, delivers
//! them, and records the result: `sent` (provider accepted), a retry with
//! exponential backoff, or `failed` after `outbox.max_attempts` or a
//! permanent refusal. Sent and failed rows lose their sealed text. A crash
//! loses nothing: an unfinished row's lease runs out and it is delivered by
//! the next worker to look.
//!
//! A login challenge's SMS takes a shorter way (`HandOver`): it is queued
//! already leased to this instance, and once its commit is durable the
//! request hands its text to this worker, which sends it at once. No claim
//! (a write per row) and no unsealing of what the request sealed a moment
//! before; the code reaches the phone without waiting for the next claim.
//! Should the worker not take it (its queue full, or stopping), the lease
//! is given back at once and any worker's claim sends it; should the
//! instance die first, the row is an expired lease like any other.

pub mod email;
pub mod sms;

use crate::app::App;
use crate::clock::to_ms;
use crate::store::outbox::{self, Attempt, Claimed, Outcome};
use crate::store::writer::{work, JobError};
use crate::store::{Conn, Engine};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth trying again later (network, 5xx, rate limit).
    Transient(String),
    /// The provider refused this message for good (bad number, bad address).
    Permanent(String),
}

/// The sealed text of a notification.
#[derive(Debug, Deserialize)]
pub struct Payload {
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
}

/// Removes runs of 6+ digits (phone numbers, codes) from provider errors
/// before they are stored or logged.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str("•••");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out.chars().take(500).collect()
}

pub struct Deliverers {
    pub sms: sms::SmsSender,
    pub email: email::EmailSender,
}

impl Deliverers {
    pub fn from_config(app: &App) -> Result<Self, String> {
        Ok(Self {
            sms: sms::SmsSender::from_config(&app.config)?,
            email: email::EmailSender::from_config(&app.config)?,
        })
    }

    async fn deliver(&self, channel: &str, payload: &Payload) -> Result<Option<String>, DeliveryError> {
        match channel {
            "sms" => self.sms.send(payload).await,
            "email" => self.email.send(payload).await,
            other => Err(DeliveryError::Permanent(format!("unknown channel {other}"))),
        }
    }
}

/// An SMS queued already leased to this instance (`codes::PreparedChallenge`'s
/// `lease_until`), with its text, for this instance's worker.
pub struct Handed {
    pub id: String,
    pub purpose: &'static str,
    pub payload: Payload,
    /// The row's lease (ms). The worker sends it only while the lease
    /// outlasts the SMS timeout (and gives the lease back otherwise): the
    /// send and its record then end long before (the lease is a minute by
    /// default, the record follows the send by milliseconds), so no claim
    /// after the lease sends it a second time.
    pub lease_until: i64,
}

/// The hand-over queue from the requests to this instance's worker.
pub struct HandOver {
    tx: mpsc::Sender<Handed>,
    rx: Mutex<Option<mpsc::Receiver<Handed>>>,
    /// False once the worker stops taking hand-overs.
    open: AtomicBool,
}

/// SMS waiting for the worker at most. Past that (the provider slower than
/// the requests) an SMS's lease is given back and a claim sends it.
const HAND_OVER_QUEUE: usize = 4096;

/// Deliveries of handed-over SMS under way (sent, or waiting to be
/// recorded) at most.
const HANDED_IN_FLIGHT: usize = 1024;

impl Default for HandOver {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(HAND_OVER_QUEUE);
        Self { tx, rx: Mutex::new(Some(rx)), open: AtomicBool::new(true) }
    }
}

impl HandOver {
    /// Passes `sms`, whose row is committed, to the worker. If the worker
    /// cannot take it now (its queue full, or stopping), the row's lease is
    /// given back (`defer`).
    pub fn hand(&self, app: &Arc<App>, sms: Handed) {
        if !self.open.load(Ordering::Relaxed) {
            defer(app, sms.id, "the outbox worker is stopping");
            return;
        }
        match self.tx.try_send(sms) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(sms)) => defer(app, sms.id, "the outbox worker's queue is full"),
            Err(mpsc::error::TrySendError::Closed(sms)) => defer(app, sms.id, "the outbox worker is stopping"),
        }
    }

    /// Takes no more hand-overs (the worker is stopping; tests).
    pub fn close(&self) {
        self.open.store(false, Ordering::Relaxed);
    }

    /// The worker's end of the queue (once).
    fn take(&self) -> Option<mpsc::Receiver<Handed>> {
        self.rx.lock().ok().and_then(|mut rx| rx.take())
    }
}

/// A hand-over that will not be sent from the queue: its lease is given
/// back (`outbox::release`, a writer job) and the worker woken, so that a
/// claim, on this instance or another, sends it at once instead of after
/// the lease. Should that write fail, the lease still ends.
fn defer(app: &Arc<App>, id: String, why: &'static str) {
    app.metrics.hand_over_deferred();
    tracing::debug!(%id, why, "login code's SMS left to the outbox's claims");
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let now = app.now_ms();
        let direct_id = id.clone();
        let released = outbox_statement(
            &app,
            move |c| {
                let id = id.clone();
                Box::pin(async move { outbox::release(c, &id, now).await })
            },
            move |c| outbox::release_direct(c, &direct_id, now),
        )
        .await;
        match released {
            Ok(()) => app.outbox_wake.notify_one(),
            Err(error) => tracing::warn!(%error, "outbox: cannot give a lease back; it runs out by itself"),
        }
    });
}

/// Rows claimed at once. SQLite claims through the writer (one job per
/// writer batch at most, see `claim`), so a claim must carry what a batch's
/// challenges queue: under load ~100 SMS per batch.
fn batch_size(engine: Engine) -> i64 {
    match engine {
        Engine::Sqlite => 256,
        Engine::Postgres => 32,
    }
}

/// Claimed batches being delivered (and their results recorded) at once:
/// the next claim does not wait for the previous batch's deliveries.
const IN_FLIGHT: usize = 4;

/// Once the queue is drained (a claim came back short of the limit), the
/// worker waits to be woken (a row was queued) or for the poll, and then
/// this long before it claims, so that one claim (on SQLite a job of the
/// writer) takes every row queued meanwhile: at 3,000 SMS a second, ~30
/// per claim and per record instead of one or two, and no empty claim
/// right after each short one. Short next to an SMS's delivery.
const GATHER: Duration = Duration::from_millis(10);

/// Runs until `shutdown` turns true; the batches in hand are finished
/// first (delivered and their results recorded).
pub async fn run_worker(app: Arc<App>, deliverers: Arc<Deliverers>, mut shutdown: watch::Receiver<bool>) {
    let handed = app
        .outbox_hand_over
        .take()
        .map(|rx| tokio::spawn(deliver_handed(Arc::clone(&app), Arc::clone(&deliverers), rx, shutdown.clone())));
    let poll = Duration::from_millis(app.config.outbox.poll_ms.max(10));
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut batches = JoinSet::new();
    // Whether the last claim emptied the queue of due rows.
    let mut drained = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if drained {
            tokio::select! {
                () = app.outbox_wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                changed = shutdown.changed() => if changed.is_err() { break } else { continue },
            }
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                changed = shutdown.changed() => if changed.is_err() { break } else { continue },
            }
        }
        let permit = tokio::select! {
            permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            // A dropped sender (the server gone without `stop`) ends the
            // worker too, rather than spinning on a closed channel.
            changed = shutdown.changed() => if changed.is_err() { break } else { continue },
        };
        while batches.try_join_next().is_some() {}
        let batch = match claim(&app).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(%error, "outbox: cannot claim notifications");
                Vec::new()
            }
        };
        drained = i64::try_from(batch.len()).is_ok_and(|n| n < batch_size(app.store.engine()));
        if batch.is_empty() {
            drop(permit);
            continue;
        }
        let (app, deliverers) = (Arc::clone(&app), Arc::clone(&deliverers));
        batches.spawn(async move {
            deliver_batch(&app, &deliverers, batch).await;
            drop(permit);
        });
    }
    while batches.join_next().await.is_some() {}
    if let Some(handed) = handed {
        let _ = handed.await;
    }
}

/// Sends handed-over SMS as they come, each at once, and records their
/// results in one writer job per group that finished meanwhile
/// (`record_handed`). On shutdown the queue is closed and what it holds is
/// still sent.
async fn deliver_handed(
    app: Arc<App>,
    deliverers: Arc<Deliverers>,
    mut rx: mpsc::Receiver<Handed>,
    mut shutdown: watch::Receiver<bool>,
) {
    let in_flight = Arc::new(Semaphore::new(HANDED_IN_FLIGHT));
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record_handed(Arc::clone(&app), done_rx));
    // Sent only if the provider's answer comes before the lease ends
    // (the SMS client waits at least a second); otherwise the lease is
    // given back.
    let timeout_ms = i64::try_from(app.config.sms.twilio.timeout_secs.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut stopping = false;
    // The shutdown's sender dropped (the server gone without `stop`).
    let mut gone = false;
    loop {
        if !stopping && (gone || *shutdown.borrow()) {
            stopping = true;
            app.outbox_hand_over.close();
            rx.close();
        }
        let sms = tokio::select! {
            sms = rx.recv() => sms,
            changed = shutdown.changed(), if !stopping => {
                gone = changed.is_err();
                continue;
            }
        };
        let Some(sms) = sms else { break };
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else { break };
        if app.now_ms().saturating_add(timeout_ms) >= sms.lease_until {
            defer(&app, sms.id, "its lease would end before the provider's answer");
            continue;
        }
        let (app, deliverers, done) = (Arc::clone(&app), Arc::clone(&deliverers), done_tx.clone());
        tokio::spawn(async move {
            let attempt = attempt(&app, &deliverers, sms.id, "sms", sms.purpose, 1, Ok(sms.payload)).await;
            let _ = done.send((attempt, permit));
        });
    }
    drop(done_tx);
    let _ = recorder.await;
}

/// Records handed-over SMS' results: those that finish within `GATHER`
/// of the first go in one record (a writer job, whose commit may be one
/// of its own: one per SMS would double the writer's commits under
/// load). Each result's permit is released once it is recorded.
async fn record_handed(app: Arc<App>, mut done: mpsc::UnboundedReceiver<(Attempt, OwnedSemaphorePermit)>) {
    while let Some(first) = done.recv().await {
        tokio::time::sleep(GATHER).await;
        let mut group = vec![first];
        while let Ok(more) = done.try_recv() {
            group.push(more);
        }
        let (attempts, permits): (Vec<Attempt>, Vec<OwnedSemaphorePermit>) = group.into_iter().unzip();
        record(&app, attempts).await;
        drop(permits);
    }
}

/// Delivers a claimed batch, each row at once, and records the results.
async fn deliver_batch(app: &Arc<App>, deliverers: &Arc<Deliverers>, batch: Vec<Claimed>) {
    let mut tasks = JoinSet::new();
    for row in batch {
        let app = Arc::clone(app);
        let deliverers = Arc::clone(deliverers);
        tasks.spawn(async move { deliver_one(&app, &deliverers, row).await });
    }
    let mut attempts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(attempt) = done {
            attempts.push(attempt);
        }
    }
    record(app, attempts).await;
}

/// A claim's or a record's database error, as a writer job's error.
struct OutboxDbError(sqlx::Error);

impl JobError for OutboxDbError {
    fn retry(&self) -> bool {
        false
    }

    fn from_db(error: sqlx::Error) -> Self {
        Self(error)
    }
}

/// Runs one outbox statement (atomic on its own) where the engine wants
/// it. SQLite: as a job of the writer, so that it shares the writer's
/// transaction and commit instead of taking the single write connection
/// between two batches; it answers (like any job) once that commit is
/// durable. On an SQLite file the writer runs `direct`, the same
/// statement on its own connection (`store::direct`). PostgreSQL: on a
/// pooled connection, no transaction around it (claims take `FOR UPDATE
/// SKIP LOCKED`).
async fn outbox_statement<T, F, D>(app: &App, mut statement: F, mut direct: D) -> sqlx::Result<T>
where
    T: Send + 'static,
    F: for<'c> FnMut(&'c mut Conn) -> BoxFuture<'c, sqlx::Result<T>> + Send + 'static,
    D: FnMut(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
{
    if app.store.engine() == Engine::Sqlite {
        return app
            .writer
            .submit_with_direct(
                work(move |c| {
                    let run = statement(c);
                    Box::pin(async move { Ok((run.await.map_err(OutboxDbError)?, Vec::new())) })
                }),
                move |c: &rusqlite::Connection| {
                    Ok((direct(c).map_err(|e| OutboxDbError(crate::store::direct::db_error(e)))?, Vec::new()))
                },
            )
            .await
            .map_err(|OutboxDbError(e)| e);
    }
    let mut conn = app.store.pool().acquire().await?;
    statement(&mut conn).await
}

/// Claims due rows, leased from when the claim runs.
async fn claim(app: &Arc<App>) -> sqlx::Result<Vec<Claimed>> {
    let engine = app.store.engine();
    let limit = batch_size(engine);
    let lease = app.config.outbox.lease();
    let (clock, direct_clock) = (Arc::clone(app), Arc::clone(app));
    outbox_statement(
        app,
        move |c| {
            let now = clock.now();
            Box::pin(outbox::claim_due(c, engine, to_ms(now), to_ms(now + lease), limit))
        },
        move |c| {
            let now = direct_clock.now();
            outbox::claim_due_direct(c, to_ms(now), to_ms(now + lease), limit)
        },
    )
    .await
}

/// Records a batch's results in one statement. If that fails, the rows'
/// leases run out and they are delivered again (as after a crash).
async fn record(app: &App, attempts: Vec<Attempt>) {
    if attempts.is_empty() {
        return;
    }
    let rows = attempts.len();
    let engine = app.store.engine();
    let attempts: Arc<[Attempt]> = attempts.into();
    let direct = Arc::clone(&attempts);
    let written = outbox_statement(
        app,
        move |c| {
            let attempts = Arc::clone(&attempts);
            Box::pin(async move { outbox::record(c, engine, &attempts).await })
        },
        move |c| outbox::record_direct(c, &direct),
    )
    .await;
    if let Err(error) = written {
        tracing::error!(rows, %error, "outbox: cannot record delivery results; the leases will expire and they are retried");
    }
}

/// Delivers one claimed row; returns what to record.
async fn deliver_one(app: &App, deliverers: &Deliverers, row: Claimed) -> Attempt {
    let payload = row
        .payload_sealed
        .as_deref()
        .ok_or_else(|| DeliveryError::Permanent("message text is missing".into()))
        .and_then(|sealed| app.keys.unseal(sealed).map_err(|e| DeliveryError::Permanent(e.to_string())))
        .and_then(|json| serde_json::from_str::<Payload>(&json).map_err(|e| DeliveryError::Permanent(e.to_string())));
    attempt(app, deliverers, row.id, &row.channel, &row.purpose, row.attempts + 1, payload).await
}

/// One delivery attempt (the `attempts`-th) of notification `id`; returns
/// what to record.
async fn attempt(
    app: &App,
    deliverers: &Deliverers,
    id: String,
    channel: &str,
    purpose: &str,
    attempts: i64,
    payload: Result<Payload, DeliveryError>,
) -> Attempt {
    let result = match payload {
        Ok(payload) => deliverers.deliver(channel, &payload).await,
        Err(e) => Err(e),
    };
    let now_ms = to_ms(app.now());
    let outcome = match result {
        Ok(provider_id) => {
            app.metrics.delivery(channel, "sent");
            tracing::info!(%id, %purpose, %channel, attempts, "notification sent");
            Outcome::Sent { provider_id }
        }
        Err(DeliveryError::Permanent(e)) => {
            let e = scrub(&e);
            app.metrics.delivery(channel, "failed");
            tracing::warn!(%id, %purpose, error = %e, "notification refused for good");
            Outcome::Failed { error: e }
        }
        Err(DeliveryError::Transient(e)) => {
            let e = scrub(&e);
            if attempts >= i64::from(app.config.outbox.max_attempts) {
                app.metrics.delivery(channel, "failed");
                tracing::warn!(%id, %purpose, error = %e, attempts, "notification given up");
                Outcome::Failed { error: e }
            } else {
                app.metrics.delivery(channel, "retry");
                let backoff = backoff_ms(app.config.outbox.retry_base_ms, attempts);
                tracing::info!(%id, %purpose, error = %e, attempts, backoff_ms = backoff, "notification will be retried");
                Outcome::Retry { error: e, next_at: now_ms + backoff }
            }
        }
    };
    Attempt { id, attempts, outcome, now: now_ms }
}

/// `base · 2^(attempts-1)`, at most 5 minutes.
pub fn backoff_ms(base_ms: u64, attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let ms = base_ms.saturating_mul(1u64 << exp).min(300_000);
    i64::try_from(ms).unwrap_or(300_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_phone_numbers_and_codes() {
        assert_eq!(scrub("The 'To' number +15005550001 is not valid"), "The 'To' number +••• is not valid");
        assert_eq!(scrub("code 123456 and 12345"), "code ••• and 12345");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 2), 2000);
        assert_eq!(backoff_ms(1000, 4), 8000);
        assert_eq!(backoff_ms(1000, 30), 300_000);
    }
}
