use crate::app::App;
use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// Liveness: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
pub async fn readyz(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    sqlx::query("SELECT 1").execute(app.store.pool()).await?;
    Ok(Json(json!({ "status": "ready" })))
}
