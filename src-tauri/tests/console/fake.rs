//! The one fake: the server's admin API at the edge (crates/client is not on
//! main yet). Everything else in these tests is real: SQLite files, the
//! config file, the keyring store, Tauri's IPC.

use std::sync::{Arc, Mutex};
use time::macros::datetime;
use tollgate_console::api::{AdminApi, ApiError, ApiFuture, Connector};
use tollgate_console::config::ServerUrl;
use tollgate_console::secret::Token;
use tollgate_proto::admin::{ContractSummary, Me};
use tollgate_proto::Time;

pub const GOOD_TOKEN: &str = "tgm_GOOD_5f0e1d2c3b4a";

#[derive(Default)]
pub struct FakeServer {
    pub contracts: Mutex<Vec<ContractSummary>>,
    /// The `updated_since` of every contracts call.
    pub since_seen: Mutex<Vec<Option<Time>>>,
    /// Answer every call with this error instead.
    pub fail_with: Mutex<Option<ApiError>>,
}

impl FakeServer {
    pub fn with_contracts(n: usize) -> Arc<Self> {
        let s = Self::default();
        *s.contracts.lock().unwrap() = (0..n)
            .map(|i| ContractSummary {
                contract_id: format!("c_{i:04}"),
                name: format!("{} Holdings {i}", ["Acme", "Beta", "Gamma"][i % 3]),
                users: 10 + i as u64,
                users_with_two_factor: i as u64,
                updated_at: datetime!(2026-11-01 00:00 UTC) + time::Duration::minutes(i as i64),
            })
            .collect();
        Arc::new(s)
    }
}

pub struct FakeConnector(pub Arc<FakeServer>);

struct Bound {
    server: Arc<FakeServer>,
    good: bool,
}

impl Connector for FakeConnector {
    fn connect(&self, server: &ServerUrl, token: &Token) -> Result<Arc<dyn AdminApi>, ApiError> {
        if server.as_str().contains("unreachable") {
            return Err(ApiError::Unreachable("connection refused".into()));
        }
        Ok(Arc::new(Bound { server: self.0.clone(), good: token.expose() == GOOD_TOKEN }))
    }
}

impl Bound {
    fn check(&self) -> Result<(), ApiError> {
        if let Some(e) = self.server.fail_with.lock().unwrap().clone() {
            return Err(e);
        }
        if !self.good {
            return Err(ApiError::Unauthorized);
        }
        Ok(())
    }
}

impl AdminApi for Bound {
    fn me(&self) -> ApiFuture<'_, Me> {
        Box::pin(async move {
            self.check()?;
            Ok(Me {
                manager_id: "m_1".into(),
                name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                contracts: 3,
            })
        })
    }

    fn contracts_updated_since(&self, since: Option<Time>) -> ApiFuture<'_, Vec<ContractSummary>> {
        Box::pin(async move {
            self.check()?;
            self.server.since_seen.lock().unwrap().push(since);
            let all = self.server.contracts.lock().unwrap().clone();
            Ok(all.into_iter().filter(|c| since.is_none_or(|s| c.updated_at > s)).collect())
        })
    }
}
