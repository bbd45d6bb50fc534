//! Prometheus metrics of one instance, in the text exposition format
//! (written by hand: a few counters and one histogram need no library).
//! Outbox depth is read from the database at scrape time, so every
//! instance reports the same cluster-wide queue.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Upper bounds (seconds) of the group-commit writer's time histograms:
/// a batch takes from well under a millisecond to tens of them.
const WRITER_SECONDS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Upper bounds of the jobs-per-batch histogram (the writer takes at most
/// 128 jobs at once).
const WRITER_JOBS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

// A histogram holds as many buckets as the longest list of bounds.
const _: () = assert!(WRITER_SECONDS.len() <= BUCKETS.len() && WRITER_JOBS.len() <= BUCKETS.len());

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bound (not yet cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if let Some(i) = bounds.iter().position(|bound| value <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    /// The histogram's lines: `name` with `labels` (may be empty).
    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in bounds.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What the group-commit writer (`store::writer`) measures of its
/// batches: how long each took (begin to commit), how many jobs it held,
/// and how long its oldest job had waited for it. Shared between the
/// writer's thread and `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    inner: Mutex<WriterInner>,
}

#[derive(Debug, Default)]
struct WriterInner {
    batch: Histogram,
    jobs: Histogram,
    wait: Histogram,
}

impl WriterStats {
    /// One batch: `jobs` jobs, written (or lost) in `took`, its oldest job
    /// submitted `waited` before the batch began.
    pub fn batch(&self, jobs: usize, took: Duration, waited: Duration) {
        let Ok(mut inner) = self.inner.lock() else { return };
        inner.batch.observe(&WRITER_SECONDS, took.as_secs_f64());
        inner.jobs.observe(&WRITER_JOBS, jobs as f64);
        inner.wait.observe(&WRITER_SECONDS, waited.as_secs_f64());
    }

    fn render(&self, out: &mut String) {
        let Ok(inner) = self.inner.lock() else { return };
        render_histograms(
            out,
            &[
                (
                    "tollgate_writer_batch_duration_seconds",
                    "Group-commit batches: time from begin to commit.",
                    &inner.batch,
                    &WRITER_SECONDS[..],
                ),
                (
                    "tollgate_writer_batch_jobs",
                    "Group-commit batches: jobs written together.",
                    &inner.jobs,
                    &WRITER_JOBS[..],
                ),
                (
                    "tollgate_writer_queue_wait_seconds",
                    "Group-commit batches: how long the oldest job waited for its batch to begin.",
                    &inner.wait,
                    &WRITER_SECONDS[..],
                ),
            ],
        );
    }
}

/// Unlabelled histograms, each with its HELP and TYPE lines: (name, help,
/// histogram, its bounds).
fn render_histograms(out: &mut String, histograms: &[(&str, &str, &Histogram, &[f64])]) {
    for (name, help, h, bounds) in histograms {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        h.render(out, name, "", bounds);
    }
}

/// Upper bounds (seconds) of the SQLite file's sync and WAL restart
/// histograms: from a millisecond on an idle disk to a busy disk's tens.
const SQLITE_SECONDS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0];

const _: () = assert!(SQLITE_SECONDS.len() <= BUCKETS.len());

/// What an SQLite file's store measures of its WAL (`store::Checkpoints`):
/// how long each sync of the database file by the background task took,
/// and how long each WAL restart's checkpoint held the writer (between two
/// batches; the new WAL header's sync comes in the next commit). None for
/// PostgreSQL and in-memory databases.
#[derive(Debug, Default)]
pub struct SqliteStats {
    inner: Mutex<SqliteInner>,
}

#[derive(Debug, Default)]
struct SqliteInner {
    sync: Histogram,
    restart: Histogram,
}

impl SqliteStats {
    /// The background task synced the database file in `took`.
    pub fn database_synced(&self, took: Duration) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.sync.observe(&SQLITE_SECONDS, took.as_secs_f64());
        }
    }

    /// The writer's checkpoint for a WAL restart took `took`.
    pub fn restart_checkpointed(&self, took: Duration) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.restart.observe(&SQLITE_SECONDS, took.as_secs_f64());
        }
    }

    /// Database syncs so far (tests).
    pub fn database_syncs(&self) -> u64 {
        self.inner.lock().map_or(0, |inner| inner.sync.count)
    }

    /// WAL restarts' checkpoints so far (tests).
    pub fn wal_restarts(&self) -> u64 {
        self.inner.lock().map_or(0, |inner| inner.restart.count)
    }

    fn render(&self, out: &mut String) {
        let Ok(inner) = self.inner.lock() else { return };
        render_histograms(
            out,
            &[
                (
                    "tollgate_sqlite_database_sync_seconds",
                    "SQLite file: the background task's syncs of the database file after its checkpoints.",
                    &inner.sync,
                    &SQLITE_SECONDS,
                ),
                (
                    "tollgate_sqlite_wal_restart_seconds",
                    "SQLite file: the writer's checkpoint (and its syncs) before the WAL starts over; the writer waits for it.",
                    &inner.restart,
                    &SQLITE_SECONDS,
                ),
            ],
        );
    }
}

#[derive(Default)]
struct Inner {
    /// method → route → what was answered: looked up by `&str`, so a
    /// request of a method and route seen before allocates nothing.
    routes: BTreeMap<String, BTreeMap<String, RouteStats>>,
    /// (channel, outcome) → delivery attempts.
    deliveries: BTreeMap<(String, String), u64>,
}

#[derive(Default)]
struct RouteStats {
    /// status → requests.
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Login challenges' SMS that the outbox worker did not send from its
    /// hand-over queue (`notify::defer`): their leases were given back.
    hand_overs_deferred: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// One answered request; `route` is the route's pattern, never the path
    /// (ids stay out of label values).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if !inner.routes.contains_key(method) {
            inner.routes.insert(method.to_owned(), BTreeMap::new());
        }
        let Some(routes) = inner.routes.get_mut(method) else { return };
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), RouteStats::default());
        }
        let Some(stats) = routes.get_mut(route) else { return };
        *stats.statuses.entry(status).or_default() += 1;
        stats.latency.observe(&BUCKETS, took.as_secs_f64());
    }

    /// One delivery attempt by this instance's worker: `sent`, `retry` or
    /// `failed`.
    pub fn delivery(&self, channel: &str, outcome: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.deliveries.entry((channel.to_owned(), outcome.to_owned())).or_default() += 1;
        }
    }

    /// A login challenge's SMS left to the outbox's claims (`notify::defer`).
    pub fn hand_over_deferred(&self) {
        self.hand_overs_deferred.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The exposition text; `outbox` is the notifications per status,
    /// `writer` the group-commit writer's measurements, `sqlite` an SQLite
    /// file's.
    pub fn render(&self, outbox: &[(String, i64)], writer: &WriterStats, sqlite: Option<&SqliteStats>) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else { return out };
        out.push_str("# HELP tollgate_http_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE tollgate_http_requests_total counter\n");
        let by_route = || inner.routes.iter().flat_map(|(m, routes)| routes.iter().map(move |(r, s)| (m, r, s)));
        for (method, route, stats) in by_route() {
            for (status, n) in &stats.statuses {
                let _ = writeln!(
                    out,
                    "tollgate_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    esc(method),
                    esc(route)
                );
            }
        }
        out.push_str("# HELP tollgate_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE tollgate_http_request_duration_seconds histogram\n");
        for (method, route, stats) in by_route() {
            let labels = format!("method=\"{}\",route=\"{}\"", esc(method), esc(route));
            stats.latency.render(&mut out, "tollgate_http_request_duration_seconds", &labels, &BUCKETS);
        }
        out.push_str("# HELP tollgate_outbox_notifications Notifications in the outbox (whole database), by status.\n");
        out.push_str("# TYPE tollgate_outbox_notifications gauge\n");
        for status in ["queued", "sent", "failed"] {
            let n = outbox.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "tollgate_outbox_notifications{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP tollgate_deliveries_total Delivery attempts by this instance, by channel and outcome.\n");
        out.push_str("# TYPE tollgate_deliveries_total counter\n");
        for ((channel, outcome), n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "tollgate_deliveries_total{{channel=\"{}\",outcome=\"{}\"}} {n}",
                esc(channel),
                esc(outcome)
            );
        }
        drop(inner);
        out.push_str(
            "# HELP tollgate_outbox_hand_overs_deferred_total Login challenges' SMS that this instance's \
             worker did not send from its hand-over queue (queue full, stopping, lease too short); \
             each one's lease is given back and a claim sends it.\n",
        );
        out.push_str("# TYPE tollgate_outbox_hand_overs_deferred_total counter\n");
        let deferred = self.hand_overs_deferred.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(out, "tollgate_outbox_hand_overs_deferred_total {deferred}");
        writer.render(&mut out);
        if let Some(sqlite) = sqlite {
            sqlite.render(&mut out);
        }
        out
    }
}

/// A label value: backslash, quote and newline escaped.
fn esc(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request("POST", "/v1/logins", 200, Duration::from_millis(3));
        m.request("POST", "/v1/logins", 200, Duration::from_millis(30));
        m.request("POST", "/v1/logins", 429, Duration::from_secs(9));
        m.request("GET", "/v1/admin/me", 200, Duration::from_millis(2));
        m.request("POST", "/v1/challenges/{challenge_id}/verify", 200, Duration::from_millis(2));
        m.delivery("sms", "sent");
        m.hand_over_deferred();
        m.hand_over_deferred();
        let writer = WriterStats::default();
        writer.batch(3, Duration::from_micros(1_500), Duration::from_millis(4));
        writer.batch(100, Duration::from_millis(30), Duration::from_micros(200));
        let sqlite = SqliteStats::default();
        sqlite.database_synced(Duration::from_micros(700));
        sqlite.database_synced(Duration::from_millis(12));
        sqlite.restart_checkpointed(Duration::from_millis(8));
        let text = m.render(&[("queued".into(), 2)], &writer, Some(&sqlite));
        assert!(text.contains("tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"200\"} 2\n"));
        assert!(text.contains("tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"429\"} 1\n"));
        // Each method and route on its own lines, in (method, route, status) order.
        let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("tollgate_http_requests_total{")).collect();
        assert_eq!(
            requests,
            [
                "tollgate_http_requests_total{method=\"GET\",route=\"/v1/admin/me\",status=\"200\"} 1",
                "tollgate_http_requests_total{method=\"POST\",route=\"/v1/challenges/{challenge_id}/verify\",status=\"200\"} 1",
                "tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"200\"} 2",
                "tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"429\"} 1",
            ]
        );
        assert!(
            text.contains("tollgate_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/admin/me\"} 1\n")
        );
        let labels = "method=\"POST\",route=\"/v1/logins\"";
        assert!(text.contains(&format!("tollgate_http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 0\n")));
        assert!(text.contains(&format!("tollgate_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1\n")));
        assert!(text.contains(&format!("tollgate_http_request_duration_seconds_bucket{{{labels},le=\"0.05\"}} 2\n")));
        assert!(text.contains(&format!("tollgate_http_request_duration_seconds_bucket{{{labels},le=\"5\"}} 2\n")));
        assert!(text.contains(&format!("tollgate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3\n")));
        assert!(text.contains(&format!("tollgate_http_request_duration_seconds_count{{{labels}}} 3\n")));
        assert!(text.contains("tollgate_outbox_notifications{status=\"queued\"} 2\n"));
        assert!(text.contains("tollgate_outbox_notifications{status=\"failed\"} 0\n"));
        assert!(text.contains("tollgate_deliveries_total{channel=\"sms\",outcome=\"sent\"} 1\n"));
        assert!(text.contains("# TYPE tollgate_outbox_hand_overs_deferred_total counter\n"));
        assert!(text.contains("tollgate_outbox_hand_overs_deferred_total 2\n"));
        assert!(text.contains("tollgate_writer_batch_duration_seconds_bucket{le=\"0.001\"} 0\n"));
        assert!(text.contains("tollgate_writer_batch_duration_seconds_bucket{le=\"0.002\"} 1\n"));
        assert!(text.contains("tollgate_writer_batch_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("tollgate_writer_batch_duration_seconds_count 2\n"));
        assert!(text.contains("tollgate_writer_batch_jobs_bucket{le=\"2\"} 0\n"));
        assert!(text.contains("tollgate_writer_batch_jobs_bucket{le=\"4\"} 1\n"));
        assert!(text.contains("tollgate_writer_batch_jobs_bucket{le=\"128\"} 2\n"));
        assert!(text.contains("tollgate_writer_batch_jobs_sum 103\n"));
        assert!(text.contains("tollgate_writer_queue_wait_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("tollgate_writer_queue_wait_seconds_bucket{le=\"0.002\"} 1\n"));
        assert!(text.contains("tollgate_writer_queue_wait_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("tollgate_sqlite_database_sync_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("tollgate_sqlite_database_sync_seconds_bucket{le=\"0.01\"} 1\n"));
        assert!(text.contains("tollgate_sqlite_database_sync_seconds_bucket{le=\"0.02\"} 2\n"));
        assert!(text.contains("tollgate_sqlite_database_sync_seconds_count 2\n"));
        assert!(text.contains("tollgate_sqlite_wal_restart_seconds_bucket{le=\"0.005\"} 0\n"));
        assert!(text.contains("tollgate_sqlite_wal_restart_seconds_bucket{le=\"0.01\"} 1\n"));
        assert_eq!((sqlite.database_syncs(), sqlite.wal_restarts()), (2, 1));
        // PostgreSQL, in-memory SQLite: no SQLite file, none of its lines.
        assert!(!m.render(&[], &writer, None).contains("tollgate_sqlite_"));
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }
}
