//! `tollgate-client`: a typed async client of Tollgate's admin API (the
//! manager-token half of api.md), used by the desktop console and by tests.
//!
//! * One method per endpoint, answering the wire types of `tollgate-proto`
//!   (never copies of them).
//! * Lists come one page at a time ([`Client::contracts`]), through a
//!   [`Pager`] that follows `next_cursor`, or whole ([`Client::all_contracts`]).
//! * Every failure is one [`Error`] whose [`ErrorKind`] the console switches
//!   on: unreachable, timeout, unauthorized, not found, rate limited (with the
//!   wait), invalid request (with the server's stable `code`), server error,
//!   protocol (an answer we cannot read), cancelled. Odd answers — an HTML
//!   502 from a proxy, an empty or truncated body — are errors, never panics.
//! * The audit log streams to any `AsyncWrite` chunk by chunk (flat memory),
//!   with a row count, progress callbacks and cancellation
//!   ([`Client::export_audit`]).
//!
//! Transport rule (security.md): plain `http://` only to loopback
//! (127.0.0.0/8, `::1`, `localhost`); anything else must be `https://`
//! (rustls). The manager token never appears in `Debug` output, errors or
//! logs, and redirects are not followed, so it cannot be carried elsewhere.

mod address;
mod audit;
mod client;
mod error;
mod pager;

#[cfg(test)]
mod odd_answers;

pub use address::is_loopback_host;
pub use audit::{AuditFilter, AuditFormat, Cancel, Progress};
pub use client::{Client, ContractFilter, Options, PageRequest, MAX_LIMIT};
pub use error::{Error, ErrorKind};
pub use pager::Pager;

/// The wire types, re-exported so callers need no second dependency.
pub use tollgate_proto as proto;
pub use tollgate_proto::admin::{
    AdminUser, AuditRecord, ContractDisabled, ContractSummary, Me, Notification, UserDisabled,
};
pub use tollgate_proto::{ErrorCode, Page, Time};

/// The result of every call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
