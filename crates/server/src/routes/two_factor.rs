use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ServiceCaller;
use crate::http::body::{Json, OptionalJson};
use crate::service::Actor;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_core::flow::FlowKind;
use tollgate_proto::service::{CallContext, FlowStarted, PhoneRequest, TwoFactorStatus};

#[utoipa::path(get, path = "/v1/users/{user_id}/two-factor", tag = "service", params(("user_id" = String, Path)), responses((status = 200, body = tollgate_proto::service::TwoFactorStatus, description = "the status"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn status(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
) -> ApiResult<axum::Json<TwoFactorStatus>> {
    app.two_factor(&user_id).await.map(axum::Json)
}

#[utoipa::path(post, path = "/v1/users/{user_id}/two-factor/enable", tag = "service", params(("user_id" = String, Path)), request_body = tollgate_proto::service::PhoneRequest, responses((status = 202, body = tollgate_proto::service::FlowStarted, description = "a code was sent to the new phone"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 422, description = "wrong code or invalid phone", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn enable(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
    Json(body): Json<PhoneRequest>,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    let actor = Actor::parse(body.ip.as_deref(), body.device_id.as_deref(), body.user_agent.as_deref())?;
    let started = app.start_flow(&user_id, FlowKind::Enable, Some(&body.phone), actor).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(started)))
}

async fn start(
    app: &App,
    user_id: &str,
    kind: FlowKind,
    ctx: CallContext,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    let actor = Actor::parse(ctx.ip.as_deref(), ctx.device_id.as_deref(), ctx.user_agent.as_deref())?;
    let started = app.start_flow(user_id, kind, None, actor).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(started)))
}

#[utoipa::path(post, path = "/v1/users/{user_id}/two-factor/phone-change", tag = "service", params(("user_id" = String, Path)), request_body(content = Option<tollgate_proto::service::CallContext>, description = "optional"), responses((status = 202, body = tollgate_proto::service::FlowStarted, description = "a code was sent to the current phone"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn phone_change(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
    OptionalJson(ctx): OptionalJson<CallContext>,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    start(&app, &user_id, FlowKind::PhoneChange, ctx).await
}

#[utoipa::path(post, path = "/v1/users/{user_id}/two-factor/disable", tag = "service", params(("user_id" = String, Path)), request_body(content = Option<tollgate_proto::service::CallContext>, description = "optional"), responses((status = 202, body = tollgate_proto::service::FlowStarted, description = "a code was sent to the current phone"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn disable(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
    OptionalJson(ctx): OptionalJson<CallContext>,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    start(&app, &user_id, FlowKind::Disable, ctx).await
}
