//! `tracing` to a daily-rotated file in the app log dir (`console.YYYY-MM-DD.log`,
//! the last 14 kept), plus stderr in debug builds.
//!
//! What keeps secrets out: tokens are a [`crate::secret::Token`] that prints
//! as `***`; the console never handles codes; phone numbers reach it only
//! masked by the server; keyring errors are described without their payload.
//! The test below signs in and out through the real commands' core with a
//! file subscriber and checks the file.

use std::path::Path;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Registry};

use crate::error::{CommandError, ErrorCode};

pub const KEEP_FILES: usize = 14;

/// The non-blocking writer of the rotating file in `log_dir`. Keep the guard
/// alive for as long as logging should work; dropping it flushes the file.
pub fn file_writer(log_dir: &Path) -> Result<(NonBlocking, WorkerGuard), CommandError> {
    std::fs::create_dir_all(log_dir).map_err(|e| crate::config::io_error("create the log folder", &e))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("console")
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(log_dir)
        .map_err(|e| CommandError::new(ErrorCode::Io, format!("Could not open the log file: {e}.")))?;
    Ok(tracing_appender::non_blocking(appender))
}

/// A subscriber that writes only to the file (tests install it per thread).
pub fn file_subscriber(
    log_dir: &Path,
    filter: &str,
) -> Result<(Box<dyn tracing::Subscriber + Send + Sync>, WorkerGuard), CommandError> {
    let (writer, guard) = file_writer(log_dir)?;
    let subscriber =
        Registry::default().with(env_filter(filter)).with(fmt::layer().with_ansi(false).with_writer(writer));
    Ok((Box::new(subscriber), guard))
}

/// Installs file logging globally (once, at start-up), plus stderr in debug
/// builds. `CONSOLE_LOG` overrides the filter (e.g. `debug`).
pub fn init(log_dir: &Path) -> Result<WorkerGuard, CommandError> {
    let filter = std::env::var("CONSOLE_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let (writer, guard) = file_writer(log_dir)?;
    let stderr = cfg!(debug_assertions).then(|| fmt::layer().with_writer(std::io::stderr));
    Registry::default()
        .with(env_filter(&filter))
        .with(fmt::layer().with_ansi(false).with_writer(writer))
        .with(stderr)
        .try_init()
        .map_err(|_| CommandError::internal("a tracing subscriber was already installed"))?;
    Ok(guard)
}

pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

fn env_filter(filter: &str) -> EnvFilter {
    EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}
