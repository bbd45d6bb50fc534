//! Bodies of the admin API (manager token), used by the console.

use crate::service::TwoFactorStatus;

use serde::{Deserialize, Serialize};

/// `GET /v1/admin/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub manager_id: String,
    pub name: String,
    pub email: String,
    /// How many contracts are assigned to this manager.
    pub contracts: u64,
}

/// An item of `GET /v1/admin/contracts`, and `GET /v1/admin/contracts/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContractSummary {
    pub contract_id: String,
    pub name: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub users: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub users_with_two_factor: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: time::OffsetDateTime,
}

/// A user as account managers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AdminUser {
    pub user_id: String,
    pub contract_id: String,
    pub display_name: String,
    pub email: String,
    pub two_factor: TwoFactorStatus,
}

/// An item of `GET /v1/admin/users/{id}/notifications`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Notification {
    pub notification_id: String,
    /// `sms` | `email`
    pub channel: String,
    pub purpose: String,
    pub recipient_masked: String,
    /// `queued` | `sent` | `failed`
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub sent_at: Option<time::OffsetDateTime>,
}

/// Body of both disable endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    /// Why (1–500 characters). Kept in the audit log; not sent to users.
    pub reason: String,
}

/// `POST /v1/admin/users/{id}/two-factor/disable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserDisabled {
    pub user_id: String,
    /// False when 2FA was already off (the call is idempotent).
    pub changed: bool,
    pub two_factor: TwoFactorStatus,
}

/// `POST /v1/admin/contracts/{id}/two-factor/disable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContractDisabled {
    pub contract_id: String,
    /// How many users had 2FA turned off.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub disabled: u64,
}

/// One line of `GET /v1/admin/audit?format=ndjson`; the CSV export has the
/// same columns in this order (`detail` as compact JSON text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub contract_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The CSV header of the audit export, in order (api.md).
pub const AUDIT_CSV_HEADER: [&str; 11] =
    ["seq", "at", "actor_kind", "actor_id", "action", "contract_id", "user_id", "ip", "detail", "prev_hash", "hash"];
