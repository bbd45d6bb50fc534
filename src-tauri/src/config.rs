//! Where things live on disk, and the one config file.
//!
//! The config file (`console.toml` in the app config dir) holds the server URL
//! and the signed-in manager's display name and email — nothing secret. The
//! token lives in the OS keyring (see `credentials`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::error::{CommandError, ErrorCode};

/// The console's directories. Tauri supplies them in the app; tests pass temporary ones.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl Paths {
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("console.toml")
    }

    pub fn cache_file(&self) -> PathBuf {
        self.data_dir.join("cache.sqlite3")
    }
}

/// A server base URL the console may send a token to: `https://…`, or
/// `http://` only to a loopback host (security.md: HTTPS to any non-loopback server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn parse(raw: &str) -> Result<Self, CommandError> {
        let bad = |m: &str| CommandError::invalid_input(m.to_owned());
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(bad("Enter the server address, for example https://tollgate.example.com."));
        }
        let url = url::Url::parse(raw)
            .map_err(|_| bad("That is not a web address. Use the form https://tollgate.example.com."))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(bad("The server address needs a host name."));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("Put the token in the token field, not in the server address."));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("The server address must not have a ?query or #fragment."));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                return Err(bad("Use https:// for this server: the token must not travel unencrypted."));
            }
            _ => return Err(bad("The server address must start with https://.")),
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl TryFrom<String> for ServerUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).map_err(|e| e.message)
    }
}

impl From<ServerUrl> for String {
    fn from(u: ServerUrl) -> String {
        u.0
    }
}

/// The content of `console.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server_url: ServerUrl,
    pub manager_name: String,
    pub manager_email: String,
}

impl Config {
    /// `Ok(None)` when there is no file yet (first run, or after sign-out).
    pub fn load(path: &Path) -> Result<Option<Self>, CommandError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read the settings file", &e)),
        };
        toml::from_str(&text).map(Some).map_err(|e| {
            CommandError::new(
                ErrorCode::Io,
                format!(
                    "The settings file {} is damaged ({}). Delete it and connect again.",
                    path.display(),
                    e.message()
                ),
            )
        })
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<(), CommandError> {
        let text = toml::to_string(self).map_err(|_| CommandError::internal("config serialisation failed"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error("create the settings folder", &e))?;
        }
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| io_error("write the settings file", &e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_error("write the settings file", &e))
    }

    pub fn remove(path: &Path) -> Result<(), CommandError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete the settings file", &e)),
        }
    }
}

pub(crate) fn io_error(what: &str, e: &std::io::Error) -> CommandError {
    tracing::warn!(error = %e, "could not {what}");
    CommandError::new(ErrorCode::Io, format!("Could not {what}: {e}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_rules() {
        assert_eq!(ServerUrl::parse(" https://tg.example.com/ ").unwrap().as_str(), "https://tg.example.com");
        assert_eq!(ServerUrl::parse("http://127.0.0.1:8080").unwrap().as_str(), "http://127.0.0.1:8080");
        assert_eq!(ServerUrl::parse("http://localhost:1/").unwrap().as_str(), "http://localhost:1");
        assert_eq!(ServerUrl::parse("http://[::1]:9").unwrap().as_str(), "http://[::1]:9");
        for bad in ["", "tg.example.com", "http://tg.example.com", "ftp://x", "https://u:p@x", "https://x/?t=1"] {
            let e = ServerUrl::parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn config_round_trips_and_holds_no_token_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/console.toml");
        assert_eq!(Config::load(&path).unwrap(), None);
        let c = Config {
            server_url: ServerUrl::parse("https://tg.example.com").unwrap(),
            manager_name: "Ada".into(),
            manager_email: "ada@example.com".into(),
        };
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), Some(c));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("token"), "{text}");
        std::fs::write(&path, "server_url = \"https://x\"\ntoken = \"s\"\n").unwrap();
        assert_eq!(Config::load(&path).unwrap_err().code, ErrorCode::Io);
        Config::remove(&path).unwrap();
        Config::remove(&path).unwrap();
        assert!(!path.exists());
    }
}
