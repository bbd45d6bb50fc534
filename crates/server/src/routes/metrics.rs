//! `GET /metrics` (Prometheus text format) and the layer that counts and
//! times every request by route pattern and status.

use crate::app::App;
use crate::error::ApiResult;
use crate::http::auth::MetricsCaller;
use crate::store::outbox;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// `GET /metrics`: for a metrics-only token or a service token (api.md:
/// every call but `/healthz` carries a token).
pub async fn metrics(_caller: MetricsCaller, State(app): State<Arc<App>>) -> ApiResult<impl IntoResponse> {
    let mut conn = app.store.pool().acquire().await?;
    let depth = outbox::depth(&mut conn).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        app.metrics.render(&depth, app.writer.stats(), app.store.sqlite_stats()),
    ))
}

pub async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Clones without copying text: a standard method is a value, a
    // matched path a shared string.
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    app.metrics.request(method.as_str(), route, res.status().as_u16(), started.elapsed());
    res
}
