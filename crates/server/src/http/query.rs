//! Query strings: parsed strictly, unknown parameters refused, every
//! failure a problem+json `400` that names the parameter.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0))
            .map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))
    }
}

/// An RFC 3339 time parameter, as Unix milliseconds.
pub fn time_param(name: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|value| {
        OffsetDateTime::parse(value, &Rfc3339).map(crate::clock::to_ms).map_err(|_| {
            ApiError::invalid(format!("{name}: {value:?} is not an RFC 3339 time like 2026-11-27T19:40:00Z"))
        })
    })
    .transpose()
}
