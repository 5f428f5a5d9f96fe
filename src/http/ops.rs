//! Liveness and readiness for orchestrators and load balancers.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::state::AppState;

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is up", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and the blob store accepts writes. The cache is reported
/// but never fails readiness: without it depot answers from the database.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "The database and blob store answer", body = Object),
        (status = 503, description = "Not ready", body = crate::http::openapi::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if let Err(err) = state.db.ping().await {
        tracing::warn!(error = %err, "readiness: database down");
        return Err(AppError::Unavailable("database"));
    }
    if let Err(err) = state.blobs.check().await {
        tracing::warn!(error = %err, "readiness: blob store down");
        return Err(AppError::Unavailable("blob store"));
    }
    Ok(Json(json!({
        "status": "ready",
        "database": "ok",
        "blob_store": "ok",
        "redis": state.cache.status().await.as_str(),
    })))
}
