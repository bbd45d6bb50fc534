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

pub async fn status(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
) -> ApiResult<axum::Json<TwoFactorStatus>> {
    app.two_factor(&user_id).await.map(axum::Json)
}

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

pub async fn phone_change(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
    OptionalJson(ctx): OptionalJson<CallContext>,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    start(&app, &user_id, FlowKind::PhoneChange, ctx).await
}

pub async fn disable(
    State(app): State<Arc<App>>,
    _caller: ServiceCaller,
    Path(user_id): Path<String>,
    OptionalJson(ctx): OptionalJson<CallContext>,
) -> ApiResult<(StatusCode, axum::Json<FlowStarted>)> {
    start(&app, &user_id, FlowKind::Disable, ctx).await
}
