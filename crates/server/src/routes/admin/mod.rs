//! The admin API (manager token), used by the desktop console.

pub mod audit;
pub mod contracts;
pub mod users;

use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ManagerCaller;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use tollgate_proto::admin::Me;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/admin/me", get(me))
        .route("/v1/admin/contracts", get(contracts::list))
        .route("/v1/admin/contracts/{contract_id}", get(contracts::one))
        .route("/v1/admin/contracts/{contract_id}/users", get(contracts::users))
        .route("/v1/admin/contracts/{contract_id}/two-factor/disable", post(contracts::disable))
        .route("/v1/admin/users", get(users::search))
        .route("/v1/admin/users/{user_id}", get(users::one))
        .route("/v1/admin/users/{user_id}/notifications", get(users::notifications))
        .route("/v1/admin/users/{user_id}/two-factor/disable", post(users::disable))
        .route("/v1/admin/audit", get(audit::export))
}

#[utoipa::path(get, path = "/v1/admin/me", tag = "admin", responses((status = 200, body = Me, description = "the signed-in manager"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn me(State(app): State<Arc<App>>, ManagerCaller(manager): ManagerCaller) -> ApiResult<Json<Me>> {
    app.admin_me(&manager).await.map(Json)
}
