//! `GET /v1/admin/audit`: the manager's audit log, streamed as CSV or
//! NDJSON. Rows are read in pages by `seq` (each page a short read, so the
//! export never holds the database) and written to the socket as they come:
//! memory stays flat however many rows. The export stops at the chain head
//! seen when it started, so it is a consistent prefix of the log.

use crate::app::App;
use crate::clock::from_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::ManagerCaller;
use crate::http::query::{time_param, Query};
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
use tollgate_core::ids::{ContractId, UserId};
use tollgate_proto::admin::{AuditRecord, AUDIT_CSV_HEADER};

const PAGE: i64 = 10_000;
/// The largest piece of the body handed to the socket at once.
const CHUNK: usize = 64 * 1024;

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
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

fn rfc3339(ms: i64) -> String {
    from_ms(ms).format(&Rfc3339).unwrap_or_default()
}

/// Encodes one page of events.
pub fn encode(rows: &[EventRow], format: Format, header: bool) -> Result<Vec<u8>, csv::Error> {
    match format {
        Format::Csv => {
            let mut out =
                csv::WriterBuilder::new().has_headers(false).from_writer(Vec::with_capacity(rows.len() * 300));
            if header {
                out.write_record(AUDIT_CSV_HEADER)?;
            }
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
                    out.write_field(neutralize(cell).as_bytes())?;
                }
                out.write_record(None::<&[u8]>)?;
            }
            out.into_inner().map_err(|e| e.into_error().into())
        }
        Format::Ndjson => {
            let mut out = Vec::with_capacity(rows.len() * 350);
            for r in rows {
                let record = AuditRecord {
                    seq: r.seq,
                    at: from_ms(r.at),
                    actor_kind: r.actor_kind.clone(),
                    actor_id: r.actor_id.clone(),
                    action: r.action.clone(),
                    contract_id: r.contract_id.clone(),
                    user_id: r.user_id.clone(),
                    ip: r.ip.clone(),
                    detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail.clone())),
                    prev_hash: r.prev_hash.clone(),
                    hash: r.hash.clone(),
                };
                serde_json::to_writer(&mut out, &record).map_err(|e| csv::Error::from(std::io::Error::other(e)))?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
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

    // Two stages, so reading the next page overlaps encoding this one:
    // pages of rows → encoder → chunks of bytes → the socket.
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel::<Vec<EventRow>>(2);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let manager_id = manager.id.clone();
    let failed = tx.clone();
    tokio::spawn(async move {
        let mut after = 0;
        loop {
            let rows = match app.store.pool().acquire().await {
                Ok(mut c) => admin::audit_page(&mut c, &manager_id, &filter, after, max_seq, PAGE).await,
                Err(e) => Err(e),
            };
            let rows = match rows {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(%error, "audit export: cannot read events");
                    let _ = failed.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            let full = i64::try_from(rows.len()).unwrap_or(0) == PAGE;
            let next = rows.last().map(|r| r.seq);
            if pages_tx.send(rows).await.is_err() {
                return; // the client went away
            }
            match next {
                Some(seq) if full => after = seq,
                _ => return,
            }
        }
    });
    tokio::spawn(async move {
        let mut first = true;
        while let Some(rows) = pages_rx.recv().await {
            let chunk = match encode(&rows, format, first && format == Format::Csv) {
                Ok(chunk) => chunk,
                Err(error) => {
                    tracing::error!(%error, "audit export: cannot encode events");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            first = false;
            // Bounded pieces (zero-copy slices): a client reads the export
            // as a stream of at most 64 KiB, whatever the page size.
            let chunk = Bytes::from(chunk);
            for start in (0..chunk.len()).step_by(CHUNK) {
                let piece = chunk.slice(start..chunk.len().min(start + CHUNK));
                if tx.send(Ok(piece)).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
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
}
