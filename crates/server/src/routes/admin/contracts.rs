use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ManagerCaller;
use crate::http::body;
use crate::http::query::{time_param, Query};
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_proto::admin::{AdminUser, ContractDisabled, ContractSummary, DisableRequest};
use tollgate_proto::Page;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    q: Option<String>,
    updated_since: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/admin/contracts", tag = "admin", params(ListQuery), responses((status = 200, body = tollgate_proto::Page<tollgate_proto::admin::ContractSummary>, description = "the manager's contracts"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Page<ContractSummary>>> {
    let since = time_param("updated_since", query.updated_since.as_deref())?;
    app.admin_contracts(&manager, query.q.as_deref(), since, query.cursor.as_deref(), query.limit).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/contracts/{contract_id}", tag = "admin", params(("contract_id" = String, Path)), responses((status = 200, body = tollgate_proto::admin::ContractSummary, description = "the contract"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn one(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<ContractSummary>> {
    app.admin_contract(&manager, &id).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/admin/contracts/{contract_id}/users", tag = "admin", params(("contract_id" = String, Path), UsersQuery), responses((status = 200, body = tollgate_proto::Page<tollgate_proto::admin::AdminUser>, description = "users of the contract"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn users(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    Query(query): Query<UsersQuery>,
) -> ApiResult<Json<Page<AdminUser>>> {
    app.admin_contract_users(&manager, &id, query.q.as_deref(), query.cursor.as_deref(), query.limit).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/contracts/{contract_id}/two-factor/disable", tag = "admin", params(("contract_id" = String, Path)), request_body = tollgate_proto::admin::DisableRequest, responses((status = 200, body = tollgate_proto::admin::ContractDisabled, description = "2FA is off for every user of the contract"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 500, description = "server error", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn disable(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    body::Json(body): body::Json<DisableRequest>,
) -> ApiResult<Json<ContractDisabled>> {
    app.admin_disable_contract(&manager, &id, &body.reason).await.map(Json)
}
