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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    q: Option<String>,
    updated_since: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Page<ContractSummary>>> {
    let since = time_param("updated_since", query.updated_since.as_deref())?;
    app.admin_contracts(&manager, query.q.as_deref(), since, query.cursor.as_deref(), query.limit).await.map(Json)
}

pub async fn one(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<ContractSummary>> {
    app.admin_contract(&manager, &id).await.map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn users(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    Query(query): Query<UsersQuery>,
) -> ApiResult<Json<Page<AdminUser>>> {
    app.admin_contract_users(&manager, &id, query.q.as_deref(), query.cursor.as_deref(), query.limit).await.map(Json)
}

pub async fn disable(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    body::Json(body): body::Json<DisableRequest>,
) -> ApiResult<Json<ContractDisabled>> {
    app.admin_disable_contract(&manager, &id, &body.reason).await.map(Json)
}
