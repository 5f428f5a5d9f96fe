//! `GET /api/v1/usage`: what the caller stores, what deduplication saves —
//! the same content under several names is stored once — and their quota.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::db::files;
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::pipeline::quota::{self, Quota};
use crate::pipeline::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub files: i64,
    /// The sizes of the caller's files added up, as listed.
    pub logical_bytes: i64,
    /// Distinct contents behind those files.
    pub contents: i64,
    /// Their bytes as stored: each content once.
    pub physical_bytes: i64,
    /// logical / physical (1.0 with nothing stored).
    pub dedup_ratio: f64,
    /// The caller's storage quota, in logical bytes and files (0: no limit).
    pub quota: Quota,
    /// Room in the quota held by the caller's uploads under way.
    pub reserved_bytes: i64,
}

#[utoipa::path(get, path = "/api/v1/usage", tag = "files",
    responses((status = 200, description = "Your storage, logical and physical", body = UsageView)))]
pub async fn usage(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<UsageView>, ApiError> {
    let usage = files::usage(state.db.pool(), user).await?;
    let quota = Quota::of(&state, user).await?;
    let held = quota::held(&state, user).await?;
    #[allow(clippy::cast_precision_loss)] // a ratio for people to read
    let dedup_ratio = if usage.physical_bytes > 0 {
        usage.logical_bytes as f64 / usage.physical_bytes as f64
    } else {
        1.0
    };
    Ok(Json(UsageView {
        files: usage.files,
        logical_bytes: usage.logical_bytes,
        contents: usage.contents,
        physical_bytes: usage.physical_bytes,
        dedup_ratio,
        quota,
        reserved_bytes: held.bytes,
    }))
}
