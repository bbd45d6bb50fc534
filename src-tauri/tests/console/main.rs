//! The console's integration tests, one binary (link time): commands through
//! Tauri's mock runtime against a real server (`server`), the screens' work (`screens`), the log file, and — with feature
//! `keyring-daemon-tests`, run by scripts/console-test.sh under
//! `dbus-run-session` with gnome-keyring-daemon — the real OS keyring.

// Test helpers (not only #[test] fns) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod commands;
#[cfg(feature = "keyring-daemon-tests")]
mod keyring_daemon;
mod logging;
mod screens;
mod server;
