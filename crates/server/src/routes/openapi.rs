//! `GET /openapi.json`: an OpenAPI 3.1 document of both APIs, generated
//! from the route handlers and the wire types (utoipa). A test calls every
//! documented operation and checks the server answers only documented
//! statuses.

use super::{admin, flows, health, logins, provisioning, two_factor};
use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tollgate verification API", description = "SMS two-factor authentication: the service API (service token) and the admin API (manager token)."),
    paths(
        health::healthz, health::readyz,
        provisioning::put_contract, provisioning::put_user,
        logins::login, logins::verify, logins::resend,
        two_factor::status, two_factor::enable, two_factor::phone_change, two_factor::disable,
        flows::confirm, flows::new_phone, flows::resend,
        admin::me, admin::contracts::list, admin::contracts::one, admin::contracts::users, admin::contracts::disable,
        admin::users::search, admin::users::one, admin::users::notifications, admin::users::disable,
        admin::audit::export,
    ),
    modifiers(&BearerAuth),
    tags((name = "service", description = "For the product's web tier (service token)"),
         (name = "admin", description = "For account managers (manager token)"),
         (name = "operations", description = "Health"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
