//! The log file: written, rotated by name, and never holding a token.

use serde_json::json;

use crate::commands::TestApp;
use crate::server::Env;

#[test]
fn a_token_never_reaches_the_log_file() {
    let logs = tempfile::tempdir().unwrap();
    // The real start-up path, installed globally: every test in this binary logs here too.
    let guard = tollgate_console::logging::init(logs.path()).unwrap();

    let app = TestApp::start(
        tollgate_console::credentials::Credentials::with_store(keyring_core::mock::Store::new().unwrap()),
        Env::start(),
    );
    let token = app.env.token.clone();
    app.connect("tgm_WRONG_a1b2c3d4e5", false).unwrap_err();
    app.connect(&token, false).unwrap();
    app.invoke("sync_contracts", json!({})).unwrap();
    app.invoke("open_contract", json!({"contractId": "C-10001"})).unwrap();
    app.invoke("open_user", json!({"userId": "u-50001"})).unwrap();
    app.invoke("sign_out", json!({})).unwrap();
    drop(app);
    drop(guard); // flushes the non-blocking writer

    let files: Vec<_> = std::fs::read_dir(logs.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("console.") && name.ends_with(".log"), "{name}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    for needle in ["signed in", "contract index synced", "signed out", "server call failed"] {
        assert!(text.contains(needle), "log lacks {needle:?}:\n{text}");
    }
    for secret in [token.as_str(), "tgm_WRONG_a1b2c3d4e5"] {
        assert!(!text.contains(secret), "log holds a token:\n{text}");
    }
    // u-50001's phone (the demo's +447400100001) appears masked at most.
    assert!(!text.contains("447400100001") && !text.contains("7400100001"), "log holds a phone number:\n{text}");
}
