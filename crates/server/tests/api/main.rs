#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

//! API integration tests: one binary (link once). Each test starts the real
//! server in-process on port 0 with a fresh database (an SQLite file, or a
//! new PostgreSQL database when `TOLLGATE_TEST_POSTGRES_URL` names a
//! cluster: see support.rs), a Twilio-shaped
//! HTTP endpoint on loopback that checks the exact request shape, and a
//! real SMTP server on loopback.

mod support;

mod admin;
mod audit;
mod codes;
mod crash;
mod flows;
mod logins;
mod multi;
mod openapi;
mod ops;
mod outbox;
mod provisioning;
