//! The server, as the console talks to it: `tollgate_client::Client`
//! (crates/client), and how its errors become the `{code, message}` a manager
//! reads. Commands never build HTTP requests themselves.

use tollgate_client::{Client, Error, Options};

use crate::config::ServerUrl;
use crate::error::{CommandError, ErrorCode};
use crate::secret::Token;

/// A client of `server`, signed in with `token`. Makes no request.
pub fn client(server: &ServerUrl, token: &Token) -> Result<Client, CommandError> {
    Client::with_options(server.as_str(), token.expose(), Options::default()).map_err(|e| from_client("The server", e))
}

/// Maps a client error onto a stable code and plain words. `what` names the
/// thing asked for ("Contract C-10001"), for "not found".
pub fn from_client(what: &str, e: Error) -> CommandError {
    // The client's errors never carry the token; their text is safe to log.
    tracing::warn!(error = %e, kind = e.kind().as_str(), "server call failed");
    match e {
        Error::InvalidUrl(_) | Error::InsecureUrl { .. } => CommandError::invalid_input(
            "That server address cannot be used. Use https://, or http:// only for this computer (localhost).",
        ),
        Error::InvalidToken(why) => CommandError::invalid_input(format!("The manager token cannot be used: {why}.")),
        Error::InvalidArgument(why) => CommandError::invalid_input(format!("That cannot be asked of the server: {why}.")),
        Error::Unreachable { detail, .. } => CommandError::new(
            ErrorCode::ServerUnreachable,
            format!("The Tollgate server could not be reached ({detail}). Check the address and your network."),
        ),
        Error::Timeout => CommandError::new(
            ErrorCode::ServerUnreachable,
            "The Tollgate server did not answer in time. Try again in a moment.",
        ),
        Error::Unauthorized { .. } => CommandError::new(
            ErrorCode::Unauthorized,
            "The server refused this manager token: it may have been revoked or mistyped. Sign in again.",
        ),
        Error::NotFound { .. } => {
            CommandError::new(ErrorCode::NotFound, format!("{what} was not found, or it is not assigned to you."))
        }
        Error::RateLimited { retry_after: Some(s), .. } => {
            CommandError::new(ErrorCode::RateLimited, format!("The server is limiting requests. Retry in {s} s."))
        }
        Error::RateLimited { retry_after: None, .. } => {
            CommandError::new(ErrorCode::RateLimited, "The server is limiting requests. Retry in a moment.")
        }
        Error::InvalidRequest { detail, .. } => CommandError::invalid_input(sentence(&detail)),
        Error::Server { .. } => CommandError::new(
            ErrorCode::ServerUnreachable,
            "The Tollgate server failed to answer this request. Try again in a moment; if it persists, tell your administrator.",
        ),
        Error::Protocol { .. } => CommandError::new(
            ErrorCode::Internal,
            "The server gave an answer the console does not understand. Is it a Tollgate server of a matching version?",
        ),
        Error::Cancelled => CommandError::new(ErrorCode::Internal, "The work was cancelled."),
        Error::Io(e) => crate::config::io_error("write the file", &e),
        _ => CommandError::internal("an error kind this console does not know"),
    }
}

/// The server's detail as a sentence: capitalised, with a full stop.
fn sentence(detail: &str) -> String {
    let detail = detail.trim();
    let mut chars = detail.chars();
    let mut s = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return "The server refused the request.".to_owned(),
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_client::ErrorCode as Wire;

    #[test]
    fn client_errors_map_to_stable_codes_and_plain_words() {
        let cases = [
            (Error::Unreachable { detail: "connection refused".into(), source: None }, ErrorCode::ServerUnreachable),
            (Error::Timeout, ErrorCode::ServerUnreachable),
            (Error::Unauthorized { detail: "revoked".into() }, ErrorCode::Unauthorized),
            (Error::NotFound { detail: "no".into() }, ErrorCode::NotFound),
            (
                Error::RateLimited { code: Wire::RateLimited, retry_after: Some(42), detail: String::new() },
                ErrorCode::RateLimited,
            ),
            (
                Error::InvalidRequest { status: 400, code: Wire::InvalidRequest, detail: "reason is too long".into() },
                ErrorCode::InvalidInput,
            ),
            (Error::Server { status: 503, code: None, detail: "bad gateway".into() }, ErrorCode::ServerUnreachable),
            (Error::Protocol { status: Some(200), detail: "missing field".into() }, ErrorCode::Internal),
            (Error::InsecureUrl { host: "example.com".into() }, ErrorCode::InvalidInput),
        ];
        for (api, code) in cases {
            let e = from_client("Contract C-1", api);
            assert_eq!(e.code, code);
            assert!(!e.message.contains("HTTP") && !e.message.contains("503"), "{}", e.message);
        }
        let e =
            from_client("x", Error::RateLimited { code: Wire::RateLimited, retry_after: Some(42), detail: "".into() });
        assert_eq!(e.message, "The server is limiting requests. Retry in 42 s.");
        let e = from_client("Contract C-1", Error::NotFound { detail: "contract not found".into() });
        assert_eq!(e.message, "Contract C-1 was not found, or it is not assigned to you.");
        let e = from_client(
            "x",
            Error::InvalidRequest { status: 400, code: Wire::InvalidRequest, detail: "reason must be 1 to 500".into() },
        );
        assert_eq!(e.message, "Reason must be 1 to 500.");
    }
}
