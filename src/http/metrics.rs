//! `GET /metrics` and the middleware that counts and times every request.

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::is_upload;
use crate::metrics;
use crate::pipeline::health;
use crate::pipeline::state::AppState;

/// The middleware (a route layer, so the route template is known): counts
/// and times every request, and the uploads under way.
pub async fn track(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let uploading = is_upload(&method, &route);
    if uploading {
        metrics::upload_started();
    }
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    if uploading {
        metrics::upload_ended();
    }
    metrics::request_answered(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus metrics", content_type = "application/openmetrics-text", body = String)))]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let pool = state.db.pool();
    let idle = i64::try_from(pool.num_idle()).unwrap_or_default();
    let max = i64::from(pool.options().get_max_connections());
    metrics::db_connections(idle, i64::from(pool.size()) - idle, max);
    if let Err(err) = health::refresh(&state).await {
        // The rest is still worth a scrape; `depot_ready` says the database is away.
        tracing::warn!(error = %err, "could not read the database's gauges for /metrics");
    }
    match metrics::encode() {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
