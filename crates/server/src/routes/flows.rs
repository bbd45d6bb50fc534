use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ServiceCaller;
use crate::http::body::{Json, OptionalJson};
use crate::service::Actor;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_proto::service::{Accepted, CallContext, CodeRequest, FlowConfirmed, FlowStarted, PhoneRequest};

#[utoipa::path(post, path = "/v1/flows/{flow_id}/confirm", tag = "service", params(("flow_id" = String, Path)), request_body = tollgate_proto::service::CodeRequest, responses((status = 200, body = tollgate_proto::service::FlowConfirmed, description = "the step is done"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 410, description = "code expired", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 422, description = "wrong code or invalid phone", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn confirm(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(flow_id): Path<String>,
    Json(body): Json<CodeRequest>,
) -> ApiResult<axum::Json<FlowConfirmed>> {
    let actor = Actor::parse(body.ip.as_deref(), body.device_id.as_deref(), body.user_agent.as_deref())?;
    app.confirm_flow(&flow_id, &body.code, actor).await.map(axum::Json)
}

#[utoipa::path(post, path = "/v1/flows/{flow_id}/new-phone", tag = "service", params(("flow_id" = String, Path)), request_body = tollgate_proto::service::PhoneRequest, responses((status = 202, body = tollgate_proto::service::FlowStarted, description = "a code was sent to the new phone"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 410, description = "code expired", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 422, description = "wrong code or invalid phone", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn new_phone(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(flow_id): Path<String>,
    Json(body): Json<PhoneRequest>,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    let actor = Actor::parse(body.ip.as_deref(), body.device_id.as_deref(), body.user_agent.as_deref())?;
    let started = app.flow_new_phone(&flow_id, &body.phone, actor).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(started)))
}

#[utoipa::path(post, path = "/v1/flows/{flow_id}/resend", tag = "service", params(("flow_id" = String, Path)), request_body(content = Option<tollgate_proto::service::CallContext>, description = "optional"), responses((status = 202, body = tollgate_proto::service::Accepted, description = "a new code is on its way"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 409, description = "not allowed in this state", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 410, description = "code expired", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 429, description = "rate limited or locked (Retry-After)", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn resend(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(flow_id): Path<String>,
    OptionalJson(ctx): OptionalJson<CallContext>,
) -> ApiResult<(StatusCode, axum::Json<Accepted>)> {
    let actor = Actor::parse(ctx.ip.as_deref(), ctx.device_id.as_deref(), ctx.user_agent.as_deref())?;
    let accepted = app.resend_flow(&flow_id, actor).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)))
}
