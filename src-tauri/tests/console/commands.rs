//! Every command through Tauri's IPC on the mock runtime: payloads and
//! `{code, message}` errors pinned.

use serde_json::{json, Value};
use std::sync::Arc;
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;
use time::macros::datetime;
use tollgate_console::api::ApiError;
use tollgate_console::config::Paths;
use tollgate_console::console::Console;
use tollgate_console::credentials::Credentials;
use tollgate_proto::Time;

use crate::fake::{FakeConnector, FakeServer, GOOD_TOKEN};

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub server: Arc<FakeServer>,
    pub app: tauri::App<tauri::test::MockRuntime>,
    webview: WebviewWindow<tauri::test::MockRuntime>,
}

fn fixed_clock() -> Time {
    datetime!(2026-11-27 12:00 UTC)
}

pub fn paths(root: &std::path::Path) -> Paths {
    Paths { config_dir: root.join("config"), data_dir: root.join("data"), log_dir: root.join("logs") }
}

impl TestApp {
    pub fn start(credentials: Credentials, server: Arc<FakeServer>) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), credentials, server)
    }

    pub fn start_in(dir: tempfile::TempDir, credentials: Credentials, server: Arc<FakeServer>) -> Self {
        let paths = paths(dir.path());
        let connector = Arc::new(FakeConnector(server.clone()));
        let console = Console::new(paths, credentials, connector, fixed_clock);
        tauri::async_runtime::block_on(console.restore()).unwrap();
        let app = tollgate_console::builder(mock_builder()).manage(console).build(mock_context(noop_assets())).unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
        Self { dir, server, app, webview }
    }

    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: tauri::ipc::InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    }

    pub fn connect(&self, token: &str, session_only: bool) -> Result<Value, Value> {
        self.invoke(
            "connect",
            json!({"request": {"server_url": "https://tg.example.com/", "token": token, "session_only": session_only}}),
        )
    }
}

fn mock_keyring() -> Credentials {
    Credentials::with_store(keyring_core::mock::Store::new().unwrap())
}

fn no_keyring() -> Credentials {
    Credentials::unavailable("No Secret Service (GNOME Keyring, KWallet) is reachable.")
}

fn err(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

#[test]
fn app_info_before_sign_in() {
    let app = TestApp::start(no_keyring(), FakeServer::with_contracts(0));
    assert_eq!(
        app.invoke("app_info", json!({})).unwrap(),
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "keyring": {"available": false, "detail": "No Secret Service (GNOME Keyring, KWallet) is reachable."},
            "session": null,
            "last_server_url": null
        })
    );
}

#[test]
fn connect_with_keyring_then_sync_search_and_sign_out() {
    let app = TestApp::start(mock_keyring(), FakeServer::with_contracts(30));
    let session = app.connect(&format!("  {GOOD_TOKEN}\n"), false).unwrap();
    assert_eq!(
        session,
        json!({
            "server_url": "https://tg.example.com",
            "manager_name": "Ada Lovelace",
            "manager_email": "ada@example.com",
            "storage": "keyring"
        })
    );
    let config = std::fs::read_to_string(app.dir.path().join("config/console.toml")).unwrap();
    assert!(config.contains("https://tg.example.com") && !config.contains(GOOD_TOKEN), "{config}");
    assert_eq!(app.invoke("app_info", json!({})).unwrap()["session"], session);

    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap(), json!({"received": 30, "total": 30}));
    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap(), json!({"received": 0, "total": 30}));
    let since = app.server.since_seen.lock().unwrap().clone();
    assert_eq!(since, [None, Some(datetime!(2026-11-01 00:29 UTC))], "incremental second sync");

    assert_eq!(
        app.invoke("search_contracts", json!({"query": "c_0012"})).unwrap(),
        json!([{
            "contract_id": "c_0012", "name": "Acme Holdings 12", "users": 22,
            "users_with_two_factor": 12, "updated_at": "2026-11-01T00:12:00Z"
        }])
    );
    let hits = app.invoke("search_contracts", json!({"query": "beta", "limit": 3})).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 3);
    assert!(hits.as_array().unwrap().iter().all(|h| h["name"].as_str().unwrap().starts_with("Beta")));

    app.invoke("record_view", json!({"kind": "contract", "itemId": "c_0012", "label": "Acme Holdings 12"})).unwrap();
    assert_eq!(
        app.invoke("recent_items", json!({})).unwrap(),
        json!([{"kind": "contract", "item_id": "c_0012", "label": "Acme Holdings 12", "viewed_at": "2026-11-27T12:00:00Z"}])
    );
    assert_eq!(app.invoke("export_history", json!({})).unwrap(), json!([]));

    assert_eq!(app.invoke("sign_out", json!({})).unwrap(), Value::Null);
    assert!(!app.dir.path().join("config/console.toml").exists());
    assert!(!app.dir.path().join("data/cache.sqlite3").exists());
    assert_eq!(
        app.invoke("search_contracts", json!({"query": "acme"})),
        Err(err("not_signed_in", "You are not signed in. Connect to a Tollgate server first."))
    );
    assert_eq!(app.invoke("app_info", json!({})).unwrap()["session"], Value::Null);
}

#[test]
fn restart_restores_the_keyring_session_without_asking_the_server() {
    let keyring = keyring_core::mock::Store::new().unwrap();
    let server = FakeServer::with_contracts(5);
    let first = TestApp::start(Credentials::with_store(keyring.clone()), server.clone());
    first.connect(GOOD_TOKEN, false).unwrap();
    first.invoke("sync_contracts", json!({})).unwrap();
    let dir = first.dir;
    drop(first.app);

    let second = TestApp::start_in(dir, Credentials::with_store(keyring), server);
    let info = second.invoke("app_info", json!({})).unwrap();
    assert_eq!(info["session"]["storage"], "keyring");
    assert_eq!(info["last_server_url"], "https://tg.example.com");
    assert_eq!(second.invoke("search_contracts", json!({"query": "gamma"})).unwrap().as_array().unwrap().len(), 1);
}

#[test]
fn keyring_unavailable_then_session_only() {
    let app = TestApp::start(no_keyring(), FakeServer::with_contracts(1));
    assert_eq!(
        app.connect(GOOD_TOKEN, false),
        Err(err(
            "keyring_unavailable",
            "No Secret Service (GNOME Keyring, KWallet) is reachable. You can still sign in for this session only; \
             the token is then forgotten when the console quits."
        ))
    );
    assert!(!app.dir.path().join("config/console.toml").exists());
    let session = app.connect(GOOD_TOKEN, true).unwrap();
    assert_eq!(session["storage"], "session_only");
    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap()["total"], 1);
}

#[test]
fn connect_errors_are_pinned() {
    let app = TestApp::start(no_keyring(), FakeServer::with_contracts(0));
    let connect = |url: &str, token: &str| {
        app.invoke("connect", json!({"request": {"server_url": url, "token": token, "session_only": true}}))
    };
    assert_eq!(
        connect("http://tg.example.com", GOOD_TOKEN),
        Err(err("invalid_input", "Use https:// for this server: the token must not travel unencrypted."))
    );
    assert_eq!(
        connect("https://tg.example.com", "   "),
        Err(err("invalid_input", "Enter the manager token you were given."))
    );
    assert_eq!(
        connect("https://tg.example.com", "tgm_wrong"),
        Err(err(
            "unauthorized",
            "The server refused this manager token: it may have been revoked or mistyped. Sign in again."
        ))
    );
    assert_eq!(
        connect("https://unreachable.example.com", GOOD_TOKEN),
        Err(err(
            "server_unreachable",
            "The Tollgate server could not be reached (connection refused). Check the address and your network."
        ))
    );
    // Malformed IPC payloads are refused by Tauri before our code runs.
    assert!(app.invoke("connect", json!({"request": {"server_url": "https://x", "tokn": "t"}})).is_err());
}

#[test]
fn server_errors_during_sync_are_pinned() {
    let app = TestApp::start(no_keyring(), FakeServer::with_contracts(3));
    app.connect(GOOD_TOKEN, true).unwrap();
    *app.server.fail_with.lock().unwrap() = Some(ApiError::RateLimited { retry_after: Some(42) });
    assert_eq!(
        app.invoke("sync_contracts", json!({})),
        Err(err("rate_limited", "The server is limiting requests. Retry in 42 s."))
    );
    *app.server.fail_with.lock().unwrap() = Some(ApiError::Unauthorized);
    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap_err()["code"], "unauthorized");
    *app.server.fail_with.lock().unwrap() = Some(ApiError::NotFound("Contract c_9".into()));
    assert_eq!(
        app.invoke("sync_contracts", json!({})),
        Err(err("not_found", "Contract c_9 was not found, or it is not assigned to you."))
    );
    *app.server.fail_with.lock().unwrap() = Some(ApiError::Protocol("missing field `items`".into()));
    let e = app.invoke("sync_contracts", json!({})).unwrap_err();
    assert_eq!(e["code"], "internal");
    assert!(!e["message"].as_str().unwrap().contains("items"));
}

#[test]
fn commands_before_sign_in_say_not_signed_in() {
    let app = TestApp::start(no_keyring(), FakeServer::with_contracts(0));
    for cmd in ["sync_contracts", "recent_items", "export_history"] {
        assert_eq!(app.invoke(cmd, json!({})).unwrap_err()["code"], "not_signed_in", "{cmd}");
    }
    assert_eq!(app.invoke("sign_out", json!({})).unwrap(), Value::Null, "signing out twice is fine");
}
