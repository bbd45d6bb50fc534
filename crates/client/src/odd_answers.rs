//! Unit tests with canned answers the real server never gives: a proxy's
//! HTML pages, truncated and empty bodies, a server too slow to answer, a
//! redirect, an audit stream cut off or stalled mid-way. A tiny axum router
//! (or, where the bytes on the wire matter, a raw TCP socket) on
//! 127.0.0.1:0 plays the server. Everything real is in tests/client.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{AuditFilter, AuditFormat, Cancel, Client, ContractFilter, Error, ErrorCode, ErrorKind, Options, Progress};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "tgm_odd-answers-token-0123456789abcdefghij";

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn client(url: &str, timeout: Duration) -> Client {
    let options = Options { request_timeout: timeout, ..Options::default() };
    Client::with_options(url, TOKEN, options).unwrap()
}

/// Accepts one connection, reads the request head, writes `answer` verbatim,
/// then closes the connection or (with `hold`) keeps it open and silent.
async fn raw_server(answer: Vec<u8>, hold: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        socket.write_all(&answer).await.unwrap();
        socket.flush().await.unwrap();
        if hold {
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
    });
    format!("http://{addr}")
}

fn chunked_csv_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-type: text/csv; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()
}

fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

const HEADER: &str = "seq,at,actor_kind,actor_id,action,contract_id,user_id,ip,detail,prev_hash,hash\n";
const ROW: &str = "1,2026-11-01T10:00:00Z,system,cli,manager.created,,,,\"{}\",00,11\n";

#[tokio::test]
async fn an_html_502_from_a_proxy_is_a_server_error() {
    let router = Router::new().route(
        "/v1/admin/me",
        get(|| async {
            (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], "<html><h1>502 Bad Gateway</h1></html>")
        }),
    );
    let url = serve(router).await;
    let err = client(&url, Duration::from_secs(5)).me().await.unwrap_err();
    assert!(matches!(&err, Error::Server { status: 502, code: None, .. }), "{err:?}");
    assert!(!err.to_string().contains("<html>"), "{err}");
}

#[tokio::test]
async fn truncated_empty_or_wrong_json_is_a_protocol_error() {
    let router = Router::new()
        .route(
            "/v1/admin/me",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], r#"{"manager_id":"m_1","na"#) }),
        )
        .route("/v1/admin/contracts/{id}", get(|| async { ([(header::CONTENT_TYPE, "application/json")], "") }))
        .route("/v1/admin/contracts", get(|| async { axum::Json(json!({"items": "nope", "next_cursor": null})) }))
        .route("/v1/admin/users/{id}", get(|| async { "<html>captive portal</html>" }));
    let url = serve(router).await;
    let c = client(&url, Duration::from_secs(5));
    for err in [
        c.me().await.unwrap_err(),
        c.contract("C-1").await.unwrap_err(),
        c.all_contracts(&ContractFilter::default()).await.unwrap_err(),
        c.user("u-1").await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Protocol { status: Some(200), .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_truncated_body_against_its_length_is_a_protocol_error() {
    let answer =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{\"manager_id\":\"m".to_vec();
    let url = raw_server(answer, false).await;
    let err = client(&url, Duration::from_secs(5)).me().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let router = Router::new().route(
        "/v1/admin/me",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        }),
    );
    let url = serve(router).await;
    let started = Instant::now();
    let err = client(&url, Duration::from_millis(300)).me().await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(&format!("http://{addr}"), Duration::from_secs(5)).me().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&addr.port().to_string()) && text.to_lowercase().contains("refused"), "{text}");
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn an_html_404_means_the_wrong_server_and_redirects_are_not_followed() {
    let leaked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&leaked);
    let router = Router::new()
        .route("/v1/admin/me", get(|| async { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/elsewhere")]) }))
        .route(
            "/elsewhere",
            get(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                async { "gotcha" }
            }),
        );
    let url = serve(router).await;
    let c = client(&url, Duration::from_secs(5));
    let err = c.me().await.unwrap_err();
    assert!(matches!(err, Error::Protocol { status: Some(307), .. }), "{err:?}");
    assert_eq!(leaked.load(Ordering::SeqCst), 0, "the redirect was followed");
    // Routes this router lacks answer axum's bare 404.
    let err = c.contract("C-1").await.unwrap_err();
    assert!(matches!(err, Error::Protocol { status: Some(404), .. }), "{err:?}");
}

#[tokio::test]
async fn the_token_and_encoded_ids_reach_the_server() {
    let router = Router::new().route(
        "/v1/admin/users/{id}",
        get(|axum::extract::Path(id): axum::extract::Path<String>, headers: HeaderMap| async move {
            if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
                return (StatusCode::UNAUTHORIZED, "no").into_response();
            }
            let problem = json!({"type":"about:blank","title":"Not found","status":404,"detail":format!("no user {id}"),"code":"not_found"});
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/problem+json")], problem.to_string())
                .into_response()
        }),
    );
    let url = serve(router).await;
    let err = client(&url, Duration::from_secs(5)).user("a b/c?d").await.unwrap_err();
    match err {
        Error::NotFound { detail } => assert_eq!(detail, "no user a b/c?d"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_cut_off_audit_stream_is_an_error_not_a_success() {
    let mut answer = chunked_csv_head();
    answer.extend(chunk(&format!("{HEADER}{ROW}{ROW}")));
    // No terminating zero-length chunk: the connection just closes.
    let url = raw_server(answer, false).await;
    let mut out = Vec::new();
    let mut last = Progress::default();
    let result = client(&url, Duration::from_secs(5))
        .export_audit(&AuditFilter::default(), AuditFormat::Csv, &mut out, &Cancel::new(), |p| last = p)
        .await;
    let err = result.expect_err("a cut-off stream reported success");
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert_eq!(last.rows, 2, "progress still told what was written");
}

#[tokio::test]
async fn a_complete_chunked_audit_stream_is_counted() {
    let mut answer = chunked_csv_head();
    answer.extend(chunk(HEADER));
    answer.extend(chunk(&format!("{ROW}{ROW}")));
    answer.extend(chunk(ROW));
    answer.extend(b"0\r\n\r\n");
    let url = raw_server(answer, false).await;
    let mut out = Vec::new();
    let mut reports = Vec::new();
    let total = client(&url, Duration::from_secs(5))
        .export_audit(&AuditFilter::default(), AuditFormat::Csv, &mut out, &Cancel::new(), |p| reports.push(p))
        .await
        .unwrap();
    assert_eq!(total, Progress { bytes: (HEADER.len() + 3 * ROW.len()) as u64, rows: 3 });
    assert_eq!(out, format!("{HEADER}{ROW}{ROW}{ROW}").into_bytes());
    assert_eq!(reports.last(), Some(&total));
}

#[tokio::test]
async fn a_stalled_audit_stream_times_out() {
    let mut answer = chunked_csv_head();
    answer.extend(chunk(&format!("{HEADER}{ROW}")));
    let url = raw_server(answer, true).await;
    let mut out = Vec::new();
    let started = Instant::now();
    let err = client(&url, Duration::from_millis(300))
        .export_audit(&AuditFilter::default(), AuditFormat::Csv, &mut out, &Cancel::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out, format!("{HEADER}{ROW}").into_bytes());
}

#[tokio::test]
async fn cancelling_a_stalled_audit_stream_returns_at_once() {
    let mut answer = chunked_csv_head();
    answer.extend(chunk(&format!("{HEADER}{ROW}")));
    let url = raw_server(answer, true).await;
    let cancel = Cancel::new();
    let canceller = cancel.clone();
    let mut out = Vec::new();
    let started = Instant::now();
    // A long timeout: only the cancellation can end this.
    let err = client(&url, Duration::from_secs(60))
        .export_audit(&AuditFilter::default(), AuditFormat::Csv, &mut out, &cancel, |p| {
            if p.rows == 1 {
                let c = canceller.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    c.cancel();
                });
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn an_audit_answer_of_the_wrong_type_writes_nothing() {
    let router = Router::new()
        .route("/v1/admin/audit", get(|| async { axum::Json(json!({"items": []})) }))
        .fallback(|| async { StatusCode::NOT_FOUND });
    let url = serve(router).await;
    let mut out = Vec::new();
    let err = client(&url, Duration::from_secs(5))
        .export_audit(&AuditFilter::default(), AuditFormat::Ndjson, &mut out, &Cancel::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Protocol { status: Some(200), .. }), "{err:?}");
    assert!(out.is_empty());
}

#[tokio::test]
async fn an_audit_error_answer_is_mapped_like_any_other() {
    let router = Router::new().route(
        "/v1/admin/audit",
        get(|| async {
            let body = json!({"type":"about:blank","title":"Too many","status":429,"detail":"slow down","code":"rate_limited"});
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "12")], body.to_string())
        }),
    );
    let url = serve(router).await;
    let mut out = Vec::new();
    let err = client(&url, Duration::from_secs(5))
        .export_audit(&AuditFilter::default(), AuditFormat::Csv, &mut out, &Cancel::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { code: ErrorCode::RateLimited, retry_after: Some(12), .. }), "{err:?}");
    assert!(out.is_empty());
}

#[tokio::test]
async fn a_pager_stops_on_a_cursor_that_does_not_move() {
    let router = Router::new()
        .route("/v1/admin/contracts", get(|| async { axum::Json(json!({"items": [], "next_cursor": "same"})) }));
    let url = serve(router).await;
    let c = client(&url, Duration::from_secs(5));
    let mut pager = c.contract_pages(&ContractFilter::default(), Some(1)).unwrap();
    assert_eq!(pager.next_page().await.unwrap(), Some(vec![]));
    let err = pager.next_page().await.unwrap_err();
    assert!(matches!(err, Error::Protocol { status: Some(200), .. }), "{err:?}");
    assert!(!pager.is_finished());
}
