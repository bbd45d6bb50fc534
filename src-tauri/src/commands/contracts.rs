//! The contract index: sync from the server, type-ahead from the cache.

use tauri::State;

use crate::cache::ContractHit;
use crate::console::{Console, SyncReport};
use crate::error::CommandResult;

/// Type-ahead over the local contract index (id or name prefix, word prefix).
#[tauri::command]
pub async fn search_contracts(
    console: State<'_, Console>,
    query: String,
    limit: Option<u32>,
) -> CommandResult<Vec<ContractHit>> {
    console.search_contracts(&query, limit.unwrap_or(20)).await
}

/// The manager's contracts from the local index, A to Z (an empty search box).
#[tauri::command]
pub async fn list_contracts(console: State<'_, Console>, limit: Option<u32>) -> CommandResult<Vec<ContractHit>> {
    console.list_contracts(limit.unwrap_or(50)).await
}

/// Pulls contracts changed since the last sync.
#[tauri::command]
pub async fn sync_contracts(console: State<'_, Console>) -> CommandResult<SyncReport> {
    console.sync_contracts().await
}
