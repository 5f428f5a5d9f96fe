//! The JSON shape of a file (seed 2's field names) and the per-file endpoints.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use std::collections::HashMap;

use crate::db::files::{self, FileRecord};
use crate::db::ipfs_pins::{self, PinRow};
use crate::db::transfers::{self, Transfer};
use crate::domain::{FileName, UserId, timestamp};
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::pipeline;
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;

/// A file as the API shows it. `user_id` and internal ids stay private.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileView {
    pub file_name: String,
    pub storage_uri: String,
    pub description: String,
    pub summary: String,
    /// Rows, columns and per-column statistics of a dataset; null otherwise.
    /// Sent as stored, without being parsed into a tree and written again.
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Box<serde_json::value::RawValue>>,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    /// The IPFS CID `ipfs add --cid-version=1` gives the content; null for
    /// files stored before depot computed CIDs.
    pub cid: Option<String>,
    /// True once a download found the stored bytes not matching the CID.
    pub corrupt: bool,
    pub created_at: String,
    /// The uploader's metadata: a JSON object, `{}` when none was given.
    #[schema(value_type = Object)]
    pub metadata: Box<serde_json::value::RawValue>,
    /// How far publishing the content to the IPFS node got; null when depot
    /// publishes to none (`DEPOT_IPFS_API` unset) or has not queued it.
    pub ipfs: Option<PinView>,
}

/// Publishing a content to the IPFS node: `pending`, `pinned`, or `failed`
/// (retried with growing pauses; `error` says why the last try failed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PinView {
    pub state: String,
    pub error: Option<String>,
    /// Failed tries since it was queued.
    pub attempts: i64,
    /// When the state last changed.
    pub changed_at: String,
}

impl From<PinRow> for PinView {
    fn from(row: PinRow) -> Self {
        Self {
            state: row.state,
            error: row.error,
            attempts: row.attempts,
            changed_at: timestamp::to_rfc3339(row.changed_at),
        }
    }
}

/// The files as the API shows them, with their pin state when depot
/// publishes to an IPFS node. Pin states that cannot be read now (the
/// database failing) are left out rather than failing an answer whose files
/// were read, or stored, already.
pub async fn views(state: &AppState, records: Vec<FileRecord>) -> Vec<FileView> {
    let pins = match state.ipfs {
        None => HashMap::new(),
        Some(_) => {
            let sha256s: Vec<&str> = records.iter().map(|record| record.sha256.as_str()).collect();
            ipfs_pins::of(state.db.pool(), &sha256s)
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "pin states not read; files shown without them");
                    HashMap::new()
                })
        }
    };
    records
        .into_iter()
        .map(|record| {
            let pin = pins.get(&record.sha256).cloned();
            let mut view = FileView::from(record);
            view.ipfs = pin.map(PinView::from);
            view
        })
        .collect()
}

/// One file as the API shows it, with its pin state.
pub async fn view(state: &AppState, record: FileRecord) -> FileView {
    let mut views = views(state, vec![record]).await;
    views.swap_remove(0)
}

impl From<FileRecord> for FileView {
    fn from(record: FileRecord) -> Self {
        Self {
            file_name: record.file_name,
            storage_uri: record.storage_uri,
            description: record.description,
            summary: record.summary,
            profile: serde_json::value::RawValue::from_string(record.profile).ok(),
            size: record.size,
            content_type: record.content_type,
            sha256: record.sha256,
            cid: Some(record.cid).filter(|cid| !cid.is_empty()),
            corrupt: record.corrupt_at.is_some(),
            created_at: timestamp::to_rfc3339(record.created_at),
            metadata: json_object(record.metadata),
            ipfs: None,
        }
    }
}

/// A stored JSON object as it is; `{}` if it is not valid JSON.
pub fn json_object(text: String) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(text)
        .unwrap_or_else(|_| serde_json::value::RawValue::from_string("{}".to_owned()).expect("`{}` is JSON"))
}

/// Parses a `{file_name}` path segment (already percent-decoded by the router).
pub fn parse_name(raw: &str) -> Result<FileName, Error> {
    Ok(FileName::parse(raw)?)
}

/// The caller's file by name; another user's file is as missing as a missing one.
pub async fn find_owned(state: &AppState, user: UserId, raw_name: &str) -> Result<FileRecord, ApiError> {
    let name = parse_name(raw_name)?;
    files::find(state.db.pool(), user, name.as_str())
        .await?
        .ok_or_else(|| Error::NotFound("file").into())
}

/// `GET /api/v1/files/{file_name}`
#[utoipa::path(get, path = "/api/v1/files/{file_name}", tag = "files", params(("file_name" = String, Path)),
    responses((status = 200, description = "The file", body = FileView), (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn metadata(
    State(state): State<AppState>,
    user: AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
) -> Result<Json<FileView>, ApiError> {
    let record = find_owned(&state, user.0, &file_name).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    Ok(Json(view(&state, record).await))
}

/// One transfer of a file's bytes (seed 4's file tracking), times in RFC 3339.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransferView {
    pub direction: String,
    pub server_role: String,
    pub stream_start: String,
    /// Null while the stream runs, or if it was cut short.
    pub stream_complete: Option<String>,
    pub bytes_transferred: i64,
    /// When the removal of the stored bytes was scheduled (files being deleted).
    pub cleanup_scheduled_for: Option<String>,
}

impl From<Transfer> for TransferView {
    fn from(transfer: Transfer) -> Self {
        Self {
            direction: transfer.direction,
            server_role: transfer.server_role,
            stream_start: timestamp::to_rfc3339(transfer.stream_start),
            stream_complete: transfer.stream_complete.map(timestamp::to_rfc3339),
            bytes_transferred: transfer.bytes_transferred,
            cleanup_scheduled_for: transfer.cleanup_scheduled_for.map(timestamp::to_rfc3339),
        }
    }
}

/// `GET /api/v1/files/{file_name}/transfers`: every upload and download of
/// the file's bytes, oldest first.
#[utoipa::path(get, path = "/api/v1/files/{file_name}/transfers", tag = "files", params(("file_name" = String, Path)),
    responses((status = 200, description = "Every upload and download of the file's bytes", body = Vec<TransferView>),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn transfers(
    State(state): State<AppState>,
    user: AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
) -> Result<Json<Vec<TransferView>>, ApiError> {
    let record = find_owned(&state, user.0, &file_name).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    let transfers = transfers::of_file(state.db.pool(), record.id).await?;
    Ok(Json(transfers.into_iter().map(TransferView::from).collect()))
}

/// `DELETE /api/v1/files/{file_name}`: 200 with the deleted file's metadata.
#[utoipa::path(delete, path = "/api/v1/files/{file_name}", tag = "files", params(("file_name" = String, Path)),
    responses((status = 200, description = "The deleted file", body = FileView), (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
) -> Result<Json<FileView>, ApiError> {
    let name = parse_name(&file_name)?;
    Ok(Json(
        pipeline::delete::delete(&state, user, &name, &audit)
            .await?
            .into(),
    ))
}

/// A file may be named `search`, although `POST /api/v1/files/search` is the
/// search: its metadata and its deletion stay at their paths.
const SEARCH: &str = "search";

/// `GET /api/v1/files/search`: the metadata of the caller's file named `search`.
#[utoipa::path(get, path = "/api/v1/files/search", tag = "files",
    description = "The metadata of the file named `search` (`POST` on this path is the search).",
    responses((status = 200, description = "The file", body = FileView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn metadata_of_file_named_search(
    state: State<AppState>,
    user: AuthUser,
    audit: Extension<Audit>,
) -> Result<Json<FileView>, ApiError> {
    metadata(state, user, audit, Path(SEARCH.to_owned())).await
}

/// `DELETE /api/v1/files/search`: deletes the caller's file named `search`.
#[utoipa::path(delete, path = "/api/v1/files/search", tag = "files",
    description = "Deletes the file named `search`.",
    responses((status = 200, description = "The deleted file", body = FileView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn delete_file_named_search(
    state: State<AppState>,
    user: AuthUser,
    audit: Extension<Audit>,
) -> Result<Json<FileView>, ApiError> {
    delete(state, user, audit, Path(SEARCH.to_owned())).await
}
