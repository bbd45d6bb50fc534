//! HTTP plumbing shared by the routes: strict JSON bodies, bearer tokens.

pub mod auth;
pub mod body;
pub mod query;
