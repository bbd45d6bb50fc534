//! Contracts and users as the server has them now: the Contract and User
//! screens, user search, and turning 2FA off.

use tauri::State;
use tollgate_client::proto::admin::{AdminUser, ContractDisabled, Notification, UserDisabled};
use tollgate_client::Page;

use crate::console::{Console, ContractView, UserView};
use crate::error::CommandResult;

/// Users of all assigned contracts whose id or email contains `query`.
#[tauri::command]
pub async fn search_users(
    console: State<'_, Console>,
    query: String,
    limit: Option<u32>,
) -> CommandResult<Vec<AdminUser>> {
    console.search_users(&query, limit.unwrap_or(20)).await
}

/// A contract with all its users.
#[tauri::command]
pub async fn open_contract(console: State<'_, Console>, contract_id: String) -> CommandResult<ContractView> {
    console.open_contract(&contract_id).await
}

/// A user with the newest page of their notification history.
#[tauri::command]
pub async fn open_user(console: State<'_, Console>, user_id: String) -> CommandResult<UserView> {
    console.open_user(&user_id).await
}

/// The next page of a user's notification history.
#[tauri::command]
pub async fn more_notifications(
    console: State<'_, Console>,
    user_id: String,
    cursor: String,
) -> CommandResult<Page<Notification>> {
    console.more_notifications(&user_id, &cursor).await
}

#[tauri::command]
pub async fn disable_user(console: State<'_, Console>, user_id: String, reason: String) -> CommandResult<UserDisabled> {
    console.disable_user(&user_id, &reason).await
}

/// `typed_contract_id` is what the manager typed to confirm.
#[tauri::command]
pub async fn disable_contract(
    console: State<'_, Console>,
    contract_id: String,
    reason: String,
    typed_contract_id: String,
) -> CommandResult<ContractDisabled> {
    console.disable_contract(&contract_id, &reason, &typed_contract_id).await
}
