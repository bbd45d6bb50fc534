//! The application: store, clock, keys and policies, shared by the routes,
//! the outbox worker and the CLI.

use crate::clock::{to_ms, Clock};
use crate::config::Config;
use crate::crypto::Keys;
use crate::geoip::GeoIp;
use crate::store::{tokens, Store};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use tollgate_core::lockout::LockPolicy;
use tollgate_core::send_limit::SendPolicy;
use tollgate_core::verify::CodePolicy;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: Keys,
    pub codes: CodePolicy,
    pub sends: SendPolicy,
    pub lock: LockPolicy,
    pub geoip: Option<GeoIp>,
    /// Wakes the outbox worker after a commit that queued notifications.
    pub outbox_wake: Notify,
    /// Login challenges' SMS, queued leased to this instance, on their way
    /// to its outbox worker (see `notify::HandOver`).
    pub outbox_hand_over: crate::notify::HandOver,
    /// This instance's counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Group commit of the login decisions' writes (see `store::writer`).
    pub writer: crate::store::writer::Writer,
    /// Login challenges gathered into one writer job each (see
    /// `service::logins::FastChallenges`).
    pub fast_challenges: crate::store::writer::Gather<crate::service::logins::FastChallenges>,
    /// Live service tokens seen recently (see `http::auth`).
    pub service_tokens: crate::http::auth::ServiceTokenCache,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Key(#[from] crate::crypto::KeyError),
    #[error("risk.geoip_db: {0}")]
    GeoIp(String),
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX))
}

impl App {
    /// Opens and migrates the database, loads or creates the master key.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let db = &config.database;
        let retry = std::time::Duration::from_secs(db.connect_retry_secs);
        let store = Store::connect_with_retry(&db.url, db.max_connections, retry).await?;
        store.migrate().await?;
        let keys = if config.codes.hmac_key.is_empty() {
            let mut conn = store.pool().acquire().await?;
            let generated = Keys::generate_master_b64();
            let stored = tokens::init_setting(&mut conn, "hmac_key", &generated).await?;
            if stored == generated {
                tracing::warn!(
                    "codes.hmac_key is not set: generated one and kept it in the database; \
                     set it in production and for several instances"
                );
            }
            Keys::from_master_b64(&stored)?
        } else {
            Keys::from_master_b64(config.codes.hmac_key.expose())?
        };
        let geoip = if config.risk.geoip_db.is_empty() {
            None
        } else {
            Some(GeoIp::open(&config.risk.geoip_db).map_err(|e| StartError::GeoIp(e.to_string()))?)
        };
        let c = &config.codes;
        let writer = crate::store::writer::Writer::start(store.clone());
        Ok(Self {
            codes: CodePolicy { length: c.length, ttl: secs(c.ttl_secs), max_attempts: c.max_attempts },
            sends: SendPolicy { max_sends: c.max_sends, window: secs(c.send_window_secs) },
            lock: LockPolicy { lock_after: c.lock_after_failures, lock_for: secs(c.lock_secs) },
            config,
            fast_challenges: crate::store::writer::Gather::new(
                writer.clone(),
                crate::service::logins::FastChallenges(store.engine()),
            ),
            writer,
            store,
            clock,
            keys,
            geoip,
            outbox_wake: Notify::new(),
            outbox_hand_over: crate::notify::HandOver::default(),
            metrics: crate::metrics::Metrics::default(),
            service_tokens: crate::http::auth::ServiceTokenCache::default(),
        })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn now_ms(&self) -> i64 {
        to_ms(self.now())
    }
}
