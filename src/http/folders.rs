//! Folders over HTTP: renaming a file (`PATCH /api/v1/files/{file_name}`),
//! and a folder's totals, move and deletion under `/api/v1/folders/{path}`.
//! A folder's path is its names' prefix without the trailing `/`, given as
//! plain path segments (`/api/v1/folders/reports/2024`) or percent-encoded.
//! Listing a folder's level is `GET /api/v1/files/?prefix=…&delimiter=/`.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use crate::db::folders;
use crate::domain::{FileName, Folder};
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::files::{self, FileView, parse_name};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::folders as pipeline_folders;
use crate::pipeline::state::AppState;

/// A folder and what it holds at any depth.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FolderView {
    /// The last segment of its path.
    pub name: String,
    /// Its whole path with a trailing `/`: the prefix of its files' names.
    pub path: String,
    pub files: i64,
    pub size: i64,
}

impl FolderView {
    pub async fn of(state: &AppState, user: crate::domain::UserId, path: String) -> Result<Self, Error> {
        let (files, size) = folders::totals(state.db.pool(), user, &path).await?;
        let trimmed = path.strip_suffix('/').unwrap_or(&path);
        Ok(Self {
            name: crate::domain::file_name::base_name(trimmed).to_owned(),
            path,
            files,
            size,
        })
    }
}

/// `{"file_name": …}`: the file's new name.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The new name, in any folder (`archive/2024/q1.csv`).
    file_name: String,
}

/// `PATCH /api/v1/files/{file_name}`: renames or moves the file; its
/// content, shares, links and history stay with it.
#[utoipa::path(patch, path = "/api/v1/files/{file_name}", tag = "folders", params(("file_name" = String, Path)),
    request_body = Rename,
    responses((status = 200, description = "The file under its new name", body = FileView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "The new name is taken (`file_exists`)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad name (`invalid_file_name`)", body = crate::http::openapi::ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
    body: Result<Json<Rename>, JsonRejection>,
) -> Result<Json<FileView>, ApiError> {
    let from = parse_name(&file_name)?;
    audit.note_name(from.as_str());
    let Json(body) = body.map_err(crate::http::json_error)?;
    let to = FileName::parse(&body.file_name).map_err(Error::from)?;
    let renamed = pipeline_folders::rename(&state, user, &from, &to, &audit).await?;
    Ok(Json(files::view(&state, renamed).await))
}

fn parse_folder(raw: &str) -> Result<Folder, Error> {
    Ok(Folder::parse(raw)?)
}

/// `GET /api/v1/folders/{path}`: how many files the folder holds and their bytes.
#[utoipa::path(get, path = "/api/v1/folders/{path}", tag = "folders",
    params(("path" = String, Path, description = "The folder's path: segments separated by `/`")),
    responses((status = 200, description = "The folder", body = FolderView),
        (status = 404, description = "No file of yours lies in such a folder", body = crate::http::openapi::ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(path): Path<String>,
) -> Result<Json<FolderView>, ApiError> {
    let folder = parse_folder(&path)?;
    let view = FolderView::of(&state, user, folder.prefix().to_owned()).await?;
    if view.files == 0 {
        return Err(Error::NotFound("folder").into());
    }
    Ok(Json(view))
}

/// `{"path": …}`: where the folder goes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFolder {
    /// The folder's new path (`archive/reports`); a trailing `/` is optional.
    path: String,
}

/// What moving a folder did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FolderMoved {
    /// The folder's new path, with its trailing `/`.
    pub path: String,
    pub moved: u64,
}

/// `PATCH /api/v1/folders/{path}`: moves (or renames) the folder with
/// everything in it — all of it or, when a new name is taken, none of it.
#[utoipa::path(patch, path = "/api/v1/folders/{path}", tag = "folders",
    params(("path" = String, Path, description = "The folder's path")),
    request_body = MoveFolder,
    responses((status = 200, description = "Moved", body = FolderMoved),
        (status = 400, description = "Into itself", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No file of yours lies in such a folder", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "A new name is taken (`file_exists` names it); nothing moved", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad path (`invalid_file_name`)", body = crate::http::openapi::ErrorBody)))]
pub async fn move_folder(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(path): Path<String>,
    body: Result<Json<MoveFolder>, JsonRejection>,
) -> Result<Json<FolderMoved>, ApiError> {
    let from = parse_folder(&path)?;
    audit.note_name(from.prefix());
    let Json(body) = body.map_err(crate::http::json_error)?;
    let to = parse_folder(&body.path)?;
    let moved = pipeline_folders::move_folder(&state, user, &from, &to, &audit).await?;
    Ok(Json(FolderMoved {
        path: to.prefix().to_owned(),
        moved,
    }))
}

/// `?recursive=true`: the confirmation that everything in the folder goes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Recursive {
    /// Delete the folder's files at every depth; without it, a folder that
    /// holds files is refused (409 `folder_not_empty`, which says how many).
    #[serde(default)]
    recursive: bool,
}

/// What deleting a folder removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FolderDeleted {
    pub path: String,
    pub deleted: u64,
    pub size: i64,
}

/// `DELETE /api/v1/folders/{path}?recursive=true`
#[utoipa::path(delete, path = "/api/v1/folders/{path}", tag = "folders",
    params(("path" = String, Path, description = "The folder's path"), Recursive),
    responses((status = 200, description = "Deleted, file by file", body = FolderDeleted),
        (status = 404, description = "No file of yours lies in such a folder", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "It holds files and `recursive=true` was not given (`folder_not_empty`)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad path (`invalid_file_name`)", body = crate::http::openapi::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(path): Path<String>,
    recursive: Result<Query<Recursive>, QueryRejection>,
) -> Result<Json<FolderDeleted>, ApiError> {
    let folder = parse_folder(&path)?;
    audit.note_name(folder.prefix());
    let Query(Recursive { recursive }) =
        recursive.map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    let deleted = pipeline_folders::delete_folder(&state, user, &folder, recursive, &audit).await?;
    Ok(Json(FolderDeleted {
        path: folder.prefix().to_owned(),
        deleted: deleted.files,
        size: deleted.bytes,
    }))
}
