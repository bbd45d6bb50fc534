//! Tollgate Console: the account managers' desktop app (Tauri 2).
//!
//! The Rust core does all talking to the server and the OS; the web view
//! (`ui/`) only renders and calls the commands in [`commands`].
//!
//! * [`console`] — the state and the work behind the commands (no Tauri).
//! * [`api`] — the server through `crates/client`, and its errors in plain words.
//! * [`credentials`] — the token in the OS keyring, or in memory for a session.
//! * [`config`] — directories and the non-secret config file.
//! * [`cache`] — the local SQLite cache (contract index, recent items, exports).
//! * [`demo`] — `--demo-server`: a demo server as a child process, signed in.
//! * [`logging`] — the rotating log file.
//! * [`error`] — `{code, message}`, the one error of every command.
//! * [`webview`] — the lean WebKitGTK settings the app starts with.

pub mod api;
pub mod bindings;
pub mod cache;
pub mod commands;
pub mod config;
pub mod console;
pub mod credentials;
pub mod demo;
pub mod error;
pub mod logging;
pub mod secret;
pub mod webview;

use std::process::ExitCode;
use tauri::{AppHandle, Manager, Runtime};

use crate::config::Paths;
use crate::console::Console;
use crate::error::{CommandError, CommandResult};

/// Registers every command. The app adds a setup hook that manages the one
/// [`Console`] ([`run`]); tests on the mock runtime `.manage()` their own.
pub fn builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::session::app_info,
        commands::session::connect,
        commands::session::sign_out,
        commands::session::ui_ready,
        commands::contracts::search_contracts,
        commands::contracts::list_contracts,
        commands::contracts::sync_contracts,
        commands::history::record_view,
        commands::history::recent_items,
        commands::history::export_history,
        commands::users::search_users,
        commands::users::open_contract,
        commands::users::open_user,
        commands::users::more_notifications,
        commands::users::disable_user,
        commands::users::disable_contract,
        commands::export::choose_export_path,
        commands::export::run_export,
        commands::export::cancel_export,
    ])
}

/// The real app's state: Tauri's directories, file logging, the platform
/// keyring, and the saved session restored — or, with `--demo-server`, a
/// demo server started and signed in to (see [`demo`]).
pub fn console_for_app<R: Runtime>(app: &AppHandle<R>, args: &demo::Args) -> CommandResult<Console> {
    let dir = |d: tauri::Result<std::path::PathBuf>| {
        d.map_err(|e| CommandError::new(error::ErrorCode::Io, format!("Could not find the app folders: {e}.")))
    };
    let mut paths = Paths {
        config_dir: dir(app.path().app_config_dir())?,
        data_dir: dir(app.path().app_data_dir())?,
        log_dir: dir(app.path().app_log_dir())?,
    };
    let guard = logging::init(&paths.log_dir)?;
    // Dropping the guard would stop file logging; the app lives until exit.
    app.manage(LogGuard(guard));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "console starting");
    let credentials = credentials::Credentials::platform();
    let export_dir =
        args.export_dir.clone().or_else(|| std::env::var_os("CONSOLE_EXPORT_DIR").map(std::path::PathBuf::from));

    let Some(server) = &args.demo_server else {
        let console = Console::new(paths, credentials, console::system_clock).with_export_dir(export_dir);
        if let Err(e) = tauri::async_runtime::block_on(console.restore()) {
            // Start signed out rather than not at all; the Connect screen says what to do.
            tracing::warn!(code = e.code.as_str(), message = %e.message, "could not restore the last session");
        }
        return Ok(console);
    };

    // The demo: its own folders (fresh each time), its own server, a session-only sign-in.
    let root = paths.data_dir.join("demo");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| config::io_error("clear the demo folder", &e))?;
    }
    paths = Paths { config_dir: root.join("config"), data_dir: root.join("data"), log_dir: paths.log_dir };
    let demo = demo::DemoServer::start(server, &root.join("server")).map_err(|why| {
        CommandError::new(error::ErrorCode::ServerUnreachable, format!("The demo could not start: {why}."))
    })?;
    let request = console::ConnectRequest {
        server_url: demo.url.clone(),
        token: demo.token.expose().to_owned(),
        session_only: true,
    };
    app.manage(DemoChild(std::sync::Mutex::new(Some(demo))));
    let console = Console::new(paths, credentials, console::system_clock).with_export_dir(export_dir);
    tauri::async_runtime::block_on(console.connect(request))?;
    Ok(console)
}

/// The demo server, stopped when the app exits.
struct DemoChild(std::sync::Mutex<Option<demo::DemoServer>>);

struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// When [`run`] began (none in tests on the mock runtime).
pub fn started_at() -> Option<std::time::Instant> {
    STARTED.get().copied()
}

pub fn run() -> ExitCode {
    STARTED.get_or_init(std::time::Instant::now);
    // First, while this is the only thread: the web view's processes inherit it.
    let webview_defaults = webview::apply_defaults();
    let args = match demo::Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            eprintln!("tollgate-console: {why}");
            return ExitCode::from(2);
        }
    };
    let app = builder(tauri::Builder::default())
        .setup(move |app| {
            let console = console_for_app(app.handle(), &args)?;
            for (name, value) in &webview_defaults {
                tracing::info!("web view: {name}={value} (a default; set it in the environment to change it)");
            }
            app.manage(console);
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("tollgate-console: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(demo) = handle.try_state::<DemoChild>() {
                if let Some(mut server) = demo.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                    server.stop();
                }
            }
        }
    });
    ExitCode::SUCCESS
}
