//! The audit export: `GET /v1/admin/audit`, streamed to any `AsyncWrite`.
//!
//! Memory stays flat however long the log: each chunk is written as it
//! arrives and only counted (bytes, and rows: CSV records after the header
//! row, or NDJSON lines). Progress is reported after every chunk.
//!
//! An export succeeds only when the server's answer ended cleanly; a cut-off
//! stream, a stalled one (no chunk within the request timeout), a wrong
//! content type, a CSV whose first row is not the audit header, or a
//! cancellation is an error — the caller must then discard what was written.
//! [`Client::export_audit_to_file`] does that for files (console.md: "the
//! file appears only when complete").

use crate::address::Query;
use crate::client::Client;
use crate::error::Error;
use crate::{Result, Time};
use reqwest::header::CONTENT_TYPE;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tollgate_proto::admin::AUDIT_CSV_HEADER;

/// Which events (all optional: absent = unbounded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub contract_id: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<Time>,
    pub until: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditFormat {
    /// `text/csv; charset=utf-8`, a header row then one event per record.
    Csv,
    /// `application/x-ndjson`, one `AuditRecord` per line.
    Ndjson,
}

impl AuditFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Ndjson => "application/x-ndjson",
        }
    }
}

/// How far an export got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes written, header included.
    pub bytes: u64,
    /// Complete events written (CSV records after the header, NDJSON lines).
    pub rows: u64,
}

/// A cancellation flag shared between the UI (which calls [`Cancel::cancel`])
/// and a running export (which stops at once, even while waiting for the
/// next chunk). Clones share the flag.
#[derive(Debug, Clone)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.0.subscribe();
        // `wait_for` fails only when the sender is gone; we hold it.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}

impl Client {
    /// Streams the audit log to `out`, calling `progress` after each chunk;
    /// answers the totals. Any error (including [`Error::Cancelled`]) means
    /// `out` holds an incomplete export.
    pub async fn export_audit<W>(
        &self,
        filter: &AuditFilter,
        format: AuditFormat,
        out: &mut W,
        cancel: &Cancel,
        mut progress: impl FnMut(Progress),
    ) -> Result<Progress>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let url = self.audit_url(filter, format)?;
        let wait = self.options().request_timeout;
        let request = self.stream_request(url, format.media_type());
        let mut response = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Error::Cancelled),
            sent = tokio::time::timeout(wait, request.send()) => match sent {
                Err(_) => return Err(Error::Timeout),
                Ok(sent) => sent.map_err(Error::transport)?,
            },
        };
        let status = response.status();
        if !status.is_success() {
            return Err(self.error_from(response).await);
        }
        let media = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !media.trim().to_ascii_lowercase().starts_with(format.media_type()) {
            return Err(Error::protocol(
                Some(status.as_u16()),
                format!("expected {}, got {:?}", format.media_type(), media),
            ));
        }
        let mut counter = RowCounter::new(format);
        loop {
            let chunk = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Error::Cancelled),
                next = tokio::time::timeout(wait, response.chunk()) => match next {
                    Err(_) => return Err(Error::Timeout),
                    Ok(next) => next.map_err(Error::transport)?,
                },
            };
            let Some(chunk) = chunk else { break };
            counter.feed(&chunk)?;
            out.write_all(&chunk).await?;
            progress(counter.progress());
        }
        let total = counter.finish()?;
        out.flush().await?;
        Ok(total)
    }

    /// [`Client::export_audit`] into the file `path`, which appears only
    /// when the export is complete: the stream goes to a temporary file
    /// beside it (`.<name>.part`), which is flushed to disk and renamed over
    /// `path` on success, and removed on any error or cancellation.
    pub async fn export_audit_to_file(
        &self,
        filter: &AuditFilter,
        format: AuditFormat,
        path: &Path,
        cancel: &Cancel,
        progress: impl FnMut(Progress),
    ) -> Result<Progress> {
        let name =
            path.file_name().ok_or_else(|| Error::InvalidArgument(format!("{} names no file", path.display())))?;
        let mut part_name = OsString::from(".");
        part_name.push(name);
        part_name.push(".part");
        let part = path.with_file_name(part_name);
        let result = async {
            // Big writes: each write to a tokio file is a trip to a blocking
            // thread, and the server's pieces are at most 64 KiB.
            let mut file = tokio::io::BufWriter::with_capacity(FILE_BUFFER, tokio::fs::File::create(&part).await?);
            let total = self.export_audit(filter, format, &mut file, cancel, progress).await?;
            let file = file.into_inner();
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&part, path).await?;
            Ok(total)
        }
        .await;
        if result.is_err() {
            // Best effort: the part file may not exist (create failed).
            let _ = tokio::fs::remove_file(&part).await;
        }
        result
    }

    fn audit_url(&self, filter: &AuditFilter, format: AuditFormat) -> Result<reqwest::Url> {
        let mut url = self.url(&["audit"])?;
        Query(&mut url)
            .text("contract_id", filter.contract_id.as_deref())
            .text("user_id", filter.user_id.as_deref())
            .time("since", filter.since)?
            .time("until", filter.until)?
            .text("format", Some(format.as_str()));
        Ok(url)
    }
}

/// The buffer between the stream and the export file.
const FILE_BUFFER: usize = 1 << 20;

/// The most a CSV header row may take before we give up on it.
const MAX_HEADER_BYTES: usize = 4096;

/// Counts bytes and complete rows of a stream fed chunk by chunk. For CSV,
/// a newline inside a quoted cell does not end a record, and the first
/// record must be the audit header.
#[derive(Debug)]
struct RowCounter {
    format: AuditFormat,
    bytes: u64,
    /// Records ended so far (for CSV, the header included).
    records: u64,
    in_quotes: bool,
    /// The current record has content (so a last line without `\n` counts).
    open_record: bool,
    /// The CSV header row until it is complete.
    header: Option<Vec<u8>>,
}

impl RowCounter {
    fn new(format: AuditFormat) -> Self {
        let header = (format == AuditFormat::Csv).then(Vec::new);
        Self { format, bytes: 0, records: 0, in_quotes: false, open_record: false, header }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        self.bytes += chunk.len() as u64;
        let mut rest = chunk;
        // The header row byte by byte (it is checked when it ends)...
        while self.header.is_some() {
            let Some((&byte, tail)) = rest.split_first() else { return Ok(()) };
            self.step(byte)?;
            rest = tail;
        }
        // ...then the same states in locals: a tight loop over the rows.
        let csv = self.format == AuditFormat::Csv;
        let (mut in_quotes, mut open, mut records) = (self.in_quotes, self.open_record, self.records);
        for &byte in rest {
            match byte {
                b'"' if csv => {
                    in_quotes = !in_quotes;
                    open = true;
                }
                b'\n' if !in_quotes => {
                    records += u64::from(open);
                    open = false;
                }
                b'\r' if !in_quotes => {}
                _ => open = true,
            }
        }
        (self.in_quotes, self.open_record, self.records) = (in_quotes, open, records);
        Ok(())
    }

    /// One byte while the CSV header row is still open.
    fn step(&mut self, byte: u8) -> Result<()> {
        if let Some(header) = self.header.as_mut() {
            if byte != b'\n' {
                if header.len() >= MAX_HEADER_BYTES {
                    return Err(Error::protocol(Some(200), "the CSV header row is too long"));
                }
                header.push(byte);
            }
        }
        match byte {
            b'"' if self.format == AuditFormat::Csv => {
                self.in_quotes = !self.in_quotes;
                self.open_record = true;
            }
            b'\n' if !self.in_quotes => {
                if self.open_record {
                    self.records += 1;
                }
                self.open_record = false;
                if let Some(header) = self.header.take() {
                    check_header(&header)?;
                }
            }
            b'\r' if !self.in_quotes => {}
            _ => self.open_record = true,
        }
        Ok(())
    }

    fn progress(&self) -> Progress {
        let header = u64::from(self.format == AuditFormat::Csv);
        Progress { bytes: self.bytes, rows: self.records.saturating_sub(header) }
    }

    /// At the end of the stream: the last record may lack its newline.
    fn finish(mut self) -> Result<Progress> {
        if self.in_quotes {
            return Err(Error::protocol(Some(200), "the CSV ends inside a quoted cell"));
        }
        if let Some(header) = self.header.take() {
            if header.is_empty() {
                return Err(Error::protocol(Some(200), "an empty CSV (no header row)"));
            }
            check_header(&header)?;
        }
        if self.open_record {
            self.records += 1;
            self.open_record = false;
        }
        Ok(self.progress())
    }
}

/// The first CSV row must start with the audit columns, in order.
fn check_header(row: &[u8]) -> Result<()> {
    let row = std::str::from_utf8(row).map_err(|_| Error::protocol(Some(200), "the CSV header is not UTF-8"))?;
    let names: Vec<&str> = row.trim_end_matches('\r').split(',').collect();
    if names.len() < AUDIT_CSV_HEADER.len() || names[..AUDIT_CSV_HEADER.len()] != AUDIT_CSV_HEADER {
        return Err(Error::protocol(Some(200), format!("not the audit CSV header: {:.200}", row)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use time::macros::datetime;

    const HEADER: &str = "seq,at,actor_kind,actor_id,action,contract_id,user_id,ip,detail,prev_hash,hash\n";

    fn count(format: AuditFormat, chunks: &[&[u8]]) -> Result<Progress> {
        let mut counter = RowCounter::new(format);
        for chunk in chunks {
            counter.feed(chunk)?;
        }
        counter.finish()
    }

    #[test]
    fn csv_rows_are_records_after_the_header_whatever_the_chunking() {
        let body = format!(
            "{HEADER}1,2026-01-01T00:00:00Z,user,u-1,login.allowed,C-1,u-1,1.2.3.4,\"{{\"\"a\"\":1}}\",00,ab\r\n\
             2,2026-01-01T00:00:01Z,manager,m_1,two_factor.disabled_by_manager,C-1,u-1,,\"{{\"\"reason\"\":\"\"line1\nline2\"\"}}\",ab,cd\n"
        );
        let whole = count(AuditFormat::Csv, &[body.as_bytes()]).unwrap();
        assert_eq!(whole, Progress { bytes: body.len() as u64, rows: 2 });
        // Byte by byte: the same answer.
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(count(AuditFormat::Csv, &bytes).unwrap(), whole);
        // Without the final newline the last record still counts.
        let trimmed = body.trim_end();
        assert_eq!(count(AuditFormat::Csv, &[trimmed.as_bytes()]).unwrap().rows, 2);
    }

    #[test]
    fn a_header_only_csv_has_no_rows() {
        assert_eq!(count(AuditFormat::Csv, &[HEADER.as_bytes()]).unwrap().rows, 0);
        assert_eq!(count(AuditFormat::Csv, &[HEADER.trim_end().as_bytes()]).unwrap().rows, 0);
    }

    #[test]
    fn a_csv_that_is_not_the_audit_export_is_refused() {
        for body in ["", "<html>oops</html>\n1,2\n", "\u{feff}seq,at,actor_kind\n", "seq,at\n1,2\n"] {
            let err = count(AuditFormat::Csv, &[body.as_bytes()]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{body:?}");
        }
        let long = "x".repeat(MAX_HEADER_BYTES + 1);
        assert_eq!(count(AuditFormat::Csv, &[long.as_bytes()]).unwrap_err().kind(), ErrorKind::Protocol);
        let open = format!("{HEADER}1,\"unterminated");
        assert_eq!(count(AuditFormat::Csv, &[open.as_bytes()]).unwrap_err().kind(), ErrorKind::Protocol);
    }

    #[test]
    fn ndjson_rows_are_non_empty_lines() {
        let body = "{\"seq\":1}\n{\"seq\":2}\n\n{\"seq\":3}";
        let p = count(AuditFormat::Ndjson, &[&body.as_bytes()[..5], &body.as_bytes()[5..]]).unwrap();
        assert_eq!(p, Progress { bytes: body.len() as u64, rows: 3 });
        assert_eq!(count(AuditFormat::Ndjson, &[b""]).unwrap(), Progress::default());
    }

    #[test]
    fn progress_counts_only_complete_rows() {
        let mut counter = RowCounter::new(AuditFormat::Ndjson);
        counter.feed(b"{\"seq\":1}\n{\"se").unwrap();
        assert_eq!(counter.progress().rows, 1);
        counter.feed(b"q\":2}\n").unwrap();
        assert_eq!(counter.progress().rows, 2);
    }

    #[test]
    fn audit_url_has_every_filter() {
        let client = Client::new("http://127.0.0.1:9", "tgm_token_abcdefghijklmnopqrstuvwxyz0123").unwrap();
        let filter = AuditFilter {
            contract_id: Some("C-10001".into()),
            user_id: Some("u 1".into()),
            since: Some(datetime!(2026-08-01 00:00:00 UTC)),
            until: Some(datetime!(2026-11-27 12:00:00 -05:00)),
        };
        let url = client.audit_url(&filter, AuditFormat::Ndjson).unwrap();
        assert_eq!(url.path(), "/v1/admin/audit");
        assert_eq!(
            url.query(),
            Some("contract_id=C-10001&user_id=u+1&since=2026-08-01T00%3A00%3A00Z&until=2026-11-27T17%3A00%3A00Z&format=ndjson")
        );
        let url = client.audit_url(&AuditFilter::default(), AuditFormat::Csv).unwrap();
        assert_eq!(url.query(), Some("format=csv"));
    }

    #[tokio::test]
    async fn cancel_is_shared_by_clones_and_wakes_waiters() {
        let cancel = Cancel::new();
        let other = cancel.clone();
        let waiter = tokio::spawn(async move { other.cancelled().await });
        assert!(!cancel.is_cancelled());
        cancel.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(cancel.is_cancelled());
        // Already cancelled: resolves at once.
        cancel.cancelled().await;
    }
}
