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

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound (not yet cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latency.
    latency: BTreeMap<(String, String), Histogram>,
    /// (channel, outcome) → delivery attempts.
    deliveries: BTreeMap<(String, String), u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// One answered request; `route` is the route's pattern, never the path
    /// (ids stay out of label values).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let Ok(mut inner) = self.inner.lock() else { return };
        *inner.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        let h = inner.latency.entry((method.to_owned(), route.to_owned())).or_default();
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    /// One delivery attempt by this instance's worker: `sent`, `retry` or
    /// `failed`.
    pub fn delivery(&self, channel: &str, outcome: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.deliveries.entry((channel.to_owned(), outcome.to_owned())).or_default() += 1;
        }
    }

    /// The exposition text; `outbox` is the notifications per status.
    pub fn render(&self, outbox: &[(String, i64)]) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else { return out };
        out.push_str("# HELP tollgate_http_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE tollgate_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "tollgate_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(method),
                esc(route)
            );
        }
        out.push_str("# HELP tollgate_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE tollgate_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &inner.latency {
            let labels = format!("method=\"{}\",route=\"{}\"", esc(method), esc(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "tollgate_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(out, "tollgate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "tollgate_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "tollgate_http_request_duration_seconds_count{{{labels}}} {}", h.count);
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
        m.delivery("sms", "sent");
        let text = m.render(&[("queued".into(), 2)]);
        assert!(text.contains("tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"200\"} 2\n"));
        assert!(text.contains("tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"429\"} 1\n"));
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
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }
}
