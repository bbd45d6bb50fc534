//! Tauri commands, grouped by area. Each is a thin adapter onto [`crate::console::Console`];
//! every one returns `Result<T, CommandError>` (`{code, message}` on failure).

pub mod contracts;
pub mod export;
pub mod history;
pub mod session;
pub mod users;
