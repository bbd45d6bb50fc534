//! The console's view of the admin API: the few calls commands make, behind a
//! trait, so commands never build HTTP requests themselves.
//!
//! The real implementation wraps `tollgate_client::Client` (crates/client,
//! landing on main separately): `impl AdminApi for tollgate_client::Client`
//! plus a `Connector` that calls `Client::new(url, token)`, and a
//! `From<tollgate_client::Error> for ApiError` that maps its `ErrorKind`s onto
//! the variants below one to one. Until then [`Unwired`] answers every call
//! with a clear error, and tests plug in their own implementation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tollgate_proto::admin::{ContractSummary, Me};
use tollgate_proto::Time;

use crate::config::ServerUrl;
use crate::error::{CommandError, ErrorCode};
use crate::secret::Token;

pub type ApiFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// What can go wrong talking to the server, as the console needs to tell it apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("server unreachable: {0}")]
    Unreachable(String),
    #[error("timed out")]
    Timeout,
    #[error("unauthorized")]
    Unauthorized,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("rate limited")]
    RateLimited { retry_after: Option<u64> },
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

impl From<ApiError> for CommandError {
    fn from(e: ApiError) -> Self {
        tracing::warn!(error = %e, "server call failed");
        match e {
            ApiError::Unreachable(why) => CommandError::new(
                ErrorCode::ServerUnreachable,
                format!("The Tollgate server could not be reached ({why}). Check the address and your network."),
            ),
            ApiError::Timeout => CommandError::new(
                ErrorCode::ServerUnreachable,
                "The Tollgate server did not answer in time. Try again in a moment.",
            ),
            ApiError::Unauthorized => CommandError::new(
                ErrorCode::Unauthorized,
                "The server refused this manager token: it may have been revoked or mistyped. Sign in again.",
            ),
            ApiError::NotFound(what) => CommandError::new(
                ErrorCode::NotFound,
                format!("{what} was not found, or it is not assigned to you."),
            ),
            ApiError::RateLimited { retry_after: Some(s) } => CommandError::new(
                ErrorCode::RateLimited,
                format!("The server is limiting requests. Retry in {s} s."),
            ),
            ApiError::RateLimited { retry_after: None } => {
                CommandError::new(ErrorCode::RateLimited, "The server is limiting requests. Retry in a moment.")
            }
            ApiError::Rejected(detail) => CommandError::invalid_input(detail),
            ApiError::Protocol(_) => CommandError::new(
                ErrorCode::Internal,
                "The server gave an answer the console does not understand. Is it a Tollgate server of a matching version?",
            ),
        }
    }
}

/// The calls the console makes, with a signed-in token bound in.
pub trait AdminApi: Send + Sync {
    /// `GET /v1/admin/me`: checks the token and says who we are.
    fn me(&self) -> ApiFuture<'_, Me>;
    /// All assigned contracts changed since `since` (all when `None`), every page.
    fn contracts_updated_since(&self, since: Option<Time>) -> ApiFuture<'_, Vec<ContractSummary>>;
}

/// Makes an [`AdminApi`] for a server and token.
pub trait Connector: Send + Sync {
    fn connect(&self, server: &ServerUrl, token: &Token) -> Result<Arc<dyn AdminApi>, ApiError>;
}

/// Stand-in until `crates/client` lands: every call says so plainly.
pub struct Unwired;

impl Connector for Unwired {
    fn connect(&self, _server: &ServerUrl, _token: &Token) -> Result<Arc<dyn AdminApi>, ApiError> {
        Err(ApiError::Unreachable("this build of the console has no server client yet".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_map_to_stable_codes_and_plain_words() {
        let cases = [
            (ApiError::Unreachable("connection refused".into()), ErrorCode::ServerUnreachable),
            (ApiError::Timeout, ErrorCode::ServerUnreachable),
            (ApiError::Unauthorized, ErrorCode::Unauthorized),
            (ApiError::NotFound("Contract c_9".into()), ErrorCode::NotFound),
            (ApiError::RateLimited { retry_after: Some(42) }, ErrorCode::RateLimited),
            (ApiError::Rejected("The reason is too long.".into()), ErrorCode::InvalidInput),
            (ApiError::Protocol("missing field".into()), ErrorCode::Internal),
        ];
        for (api, code) in cases {
            let e = CommandError::from(api);
            assert_eq!(e.code, code);
            assert!(!e.message.contains("HTTP") && !e.message.is_empty(), "{}", e.message);
        }
        let e = CommandError::from(ApiError::RateLimited { retry_after: Some(42) });
        assert_eq!(e.message, "The server is limiting requests. Retry in 42 s.");
    }
}
