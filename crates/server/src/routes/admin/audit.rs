//! `GET /v1/admin/audit`: the manager's audit log, streamed as CSV or
//! NDJSON. Rows are read in pages by `seq` (each page a short read, so the
//! export never holds the database; on SQLite on a read-only connection of
//! its own, see `store::admin::export`), each page is encoded into one
//! buffer as its rows arrive, and the pages go to the socket in bounded
//! pieces while the next page is read: memory stays flat (a few pages)
//! however many rows. The export stops at the chain head seen when it
//! started, so it is a consistent prefix of the log.

use crate::app::App;
use crate::clock::from_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::ManagerCaller;
use crate::http::query::{time_param, Query};
use crate::store::admin::export::{EventRef, ExportError, ExportReader, Scope};
use crate::store::admin::{self, AuditFilter};
use crate::store::audit::EventRow;
use crate::store::{audit, managers};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;
use tollgate_core::ids::{ContractId, UserId};
use tollgate_proto::admin::{AuditRecord, AUDIT_CSV_HEADER};

const PAGE: i64 = 10_000;
/// The largest piece of the body handed to the socket at once.
const CHUNK: usize = 64 * 1024;
/// Exports reading on a connection of their own at once (on SQLite each
/// such connection has its own thread); more read through the pool.
static EXPORTS: Semaphore = Semaphore::const_new(4);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    contract_id: Option<String>,
    user_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// Spreadsheet formula injection: a cell starting with `=`, `+`, `-`, `@`,
/// tab or CR is prefixed with `'` so it is shown as text (OWASP).
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if is_formula(cell.as_bytes()) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn is_formula(cell: &[u8]) -> bool {
    matches!(cell.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

fn rfc3339(ms: i64) -> String {
    from_ms(ms).format(&Rfc3339).unwrap_or_default()
}

/// Unix ms of 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: RFC 3339
/// has four-digit years.
const FOUR_DIGIT_YEARS: std::ops::Range<i64> = -62_167_219_200_000..253_402_300_800_000;

/// Encodes events one at a time into a caller's buffer: CSV (RFC 4180
/// quoting as the `csv` crate writes it — a cell is quoted when it holds
/// `,` `"` CR or LF, and `"` is doubled — with formula cells neutralised)
/// or NDJSON (one `AuditRecord` per line).
#[derive(Debug)]
pub struct Encoder {
    format: Format,
    /// The last whole second written, and its text without fraction or
    /// zone (`2026-11-27T19:40:00`): events come in time order, so most
    /// rows reuse it.
    second: Option<(i64, String)>,
}

impl Encoder {
    pub fn new(format: Format) -> Self {
        Self { format, second: None }
    }

    /// The CSV header row (NDJSON has none).
    pub fn header(&self, out: &mut Vec<u8>) {
        if self.format == Format::Csv {
            for (i, name) in AUDIT_CSV_HEADER.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv_cell(out, name.as_bytes());
            }
            out.push(b'\n');
        }
    }

    pub fn event(&mut self, out: &mut Vec<u8>, e: EventRef<'_>) -> Result<(), serde_json::Error> {
        match self.format {
            Format::Csv => {
                if e.seq < 0 {
                    out.push(b'\''); // `-` starts a formula (never written: seq starts at 1)
                }
                push_i64(out, e.seq);
                out.push(b',');
                self.push_time(out, e.at);
                for cell in [
                    e.actor_kind,
                    e.actor_id,
                    e.action,
                    e.contract_id.unwrap_or(""),
                    e.user_id.unwrap_or(""),
                    e.ip.unwrap_or(""),
                    e.detail,
                    e.prev_hash,
                    e.hash,
                ] {
                    out.push(b',');
                    csv_cell(out, cell.as_bytes());
                }
                out.push(b'\n');
                Ok(())
            }
            Format::Ndjson => {
                let record = AuditRecord {
                    seq: e.seq,
                    at: from_ms(e.at),
                    actor_kind: e.actor_kind.to_owned(),
                    actor_id: e.actor_id.to_owned(),
                    action: e.action.to_owned(),
                    contract_id: e.contract_id.map(str::to_owned),
                    user_id: e.user_id.map(str::to_owned),
                    ip: e.ip.map(str::to_owned),
                    detail: serde_json::from_str(e.detail)
                        .unwrap_or_else(|_| serde_json::Value::String(e.detail.to_owned())),
                    prev_hash: e.prev_hash.to_owned(),
                    hash: e.hash.to_owned(),
                };
                serde_json::to_writer(&mut *out, &record)?;
                out.push(b'\n');
                Ok(())
            }
        }
    }

    /// `at` as RFC 3339 in UTC, as the `time` crate writes it (fraction
    /// without trailing zeros, none when whole): the date and time of day
    /// come from the cached second, only the milliseconds are new. A time
    /// cell never needs quoting nor neutralising.
    fn push_time(&mut self, out: &mut Vec<u8>, ms: i64) {
        if !FOUR_DIGIT_YEARS.contains(&ms) {
            out.extend_from_slice(rfc3339(ms).as_bytes());
            return;
        }
        let (second, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
        let text = match &self.second {
            Some((cached, text)) if *cached == second => text,
            _ => {
                let mut text = rfc3339(second * 1000);
                text.pop(); // the `Z`
                &self.second.insert((second, text)).1
            }
        };
        out.extend_from_slice(text.as_bytes());
        if milli != 0 {
            // `milli` is 1..=999: three digits, trailing zeros dropped.
            let digits = [b'0' + (milli / 100) as u8, b'0' + (milli / 10 % 10) as u8, b'0' + (milli % 10) as u8];
            let len = if milli % 100 == 0 {
                1
            } else if milli % 10 == 0 {
                2
            } else {
                3
            };
            out.push(b'.');
            out.extend_from_slice(&digits[..len]);
        }
        out.push(b'Z');
    }
}

/// One CSV cell: neutralised if it would start a formula, quoted if it
/// holds a delimiter, quote or line break.
fn csv_cell(out: &mut Vec<u8>, cell: &[u8]) {
    let formula = is_formula(cell);
    // No early exit: the compiler turns this into wide compares.
    let quote = cell.iter().fold(false, |any, &b| any | (b == b',') | (b == b'"') | (b == b'\n') | (b == b'\r'));
    if quote {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    if quote {
        let mut parts = cell.split(|&b| b == b'"');
        if let Some(first) = parts.next() {
            out.extend_from_slice(first);
        }
        for part in parts {
            out.extend_from_slice(b"\"\"");
            out.extend_from_slice(part);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell);
    }
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// Encodes a whole page of events (the CSV header first if `header`).
pub fn encode(rows: &[EventRow], format: Format, header: bool) -> Result<Vec<u8>, serde_json::Error> {
    let mut encoder = Encoder::new(format);
    let mut out = Vec::with_capacity(rows.len() * 300);
    if header {
        encoder.header(&mut out);
    }
    for row in rows {
        encoder.event(&mut out, EventRef::from(row))?;
    }
    Ok(out)
}

/// Reads and encodes the export page by page, each page handed to `pages`
/// as one buffer. Ends at the first error (logged; the client then sees a
/// cut-off body) or when the client goes away.
async fn produce(
    app: Arc<App>,
    scope: Scope,
    format: Format,
    pages: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    // Past the limit, an export shares the store's pool instead.
    let permit = EXPORTS.try_acquire().ok();
    let opened = match permit {
        Some(_) => ExportReader::open(&app.store, &app.config.database.url).await,
        None => Ok(ExportReader::shared(&app.store)),
    };
    let reader = match opened {
        Ok(reader) => reader,
        Err(error) => {
            tracing::error!(%error, "audit export: cannot open the database for reading");
            let _ = pages.send(Err(std::io::Error::other("export failed"))).await;
            return;
        }
    };
    let mut events = reader.events(scope, 0);
    let mut encoder = Encoder::new(format);
    let mut buf = Vec::with_capacity(usize::try_from(PAGE).unwrap_or(0) * 300);
    encoder.header(&mut buf);
    loop {
        let read = match events.page(PAGE, |event| encoder.event(&mut buf, event)).await {
            Ok(read) => read,
            Err(error) => {
                match &error {
                    ExportError::Read(_) => tracing::error!(%error, "audit export: cannot read events"),
                    ExportError::Encode(_) => tracing::error!(%error, "audit export: cannot encode events"),
                }
                let _ = pages.send(Err(std::io::Error::other("export failed"))).await;
                break;
            }
        };
        if !buf.is_empty() {
            let page = std::mem::replace(&mut buf, Vec::with_capacity(usize::try_from(PAGE).unwrap_or(0) * 300));
            if pages.send(Ok(Bytes::from(page))).await.is_err() {
                break; // the client went away
            }
        }
        if read.rows < PAGE {
            break;
        }
    }
    events.close().await;
}

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(ExportQuery), responses((status = 200, description = "the audit log, streamed", content((String = "text/csv"), (tollgate_proto::admin::AuditRecord = "application/x-ndjson"))), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn export(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Query(query): Query<ExportQuery>,
) -> ApiResult<Response> {
    let format = match query.format.as_deref() {
        None | Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        Some(other) => return Err(ApiError::invalid(format!("format: {other:?} is not csv or ndjson"))),
    };
    let filter = AuditFilter {
        contract_id: query
            .contract_id
            .as_deref()
            .map(|c| ContractId::parse(c).map(|c| c.as_str().to_owned()))
            .transpose()
            .map_err(|e| ApiError::invalid(format!("contract_id: {e}")))?,
        user_id: query
            .user_id
            .as_deref()
            .map(|u| UserId::parse(u).map(|u| u.as_str().to_owned()))
            .transpose()
            .map_err(|e| ApiError::invalid(format!("user_id: {e}")))?,
        since: time_param("since", query.since.as_deref())?,
        until: time_param("until", query.until.as_deref())?,
    };
    let max_seq = {
        let mut c = app.store.pool().acquire().await?;
        if let Some(contract) = &filter.contract_id {
            if !managers::is_assigned(&mut c, &manager.id, contract).await? {
                return Err(ApiError::not_found(format!("no contract {contract} among your contracts")));
            }
        }
        if let Some(user) = &filter.user_id {
            if admin::user(&mut c, &manager.id, user).await?.is_none() {
                return Err(ApiError::not_found(format!("no user {user} among your contracts")));
            }
        }
        audit::head(&mut c).await?.0
    };

    // Reading and encoding the next page overlaps sending this one.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let scope = Scope { manager_id: manager.id.clone(), filter, max_seq };
    tokio::spawn(produce(app, scope, format, tx));
    // Bounded pieces (zero-copy slices of the page): a client reads the
    // export as a stream of at most 64 KiB, whatever the page size.
    let stream = futures_util::stream::unfold((rx, Bytes::new()), |(mut rx, mut page)| async move {
        if page.is_empty() {
            match rx.recv().await? {
                Ok(next) => page = next,
                Err(e) => return Some((Err(e), (rx, page))),
            }
        }
        let piece = page.split_to(page.len().min(CHUNK));
        Some((Ok(piece), (rx, page)))
    });
    let (kind, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"tollgate-audit.{ext}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for cell in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralize(cell), format!("'{cell}"));
        }
        assert_eq!(neutralize("plain"), "plain");
        assert_eq!(neutralize(""), "");
    }

    /// What the export wrote before it had its own encoder: the `csv`
    /// crate's writer, `neutralize` and `time`'s RFC 3339.
    fn reference_csv(rows: &[EventRow]) -> Vec<u8> {
        let mut out = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        out.write_record(AUDIT_CSV_HEADER).unwrap();
        for r in rows {
            let seq = r.seq.to_string();
            let at = rfc3339(r.at);
            let cells = [
                seq.as_str(),
                at.as_str(),
                &r.actor_kind,
                &r.actor_id,
                &r.action,
                r.contract_id.as_deref().unwrap_or(""),
                r.user_id.as_deref().unwrap_or(""),
                r.ip.as_deref().unwrap_or(""),
                &r.detail,
                &r.prev_hash,
                &r.hash,
            ];
            for cell in cells {
                out.write_field(neutralize(cell).as_bytes()).unwrap();
            }
            out.write_record(None::<&[u8]>).unwrap();
        }
        out.into_inner().unwrap()
    }

    #[test]
    fn csv_is_byte_for_byte_what_the_csv_crate_writes() {
        let nasty = [
            "",
            "plain",
            "=1+1",
            "+",
            "-",
            "@",
            "\t",
            "\r",
            "\n",
            "\"",
            "\"\"",
            ",",
            "a,b",
            "say \"hi\"",
            "line1\nline2",
            "cr\rlf\r\n",
            "=HYPERLINK(\"http://x\",\"y\")",
            "\u{feff}bom",
            "naïve, ünïcödé “quotes”",
            "'already",
            " leading space",
            "trailing space ",
            "{\"a\":\"b,c\"}",
            "x\"",
            "\"x",
        ];
        let mut rows = Vec::new();
        let mut seq = -3;
        for (i, a) in nasty.iter().enumerate() {
            for b in nasty.iter().skip(i % 5).step_by(5) {
                seq += 1;
                rows.push(EventRow {
                    seq: seq * 7919,
                    at: 1_795_000_000_000 + seq * 137,
                    actor_kind: (*a).into(),
                    actor_id: (*b).into(),
                    action: format!("{a}{b}"),
                    contract_id: (seq % 3 != 0).then(|| (*b).into()),
                    user_id: (seq % 2 == 0).then(|| (*a).into()),
                    ip: None,
                    detail: format!("{b}{a}"),
                    prev_hash: (*a).into(),
                    hash: (*b).into(),
                });
            }
        }
        assert!(rows.len() > 100);
        let ours = String::from_utf8(encode(&rows, Format::Csv, true).unwrap()).unwrap();
        let theirs = String::from_utf8(reference_csv(&rows)).unwrap();
        for (i, (a, b)) in ours.split('\n').zip(theirs.split('\n')).enumerate() {
            assert_eq!(a, b, "line {i}");
        }
        assert_eq!(ours, theirs);
    }

    #[test]
    fn times_are_what_the_time_crate_writes() {
        let mut encoder = Encoder::new(Format::Csv);
        let mut samples: Vec<i64> = vec![
            0,
            1,
            -1,
            999,
            -999,
            1000,
            -1000,
            -1001,
            1_795_000_000_000,
            1_795_000_000_001,
            1_795_000_000_010,
            1_795_000_000_100,
            1_795_000_000_120,
            1_795_000_000_999,
            FOUR_DIGIT_YEARS.start,
            FOUR_DIGIT_YEARS.start - 1,
            FOUR_DIGIT_YEARS.start + 1,
            FOUR_DIGIT_YEARS.end,
            FOUR_DIGIT_YEARS.end - 1,
            i64::MIN,
            i64::MAX,
        ];
        // Runs in time order (the cache) and jumps (a new second each time).
        samples.extend((0..5000).map(|i| 1_700_000_000_000 + i * 7));
        samples.extend((0..2000).map(|i| 1_700_000_000_000 - i * 86_400_013));
        for ms in samples {
            let mut out = Vec::new();
            encoder.push_time(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), rfc3339(ms), "{ms}");
        }
    }

    #[test]
    fn integers_are_decimal() {
        for n in [0, 1, -1, 9, 10, 99, 100, 12_345, -12_345, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_i64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }
}
