//! Liveness and readiness for orchestrators and load balancers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::pipeline::Error;
use crate::pipeline::state::AppState;

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is up", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database commits a write and the blob store makes one durable (probed
/// at most every 2 s; the answer waits at most 1 s for a probe). The cache is
/// reported but never fails readiness: without it depot answers from the database.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "The database and blob store take writes", body = Object),
        (status = 503, description = "Not ready: `database` or `blob_store` is `failing` or `not_answering`, and `error` says which (`unavailable`)", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let report = state.readiness.check(&state.db, &state.blobs).await;
    let mut body = json!({
        "status": if report.is_ready() { "ready" } else { "not_ready" },
        "database": report.database.as_str(),
        "blob_store": report.blob_store.as_str(),
        "redis": state.cache.status().await.as_str(),
    });
    if report.is_ready() {
        return (StatusCode::OK, Json(body)).into_response();
    }
    let down: Vec<&str> = [
        ("the database", &report.database),
        ("the blob store", &report.blob_store),
    ]
    .into_iter()
    .filter(|(_, health)| !health.is_ok())
    .map(|(name, _)| name)
    .collect();
    body["error"] = json!({
        "code": Error::Unavailable("").code(),
        "message": format!("{} cannot take writes", down.join(" and ")),
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
