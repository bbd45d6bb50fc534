use crate::app::App;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate_proto::ErrorCode;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process answers")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
///
/// `503` (not `500`) when it does not: a load balancer takes the instance
/// out of rotation until the database is back, and nothing is wrong with the
/// instance itself.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "the database answers"), (status = 503, description = "the database does not answer", body = tollgate_proto::Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    if let Err(e) = sqlx::query("SELECT 1").execute(app.store.pool()).await {
        tracing::warn!(error = %e, "not ready: the database does not answer");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "the database does not answer",
        ));
    }
    Ok(Json(json!({ "status": "ready" })))
}
