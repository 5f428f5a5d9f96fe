//! Seed 2's active file: `GET|POST /api/v1/files/active/{session}`.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::http::files::{FileView, parse_name};
use crate::http::session_hint::{SessionHint, parse_session};
use crate::http::{download, json_error, upload};
use crate::pipeline::active;
use crate::pipeline::audit::Audit;
use crate::state::AppState;

/// Seed 2's `ActiveFile` body.
#[derive(Debug, Deserialize)]
pub struct ActiveFile {
    file_name: String,
}

/// `GET /api/v1/files/active/{session}`: the session's active file, or 404.
pub async fn get(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(session): Path<String>,
) -> Result<Json<FileView>, AppError> {
    let session = parse_session(&session)?;
    audit.note_session(&session.to_string());
    let record = active::get(&state, user, session).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    Ok(Json(record.into()))
}

/// `POST /api/v1/files/active/{session}` with `{"file_name": …}`: 200 with the
/// file that is now active; 404 when the caller has no such file.
pub async fn set(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(session): Path<String>,
    body: Result<Json<ActiveFile>, JsonRejection>,
) -> Result<Json<FileView>, AppError> {
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

pub async fn upload_file_named_active(
    state: State<AppState>,
    user: AuthUser,
    audit: Extension<Audit>,
    hint: SessionHint,
    headers: HeaderMap,
    body: Body,
) -> Response {
    upload::raw(state, user, audit, hint, Path(ACTIVE.to_owned()), headers, body).await
}

pub async fn download_file_named_active(
    state: State<AppState>,
    user: AuthUser,
    audit: Extension<Audit>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    download::content(state, user, audit, Path(ACTIVE.to_owned()), headers).await
}
