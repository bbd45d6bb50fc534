//! The one error every command returns: `{code, message}`.
//!
//! `code` is a stable, snake_case identifier the UI switches on (and tests
//! pin); `message` is a sentence an account manager understands, never a
//! status code, a stack trace, a file path with a secret in it, or a token.
//! Lower layers (credentials, cache, server API, config) have their own error
//! types; each converts into a `CommandError` here, in one place.

use serde::Serialize;
use ts_rs::TS;

/// Stable error codes of the console's commands. Never rename one: the UI
/// and tests depend on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The server could not be reached (DNS, refused, TLS, timeout).
    ServerUnreachable,
    /// The token was refused: revoked, expired or mistyped.
    Unauthorized,
    /// The contract or user does not exist or is not assigned to this manager.
    NotFound,
    /// The server asks us to slow down; the message says for how long.
    RateLimited,
    /// Something the manager typed is not acceptable; the message says what.
    InvalidInput,
    /// No OS keyring (Secret Service) is reachable; a session-only sign-in is possible.
    KeyringUnavailable,
    /// The command needs a signed-in session and there is none.
    NotSignedIn,
    /// A local file or the local cache could not be read or written.
    Io,
    /// A bug or an unexpected answer; details are in the log, not here.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        Self::ServerUnreachable,
        Self::Unauthorized,
        Self::NotFound,
        Self::RateLimited,
        Self::InvalidInput,
        Self::KeyringUnavailable,
        Self::NotSignedIn,
        Self::Io,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerUnreachable => "server_unreachable",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::InvalidInput => "invalid_input",
            Self::KeyringUnavailable => "keyring_unavailable",
            Self::NotSignedIn => "not_signed_in",
            Self::Io => "io",
            Self::Internal => "internal",
        }
    }
}

/// What a command returns on failure, serialised as `{"code": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, TS, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_signed_in() -> Self {
        Self::new(ErrorCode::NotSignedIn, "You are not signed in. Connect to a Tollgate server first.")
    }

    /// For failures that are our fault. The detail goes to the log (it must
    /// not contain a secret); the manager sees a generic sentence.
    pub fn internal(detail: &str) -> Self {
        tracing::error!(detail, "internal error");
        Self::new(ErrorCode::Internal, "Something went wrong inside the console. The log file has the details.")
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_names() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        }
    }

    #[test]
    fn error_is_code_and_message_only() {
        let e = CommandError::new(ErrorCode::NotFound, "Contract c_1 was not found.");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "not_found", "message": "Contract c_1 was not found."})
        );
    }

    #[test]
    fn internal_hides_the_detail() {
        let e = CommandError::internal("sqlite: disk I/O error at /home/x");
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("sqlite"));
    }
}
