//! Tollgate's domain: what a phone number, a one-time code, a login risk
//! signal and a two-factor flow *are*, and the rules that govern them.
//!
//! Nothing in this crate does IO or reads the clock: time and randomness are
//! parameters, so every rule of `security.md` is tested without sleeping.

pub mod audit;
pub mod code;
pub mod flow;
pub mod ids;
pub mod lockout;
pub mod mask;
pub mod phone;
pub mod purpose;
pub mod risk;
pub mod send_limit;
pub mod verify;

pub use time::{Duration, OffsetDateTime};
