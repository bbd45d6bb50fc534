//! Every command through Tauri's IPC on the mock runtime, against a real
//! server: payloads and `{code, message}` errors pinned.

use serde_json::{json, Value};
use std::sync::Arc;
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};
use time::macros::datetime;
use tollgate_console::config::Paths;
use tollgate_console::console::Console;
use tollgate_console::credentials::Credentials;
use tollgate_proto::Time;

use crate::server::Env;

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub env: Arc<Env>,
    pub app: tauri::App<tauri::test::MockRuntime>,
    webview: WebviewWindow<tauri::test::MockRuntime>,
}

pub fn fixed_clock() -> Time {
    datetime!(2026-11-27 12:00 UTC)
}

pub fn paths(root: &std::path::Path) -> Paths {
    Paths { config_dir: root.join("config"), data_dir: root.join("data"), log_dir: root.join("logs") }
}

impl TestApp {
    pub fn start(credentials: Credentials, env: Arc<Env>) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), credentials, env)
    }

    pub fn start_in(dir: tempfile::TempDir, credentials: Credentials, env: Arc<Env>) -> Self {
        let paths = paths(dir.path());
        std::fs::create_dir_all(dir.path().join("exports")).unwrap();
        let console = Console::new(paths, credentials, fixed_clock).with_export_dir(Some(dir.path().join("exports")));
        tauri::async_runtime::block_on(console.restore()).unwrap();
        let app = tollgate_console::builder(mock_builder()).manage(console).build(mock_context(noop_assets())).unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
        Self { dir, env, app, webview }
    }

    pub fn console(&self) -> tauri::State<'_, Console> {
        self.app.state::<Console>()
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
            json!({"request": {"server_url": format!("{}/", self.env.url()), "token": token, "session_only": session_only}}),
        )
    }

    /// Signed in with the test manager's token (session only).
    pub fn signed_in(env: Arc<Env>) -> Self {
        let app = Self::start(no_keyring(), env);
        let token = app.env.token.clone();
        app.connect(&token, true).unwrap();
        app
    }
}

pub fn mock_keyring() -> Credentials {
    Credentials::with_store(keyring_core::mock::Store::new().unwrap())
}

pub fn no_keyring() -> Credentials {
    Credentials::unavailable("No Secret Service (GNOME Keyring, KWallet) is reachable.")
}

pub fn err(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

#[test]
fn app_info_before_sign_in() {
    let app = TestApp::start(no_keyring(), Env::start());
    assert_eq!(
        app.invoke("app_info", json!({})).unwrap(),
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "keyring": {"available": false, "detail": "No Secret Service (GNOME Keyring, KWallet) is reachable."},
            "session": null,
            "last_server_url": null
        })
    );
    // Start-up time is measured from `run()`, which the mock runtime skips.
    assert_eq!(app.invoke("ui_ready", json!({})).unwrap(), Value::Null);
}

#[test]
fn connect_with_keyring_then_sync_search_and_sign_out() {
    let app = TestApp::start(mock_keyring(), Env::start());
    let token = app.env.token.clone();
    let url = app.env.url();
    let session = app.connect(&format!("  {token}\n"), false).unwrap();
    assert_eq!(
        session,
        json!({
            "server_url": url,
            "manager_name": "Dana Whitfield",
            "manager_email": "dana@tollgate.test",
            "storage": "keyring"
        })
    );
    let config = std::fs::read_to_string(app.dir.path().join("config/console.toml")).unwrap();
    assert!(config.contains(&url) && !config.contains(&token), "{config}");
    assert_eq!(app.invoke("app_info", json!({})).unwrap()["session"], session);

    // The first sync after sign-in loads the whole index; the next asks for
    // changes only (`updated_since` is inclusive: the newest comes again).
    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap(), json!({"received": 5, "total": 5}));
    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap(), json!({"received": 1, "total": 5}));

    let hits = app.invoke("search_contracts", json!({"query": "c-10003"})).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["contract_id"], "C-10003");
    assert_eq!(hits[0]["name"], "Cobalt Analytics");
    assert!(hits[0]["users"].as_i64().unwrap() > hits[0]["users_with_two_factor"].as_i64().unwrap());
    let by_word = app.invoke("search_contracts", json!({"query": "dent"})).unwrap();
    assert_eq!(by_word[0]["name"], "Birchwood Dental", "word prefix inside the name");
    assert_eq!(app.invoke("search_contracts", json!({"query": "fjord"})).unwrap(), json!([]), "not assigned");
    let mine = app.invoke("list_contracts", json!({"limit": 3})).unwrap();
    let names: Vec<&str> = mine.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Acme Logistics", "Birchwood Dental", "Cobalt Analytics"], "A to Z, limited");

    app.invoke("record_view", json!({"kind": "contract", "itemId": "C-10003", "label": "Cobalt Analytics"})).unwrap();
    assert_eq!(
        app.invoke("recent_items", json!({})).unwrap(),
        json!([{"kind": "contract", "item_id": "C-10003", "label": "Cobalt Analytics", "viewed_at": "2026-11-27T12:00:00Z"}])
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
fn a_full_reload_at_sign_in_drops_contracts_no_longer_assigned() {
    let env = Env::start();
    let keyring = keyring_core::mock::Store::new().unwrap();
    let first = TestApp::start(Credentials::with_store(keyring.clone()), env.clone());
    first.connect(&env.token, false).unwrap();
    assert_eq!(first.invoke("sync_contracts", json!({})).unwrap()["total"], 5);
    let dir = first.dir;
    drop(first.app);

    tauri::async_runtime::block_on(tollgate_server::managers::unassign(&env.server.app, &env.manager_id, "C-10002"))
        .unwrap();
    let second = TestApp::start_in(dir, Credentials::with_store(keyring), env);
    assert_eq!(second.invoke("sync_contracts", json!({})).unwrap(), json!({"received": 4, "total": 4}));
    assert_eq!(second.invoke("search_contracts", json!({"query": "birch"})).unwrap(), json!([]));
}

#[test]
fn restart_restores_the_keyring_session_without_asking_the_server() {
    let env = Env::start();
    let keyring = keyring_core::mock::Store::new().unwrap();
    let first = TestApp::start(Credentials::with_store(keyring.clone()), env.clone());
    first.connect(&env.token, false).unwrap();
    first.invoke("sync_contracts", json!({})).unwrap();
    let dir = first.dir;
    drop(first.app);

    let second = TestApp::start_in(dir, Credentials::with_store(keyring), env.clone());
    let info = second.invoke("app_info", json!({})).unwrap();
    assert_eq!(info["session"]["storage"], "keyring");
    assert_eq!(info["last_server_url"], env.url());
    let hits = second.invoke("search_contracts", json!({"query": "elm"})).unwrap();
    assert_eq!(hits[0]["contract_id"], "C-10005", "the index survived the restart: {hits}");
}

#[test]
fn keyring_unavailable_then_session_only() {
    let app = TestApp::start(no_keyring(), Env::start());
    let token = app.env.token.clone();
    assert_eq!(
        app.connect(&token, false),
        Err(err(
            "keyring_unavailable",
            "No Secret Service (GNOME Keyring, KWallet) is reachable. You can still sign in for this session only; \
             the token is then forgotten when the console quits."
        ))
    );
    assert!(!app.dir.path().join("config/console.toml").exists());
    let session = app.connect(&token, true).unwrap();
    assert_eq!(session["storage"], "session_only");
    assert_eq!(app.invoke("sync_contracts", json!({})).unwrap()["total"], 5);
}

#[test]
fn connect_errors_are_pinned() {
    let app = TestApp::start(no_keyring(), Env::start());
    let token = app.env.token.clone();
    let connect = |url: &str, token: &str| {
        app.invoke("connect", json!({"request": {"server_url": url, "token": token, "session_only": true}}))
    };
    assert_eq!(
        connect("http://tg.example.com", &token),
        Err(err("invalid_input", "Use https:// for this server: the token must not travel unencrypted."))
    );
    assert_eq!(connect(&app.env.url(), "   "), Err(err("invalid_input", "Enter the manager token you were given.")));
    assert_eq!(
        connect(&app.env.url(), "tgm_wrong"),
        Err(err(
            "unauthorized",
            "The server refused this manager token: it may have been revoked or mistyped. Sign in again."
        ))
    );
    // A port nobody listens on: bind one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = connect(&format!("http://{closed}"), &token).unwrap_err();
    assert_eq!(e["code"], "server_unreachable", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("The Tollgate server could not be reached") && !message.contains(&token), "{message}");
    // Malformed IPC payloads are refused by Tauri before our code runs.
    assert!(app.invoke("connect", json!({"request": {"server_url": "https://x", "tokn": "t"}})).is_err());
}

#[test]
fn a_token_revoked_mid_session_says_so() {
    let app = TestApp::signed_in(Env::start());
    app.invoke("sync_contracts", json!({})).unwrap();
    app.env.revoke();
    for (cmd, args) in [
        ("sync_contracts", json!({})),
        ("open_contract", json!({"contractId": "C-10001"})),
        ("search_users", json!({"query": "acme"})),
    ] {
        assert_eq!(
            app.invoke(cmd, args),
            Err(err(
                "unauthorized",
                "The server refused this manager token: it may have been revoked or mistyped. Sign in again."
            )),
            "{cmd}"
        );
    }
    // The local index still answers type-ahead: it needs no server.
    assert_eq!(app.invoke("search_contracts", json!({"query": "acme"})).unwrap()[0]["contract_id"], "C-10001");
}

#[test]
fn commands_before_sign_in_say_not_signed_in() {
    let app = TestApp::start(no_keyring(), Env::start());
    for (cmd, args) in [
        ("sync_contracts", json!({})),
        ("recent_items", json!({})),
        ("export_history", json!({})),
        ("open_contract", json!({"contractId": "C-10001"})),
        ("open_user", json!({"userId": "u-50001"})),
        ("search_users", json!({"query": "a"})),
        ("disable_user", json!({"userId": "u-50001", "reason": "lost phone"})),
        ("run_export", json!({"request": {"scope": {"kind": "all"}}, "path": "/tmp/x.csv"})),
    ] {
        assert_eq!(app.invoke(cmd, args).unwrap_err()["code"], "not_signed_in", "{cmd}");
    }
    assert_eq!(app.invoke("sign_out", json!({})).unwrap(), Value::Null, "signing out twice is fine");
}
