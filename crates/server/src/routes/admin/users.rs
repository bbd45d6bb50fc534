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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", params(SearchQuery), responses((status = 200, body = tollgate_proto::Page<tollgate_proto::admin::AdminUser>, description = "matching users of the manager's contracts"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn search(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Page<AdminUser>>> {
    app.admin_users(&manager, query.q.as_deref(), query.cursor.as_deref(), query.limit).await.map(Json)
}

#[utoipa::path(get, path = "/v1/admin/users/{user_id}", tag = "admin", params(("user_id" = String, Path)), responses((status = 200, body = tollgate_proto::admin::AdminUser, description = "the user"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn one(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminUser>> {
    app.admin_user(&manager, &id).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/admin/users/{user_id}/notifications", tag = "admin", params(("user_id" = String, Path), PageQuery), responses((status = 200, body = tollgate_proto::Page<tollgate_proto::admin::Notification>, description = "newest first"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn notifications(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Notification>>> {
    app.admin_notifications(&manager, &id, query.cursor.as_deref(), query.limit).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/users/{user_id}/two-factor/disable", tag = "admin", params(("user_id" = String, Path)), request_body = tollgate_proto::admin::DisableRequest, responses((status = 200, body = tollgate_proto::admin::UserDisabled, description = "2FA is off (changed: false if it already was)"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn disable(
    State(app): State<Arc<App>>,
    ManagerCaller(manager): ManagerCaller,
    Path(id): Path<String>,
    body::Json(body): body::Json<DisableRequest>,
) -> ApiResult<Json<UserDisabled>> {
    app.admin_disable_user(&manager, &id, &body.reason).await.map(Json)
}
