//! Tollgate's wire types: the JSON bodies of the HTTP API (api.md) and the
//! stable error codes. Shared by the server, the client and the console.
//!
//! Requests refuse unknown fields, so a typo is a clear `invalid_request`
//! rather than a silently ignored value.

pub mod admin;
pub mod error;
pub mod service;

pub use error::{ErrorCode, Problem};

/// RFC 3339 in UTC, e.g. `2026-11-27T19:40:00Z`.
pub type Time = time::OffsetDateTime;

/// `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
