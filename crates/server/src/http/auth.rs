//! Bearer tokens. A service token is good only on the service API (and
//! `GET /metrics`); any other token there (a manager's, a metrics-only
//! one, a revoked one, none) is `401`. A metrics-only token is good on
//! `GET /metrics` and nowhere else. Live service tokens are remembered
//! for `SERVICE_TOKEN_TTL` (below).

use crate::app::App;
use crate::crypto::token_digest;
use crate::error::ApiError;
use crate::store::tokens;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The product's web tier, authenticated by a service token.
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    pub token_id: String,
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<Arc<App>> for ServiceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let digest = token_digest(token);
        service_token(app, digest).await?.map(|token_id| Self { token_id }).ok_or_else(ApiError::unauthorized)
    }
}

/// The id of the live service token with this digest, from the cache or
/// the database.
async fn service_token(app: &App, digest: String) -> Result<Option<String>, ApiError> {
    if let Some(token_id) = app.service_tokens.get(&digest) {
        return Ok(Some(token_id));
    }
    let mut conn = app.store.read_pool().acquire().await?;
    let found = tokens::find_service_token(&mut conn, &digest).await?;
    if let Some(token_id) = &found {
        app.service_tokens.put(digest, token_id.clone());
    }
    Ok(found)
}

/// Whoever may read `GET /metrics`: a scraper with a metrics-only token,
/// or the web tier with its service token.
#[derive(Debug, Clone, Copy)]
pub struct MetricsCaller;

impl FromRequestParts<Arc<App>> for MetricsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let digest = token_digest(token);
        // A service token is usually found in the cache, without a query.
        if service_token(app, digest.clone()).await?.is_some() {
            return Ok(Self);
        }
        let mut conn = app.store.read_pool().acquire().await?;
        if tokens::is_metrics_token(&mut conn, &digest).await? {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Service tokens found live in the database in the last
/// `SERVICE_TOKEN_TTL`, by digest (never the token itself): the product's
/// web tier sends the same token on every call, and looking it up each
/// time cost a database round trip per request. Only live tokens are
/// remembered (an unknown token always asks the database, so guessing
/// cannot fill the cache), and each for at most the TTL: a token revoked
/// in the database (`revoked_at` set) stops working within that time.
#[derive(Debug, Default)]
pub struct ServiceTokenCache {
    live: std::sync::Mutex<std::collections::HashMap<String, (String, Instant)>>,
}

/// How long a verified service token is trusted without asking again.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(5);
/// At most this many tokens are remembered (there are a handful).
const SERVICE_TOKEN_CACHE_MAX: usize = 64;

impl ServiceTokenCache {
    /// The token id, if this digest was found live less than the TTL ago.
    pub fn get(&self, digest: &str) -> Option<String> {
        let live = self.live.lock().ok()?;
        live.get(digest).filter(|(_, at)| at.elapsed() < SERVICE_TOKEN_TTL).map(|(id, _)| id.clone())
    }

    fn put(&self, digest: String, token_id: String) {
        if let Ok(mut live) = self.live.lock() {
            if live.len() >= SERVICE_TOKEN_CACHE_MAX {
                live.retain(|_, (_, at)| at.elapsed() < SERVICE_TOKEN_TTL);
                if live.len() >= SERVICE_TOKEN_CACHE_MAX {
                    live.clear();
                }
            }
            live.insert(digest, (token_id, Instant::now()));
        }
    }
}

/// An account manager, authenticated by a live manager token. Any other
/// token (a service token, a revoked one, none) is `401`.
#[derive(Debug, Clone)]
pub struct ManagerCaller(pub crate::store::managers::ManagerRow);

impl FromRequestParts<Arc<App>> for ManagerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let mut conn = app.store.pool().acquire().await?;
        match crate::store::managers::find_by_token(&mut conn, &token_digest(token)).await? {
            Some(manager) => Ok(Self(manager)),
            None => Err(ApiError::unauthorized()),
        }
    }
}
