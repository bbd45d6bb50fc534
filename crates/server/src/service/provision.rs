//! Provisioning by the product's web tier: contracts and users.

use super::{text_field, two_factor_status};
use crate::app::App;
use crate::clock::from_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::audit::{self, NewEvent};
use crate::store::users::{self, ContractRow, UserRow};
use serde_json::json;
use tollgate_core::audit::ActorKind;
use tollgate_core::ids::{ContractId, EmailAddress, UserId};
use tollgate_proto::service::{Contract, PutContract, PutUser, User};

pub fn contract_view(row: &ContractRow) -> Contract {
    Contract {
        contract_id: row.id.clone(),
        name: row.name.clone(),
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
    }
}

pub fn user_view(row: &UserRow) -> User {
    User {
        user_id: row.id.clone(),
        contract_id: row.contract_id.clone(),
        email: row.email.clone(),
        display_name: row.display_name.clone(),
        two_factor: two_factor_status(row),
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
    }
}

impl App {
    /// `PUT /v1/contracts/{id}`: returns the contract and whether it was created.
    pub async fn put_contract(&self, token_id: &str, raw_id: &str, body: PutContract) -> ApiResult<(Contract, bool)> {
        let id = ContractId::parse(raw_id).map_err(|e| ApiError::invalid(format!("contract id: {e}")))?;
        let name = text_field("name", &body.name, 200)?;
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let existing = match users::find_contract(&mut tx, id.as_str()).await? {
            Some(row) => Some(row),
            None if users::insert_contract(&mut tx, id.as_str(), &name, now).await? => None,
            // A racing PUT (another instance) created it meanwhile: update it.
            None => Some(users::find_contract(&mut tx, id.as_str()).await?.ok_or_else(ApiError::internal)?),
        };
        let (created, changed) = match &existing {
            None => (true, true),
            Some(row) if row.name != name => {
                users::rename_contract(&mut tx, id.as_str(), &name, now).await?;
                (false, true)
            }
            Some(_) => (false, false),
        };
        if changed {
            let action = if created { "contract.created" } else { "contract.updated" };
            let event = NewEvent {
                actor_kind: ActorKind::Service,
                actor_id: token_id,
                action,
                contract_id: Some(id.as_str()),
                user_id: None,
                ip: None,
                detail: json!({ "name": name }),
            };
            audit::append(&mut tx, self.store.engine(), now, event).await?;
        }
        let row = users::find_contract(&mut tx, id.as_str()).await?.ok_or_else(ApiError::internal)?;
        tx.commit().await?;
        Ok((contract_view(&row), created))
    }

    /// `PUT /v1/users/{id}`: returns the user and whether it was created.
    pub async fn put_user(&self, token_id: &str, raw_id: &str, body: PutUser) -> ApiResult<(User, bool)> {
        let id = UserId::parse(raw_id).map_err(|e| ApiError::invalid(format!("user id: {e}")))?;
        let contract =
            ContractId::parse(&body.contract_id).map_err(|e| ApiError::invalid(format!("contract_id: {e}")))?;
        let email = EmailAddress::parse(body.email.trim()).map_err(|e| ApiError::invalid(format!("email: {e}")))?;
        let display_name = text_field("display_name", &body.display_name, 200)?;
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        if users::find_contract(&mut tx, contract.as_str()).await?.is_none() {
            return Err(ApiError::not_found(format!("no contract {contract}; create it first")));
        }
        let existing = match users::find_user(&mut tx, id.as_str()).await? {
            Some(row) => Some(row),
            None if users::insert_user(&mut tx, id.as_str(), contract.as_str(), email.as_str(), &display_name, now)
                .await? =>
            {
                None
            }
            // A racing PUT (another instance) created it meanwhile: update it.
            None => Some(users::find_user(&mut tx, id.as_str()).await?.ok_or_else(ApiError::internal)?),
        };
        let created = existing.is_none();
        let changed = match &existing {
            None => true,
            Some(row) => {
                let changed = row.contract_id != contract.as_str()
                    || row.email != email.as_str()
                    || row.display_name != display_name;
                if changed {
                    users::update_profile(&mut tx, id.as_str(), contract.as_str(), email.as_str(), &display_name, now)
                        .await?;
                    if row.contract_id != contract.as_str() {
                        users::touch_contract(&mut tx, &row.contract_id, now).await?;
                    }
                }
                changed
            }
        };
        if changed {
            users::touch_contract(&mut tx, contract.as_str(), now).await?;
            let event = NewEvent {
                actor_kind: ActorKind::Service,
                actor_id: token_id,
                action: if created { "user.created" } else { "user.updated" },
                contract_id: Some(contract.as_str()),
                user_id: Some(id.as_str()),
                ip: None,
                detail: json!({}),
            };
            audit::append(&mut tx, self.store.engine(), now, event).await?;
        }
        let row = users::find_user(&mut tx, id.as_str()).await?.ok_or_else(ApiError::internal)?;
        tx.commit().await?;
        Ok((user_view(&row), created))
    }
}
