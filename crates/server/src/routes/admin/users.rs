use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ManagerCaller;
use crate::http::body;
use crate::http::query::Query;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_proto::admin::{AdminUser, DisableRequest, Notification, UserDisabled};
use tollgate_proto::Page;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn search(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Page<AdminUser>>> {
    app.admin_users(&manager, query.q.as_deref(), query.cursor.as_deref(), query.limit).await.map(Json)
}

pub async fn one(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminUser>> {
    app.admin_user(&manager, &id).await.map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn notifications(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Notification>>> {
    app.admin_notifications(&manager, &id, query.cursor.as_deref(), query.limit).await.map(Json)
}

pub async fn disable(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    body::Json(body): body::Json<DisableRequest>,
) -> ApiResult<Json<UserDisabled>> {
    app.admin_disable_user(&manager, &id, &body.reason).await.map(Json)
}
