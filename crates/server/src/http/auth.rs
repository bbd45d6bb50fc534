//! Bearer tokens. A service token is good only on the service API; any
//! other token there (a manager's, a revoked one, none) is `401`.

use crate::app::App;
use crate::crypto::token_digest;
use crate::error::ApiError;
use crate::store::tokens;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use std::sync::Arc;

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
        let mut conn = app.store.pool().acquire().await?;
        match tokens::find_service_token(&mut conn, &token_digest(token)).await? {
            Some(token_id) => Ok(Self { token_id }),
            None => Err(ApiError::unauthorized()),
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
