use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::ServiceCaller;
use crate::http::body::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_proto::service::{Contract, PutContract, PutUser, User};

fn created(was_created: bool) -> StatusCode {
    if was_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

pub async fn put_contract(
    State(app): State<Arc<App>>,
    caller: ServiceCaller,
    Path(id): Path<String>,
    Json(body): Json<PutContract>,
) -> ApiResult<(StatusCode, axum::Json<Contract>)> {
    let (contract, was_created) = app.put_contract(&caller.token_id, &id, body).await?;
    Ok((created(was_created), axum::Json(contract)))
}

pub async fn put_user(
    State(app): State<Arc<App>>,
    caller: ServiceCaller,
    Path(id): Path<String>,
    Json(body): Json<PutUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    let (user, was_created) = app.put_user(&caller.token_id, &id, body).await?;
    Ok((created(was_created), axum::Json(user)))
}
