//! Audit export to CSV: the native save dialog, the streamed download with
//! progress events, and Cancel.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tauri::{AppHandle, Emitter, Manager, Runtime, State, WebviewWindow};

use crate::console::{Console, ExportOutcome, ExportProgress, ExportRequest};
use crate::error::{CommandError, CommandResult};

/// The event a running export emits, at most every [`PROGRESS_EVERY`].
pub const PROGRESS_EVENT: &str = "export-progress";
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Asks where to save, proposing `tollgate-audit-<scope>-<date>.csv` in the
/// Downloads folder; `None` when the manager closes the dialog. With an
/// export folder configured (`CONSOLE_EXPORT_DIR`), answers a path in it
/// without asking.
#[tauri::command]
pub async fn choose_export_path<R: Runtime>(
    app: AppHandle<R>,
    window: WebviewWindow<R>,
    console: State<'_, Console>,
    request: ExportRequest,
) -> CommandResult<Option<String>> {
    let name = console.export_file_name(&request);
    if let Some(dir) = console.export_dir() {
        return Ok(Some(dir.join(name).display().to_string()));
    }
    let start = app.path().download_dir().or_else(|_| app.path().home_dir()).ok();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // GTK dialogs are made on the main thread; the answer is awaited here.
    app.run_on_main_thread(move || {
        let mut dialog = rfd::AsyncFileDialog::new()
            .set_title("Save the audit log")
            .set_file_name(name)
            .add_filter("CSV", &["csv"])
            .set_can_create_directories(true)
            .set_parent(&window);
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        let _ = tx.send(dialog.save_file());
    })
    .map_err(|e| CommandError::internal(&format!("cannot reach the main thread: {e}")))?;
    let pending = rx.await.map_err(|_| CommandError::internal("the save dialog was not shown"))?;
    Ok(pending.await.map(|file| file.path().display().to_string()))
}

/// Streams the audit CSV to `path`, emitting [`PROGRESS_EVENT`] as rows
/// arrive; resolves when the export ends (completed, cancelled or failed).
#[tauri::command]
pub async fn run_export<R: Runtime>(
    app: AppHandle<R>,
    console: State<'_, Console>,
    request: ExportRequest,
    path: String,
) -> CommandResult<ExportOutcome> {
    let mut last_emit: Option<Instant> = None;
    let mut unsent: Option<ExportProgress> = None;
    let outcome = console
        .run_export(&request, &PathBuf::from(path), |p| {
            if last_emit.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                last_emit = Some(Instant::now());
                unsent = None;
                let _ = app.emit(PROGRESS_EVENT, p);
            } else {
                unsent = Some(p);
            }
        })
        .await?;
    // The last count, when the throttle held it back.
    if let Some(p) = unsent {
        let _ = app.emit(PROGRESS_EVENT, p);
    }
    Ok(outcome)
}

/// Stops the running export; answers whether one was running.
#[tauri::command]
pub async fn cancel_export(console: State<'_, Console>) -> CommandResult<bool> {
    Ok(console.cancel_export())
}
