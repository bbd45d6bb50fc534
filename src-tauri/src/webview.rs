//! How the console asks WebKitGTK to run its web view: lean.
//!
//! The console is a table and a few forms. By default WebKitGTK composites
//! every page with OpenGL and runs JavaScript through its optimising JITs;
//! for this UI both cost memory and buy nothing a manager would see.
//! Measured with the console's benchmark (docs/BENCHMARKS.md, "Console"),
//! idle after loading a 10,000-user contract, the app and its WebKit
//! processes together (PSS) went from 369 MB to 238 MB:
//!
//! * compositing off (`WEBKIT_DISABLE_COMPOSITING_MODE`): the web process
//!   paints the page on the CPU straight into the window, with no layer
//!   tree and no GL tiles;
//! * no DMA-BUF renderer (`WEBKIT_DISABLE_DMABUF_RENDERER`): the UI process
//!   needs no GL buffers to show the page (these two: −120 MB);
//! * no JavaScript JIT (`JSC_useJIT=false`): the interpreter is fast enough
//!   for this UI (opening the 10,000-user contract, which sorts it, took
//!   196–236 ms, against 207–274 ms with the JIT) and saves about 10 MB.
//!
//! Each is a default only: a variable already set in the environment wins,
//! so a manager or a packager can turn any of them back on (e.g.
//! `WEBKIT_DISABLE_COMPOSITING_MODE=0`).

use std::ffi::OsString;

/// The variables and the values the console starts WebKitGTK with.
pub const DEFAULTS: &[(&str, &str)] =
    &[("WEBKIT_DISABLE_COMPOSITING_MODE", "1"), ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"), ("JSC_useJIT", "false")];

/// The defaults to set given the current environment (`get` reads one
/// variable): those the environment does not already name.
pub fn missing_defaults(get: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, &'static str)> {
    DEFAULTS.iter().copied().filter(|(name, _)| get(name).is_none()).collect()
}

/// Sets the missing defaults in this process's environment, which the web
/// view's processes inherit. Call first thing in `main`, before any thread
/// starts (the environment is not thread-safe to write). Returns what it set.
#[cfg(target_os = "linux")]
pub fn apply_defaults() -> Vec<(&'static str, &'static str)> {
    let missing = missing_defaults(|name| std::env::var_os(name));
    for (name, value) in &missing {
        std::env::set_var(name, value);
    }
    missing
}

/// Other platforms' web views (WebView2, WKWebView) have no such knobs.
#[cfg(not(target_os = "linux"))]
pub fn apply_defaults() -> Vec<(&'static str, &'static str)> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_set_in_an_empty_environment() {
        assert_eq!(missing_defaults(|_| None), DEFAULTS.to_vec());
    }

    #[test]
    fn a_variable_already_set_wins_even_when_empty_or_zero() {
        let set = |name: &str| match name {
            "WEBKIT_DISABLE_COMPOSITING_MODE" => Some(OsString::from("0")),
            "JSC_useJIT" => Some(OsString::new()),
            _ => None,
        };
        assert_eq!(missing_defaults(set), vec![("WEBKIT_DISABLE_DMABUF_RENDERER", "1")]);
    }
}
