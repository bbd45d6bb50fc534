//! Errors on the wire: `application/problem+json` (RFC 9457) with a stable
//! machine-readable `code`.

use serde::{Deserialize, Serialize};

/// The stable error codes of api.md. Clients switch on these, never on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    NotFound,
    InvalidRequest,
    InvalidPhone,
    CodeMismatch,
    CodeExpired,
    TooManyAttempts,
    RateLimited,
    FlowState,
    Conflict,
    TwoFactorNotEnabled,
    TwoFactorAlreadyEnabled,
    AccountLocked,
    /// The server failed; the detail says nothing about its insides.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        Self::Unauthorized,
        Self::NotFound,
        Self::InvalidRequest,
        Self::InvalidPhone,
        Self::CodeMismatch,
        Self::CodeExpired,
        Self::TooManyAttempts,
        Self::RateLimited,
        Self::FlowState,
        Self::Conflict,
        Self::TwoFactorNotEnabled,
        Self::TwoFactorAlreadyEnabled,
        Self::AccountLocked,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidPhone => "invalid_phone",
            Self::CodeMismatch => "code_mismatch",
            Self::CodeExpired => "code_expired",
            Self::TooManyAttempts => "too_many_attempts",
            Self::RateLimited => "rate_limited",
            Self::FlowState => "flow_state",
            Self::Conflict => "conflict",
            Self::TwoFactorNotEnabled => "two_factor_not_enabled",
            Self::TwoFactorAlreadyEnabled => "two_factor_already_enabled",
            Self::AccountLocked => "account_locked",
            Self::Internal => "internal",
        }
    }

    /// A short human title, the same for every occurrence of the code.
    pub fn title(self) -> &'static str {
        match self {
            Self::Unauthorized => "Missing or invalid token",
            Self::NotFound => "Not found",
            Self::InvalidRequest => "Invalid request",
            Self::InvalidPhone => "Invalid phone number",
            Self::CodeMismatch => "Wrong code",
            Self::CodeExpired => "Code expired",
            Self::TooManyAttempts => "Too many attempts for this code",
            Self::RateLimited => "Too many codes sent",
            Self::FlowState => "Step not allowed now",
            Self::Conflict => "Conflict",
            Self::TwoFactorNotEnabled => "Two-factor authentication is not enabled",
            Self::TwoFactorAlreadyEnabled => "Two-factor authentication is already enabled",
            Self::AccountLocked => "Account temporarily locked",
            Self::Internal => "Internal error",
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// On `code_mismatch`: tries left for this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// On `429`s where waiting helps: the same number as `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }
}
