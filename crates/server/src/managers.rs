//! Managing account managers: create (the token is shown once), assign and
//! unassign contracts, revoke, list. Used by the CLI, the demo and tests.

use crate::app::App;
use crate::crypto::{random_id, random_token, token_digest};
use crate::service::text_field;
use crate::store::audit::{self, NewEvent};
use crate::store::{managers, users};
use serde_json::json;
use tollgate_core::audit::ActorKind;
use tollgate_core::ids::{ContractId, EmailAddress};

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("{0}")]
    Invalid(String),
    #[error("no manager {0}")]
    NoManager(String),
    #[error("no contract {0}")]
    NoContract(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A new manager: `(manager_id, token)`. The token is not stored, only its hash.
pub async fn create(app: &App, name: &str, email: &str) -> Result<(String, String), ManagerError> {
    let name = text_field("name", name, 200).map_err(|e| ManagerError::Invalid(e.detail))?;
    let email = EmailAddress::parse(email.trim()).map_err(|e| ManagerError::Invalid(format!("email: {e}")))?;
    let id = random_id("m_");
    let token = random_token("tgm_");
    let now = app.now_ms();
    let mut tx = app.store.begin().await?;
    managers::insert(&mut tx, &id, &name, email.as_str(), &token_digest(&token), now).await?;
    system_event(app, &mut tx, "manager.created", None, json!({ "manager_id": id, "name": name }), now).await?;
    tx.commit().await?;
    Ok((id, token))
}

pub async fn assign(app: &App, manager_id: &str, contract: &str) -> Result<bool, ManagerError> {
    let contract = ContractId::parse(contract).map_err(|e| ManagerError::Invalid(format!("contract: {e}")))?;
    let now = app.now_ms();
    let mut tx = app.store.begin().await?;
    managers::find(&mut tx, manager_id).await?.ok_or_else(|| ManagerError::NoManager(manager_id.into()))?;
    users::find_contract(&mut tx, contract.as_str())
        .await?
        .ok_or_else(|| ManagerError::NoContract(contract.to_string()))?;
    let changed = managers::assign(&mut tx, manager_id, contract.as_str(), now).await?;
    if changed {
        let detail = json!({ "manager_id": manager_id });
        system_event(app, &mut tx, "manager.assigned", Some(contract.as_str()), detail, now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

pub async fn unassign(app: &App, manager_id: &str, contract: &str) -> Result<bool, ManagerError> {
    let now = app.now_ms();
    let mut tx = app.store.begin().await?;
    managers::find(&mut tx, manager_id).await?.ok_or_else(|| ManagerError::NoManager(manager_id.into()))?;
    let changed = managers::unassign(&mut tx, manager_id, contract).await?;
    if changed {
        let detail = json!({ "manager_id": manager_id });
        system_event(app, &mut tx, "manager.unassigned", Some(contract), detail, now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Revokes a manager's token; it stops working at once.
pub async fn revoke(app: &App, manager_id: &str) -> Result<bool, ManagerError> {
    let now = app.now_ms();
    let mut tx = app.store.begin().await?;
    managers::find(&mut tx, manager_id).await?.ok_or_else(|| ManagerError::NoManager(manager_id.into()))?;
    let changed = managers::revoke(&mut tx, manager_id, now).await?;
    if changed {
        system_event(app, &mut tx, "manager.revoked", None, json!({ "manager_id": manager_id }), now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

async fn system_event(
    app: &App,
    c: &mut crate::store::Conn,
    action: &str,
    contract_id: Option<&str>,
    detail: serde_json::Value,
    now: i64,
) -> sqlx::Result<i64> {
    let event = NewEvent {
        actor_kind: ActorKind::System,
        actor_id: "cli",
        action,
        contract_id,
        user_id: None,
        ip: None,
        detail,
    };
    audit::append(c, app.store.engine(), now, event).await
}
