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

#[utoipa::path(put, path = "/v1/contracts/{contract_id}", tag = "service", params(("contract_id" = String, Path)), request_body = tollgate_proto::service::PutContract, responses((status = 201, body = tollgate_proto::service::Contract, description = "created"), (status = 200, body = tollgate_proto::service::Contract, description = "updated"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn put_contract(
    State(app): State<Arc<App>>,
    caller: ServiceCaller,
    Path(id): Path<String>,
    Json(body): Json<PutContract>,
) -> ApiResult<(StatusCode, axum::Json<Contract>)> {
    let (contract, was_created) = app.put_contract(&caller.token_id, &id, body).await?;
    Ok((created(was_created), axum::Json(contract)))
}

#[utoipa::path(put, path = "/v1/users/{user_id}", tag = "service", params(("user_id" = String, Path)), request_body = tollgate_proto::service::PutUser, responses((status = 201, body = tollgate_proto::service::User, description = "created"), (status = 200, body = tollgate_proto::service::User, description = "updated"), (status = 400, description = "invalid input", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 401, description = "missing or wrong token", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 404, description = "not found", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 413, description = "body too large", body = tollgate_proto::Problem, content_type = "application/problem+json"), (status = 415, description = "not JSON", body = tollgate_proto::Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn put_user(
    State(app): State<Arc<App>>,
    caller: ServiceCaller,
    Path(id): Path<String>,
    Json(body): Json<PutUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    let (user, was_created) = app.put_user(&caller.token_id, &id, body).await?;
    Ok((created(was_created), axum::Json(user)))
}
