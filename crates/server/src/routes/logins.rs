use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ServiceCaller;
use crate::http::body::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_proto::service::{Accepted, CodeRequest, LoginRequest, LoginResponse, Verified};

pub async fn login(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    app.login(body).await.map(axum::Json)
}

pub async fn verify(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(id): Path<String>,
    Json(body): Json<CodeRequest>,
) -> ApiResult<axum::Json<Verified>> {
    app.verify_challenge(&id, body).await.map(axum::Json)
}

pub async fn resend(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Accepted>)> {
    let accepted = app.resend_challenge(&id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)))
}
