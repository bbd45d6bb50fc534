//! The server's one boundary error: every failure becomes an RFC 9457
//! `application/problem+json` answer with a stable `code`. Database and
//! other internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_core::send_limit::RetryAfter;
use tollgate_proto::{ErrorCode, Problem};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub attempts_left: Option<u32>,
    pub retry_after: Option<u64>,
    /// A database lock race (PostgreSQL deadlock, serialisation failure,
    /// lock timeout): the work may be run again as it is (see
    /// `store::writer`).
    pub retry: bool,
    /// A job of the group-commit writer failed and could not undo its own
    /// writes: the writer must drop its whole batch (see `store::writer`).
    pub broken: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            attempts_left: None,
            retry_after: None,
            retry: false,
            broken: false,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "send a valid token of the right kind as 'Authorization: Bearer <token>'",
        )
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, what)
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, detail)
    }

    pub fn invalid_phone(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidPhone, detail)
    }

    pub fn flow_state(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::FlowState, detail)
    }

    pub fn mismatch(attempts_left: u32) -> Self {
        Self {
            attempts_left: Some(attempts_left),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::CodeMismatch,
                format!("the code is wrong; {attempts_left} attempts left for this code"),
            )
        }
    }

    pub fn expired() -> Self {
        Self::new(StatusCode::GONE, ErrorCode::CodeExpired, "the code has expired; ask for a new one")
    }

    pub fn too_many_attempts() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            "this code had too many wrong attempts and no longer works; ask for a new one",
        )
    }

    pub fn rate_limited(wait: RetryAfter) -> Self {
        let secs = wait.seconds();
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("too many codes were sent to this phone number; try again in {secs} s"),
            )
        }
    }

    pub fn account_locked(wait: RetryAfter) -> Self {
        let secs = wait.seconds();
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::AccountLocked,
                format!("too many wrong codes: the account is locked for {secs} s"),
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server could not complete the request; it has been logged",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:tollgate:problem:{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            attempts_left: self.attempts_left,
            retry_after: self.retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // PostgreSQL: 40P01 deadlock_detected, 40001 serialization_failure,
        // 55P03 lock_not_available (a lock_timeout ran out).
        let race = matches!(&error, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("40P01" | "40001" | "55P03")));
        if race {
            tracing::debug!(%error, "database lock race (retried)");
        } else {
            tracing::error!(%error, "database error");
        }
        Self { retry: race, ..Self::internal() }
    }
}

impl crate::store::writer::JobError for ApiError {
    fn retry(&self) -> bool {
        self.retry
    }

    fn from_db(error: sqlx::Error) -> Self {
        error.into()
    }

    fn broken(&self) -> bool {
        self.broken
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
