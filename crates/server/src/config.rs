//! Configuration: a TOML file (`--config FILE` or `TOLLGATE_CONFIG`) and
//! `TOLLGATE_<SECTION>__<KEY>` environment overrides, one `__` per level.
//! Every key is optional; the defaults below are the documented ones
//! (api.md). Everything is checked at start-up and a bad value is reported
//! with the key that holds it. Secrets never print.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret string: `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub sms: SmsConfig,
    pub email: EmailConfig,
    pub risk: RiskConfig,
    pub codes: CodesConfig,
    pub outbox: OutboxConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; loopback unless told otherwise.
    pub listen: String,
    /// Largest request body accepted, in bytes (larger: `413`).
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".into(), max_body_bytes: 16 * 1024 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (created when missing) or `postgres://user@host/db`.
    pub url: String,
    /// Pool size; 0 = the engine's default (SQLite 1 writer, PostgreSQL 10).
    pub max_connections: u32,
    /// At start, how long to keep retrying (with backoff) while the
    /// database is unreachable before giving up; 0 = one attempt.
    pub connect_retry_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://tollgate.db".into(), max_connections: 0, connect_retry_secs: 30 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    /// Writes a line per message (recipient masked, no text) to the log.
    #[default]
    Log,
    Twilio,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    pub provider: SmsProvider,
    pub twilio: TwilioConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: Secret,
    /// The sending number, E.164.
    pub from: String,
    /// `https://api.twilio.com`; http is allowed (tests).
    pub base_url: String,
    pub timeout_secs: u64,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: String::new(),
            auth_token: Secret::default(),
            from: String::new(),
            base_url: "https://api.twilio.com".into(),
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailProvider {
    /// Writes a line per message (recipient masked, no text) to the log.
    #[default]
    Log,
    Smtp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub provider: EmailProvider,
    pub from: String,
    /// Who users should contact if a change was not theirs.
    pub support_contact: String,
    pub smtp: SmtpConfig,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            provider: EmailProvider::Log,
            from: "security@example.com".into(),
            support_contact: "your account manager".into(),
            smtp: SmtpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    #[default]
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Empty: no authentication.
    pub username: String,
    pub password: Secret,
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            username: String::new(),
            password: Secret::default(),
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// An IP stays familiar this many days after a verified login from it.
    pub familiar_days: u32,
    /// Optional MaxMind-format `.mmdb`; empty: no country signal.
    pub geoip_db: String,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self { familiar_days: 90, geoip_db: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodesConfig {
    pub length: u8,
    pub ttl_secs: u64,
    /// Wrong tries per code.
    pub max_attempts: u32,
    /// Codes per phone number per window.
    pub max_sends: u32,
    pub send_window_secs: u64,
    /// Consecutive wrong codes per account before a lock (at most 100).
    pub lock_after_failures: u32,
    pub lock_secs: u64,
    /// Base64, 32+ bytes. Empty: generated at first start and kept in the
    /// database, with a warning. Set it in production and for several
    /// instances.
    pub hmac_key: Secret,
}

impl Default for CodesConfig {
    fn default() -> Self {
        Self {
            length: 6,
            ttl_secs: 600,
            max_attempts: 5,
            max_sends: 5,
            send_window_secs: 600,
            lock_after_failures: 20,
            lock_secs: 900,
            hmac_key: Secret::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Delivery tries before a notification is given up as `failed`.
    pub max_attempts: u32,
    /// How often the worker looks for due rows written by other instances.
    pub poll_ms: u64,
    /// First retry delay; doubles per try, capped at 5 minutes.
    pub retry_base_ms: u64,
    /// How long a worker owns a claimed row. A crashed worker's rows go
    /// out again after this; it must exceed the SMS and SMTP timeouts.
    pub lease_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self { max_attempts: 8, poll_ms: 500, retry_base_ms: 1000, lease_secs: 60 }
    }
}

impl OutboxConfig {
    /// The longest `lease_secs` accepted: a day.
    pub const MAX_LEASE_SECS: u64 = 86_400;

    /// A claim's lease, as a duration (`lease_secs` is at most a day once
    /// validated).
    pub fn lease(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.lease_secs.min(Self::MAX_LEASE_SECS)).unwrap_or(86_400))
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

impl Config {
    /// Reads the file (if any), applies `TOLLGATE_*` overrides from `env`,
    /// and validates.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut tree, env)?;
        let config: Config = toml::Value::Table(tree).try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: file.map_or_else(|| PathBuf::from("(environment)"), Path::to_owned),
            message: e.message().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.listen.parse::<SocketAddr>().map_err(|_| {
            invalid("server.listen", format!("{:?} is not an address like 127.0.0.1:8080", self.server.listen))
        })?;
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid("database.url", "must start with sqlite:// or postgres://"));
        }
        if self.database.connect_retry_secs > 600 {
            return Err(invalid("database.connect_retry_secs", "must be at most 600 seconds"));
        }
        let c = &self.codes;
        if !(6..=10).contains(&c.length) {
            return Err(invalid("codes.length", "must be 6 to 10 digits (NIST SP 800-63B: at least six)"));
        }
        if !(60..=3600).contains(&c.ttl_secs) {
            return Err(invalid("codes.ttl_secs", "must be 60 to 3600 seconds"));
        }
        if !(1..=10).contains(&c.max_attempts) {
            return Err(invalid("codes.max_attempts", "must be 1 to 10"));
        }
        if c.max_sends == 0 {
            return Err(invalid("codes.max_sends", "must be at least 1"));
        }
        if c.send_window_secs == 0 {
            return Err(invalid("codes.send_window_secs", "must be at least 1"));
        }
        if c.lock_after_failures == 0 || c.lock_after_failures > tollgate_core::lockout::MAX_LOCK_AFTER {
            return Err(invalid("codes.lock_after_failures", "must be 1 to 100 (NIST SP 800-63B rev 4 §3.2.2)"));
        }
        if c.lock_secs == 0 {
            return Err(invalid("codes.lock_secs", "must be at least 1"));
        }
        if !c.hmac_key.is_empty() && crate::crypto::Keys::from_master_b64(c.hmac_key.expose()).is_err() {
            return Err(invalid("codes.hmac_key", "must be base64 of at least 32 bytes"));
        }
        if self.sms.provider == SmsProvider::Twilio {
            let t = &self.sms.twilio;
            if t.account_sid.is_empty() {
                return Err(invalid("sms.twilio.account_sid", "is required when sms.provider = \"twilio\""));
            }
            // It goes into the request's path: letters and digits only.
            if !t.account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid("sms.twilio.account_sid", "must be letters and digits, like AC0123…"));
            }
            if t.auth_token.is_empty() {
                return Err(invalid("sms.twilio.auth_token", "is required when sms.provider = \"twilio\""));
            }
            if !(t.from.starts_with('+') && t.from.len() > 1 && t.from[1..].bytes().all(|b| b.is_ascii_digit())) {
                return Err(invalid("sms.twilio.from", "must be an E.164 number like +15005550006"));
            }
            if !(t.base_url.starts_with("https://") || t.base_url.starts_with("http://"))
                || reqwest::Url::parse(&t.base_url).is_err()
            {
                return Err(invalid("sms.twilio.base_url", "must be an http(s) URL"));
            }
        }
        if tollgate_core::ids::EmailAddress::parse(&self.email.from).is_err() {
            return Err(invalid("email.from", format!("{:?} is not an email address", self.email.from)));
        }
        if self.email.provider == EmailProvider::Smtp && self.email.smtp.host.is_empty() {
            return Err(invalid("email.smtp.host", "is required when email.provider = \"smtp\""));
        }
        if !self.risk.geoip_db.is_empty() && !Path::new(&self.risk.geoip_db).is_file() {
            return Err(invalid("risk.geoip_db", format!("{} is not a readable file", self.risk.geoip_db)));
        }
        let slowest = self.sms.twilio.timeout_secs.max(self.email.smtp.timeout_secs);
        if self.outbox.lease_secs > OutboxConfig::MAX_LEASE_SECS {
            return Err(invalid(
                "outbox.lease_secs",
                format!("must be at most {} s (a day)", OutboxConfig::MAX_LEASE_SECS),
            ));
        }
        if self.outbox.lease_secs <= slowest {
            return Err(invalid(
                "outbox.lease_secs",
                format!("must be longer than the slowest delivery timeout ({slowest} s)"),
            ));
        }
        if self.outbox.max_attempts == 0 {
            return Err(invalid("outbox.max_attempts", "must be at least 1"));
        }
        Ok(())
    }
}

/// Applies `TOLLGATE_SECTION__KEY=value` overrides. The type of each value
/// is the type of the key's default, so `+15005550006` stays a string and
/// `TOLLGATE_CODES__LENGTH=x` is refused with the variable's name.
fn apply_env(tree: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    let defaults = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("TOLLGATE_") else { continue };
        if rest == "CONFIG" || rest.starts_with("TEST_") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let env_err = |message: String| ConfigError::Env { var: var.clone(), message };
        let mut shape = &defaults;
        let (last, parents) = path.split_last().ok_or_else(|| env_err("names no key".into()))?;
        for part in parents {
            shape = match shape.get(part) {
                Some(toml::Value::Table(t)) => t,
                _ => return Err(env_err(format!("there is no section {part:?}"))),
            };
        }
        let value = match shape.get(last) {
            Some(toml::Value::Integer(_)) => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| env_err(format!("{raw:?} is not a whole number")))?,
            Some(toml::Value::Boolean(_)) => match raw.trim() {
                "true" | "1" => toml::Value::Boolean(true),
                "false" | "0" => toml::Value::Boolean(false),
                _ => return Err(env_err(format!("{raw:?} is not true or false"))),
            },
            Some(toml::Value::String(_)) => toml::Value::String(raw),
            _ => return Err(env_err(format!("there is no key {:?}", path.join(".")))),
        };
        let mut table = &mut *tree;
        for part in parents {
            let entry = table.entry(part.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = match entry {
                toml::Value::Table(t) => t,
                _ => return Err(env_err(format!("{part:?} in the config file is not a section"))),
            };
        }
        table.insert(last.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://tollgate.db");
        assert_eq!(c.codes.length, 6);
        assert_eq!(c.codes.ttl_secs, 600);
        assert_eq!(c.codes.max_attempts, 5);
        assert_eq!(c.codes.max_sends, 5);
        assert_eq!(c.codes.send_window_secs, 600);
        assert_eq!(c.codes.lock_after_failures, 20);
        assert_eq!(c.codes.lock_secs, 900);
        assert_eq!(c.risk.familiar_days, 90);
        assert_eq!(c.sms.twilio.base_url, "https://api.twilio.com");
        assert_eq!(c.email.smtp.port, 25);
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:9000\"\n[codes]\nlength = 8\n").unwrap();
        let c = Config::load(
            Some(&path),
            env(&[
                ("TOLLGATE_CODES__LENGTH", "7"),
                ("TOLLGATE_SMS__PROVIDER", "twilio"),
                ("TOLLGATE_SMS__TWILIO__ACCOUNT_SID", "AC1"),
                ("TOLLGATE_SMS__TWILIO__AUTH_TOKEN", "12345"),
                ("TOLLGATE_SMS__TWILIO__FROM", "+15005550006"),
                ("TOLLGATE_CONFIG", "ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9000");
        assert_eq!(c.codes.length, 7);
        assert_eq!(c.sms.twilio.auth_token.expose(), "12345");
        assert_eq!(c.sms.twilio.from, "+15005550006");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Config::load(None, env(&[("TOLLGATE_CODES__LOCK_AFTER_FAILURES", "150")])).unwrap_err();
        assert!(err.to_string().starts_with("codes.lock_after_failures:"), "{err}");
        let err = Config::load(None, env(&[("TOLLGATE_CODES__LENGTH", "six")])).unwrap_err();
        assert!(err.to_string().contains("TOLLGATE_CODES__LENGTH"), "{err}");
        let err = Config::load(None, env(&[("TOLLGATE_CODES__COLOUR", "x")])).unwrap_err();
        assert!(err.to_string().contains("codes.colour"), "{err}");
        let err = Config::load(None, env(&[("TOLLGATE_SERVER__LISTEN", "nowhere")])).unwrap_err();
        assert!(err.to_string().starts_with("server.listen:"), "{err}");
        let err = Config::load(None, env(&[("TOLLGATE_SMS__PROVIDER", "twilio")])).unwrap_err();
        assert!(err.to_string().starts_with("sms.twilio.account_sid:"), "{err}");
        // Both go into the provider's URL, checked at start rather than at
        // every send.
        let twilio = |sid: &str, base: &str| {
            Config::load(
                None,
                env(&[
                    ("TOLLGATE_SMS__PROVIDER", "twilio"),
                    ("TOLLGATE_SMS__TWILIO__ACCOUNT_SID", sid),
                    ("TOLLGATE_SMS__TWILIO__AUTH_TOKEN", "secret"),
                    ("TOLLGATE_SMS__TWILIO__FROM", "+15005550006"),
                    ("TOLLGATE_SMS__TWILIO__BASE_URL", base),
                ]),
            )
        };
        assert!(twilio("AC0123456789abcdef", "https://api.twilio.com").is_ok());
        let err = twilio("AC01/../x", "https://api.twilio.com").unwrap_err();
        assert!(err.to_string().starts_with("sms.twilio.account_sid: must be letters and digits"), "{err}");
        let err = twilio("AC0123", "https://api twilio.com").unwrap_err();
        assert!(err.to_string().starts_with("sms.twilio.base_url:"), "{err}");
        let err = Config::load(None, env(&[("TOLLGATE_DATABASE__URL", "mysql://x")])).unwrap_err();
        assert!(err.to_string().starts_with("database.url:"), "{err}");
        // A lease beyond a day would overflow the clock's arithmetic.
        let err = Config::load(None, env(&[("TOLLGATE_OUTBOX__LEASE_SECS", "99999999999999")])).unwrap_err();
        assert!(err.to_string().starts_with("outbox.lease_secs: must be at most 86400 s"), "{err}");
        assert!(Config::load(None, env(&[("TOLLGATE_OUTBOX__LEASE_SECS", "86400")])).is_ok());
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[codes]\nlenght = 6\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("lenght"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config::load(None, env(&[("TOLLGATE_SMS__TWILIO__AUTH_TOKEN", "s3cr3t-value")])).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }
}
