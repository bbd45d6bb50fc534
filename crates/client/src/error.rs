//! The client's one error enum, and how answers become it.
//!
//! The console shows every error in words a manager understands (console.md):
//! "server unreachable", "token revoked", "contract not found", "rate limited —
//! retry in N s". So the variants follow what the manager can do about it,
//! not HTTP: [`Error::kind`] is the stable switch, [`ErrorKind::as_str`] its
//! stable name for the UI's `{code, message}`.
//!
//! Error answers are `application/problem+json` (`tollgate_proto::Problem`).
//! Anything else — a proxy's HTML 502, an empty body, a JSON body that is not
//! a problem, a problem with a code this client does not know — still maps
//! by status, with a generic detail. A `404` without a problem body is a
//! protocol error, not "not found": it means the URL is not a Tollgate admin
//! API (wrong server, wrong prefix, or a server without the admin routes).
//!
//! No variant carries the token: it is only ever in a sensitive header.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tollgate_proto::{ErrorCode, Problem};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL is not usable (not a URL, not http(s), has credentials…).
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// Plain `http://` to a host that is not loopback.
    #[error(
        "refusing plain http:// to {host}: use https:// (plain http is allowed only to loopback: 127.0.0.0/8, ::1, localhost)"
    )]
    InsecureUrl { host: String },
    /// The token cannot be sent (empty, spaces, control characters). Never
    /// includes the token.
    #[error("the token is not usable: {0}")]
    InvalidToken(&'static str),
    /// An argument this client refuses before asking (an id of `.`/`..`, an
    /// unformattable time).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No connection could be made (refused, DNS, TLS, connect timeout, reset
    /// before an answer).
    #[error("cannot reach the server: {detail}")]
    Unreachable {
        detail: String,
        #[source]
        source: Option<reqwest::Error>,
    },
    /// Connected, but the answer (or the next chunk of a stream) did not come
    /// in time.
    #[error("the server did not answer in time")]
    Timeout,
    /// `401`: the token is missing, unknown, revoked or of the wrong kind.
    #[error("the token was refused: {detail}")]
    Unauthorized { detail: String },
    /// `404` problem: no such contract or user among the manager's contracts.
    #[error("not found: {detail}")]
    NotFound { detail: String },
    /// `429`: wait `retry_after` seconds when the server says so.
    #[error("rate limited ({code:?}): {detail}")]
    RateLimited { code: ErrorCode, retry_after: Option<u64>, detail: String },
    /// Another `4xx`: the server's stable `code` (`invalid_request` when the
    /// answer had none) and its detail.
    #[error("request refused ({status}, {}): {detail}", code.as_str())]
    InvalidRequest { status: u16, code: ErrorCode, detail: String },
    /// `5xx`: the server (or a proxy in front of it) failed.
    #[error("server error {status}: {detail}")]
    Server { status: u16, code: Option<ErrorCode>, detail: String },
    /// An answer this client cannot read: unexpected status, not JSON, the
    /// wrong JSON, a cut-off body, a stream that is not what was asked for.
    #[error("unreadable answer from the server: {detail}")]
    Protocol { status: Option<u16>, detail: String },
    /// The caller cancelled (audit export).
    #[error("cancelled")]
    Cancelled,
    /// Writing the export failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}

/// What kind of error, for the console to switch on; its names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    InvalidUrl,
    InsecureUrl,
    InvalidToken,
    InvalidArgument,
    Unreachable,
    Timeout,
    Unauthorized,
    NotFound,
    RateLimited,
    InvalidRequest,
    Server,
    Protocol,
    Cancelled,
    Io,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::InsecureUrl => "insecure_url",
            Self::InvalidToken => "invalid_token",
            Self::InvalidArgument => "invalid_argument",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::InvalidRequest => "invalid_request",
            Self::Server => "server",
            Self::Protocol => "protocol",
            Self::Cancelled => "cancelled",
            Self::Io => "io",
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUrl(_) => ErrorKind::InvalidUrl,
            Self::InsecureUrl { .. } => ErrorKind::InsecureUrl,
            Self::InvalidToken(_) => ErrorKind::InvalidToken,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::Unreachable { .. } => ErrorKind::Unreachable,
            Self::Timeout => ErrorKind::Timeout,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            Self::Server { .. } => ErrorKind::Server,
            Self::Protocol { .. } => ErrorKind::Protocol,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Io(_) => ErrorKind::Io,
        }
    }

    /// The server's stable error code, when it sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Unauthorized { .. } => Some(ErrorCode::Unauthorized),
            Self::NotFound { .. } => Some(ErrorCode::NotFound),
            Self::RateLimited { code, .. } | Self::InvalidRequest { code, .. } => Some(*code),
            Self::Server { code, .. } => *code,
            _ => None,
        }
    }

    /// Seconds to wait before trying again, when the server said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn protocol(status: Option<u16>, detail: impl Into<String>) -> Self {
        Self::Protocol { status, detail: detail.into() }
    }

    /// A failure of the HTTP exchange itself (no status to go by).
    pub(crate) fn transport(error: reqwest::Error) -> Self {
        if error.is_connect() {
            let place = match error.url().and_then(|u| u.host_str().map(|h| (h.to_owned(), u.port_or_known_default())))
            {
                Some((host, Some(port))) => format!("no connection to {host}:{port}"),
                Some((host, None)) => format!("no connection to {host}"),
                None => "no connection".to_owned(),
            };
            // The innermost cause says why: refused, DNS, a certificate…
            let detail = match root_cause(&error) {
                Some(cause) => format!("{place} ({cause})"),
                None => place,
            };
            return Self::Unreachable { detail, source: Some(error) };
        }
        if error.is_timeout() {
            return Self::Timeout;
        }
        if error.is_body() || error.is_decode() {
            return Self::protocol(None, "the answer was cut off or could not be decoded");
        }
        if error.is_redirect() {
            return Self::protocol(None, "unexpected redirect");
        }
        Self::Unreachable { detail: "the connection failed before an answer".into(), source: Some(error) }
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = error.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// Maps an error answer (any status outside 2xx) to an [`Error`]. Pure, so
/// every odd answer can be pinned by a unit test.
pub(crate) fn from_answer(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let problem = serde_json::from_slice::<Problem>(body).ok();
    let generic = || match status.canonical_reason() {
        Some(reason) => format!("{} {reason} without a problem body", status.as_u16()),
        None => format!("status {} without a problem body", status.as_u16()),
    };
    let detail = problem.as_ref().map(|p| p.detail.clone()).unwrap_or_else(generic);
    let code = problem.as_ref().map(|p| p.code);
    let code_u16 = status.as_u16();
    match code_u16 {
        401 | 403 => Error::Unauthorized { detail },
        404 if problem.is_some() => Error::NotFound { detail },
        404 => Error::protocol(
            Some(404),
            "no such endpoint here (is this the URL of a Tollgate server with the admin API?)",
        ),
        429 => Error::RateLimited {
            code: code.unwrap_or(ErrorCode::RateLimited),
            retry_after: retry_after_header(headers).or_else(|| problem.as_ref().and_then(|p| p.retry_after)),
            detail,
        },
        400..=499 => {
            Error::InvalidRequest { status: code_u16, code: code.unwrap_or(ErrorCode::InvalidRequest), detail }
        }
        500..=599 => Error::Server { status: code_u16, code, detail },
        _ => Error::protocol(Some(code_u16), format!("unexpected status {code_u16}")),
    }
}

/// `Retry-After` in delta-seconds (the form the server sends); an HTTP date
/// is ignored in favour of the problem's `retry_after`.
fn retry_after_header(headers: &HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn problem(status: u16, code: &str, detail: &str) -> Vec<u8> {
        json!({"type": "about:blank", "title": "t", "status": status, "detail": detail, "code": code})
            .to_string()
            .into_bytes()
    }

    fn map(status: u16, body: &[u8]) -> Error {
        from_answer(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body)
    }

    #[test]
    fn problems_map_by_status_and_keep_code_and_detail() {
        let err = map(401, &problem(401, "unauthorized", "unknown token"));
        assert!(matches!(&err, Error::Unauthorized { detail } if detail == "unknown token"), "{err:?}");
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized));

        let err = map(404, &problem(404, "not_found", "no contract C-1"));
        assert!(matches!(&err, Error::NotFound { detail } if detail == "no contract C-1"), "{err:?}");

        let err = map(422, &problem(422, "invalid_request", "reason: 1 to 500 characters"));
        match &err {
            Error::InvalidRequest { status, code, detail } => {
                assert_eq!(
                    (*status, *code, detail.as_str()),
                    (422, ErrorCode::InvalidRequest, "reason: 1 to 500 characters")
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.kind().as_str(), "invalid_request");

        let err = map(409, &problem(409, "conflict", "busy"));
        assert_eq!(err.code(), Some(ErrorCode::Conflict));
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);

        let err = map(500, &problem(500, "internal", "internal error"));
        assert!(
            matches!(&err, Error::Server { status: 500, code: Some(ErrorCode::Internal), detail } if detail == "internal error"),
            "{err:?}"
        );
    }

    #[test]
    fn rate_limits_carry_the_wait_from_the_header_or_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        let body = json!({"type":"t","title":"t","status":429,"detail":"wait","code":"rate_limited","retry_after":99});
        let err = from_answer(StatusCode::TOO_MANY_REQUESTS, &headers, body.to_string().as_bytes());
        assert_eq!(err.retry_after(), Some(17));
        assert_eq!(err.kind(), ErrorKind::RateLimited);

        let err = map(429, body.to_string().as_bytes());
        assert_eq!(err.retry_after(), Some(99));

        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"));
        let err = from_answer(StatusCode::TOO_MANY_REQUESTS, &headers, b"slow down");
        assert!(matches!(err, Error::RateLimited { code: ErrorCode::RateLimited, retry_after: None, .. }), "{err:?}");

        let err = map(429, &problem(429, "account_locked", "locked"));
        assert_eq!(err.code(), Some(ErrorCode::AccountLocked));
    }

    #[test]
    fn odd_bodies_map_by_status_with_a_generic_detail() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let err = map(502, html);
        assert!(
            matches!(&err, Error::Server { status: 502, code: None, detail } if detail.contains("502 Bad Gateway") && !detail.contains("<")),
            "{err:?}"
        );
        assert!(matches!(map(401, b""), Error::Unauthorized { .. }));
        assert!(matches!(map(403, b"forbidden"), Error::Unauthorized { .. }));
        assert!(matches!(
            map(400, b"Failed to deserialize query string"),
            Error::InvalidRequest { status: 400, code: ErrorCode::InvalidRequest, .. }
        ));
        assert!(matches!(map(503, b"{\"truncated"), Error::Server { status: 503, code: None, .. }));
        // A code this client does not know: still mapped by status.
        let unknown = json!({"type":"t","title":"t","status":422,"detail":"new","code":"some_new_code"});
        assert!(matches!(map(422, unknown.to_string().as_bytes()), Error::InvalidRequest { status: 422, .. }));
    }

    #[test]
    fn a_404_without_a_problem_is_the_wrong_server_not_a_missing_contract() {
        let err = map(404, b"");
        assert!(matches!(err, Error::Protocol { status: Some(404), .. }), "{err:?}");
        let err = map(404, b"<html>Not Found</html>");
        assert_eq!(err.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn redirects_and_other_statuses_are_protocol_errors() {
        assert!(matches!(map(302, b""), Error::Protocol { status: Some(302), .. }));
        assert!(matches!(map(101, b""), Error::Protocol { status: Some(101), .. }));
    }

    #[test]
    fn kinds_have_stable_distinct_names() {
        let kinds = [
            ErrorKind::InvalidUrl,
            ErrorKind::InsecureUrl,
            ErrorKind::InvalidToken,
            ErrorKind::InvalidArgument,
            ErrorKind::Unreachable,
            ErrorKind::Timeout,
            ErrorKind::Unauthorized,
            ErrorKind::NotFound,
            ErrorKind::RateLimited,
            ErrorKind::InvalidRequest,
            ErrorKind::Server,
            ErrorKind::Protocol,
            ErrorKind::Cancelled,
            ErrorKind::Io,
        ];
        let names: std::collections::HashSet<_> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), kinds.len());
        assert_eq!(ErrorKind::RateLimited.as_str(), "rate_limited");
        assert_eq!(Error::Cancelled.kind().as_str(), "cancelled");
    }
}
