//! Recently viewed items and the export history kept on this machine.

use tauri::State;

use crate::cache::{ExportRecord, RecentItem, RecentKind};
use crate::console::Console;
use crate::error::CommandResult;

#[tauri::command]
pub async fn record_view(
    console: State<'_, Console>,
    kind: RecentKind,
    item_id: String,
    label: String,
) -> CommandResult<()> {
    console.record_view(kind, &item_id, &label).await
}

#[tauri::command]
pub async fn recent_items(console: State<'_, Console>, limit: Option<u32>) -> CommandResult<Vec<RecentItem>> {
    console.recent_items(limit.unwrap_or(10)).await
}

#[tauri::command]
pub async fn export_history(console: State<'_, Console>, limit: Option<u32>) -> CommandResult<Vec<ExportRecord>> {
    console.export_history(limit.unwrap_or(20)).await
}
