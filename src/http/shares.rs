//! Sharing with users: the owner's `PUT`/`DELETE
//! /api/v1/files/{file_name}/shared-with/{username}` and `GET
//! /api/v1/files/{file_name}/shared-with`; the recipient's `GET
//! /api/v1/shared` and, under `/api/v1/shared/{owner}/{file_name}`, the
//! file's metadata, `/content` and `/preview` — reads only. A file not
//! shared with the caller is the same 404 as a missing one.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use crate::auth::password;
use crate::db::shares::{self, SharedFile};
use crate::domain::timestamp;
use crate::http::caller::AuthUser;
use crate::http::download::{self, Caching};
use crate::http::error::ApiError;
use crate::http::files::{FileView, find_owned, parse_name};
use crate::http::preview::{self, PreviewView};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::sharing;
use crate::pipeline::state::AppState;

/// Someone a file is shared with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    file_name: String,
    username: String,
    shared_at: String,
}

/// A file shared with the caller: whose it is, and the file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SharedFileView {
    owner: String,
    shared_at: String,
    #[serde(flatten)]
    file: FileView,
}

impl From<SharedFile> for SharedFileView {
    fn from(shared: SharedFile) -> Self {
        Self {
            owner: shared.owner,
            shared_at: timestamp::to_rfc3339(shared.shared_at),
            file: shared.file.into(),
        }
    }
}

/// `PUT /api/v1/files/{file_name}/shared-with/{username}`: 201 when new,
/// 200 when it was already shared.
#[utoipa::path(put, path = "/api/v1/files/{file_name}/shared-with/{username}", tag = "sharing",
    params(("file_name" = String, Path), ("username" = String, Path)),
    responses((status = 201, description = "Shared", body = ShareView), (status = 200, description = "It already was", body = ShareView),
        (status = 404, description = "No such file of yours, or no such user", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "Shared with its owner", body = crate::http::openapi::ErrorBody)))]
pub async fn share(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path((file_name, username)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    let name = parse_name(&file_name)?;
    let shared = sharing::share(&state, &audit, user, &name, &username).await?;
    let status = if shared.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = ShareView {
        file_name: shared.file.file_name,
        username,
        shared_at: timestamp::to_rfc3339(shared.shared_at),
    };
    Ok((status, Json(view)))
}

/// `DELETE /api/v1/files/{file_name}/shared-with/{username}`: the recipient
/// loses the file at once.
#[utoipa::path(delete, path = "/api/v1/files/{file_name}/shared-with/{username}", tag = "sharing",
    params(("file_name" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "No longer shared"),
        (status = 404, description = "No such file of yours, or not shared with that user", body = crate::http::openapi::ErrorBody)))]
pub async fn unshare(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path((file_name, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = parse_name(&file_name)?;
    sharing::unshare(&state, &audit, user, &name, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/files/{file_name}/shared-with`: who the caller's file is
/// shared with.
#[utoipa::path(get, path = "/api/v1/files/{file_name}/shared-with", tag = "sharing", params(("file_name" = String, Path)),
    responses((status = 200, description = "The users it is shared with", body = Vec<ShareView>),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn recipients(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
) -> Result<Json<Vec<ShareView>>, ApiError> {
    let file = find_owned(&state, user, &file_name).await?;
    audit.note_file(&file.file_name, &file.sha256, 0);
    let recipients = shares::recipients(state.db.pool(), file.id).await?;
    Ok(Json(
        recipients
            .into_iter()
            .map(|recipient| ShareView {
                file_name: file.file_name.clone(),
                username: recipient.username,
                shared_at: timestamp::to_rfc3339(recipient.shared_at),
            })
            .collect(),
    ))
}

/// `GET /api/v1/shared`: the files others shared with the caller, newest
/// share first.
#[utoipa::path(get, path = "/api/v1/shared", tag = "sharing",
    responses((status = 200, description = "Files shared with you", body = Vec<SharedFileView>)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<SharedFileView>>, ApiError> {
    let shared = shares::shared_with(state.db.pool(), user).await?;
    Ok(Json(shared.into_iter().map(SharedFileView::from).collect()))
}

/// `owner`'s file shared with `user`, noted on the trail; 404 otherwise.
async fn find_shared(
    state: &AppState,
    audit: &Audit,
    user: crate::domain::UserId,
    owner: &str,
    file_name: &str,
) -> Result<SharedFile, ApiError> {
    let name = parse_name(file_name)?;
    if !password::could_be_username(owner) {
        return Err(Error::NotFound("file").into());
    }
    let shared = shares::find(state.db.pool(), user, owner, name.as_str())
        .await?
        .ok_or(Error::NotFound("file"))?;
    audit.note_file(&shared.file.file_name, &shared.file.sha256, 0);
    audit.note_detail(format!("shared by {}", shared.owner));
    Ok(shared)
}

/// `GET /api/v1/shared/{owner}/{file_name}`
#[utoipa::path(get, path = "/api/v1/shared/{owner}/{file_name}", tag = "sharing",
    params(("owner" = String, Path), ("file_name" = String, Path)),
    responses((status = 200, description = "The file", body = SharedFileView),
        (status = 404, description = "No such file shared with you", body = crate::http::openapi::ErrorBody)))]
pub async fn metadata(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path((owner, file_name)): Path<(String, String)>,
) -> Result<Json<SharedFileView>, ApiError> {
    let shared = find_shared(&state, &audit, user, &owner, &file_name).await?;
    Ok(Json(shared.into()))
}

/// `GET /api/v1/shared/{owner}/{file_name}/content`: as for one's own files
/// (Range, ETag, checked chunks).
#[utoipa::path(get, path = "/api/v1/shared/{owner}/{file_name}/content", tag = "sharing",
    params(("owner" = String, Path), ("file_name" = String, Path), ("Range" = Option<String>, Header)),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such file shared with you", body = crate::http::openapi::ErrorBody),
        (status = 416, description = "The range is outside the file", body = crate::http::openapi::ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path((owner, file_name)): Path<(String, String)>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let shared = find_shared(&state, &audit, user, &owner, &file_name).await?;
    let caching = Caching {
        etag: format!("\"{}\"", shared.file.sha256),
        cache_control: "private, no-cache",
    };
    download::serve(&state, shared.file, &request, caching, &audit).await
}

/// `GET /api/v1/shared/{owner}/{file_name}/preview`
#[utoipa::path(get, path = "/api/v1/shared/{owner}/{file_name}/preview", tag = "sharing",
    params(("owner" = String, Path), ("file_name" = String, Path)),
    responses((status = 200, description = "What the web UI shows of the file", body = PreviewView),
        (status = 404, description = "No such file shared with you", body = crate::http::openapi::ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path((owner, file_name)): Path<(String, String)>,
) -> Result<Json<PreviewView>, ApiError> {
    let shared = find_shared(&state, &audit, user, &owner, &file_name).await?;
    Ok(Json(preview::of(&state, shared.file).await?))
}
