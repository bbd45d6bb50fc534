//! Where the manager token lives: the OS keyring, or — when none is reachable
//! and the manager agrees — this process's memory only.
//!
//! Keyring entries use service `tollgate-console` and the server URL as the
//! account, so one machine can hold tokens for several servers. On Linux the
//! store is the freedesktop Secret Service over D-Bus (gnome-keyring, KWallet),
//! through `keyring-core` and its pure-Rust zbus store (the keyring 4.x stack).
//!
//! Nothing here writes a token anywhere else, and errors coming out of the
//! keyring are described without their payload (`BadEncoding` carries the
//! secret's bytes).
//!
//! Every call may block on D-Bus: call it from a blocking thread
//! (`tauri::async_runtime::spawn_blocking`), not from an async task.

use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ts_rs::TS;

use crate::config::ServerUrl;
use crate::error::{CommandError, ErrorCode};
use crate::secret::Token;

pub const SERVICE: &str = "tollgate-console";

/// Where a token is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// In the OS keyring; survives restarts.
    Keyring,
    /// In memory only; gone when the console quits.
    SessionOnly,
}

/// Whether the OS keyring can be used, for the Connect screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct KeyringStatus {
    pub available: bool,
    /// When unavailable: why, in plain words.
    pub detail: Option<String>,
}

pub struct Credentials {
    store: Result<Arc<CredentialStore>, String>,
    memory: Mutex<HashMap<String, Token>>,
}

impl Credentials {
    /// The platform's keyring (Secret Service on Linux), or "unavailable" with the reason.
    pub fn platform() -> Self {
        Self { store: platform_store(), memory: Mutex::default() }
    }

    /// A specific keyring store (tests use keyring-core's mock store this way).
    pub fn with_store(store: Arc<CredentialStore>) -> Self {
        Self { store: Ok(store), memory: Mutex::default() }
    }

    /// No keyring at all: only session-only sign-in works.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self { store: Err(reason.into()), memory: Mutex::default() }
    }

    pub fn keyring_status(&self) -> KeyringStatus {
        match &self.store {
            Ok(_) => KeyringStatus { available: true, detail: None },
            Err(why) => KeyringStatus { available: false, detail: Some(why.clone()) },
        }
    }

    /// Keeps `token` for `server`. With [`Storage::Keyring`] and no reachable
    /// keyring this fails with `keyring_unavailable` (the UI then offers
    /// session-only); it never silently downgrades.
    pub fn save(&self, server: &ServerUrl, token: &Token, storage: Storage) -> Result<(), CommandError> {
        match storage {
            Storage::Keyring => {
                self.entry(server)?.set_password(token.expose()).map_err(|e| keyring_error("save the token", &e))?;
                self.memory_lock()?.remove(server.as_str());
            }
            Storage::SessionOnly => {
                self.memory_lock()?.insert(server.as_str().to_owned(), token.clone());
            }
        }
        tracing::info!(server = server.as_str(), ?storage, "token saved");
        Ok(())
    }

    /// The token for `server`, from memory first, then the keyring. `Ok(None)`
    /// when neither has one (or no keyring is reachable).
    pub fn load(&self, server: &ServerUrl) -> Result<Option<(Token, Storage)>, CommandError> {
        if let Some(t) = self.memory_lock()?.get(server.as_str()) {
            return Ok(Some((t.clone(), Storage::SessionOnly)));
        }
        if self.store.is_err() {
            return Ok(None);
        }
        match self.entry(server)?.get_password() {
            Ok(raw) => match Token::parse(&raw) {
                Ok(t) => Ok(Some((t, Storage::Keyring))),
                Err(_) => {
                    tracing::warn!(server = server.as_str(), "keyring entry is not a token; ignoring it");
                    Ok(None)
                }
            },
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error("read the token", &e)),
        }
    }

    /// Forgets the token for `server` everywhere. Missing entries are fine.
    pub fn delete(&self, server: &ServerUrl) -> Result<(), CommandError> {
        self.memory_lock()?.remove(server.as_str());
        if self.store.is_err() {
            return Ok(());
        }
        match self.entry(server)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => {
                tracing::info!(server = server.as_str(), "token deleted");
                Ok(())
            }
            Err(e) => Err(keyring_error("delete the token", &e)),
        }
    }

    fn entry(&self, server: &ServerUrl) -> Result<Entry, CommandError> {
        let store = self.store.as_ref().map_err(|why| unavailable(why))?;
        Entry::new_in_store(store, SERVICE, server.as_str()).map_err(|e| keyring_error("open the keyring entry", &e))
    }

    fn memory_lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Token>>, CommandError> {
        self.memory.lock().map_err(|_| CommandError::internal("credentials memory lock poisoned"))
    }
}

#[cfg(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android"))))]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    match zbus_secret_service_keyring_store::Store::new() {
        Ok(s) => Ok(s),
        Err(e) => {
            let why = format!("No Secret Service (GNOME Keyring, KWallet) is reachable: {}", describe(&e));
            tracing::warn!(reason = %why, "keyring unavailable");
            Err(why)
        }
    }
}

#[cfg(not(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android")))))]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    // macOS Keychain and Windows Credential Manager stores are the next step (keyring 4.x stores).
    Err("This console build has no keyring support for this platform yet.".to_owned())
}

pub(crate) fn unavailable(why: &str) -> CommandError {
    CommandError::new(
        ErrorCode::KeyringUnavailable,
        format!(
            "{why} You can still sign in for this session only; the token is then forgotten when the console quits."
        ),
    )
}

/// Keyring failures that mean "no usable keyring" become `keyring_unavailable`.
fn keyring_error(what: &str, e: &KeyringError) -> CommandError {
    let why = describe(e);
    tracing::warn!(reason = %why, "could not {what} in the keyring");
    match e {
        KeyringError::PlatformFailure(_) | KeyringError::NoStorageAccess(_) | KeyringError::NoDefaultStore => {
            unavailable(&format!("The OS keyring could not {what} ({why})."))
        }
        _ => CommandError::new(ErrorCode::Io, format!("The OS keyring could not {what}: {why}.")),
    }
}

/// A description that never includes secret bytes.
fn describe(e: &KeyringError) -> String {
    match e {
        KeyringError::BadEncoding(_) => "the stored value is not text".to_owned(),
        KeyringError::BadDataFormat(_, _) => "the stored value is malformed".to_owned(),
        KeyringError::Ambiguous(items) => format!("{} entries match", items.len()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> ServerUrl {
        ServerUrl::parse("https://tg.example.com").unwrap()
    }

    #[test]
    fn unavailable_keyring_refuses_keyring_storage_but_allows_session_only() {
        let c = Credentials::unavailable("No Secret Service is reachable.");
        assert!(!c.keyring_status().available);
        let token = Token::parse("tgm_abc").unwrap();
        let e = c.save(&url(), &token, Storage::Keyring).unwrap_err();
        assert_eq!(e.code, ErrorCode::KeyringUnavailable);
        assert!(e.message.contains("session only"), "{}", e.message);
        assert_eq!(c.load(&url()).unwrap(), None);

        c.save(&url(), &token, Storage::SessionOnly).unwrap();
        assert_eq!(c.load(&url()).unwrap(), Some((token, Storage::SessionOnly)));
        c.delete(&url()).unwrap();
        assert_eq!(c.load(&url()).unwrap(), None);
    }

    /// With D-Bus pointing at nothing, the real platform store reports
    /// `keyring_unavailable`. Runs itself in a child process so the changed
    /// environment cannot leak into other tests.
    #[test]
    fn platform_without_secret_service_is_keyring_unavailable() {
        const CHILD: &str = "CONSOLE_TEST_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let dir = tempfile::tempdir().unwrap();
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "credentials::tests::platform_without_secret_service_is_keyring_unavailable"])
                .env(CHILD, "1")
                .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}/no-bus", dir.path().display()))
                .env("XDG_RUNTIME_DIR", dir.path())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("1 passed"), "the child did not run the test: {stdout}");
            return;
        }
        let c = Credentials::platform();
        let status = c.keyring_status();
        assert!(!status.available);
        assert!(status.detail.unwrap().contains("Secret Service"));
        let token = Token::parse("tgm_child").unwrap();
        assert_eq!(c.save(&url(), &token, Storage::Keyring).unwrap_err().code, ErrorCode::KeyringUnavailable);
        c.save(&url(), &token, Storage::SessionOnly).unwrap();
        assert_eq!(c.load(&url()).unwrap().unwrap().1, Storage::SessionOnly);
    }
}
