//! Start-up, Connect and sign-out.

use tauri::State;

use crate::console::{AppInfo, ConnectRequest, Console, Session};
use crate::error::CommandResult;

/// Version, keyring availability and the current session (if any).
#[tauri::command]
pub async fn app_info(console: State<'_, Console>) -> CommandResult<AppInfo> {
    console.app_info().await
}

/// Checks the server and token, then keeps them (see `Console::connect`).
#[tauri::command]
pub async fn connect(console: State<'_, Console>, request: ConnectRequest) -> CommandResult<Session> {
    console.connect(request).await
}

/// Deletes the keyring entry, the config file and the local cache.
#[tauri::command]
pub async fn sign_out(console: State<'_, Console>) -> CommandResult<()> {
    console.sign_out().await
}

/// The web view has painted its first screen: logs (and answers) the
/// milliseconds since the process started, the console's start-up time.
#[tauri::command]
pub fn ui_ready() -> Option<u64> {
    let elapsed = crate::started_at()?.elapsed();
    let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(elapsed_ms = ms, "first screen interactive");
    Some(ms)
}
