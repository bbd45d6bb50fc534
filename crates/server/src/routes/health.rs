use crate::app::App;
use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process answers")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "the database answers"), (status = 500, description = "server error", body = tollgate_proto::Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    sqlx::query("SELECT 1").execute(app.store.pool()).await?;
    Ok(Json(json!({ "status": "ready" })))
}
