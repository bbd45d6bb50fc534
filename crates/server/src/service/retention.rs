//! Housekeeping of what the server keeps only for a while: the record of
//! codes sent, which exists for the per-number send limit and is of no use
//! once its window has passed (the audit log keeps what was sent, and to
//! whom, for good).

use crate::app::App;
use crate::store::codes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the sends past the limit's window are deleted: at most this
/// long after they stopped counting. The first run is this long after
/// start.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Rows deleted per transaction: few enough that no other write waits
/// long behind one (on SQLite they share the file's one writer; each row
/// also changes a leaf of the per-number index, so 1,000 at once held the
/// login challenges' writes for tens of milliseconds: docs/BENCHMARKS.md).
const PRUNE_CHUNK: u32 = 100;

/// The pause between two transactions of a run, for the writes that
/// waited. Still up to 10,000 rows a second.
const PRUNE_PAUSE: Duration = Duration::from_millis(10);

impl App {
    /// Deletes the record of every code sent before the send limit's
    /// window (`codes.send_window_secs` back from now): sends the limit no
    /// longer counts. `chunk` rows per transaction, `PRUNE_PAUSE` apart.
    /// Returns how many went.
    ///
    /// A window raised at a restart counts only what is left: sends pruned
    /// under the shorter one are gone.
    pub async fn prune_code_sends(&self, chunk: u32) -> sqlx::Result<u64> {
        let chunk = chunk.max(1);
        let window_start = crate::clock::to_ms(self.sends.window_start(self.now()));
        let mut total = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let done = codes::prune_sends(&mut tx, self.store.engine(), window_start, i64::from(chunk)).await?;
            tx.commit().await?;
            total += done;
            if done < u64::from(chunk) {
                return Ok(total);
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }
}

/// Runs `prune_code_sends` every `PRUNE_EVERY` until shutdown; a run under
/// way when it comes is dropped (its open transaction rolled back).
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            pruned = app.prune_code_sends(PRUNE_CHUNK) => match pruned {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "deleted the record of codes sent before the send limit's window"),
                Err(error) => tracing::warn!(%error, "cannot delete the record of old code sends; trying again later"),
            },
        }
    }
}
