use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ServiceCaller;
use crate::http::body::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_proto::service::{Accepted, CodeRequest, LoginRequest, LoginResponse, Verified};

#[utoipa::path(post, path = "/v1/logins", tag = "service", request_body = tollgate_proto::service::LoginRequest, responses((status = 200, body = tollgate_proto::service::LoginResponse, description = "the decision"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn login(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    app.login(body).await.map(axum::Json)
}

#[utoipa::path(post, path = "/v1/challenges/{challenge_id}/verify", tag = "service", params(("challenge_id" = String, Path)), request_body = tollgate_proto::service::CodeRequest, responses((status = 200, body = tollgate_proto::service::Verified, description = "verified"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 410, description = "code expired", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 422, description = "wrong code or invalid phone", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn verify(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(id): Path<String>,
    Json(body): Json<CodeRequest>,
) -> ApiResult<axum::Json<Verified>> {
    app.verify_challenge(&id, body).await.map(axum::Json)
}

#[utoipa::path(post, path = "/v1/challenges/{challenge_id}/resend", tag = "service", params(("challenge_id" = String, Path)), responses((status = 202, body = tollgate_proto::service::Accepted, description = "a new code is on its way"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn resend(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Accepted>)> {
    let accepted = app.resend_challenge(&id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)))
}
