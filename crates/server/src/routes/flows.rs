use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ServiceCaller;
use crate::http::body::{Json, OptionalJson};
use crate::service::Actor;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_proto::service::{Accepted, CallContext, CodeRequest, FlowConfirmed, FlowStarted, PhoneRequest};

pub async fn confirm(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(flow_id): Path<String>,
    Json(body): Json<CodeRequest>,
) -> ApiResult<axum::Json<FlowConfirmed>> {
    let actor = Actor::parse(body.ip.as_deref(), body.device_id.as_deref(), body.user_agent.as_deref())?;
    app.confirm_flow(&flow_id, &body.code, actor).await.map(axum::Json)
}

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
