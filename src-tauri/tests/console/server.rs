//! A real Tollgate server for the console's tests: started in-process on
//! 127.0.0.1:0 with a fresh SQLite file and the demo data (contracts
//! C-10001…C-10032, users u-50001…, two in three with 2FA, notification
//! history, 90 days of audit), and a manager made through the server's own
//! `managers` module. The console itself only speaks HTTP to it, through
//! crates/client, as in production. No fakes.

use std::sync::Arc;
use tempfile::TempDir;
use tollgate_server::config::{Config, Secret};
use tollgate_server::Server;

/// base64 of 40 bytes.
const HMAC_KEY: &str = "Y29uc29sZS10ZXN0cy1obWFjLWtleS1jb25zb2xlLXRlc3RzLWhtYWMta2V5IQ==";

/// The contracts the test manager is assigned to (the demo has 32).
pub const ASSIGNED: [&str; 5] = ["C-10001", "C-10002", "C-10003", "C-10004", "C-10005"];

/// A started server, its data folder, and a manager assigned to some contracts.
pub struct Running {
    pub server: Server,
    pub manager_id: String,
    /// The manager's token, as `manager create` prints it.
    pub token: String,
    pub dir: TempDir,
}

/// Starts a server on 127.0.0.1:0 with the demo data and a manager
/// (Dana Whitfield) assigned to `assigned`.
pub async fn start(assigned: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.database.url = format!("sqlite://{}", dir.path().join("server.db").display());
    config.codes.hmac_key = Secret::new(HMAC_KEY);
    config.validate().unwrap();
    let server = Server::start(config, Arc::new(tollgate_server::clock::SystemClock)).await.unwrap();
    tollgate_server::demo::seed(&server.app).await.unwrap();
    let app = &server.app;
    let (manager_id, token) =
        tollgate_server::managers::create(app, "Dana Whitfield", "dana@tollgate.test").await.unwrap();
    for contract in assigned {
        assert!(tollgate_server::managers::assign(app, &manager_id, contract).await.unwrap());
    }
    Running { server, manager_id, token, dir }
}

/// The console tests' server: [`ASSIGNED`], on Tauri's global runtime.
pub struct Env {
    pub server: Server,
    pub manager_id: String,
    pub token: String,
    _dir: TempDir,
}

impl Env {
    /// Runs on Tauri's global runtime, which outlives the call, so the
    /// server keeps serving while commands run.
    pub fn start() -> Arc<Self> {
        let Running { server, manager_id, token, dir } = tauri::async_runtime::block_on(start(&ASSIGNED));
        Arc::new(Self { server, manager_id, token, _dir: dir })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `manager revoke`: the token stops working at once.
    pub fn revoke(&self) {
        tauri::async_runtime::block_on(tollgate_server::managers::revoke(&self.server.app, &self.manager_id)).unwrap();
    }
}
