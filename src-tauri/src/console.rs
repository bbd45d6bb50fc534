//! The console's state and the work behind every command, without Tauri.
//!
//! Commands in `commands/` are one-line adapters onto these methods, so the
//! behaviour can be tested with any `Connector` and temporary directories.
//! One `Console` is registered with `app.manage` in setup.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;
use tollgate_client::proto::admin::{AdminUser, ContractDisabled, ContractSummary, Notification, UserDisabled};
use tollgate_client::{AuditFilter, AuditFormat, Cancel, Client, ContractFilter, Page, PageRequest, Progress};
use tollgate_proto::Time;
use ts_rs::TS;

use crate::api::from_client;
use crate::cache::{Cache, ContractHit, ExportRecord, ExportStatus, NewExport, RecentItem, RecentKind};
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

/// A contract with all its users (the Contract screen).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ContractView {
    pub contract: ContractSummary,
    pub users: Vec<AdminUser>,
}

/// A user with the first page of their notification history (the User screen).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct UserView {
    pub user: AdminUser,
    /// From the local index; `None` when the index does not know the contract yet.
    pub contract_name: Option<String>,
    pub notifications: Page<Notification>,
}

/// Which events an audit export covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExportScope {
    /// Every contract assigned to the manager.
    All,
    Contract {
        contract_id: String,
    },
    User {
        user_id: String,
    },
}

/// The Export dialog's form. Dates are `YYYY-MM-DD` in UTC, both inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub scope: ExportScope,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
}

/// How far a running export got (the `export-progress` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct ExportProgress {
    #[ts(type = "number")]
    pub rows: u64,
    #[ts(type = "number")]
    pub bytes: u64,
}

/// How an export ended. Cancelled and failed exports leave no file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ExportOutcome {
    pub status: ExportStatus,
    #[ts(type = "number")]
    pub rows: u64,
    pub file_path: String,
    /// Why it failed, in words for the manager.
    pub message: Option<String>,
}

/// How many notifications a page of the timeline holds.
pub const NOTIFICATIONS_PAGE: u32 = 50;

struct Active {
    session: Session,
    client: Client,
    /// The first sync after sign-in reloads the whole index; later ones ask for changes.
    reloaded: Arc<AtomicBool>,
}

#[derive(Default)]
struct Inner {
    active: Option<Active>,
    cache: Option<Arc<Cache>>,
}

pub struct Console {
    paths: Paths,
    credentials: Arc<Credentials>,
    clock: fn() -> Time,
    /// Where exports go without a save dialog (`CONSOLE_EXPORT_DIR`).
    export_dir: Option<PathBuf>,
    inner: Mutex<Inner>,
    /// The running export's cancel flag (a plain lock: Cancel is pressed from anywhere).
    export: std::sync::Mutex<Option<Cancel>>,
}

/// The wall clock, for the app; tests pass a fixed one.
pub fn system_clock() -> Time {
    Time::from(std::time::SystemTime::now())
}

impl Console {
    pub fn new(paths: Paths, credentials: Credentials, clock: fn() -> Time) -> Self {
        Self {
            paths,
            credentials: Arc::new(credentials),
            clock,
            export_dir: None,
            inner: Mutex::default(),
            export: Default::default(),
        }
    }

    /// Exports then go to `dir` without asking (automation, kiosk set-ups, tests).
    pub fn with_export_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.export_dir = dir;
        self
    }

    pub fn export_dir(&self) -> Option<&Path> {
        self.export_dir.as_deref()
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
        let client = crate::api::client(&config.server_url, &token)?;
        let session = Session {
            server_url: config.server_url.as_str().to_owned(),
            manager_name: config.manager_name,
            manager_email: config.manager_email,
            storage,
        };
        let cache = Arc::new(Cache::open(&self.paths.cache_file()).await?);
        let mut inner = self.inner.lock().await;
        inner.active = Some(Active { session: session.clone(), client, reloaded: Arc::default() });
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
        let client = crate::api::client(&server, &token)?;
        let me = client.me().await.map_err(|e| from_client("The server", e))?;

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
        inner.active = Some(Active { session: session.clone(), client, reloaded: Arc::default() });
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

    /// Brings the local contract index up to date: the whole list on the
    /// first sync after sign-in (dropping contracts no longer assigned), then
    /// only what changed since the newest `updated_at` seen (api.md).
    pub async fn sync_contracts(&self) -> CommandResult<SyncReport> {
        let (active, cache) = self.signed_in().await?;
        let full = !active.reloaded.load(Ordering::Acquire);
        let received = if full {
            let all = active.client.all_contracts(&ContractFilter::default()).await.map_err(from_client_any)?;
            cache.replace_contracts(&all).await?
        } else {
            let filter = match cache.contracts_synced_through().await? {
                Some(since) => ContractFilter::updated_since(since),
                None => ContractFilter::default(),
            };
            let changed = active.client.all_contracts(&filter).await.map_err(from_client_any)?;
            cache.upsert_contracts(&changed).await?
        };
        active.reloaded.store(true, Ordering::Release);
        let total = cache.contract_count().await?;
        tracing::info!(received, total, full, "contract index synced");
        Ok(SyncReport { received, total })
    }

    pub async fn list_contracts(&self, limit: u32) -> CommandResult<Vec<ContractHit>> {
        let (_, cache) = self.signed_in().await?;
        cache.list_contracts(limit).await
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

    /// Users of all assigned contracts whose id or email contains `query` (server side).
    pub async fn search_users(&self, query: &str, limit: u32) -> CommandResult<Vec<AdminUser>> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let page =
            client.users(Some(query), &PageRequest::first(limit.clamp(1, 100))).await.map_err(from_client_any)?;
        Ok(page.items)
    }

    /// A contract and all its users; remembered as recently viewed.
    pub async fn open_contract(&self, contract_id: &str) -> CommandResult<ContractView> {
        let (signed, cache) = self.signed_in().await?;
        let what = format!("Contract {contract_id}");
        let contract = signed.client.contract(contract_id).await.map_err(|e| from_client(&what, e))?;
        let users = signed.client.all_contract_users(contract_id, None).await.map_err(|e| from_client(&what, e))?;
        // Keep the index fresh with what we just saw (counts change on disable).
        cache.upsert_contracts(std::slice::from_ref(&contract)).await?;
        cache.record_view(RecentKind::Contract, &contract.contract_id, &contract.name, (self.clock)()).await?;
        Ok(ContractView { contract, users })
    }

    /// A user and the newest page of their notifications; remembered as recently viewed.
    pub async fn open_user(&self, user_id: &str) -> CommandResult<UserView> {
        let (signed, cache) = self.signed_in().await?;
        let what = format!("User {user_id}");
        let user = signed.client.user(user_id).await.map_err(|e| from_client(&what, e))?;
        let notifications = signed
            .client
            .notifications(user_id, &PageRequest::first(NOTIFICATIONS_PAGE))
            .await
            .map_err(|e| from_client(&what, e))?;
        let contract_name = cache.contract_name(&user.contract_id).await?;
        let label = format!("{} ({})", user.display_name, user.email);
        cache.record_view(RecentKind::User, &user.user_id, &label, (self.clock)()).await?;
        Ok(UserView { user, contract_name, notifications })
    }

    /// The next page of a user's notification history.
    pub async fn more_notifications(&self, user_id: &str, cursor: &str) -> CommandResult<Page<Notification>> {
        let client = self.client().await?;
        let page = PageRequest { limit: Some(NOTIFICATIONS_PAGE), cursor: Some(cursor.to_owned()) };
        client.notifications(user_id, &page).await.map_err(|e| from_client(&format!("User {user_id}"), e))
    }

    /// Turns 2FA off for one user (idempotent: `changed: false` when it was off).
    pub async fn disable_user(&self, user_id: &str, reason: &str) -> CommandResult<UserDisabled> {
        let reason = check_reason(reason)?;
        let client = self.client().await?;
        let done =
            client.disable_user(user_id, reason).await.map_err(|e| from_client(&format!("User {user_id}"), e))?;
        tracing::info!(user = %user_id, changed = done.changed, "2FA disabled for a user");
        Ok(done)
    }

    /// Turns 2FA off for every user of a contract, in one server transaction.
    /// `typed_contract_id` is what the manager typed to confirm; it must match.
    pub async fn disable_contract(
        &self,
        contract_id: &str,
        reason: &str,
        typed_contract_id: &str,
    ) -> CommandResult<ContractDisabled> {
        if typed_contract_id.trim() != contract_id {
            return Err(CommandError::invalid_input(format!(
                "Type the contract id {contract_id} exactly to confirm turning 2FA off for the whole contract."
            )));
        }
        let reason = check_reason(reason)?;
        let client = self.client().await?;
        let what = format!("Contract {contract_id}");
        let done = client.disable_contract(contract_id, reason).await.map_err(|e| from_client(&what, e))?;
        tracing::info!(contract = %contract_id, disabled = done.disabled, "2FA disabled for a contract");
        Ok(done)
    }

    /// The file name the save dialog proposes: `tollgate-audit-<scope>-<date>.csv`.
    pub fn export_file_name(&self, request: &ExportRequest) -> String {
        let scope = match &request.scope {
            ExportScope::All => "all".to_owned(),
            ExportScope::Contract { contract_id } => file_safe(contract_id),
            ExportScope::User { user_id } => file_safe(user_id),
        };
        let date = (self.clock)().date();
        format!("tollgate-audit-{scope}-{date}.csv")
    }

    /// Streams the audit CSV of `request` into `path`, calling `progress`
    /// as rows arrive. The file appears only when complete (see
    /// `tollgate_client::Client::export_audit_to_file`); a cancelled or failed
    /// export leaves nothing. Every export is recorded in the history.
    pub async fn run_export(
        &self,
        request: &ExportRequest,
        path: &Path,
        mut progress: impl FnMut(ExportProgress) + Send,
    ) -> CommandResult<ExportOutcome> {
        let filter = audit_filter(request)?;
        check_export_path(path)?;
        let (signed, cache) = self.signed_in().await?;
        let cancel = {
            let mut running = self.running_export();
            if running.is_some() {
                return Err(CommandError::invalid_input(
                    "An export is already running. Wait for it to finish or cancel it first.",
                ));
            }
            let cancel = Cancel::new();
            *running = Some(cancel.clone());
            cancel
        };
        let started_at = (self.clock)();
        let mut last = Progress::default();
        let result = signed
            .client
            .export_audit_to_file(&filter, AuditFormat::Csv, path, &cancel, |p| {
                last = p;
                progress(ExportProgress { rows: p.rows, bytes: p.bytes });
            })
            .await;
        *self.running_export() = None;
        let (status, rows, message) = match result {
            Ok(total) => (ExportStatus::Completed, total.rows, None),
            Err(tollgate_client::Error::Cancelled) => (ExportStatus::Cancelled, last.rows, None),
            Err(e) => (ExportStatus::Failed, last.rows, Some(from_client("The audit log", e).message)),
        };
        let scope = scope_label(&request.scope);
        cache
            .record_export(&NewExport {
                scope: &scope,
                file_path: path,
                rows: i64::try_from(rows).unwrap_or(i64::MAX),
                status,
                started_at,
                finished_at: (self.clock)(),
            })
            .await?;
        tracing::info!(scope = %scope, rows, ?status, "audit export ended");
        Ok(ExportOutcome { status, rows, file_path: path.display().to_string(), message })
    }

    /// Stops the running export, if any; its `run_export` ends as cancelled.
    pub fn cancel_export(&self) -> bool {
        match &*self.running_export() {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn running_export(&self) -> std::sync::MutexGuard<'_, Option<Cancel>> {
        // Nothing can leave the flag half-written: a poisoned lock is still usable.
        self.export.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn signed_in(&self) -> CommandResult<(Signed, Arc<Cache>)> {
        let inner = self.inner.lock().await;
        match (&inner.active, &inner.cache) {
            (Some(active), Some(cache)) => {
                Ok((Signed { client: active.client.clone(), reloaded: active.reloaded.clone() }, cache.clone()))
            }
            _ => Err(CommandError::not_signed_in()),
        }
    }

    async fn client(&self) -> CommandResult<Client> {
        Ok(self.signed_in().await?.0.client)
    }
}

/// What commands need of the signed-in session.
struct Signed {
    client: Client,
    reloaded: Arc<AtomicBool>,
}

fn from_client_any(e: tollgate_client::Error) -> CommandError {
    from_client("That", e)
}

/// The reason a manager gives for a disable: 1–500 characters (api.md).
fn check_reason(reason: &str) -> CommandResult<&str> {
    let reason = reason.trim();
    match reason.chars().count() {
        0 => Err(CommandError::invalid_input("Give a reason: it is kept in the audit log.")),
        n if n > 500 => {
            Err(CommandError::invalid_input(format!("The reason is {n} characters long; keep it to 500 or fewer.")))
        }
        _ => Ok(reason),
    }
}

fn file_safe(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// `all`, `contract:<id>` or `user:<id>`, as the export history shows it.
fn scope_label(scope: &ExportScope) -> String {
    match scope {
        ExportScope::All => "all".to_owned(),
        ExportScope::Contract { contract_id } => format!("contract:{contract_id}"),
        ExportScope::User { user_id } => format!("user:{user_id}"),
    }
}

/// The server's filter: `since` at 00:00 UTC of its day, `until` at 00:00
/// UTC of the day after (the server's `until` is exclusive).
fn audit_filter(request: &ExportRequest) -> CommandResult<AuditFilter> {
    let day = |field: &str, value: &Option<String>| -> CommandResult<Option<time::Date>> {
        let Some(text) = value.as_deref().map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
        time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Some)
            .map_err(|_| CommandError::invalid_input(format!("The {field} date must look like 2026-11-28.")))
    };
    let since = day("start", &request.since)?;
    let until = day("end", &request.until)?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(CommandError::invalid_input("The start date is after the end date."));
        }
    }
    let until = match until {
        Some(u) => Some(u.next_day().ok_or_else(|| CommandError::invalid_input("The end date is too far away."))?),
        None => None,
    };
    let (contract_id, user_id) = match &request.scope {
        ExportScope::All => (None, None),
        ExportScope::Contract { contract_id } => (Some(contract_id.clone()), None),
        ExportScope::User { user_id } => (None, Some(user_id.clone())),
    };
    Ok(AuditFilter {
        contract_id,
        user_id,
        since: since.map(|d| d.midnight().assume_utc()),
        until: until.map(|d| d.midnight().assume_utc()),
    })
}

/// An export goes to an absolute path in a folder that exists.
fn check_export_path(path: &Path) -> CommandResult<()> {
    if !path.is_absolute() || path.file_name().is_none() {
        return Err(CommandError::invalid_input("Choose where to save the export."));
    }
    match path.parent() {
        Some(dir) if dir.is_dir() => Ok(()),
        _ => Err(CommandError::invalid_input(format!(
            "The folder of {} does not exist. Choose another place.",
            path.display()
        ))),
    }
}

/// Runs keyring work (blocking D-Bus calls) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> CommandResult<T> + Send + 'static) -> CommandResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| CommandError::internal("keyring task failed"))?
}
