//! The console's state and the work behind every command, without Tauri.
//!
//! Commands in `commands/` are one-line adapters onto these methods, so the
//! behaviour can be tested with any `Connector` and temporary directories.
//! One `Console` is registered with `app.manage` in setup.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::Mutex;
use tollgate_proto::Time;
use ts_rs::TS;

use crate::api::{AdminApi, Connector};
use crate::cache::{Cache, ContractHit, ExportRecord, RecentItem, RecentKind};
use crate::config::{Config, Paths, ServerUrl};
use crate::credentials::{Credentials, KeyringStatus, Storage};
use crate::error::{CommandError, CommandResult};
use crate::secret::Token;

/// The signed-in manager, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Session {
    pub server_url: String,
    pub manager_name: String,
    pub manager_email: String,
    pub storage: Storage,
}

/// What the UI asks for when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub keyring: KeyringStatus,
    pub session: Option<Session>,
    /// The server of the last sign-in, to pre-fill the Connect screen.
    pub last_server_url: Option<String>,
}

/// The Connect screen's form.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    pub server_url: String,
    pub token: String,
    /// Keep the token in memory only (when no keyring is reachable, or by choice).
    #[serde(default)]
    pub session_only: bool,
}

/// The outcome of a contract index sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncReport {
    /// Contracts received from the server (new or changed).
    #[ts(type = "number")]
    pub received: u64,
    /// Contracts in the local index now.
    #[ts(type = "number")]
    pub total: i64,
}

struct Active {
    session: Session,
    api: Arc<dyn AdminApi>,
}

#[derive(Default)]
struct Inner {
    active: Option<Active>,
    cache: Option<Arc<Cache>>,
}

pub struct Console {
    paths: Paths,
    credentials: Arc<Credentials>,
    connector: Arc<dyn Connector>,
    clock: fn() -> Time,
    inner: Mutex<Inner>,
}

/// The wall clock, for the app; tests pass a fixed one.
pub fn system_clock() -> Time {
    Time::from(std::time::SystemTime::now())
}

impl Console {
    pub fn new(paths: Paths, credentials: Credentials, connector: Arc<dyn Connector>, clock: fn() -> Time) -> Self {
        Self { paths, credentials: Arc::new(credentials), connector, clock, inner: Mutex::default() }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub async fn app_info(&self) -> CommandResult<AppInfo> {
        let config = Config::load(&self.paths.config_file())?;
        let inner = self.inner.lock().await;
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            keyring: self.credentials.keyring_status(),
            session: inner.active.as_ref().map(|a| a.session.clone()),
            last_server_url: config.map(|c| c.server_url.as_str().to_owned()),
        })
    }

    /// At start-up: signs back in with the saved server and keyring token, if
    /// both are there. No network call: the first sync finds a revoked token.
    pub async fn restore(&self) -> CommandResult<Option<Session>> {
        let Some(config) = Config::load(&self.paths.config_file())? else { return Ok(None) };
        let found = {
            let (credentials, url) = (self.credentials.clone(), config.server_url.clone());
            blocking(move || credentials.load(&url)).await?
        };
        let Some((token, storage)) = found else { return Ok(None) };
        let api = self.connector.connect(&config.server_url, &token)?;
        let session = Session {
            server_url: config.server_url.as_str().to_owned(),
            manager_name: config.manager_name,
            manager_email: config.manager_email,
            storage,
        };
        let cache = Arc::new(Cache::open(&self.paths.cache_file()).await?);
        let mut inner = self.inner.lock().await;
        inner.active = Some(Active { session: session.clone(), api });
        inner.cache = Some(cache);
        tracing::info!(server = %session.server_url, "session restored");
        Ok(Some(session))
    }

    /// Checks the server and token with `GET /v1/admin/me`, then keeps the
    /// token (keyring, or memory when `session_only`) and the server URL.
    pub async fn connect(&self, request: ConnectRequest) -> CommandResult<Session> {
        let server = ServerUrl::parse(&request.server_url)?;
        let token = Token::parse(&request.token).map_err(CommandError::invalid_input)?;
        let storage = if request.session_only { Storage::SessionOnly } else { Storage::Keyring };
        if storage == Storage::Keyring {
            if let Some(why) = self.credentials.keyring_status().detail {
                // Say so before asking the server: the manager must choose session-only.
                return Err(crate::credentials::unavailable(&why));
            }
        }
        let api = self.connector.connect(&server, &token)?;
        let me = api.me().await?;

        let mut inner = self.inner.lock().await;
        if let Some(previous) = inner.active.take() {
            if previous.session.server_url != server.as_str() {
                self.forget(&mut inner, Some(&previous.session.server_url)).await?;
            }
        }
        {
            let (credentials, server, token) = (self.credentials.clone(), server.clone(), token.clone());
            blocking(move || credentials.save(&server, &token, storage)).await?;
        }
        let config =
            Config { server_url: server.clone(), manager_name: me.name.clone(), manager_email: me.email.clone() };
        config.save(&self.paths.config_file())?;
        if inner.cache.is_none() {
            inner.cache = Some(Arc::new(Cache::open(&self.paths.cache_file()).await?));
        }
        let session =
            Session { server_url: server.as_str().to_owned(), manager_name: me.name, manager_email: me.email, storage };
        inner.active = Some(Active { session: session.clone(), api });
        tracing::info!(server = %session.server_url, manager = %me.manager_id, ?storage, "signed in");
        Ok(session)
    }

    /// Deletes the keyring entry, the config file and the local cache.
    pub async fn sign_out(&self) -> CommandResult<()> {
        let mut inner = self.inner.lock().await;
        let server = match inner.active.take() {
            Some(a) => Some(a.session.server_url),
            None => Config::load(&self.paths.config_file()).ok().flatten().map(|c| c.server_url.as_str().to_owned()),
        };
        self.forget(&mut inner, server.as_deref()).await?;
        tracing::info!("signed out");
        Ok(())
    }

    async fn forget(&self, inner: &mut Inner, server: Option<&str>) -> CommandResult<()> {
        if let Some(server) = server.and_then(|s| ServerUrl::parse(s).ok()) {
            let credentials = self.credentials.clone();
            blocking(move || credentials.delete(&server)).await?;
        }
        Config::remove(&self.paths.config_file())?;
        match inner.cache.take() {
            Some(cache) => match Arc::try_unwrap(cache) {
                Ok(cache) => cache.wipe().await,
                // A search still holds it: it closes when that finishes; delete the files now.
                Err(_) => Cache::delete_files(&self.paths.cache_file()),
            },
            None => Cache::delete_files(&self.paths.cache_file()),
        }
    }

    /// Pulls contracts changed since the last sync into the local index.
    pub async fn sync_contracts(&self) -> CommandResult<SyncReport> {
        let (api, cache) = self.signed_in().await?;
        let since = cache.contracts_synced_through().await?;
        let contracts = api.contracts_updated_since(since).await?;
        let received = cache.upsert_contracts(&contracts).await?;
        let total = cache.contract_count().await?;
        tracing::info!(received, total, "contract index synced");
        Ok(SyncReport { received, total })
    }

    pub async fn search_contracts(&self, query: &str, limit: u32) -> CommandResult<Vec<ContractHit>> {
        let (_, cache) = self.signed_in().await?;
        cache.search_contracts(query, limit).await
    }

    pub async fn record_view(&self, kind: RecentKind, item_id: &str, label: &str) -> CommandResult<()> {
        let (_, cache) = self.signed_in().await?;
        cache.record_view(kind, item_id, label, (self.clock)()).await
    }

    pub async fn recent_items(&self, limit: u32) -> CommandResult<Vec<RecentItem>> {
        let (_, cache) = self.signed_in().await?;
        cache.recent(limit).await
    }

    pub async fn export_history(&self, limit: u32) -> CommandResult<Vec<ExportRecord>> {
        let (_, cache) = self.signed_in().await?;
        cache.exports(limit).await
    }

    async fn signed_in(&self) -> CommandResult<(Arc<dyn AdminApi>, Arc<Cache>)> {
        let inner = self.inner.lock().await;
        match (&inner.active, &inner.cache) {
            (Some(active), Some(cache)) => Ok((active.api.clone(), cache.clone())),
            _ => Err(CommandError::not_signed_in()),
        }
    }
}

/// Runs keyring work (blocking D-Bus calls) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> CommandResult<T> + Send + 'static) -> CommandResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| CommandError::internal("keyring task failed"))?
}
