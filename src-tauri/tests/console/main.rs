//! The console's integration tests, one binary (link time): commands through
//! Tauri's mock runtime, the log file, and — with feature
//! `keyring-daemon-tests`, run by scripts/console-test.sh under
//! `dbus-run-session` with gnome-keyring-daemon — the real OS keyring.

mod commands;
mod fake;
#[cfg(feature = "keyring-daemon-tests")]
mod keyring_daemon;
mod logging;
