//! `tollgate-server`: the verification server of Tollgate.
//!
//! A library with a thin binary: `startup::Server::start` builds everything
//! from a `Config` and a `Clock`, binds (port 0 in tests) and serves until
//! stopped.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod geoip;
pub mod http;
pub mod managers;
pub mod metrics;
pub mod notify;
pub mod routes;
pub mod service;
pub mod startup;
pub mod store;

pub use config::Config;
pub use startup::Server;
