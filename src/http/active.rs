//! Seed 2's active file: `GET|POST /api/v1/files/active/{session}`.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::files::{FileView, parse_name};
use crate::http::session_hint::{SessionHint, parse_session};
use crate::http::{download, json_error, upload};
use crate::pipeline::active;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;

/// Seed 2's `ActiveFile` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActiveFile {
    file_name: String,
}

/// `GET /api/v1/files/active/{session}`: the session's active file, or 404.
#[utoipa::path(get, path = "/api/v1/files/active/{session}", tag = "sessions",
    params(("session" = String, Path, format = "uuid", description = "A session id (UUID)")),
    responses((status = 200, description = "The session's active file", body = crate::http::files::FileView),
        (status = 404, description = "No active file, or not your session", body = crate::http::openapi::ErrorBody), (status = 422, description = "A malformed session id", body = crate::http::openapi::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(session): Path<String>,
) -> Result<Json<FileView>, ApiError> {
    let session = parse_session(&session)?;
    audit.note_session(&session.to_string());
    let record = active::get(&state, user, session).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    Ok(Json(record.into()))
}

/// `POST /api/v1/files/active/{session}` with `{"file_name": …}`: 200 with the
/// file that is now active; 404 when the caller has no such file.
#[utoipa::path(post, path = "/api/v1/files/active/{session}", tag = "sessions",
    params(("session" = String, Path, format = "uuid", description = "A session id (UUID)")), request_body = ActiveFile,
    responses((status = 200, description = "The file now active", body = crate::http::files::FileView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody), (status = 422, description = "A malformed session id or body", body = crate::http::openapi::ErrorBody)))]
pub async fn set(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(session): Path<String>,
    body: Result<Json<ActiveFile>, JsonRejection>,
) -> Result<Json<FileView>, ApiError> {
    let session = parse_session(&session)?;
    audit.note_session(&session.to_string());
    let Json(body) = body.map_err(json_error)?;
    audit.note_name(&body.file_name);
    let name = parse_name(&body.file_name)?;
    let record = active::set(&state, user, session, &name).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    Ok(Json(record.into()))
}

/// A file named `active` has its content at the path a session named `content`
/// would have; sessions are UUIDs, so that path means the file.
const ACTIVE: &str = "active";

#[utoipa::path(put, path = "/api/v1/files/active/content", tag = "files",
    description = "The raw upload of a file named `active` (its path would otherwise be a session's).",
    params(crate::http::upload::ReplaceParam),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "Stored", body = crate::http::files::FileView),
        (status = 409, description = "The name is taken", body = crate::http::openapi::ErrorBody), (status = 408, description = "The body arrived too slowly and was cut (`body_timeout`); nothing was kept", body = crate::http::openapi::ErrorBody), (status = 413, description = "Larger than the limit", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad `replace`, or a dataset pandas would refuse", body = crate::http::openapi::ErrorBody)))]
pub async fn upload_file_named_active(
    state: State<AppState>,
    user: AuthUser,
    audit: Extension<Audit>,
    hint: SessionHint,
    replace: Result<Query<upload::ReplaceParam>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    upload::raw(
        state,
        user,
        audit,
        hint,
        Path(ACTIVE.to_owned()),
        replace,
        headers,
        body,
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/files/active/content", tag = "files",
    description = "The content of the file named `active`.",
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn download_file_named_active(
    state: State<AppState>,
    user: AuthUser,
    audit: Extension<Audit>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download::content(state, user, audit, Path(ACTIVE.to_owned()), headers).await
}
