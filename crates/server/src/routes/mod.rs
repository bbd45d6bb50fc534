//! The HTTP API of api.md. Each route module is thin: extract, call the
//! use case in `service`, answer.

pub mod admin;
pub mod flows;
pub mod health;
pub mod logins;
pub mod metrics;
pub mod openapi;
pub mod provisioning;
pub mod two_factor;

use crate::app::App;
use crate::error::ApiError;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;
use tollgate_proto::ErrorCode;

pub fn router(app: Arc<App>) -> Router {
    let max_body = app.config.server.max_body_bytes;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/contracts/{contract_id}", put(provisioning::put_contract))
        .route("/v1/users/{user_id}", put(provisioning::put_user))
        .route("/v1/logins", post(logins::login))
        .route("/v1/challenges/{challenge_id}/verify", post(logins::verify))
        .route("/v1/challenges/{challenge_id}/resend", post(logins::resend))
        .route("/v1/users/{user_id}/two-factor", get(two_factor::status))
        .route("/v1/users/{user_id}/two-factor/enable", post(two_factor::enable))
        .route("/v1/users/{user_id}/two-factor/phone-change", post(two_factor::phone_change))
        .route("/v1/users/{user_id}/two-factor/disable", post(two_factor::disable))
        .route("/v1/flows/{flow_id}/confirm", post(flows::confirm))
        .route("/v1/flows/{flow_id}/new-phone", post(flows::new_phone))
        .route("/v1/flows/{flow_id}/resend", post(flows::resend))
        .merge(admin::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidRequest, "this method is not allowed here")
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), metrics::track))
        .with_state(app)
}
