//! Seed 3's API — files addressed by their CID — over depot's files, with
//! seed 3's field names (`cid`, `filename`, `content_type`, `size`,
//! `upload_date`, `metadata`):
//!
//! - `POST /api/files/upload`: a form with `file` (named by its part's
//!   filename unless a `file_name` field says otherwise), and optionally
//!   `metadata` (a JSON object), `description`, `session_id`;
//! - `GET /api/files/`: the caller's files, paged and filtered as
//!   `GET /api/v1/files/`; `POST /api/files/search`: the same filters as a
//!   JSON body;
//! - `GET /api/files/{cid}`: the bytes, with the file's type and name;
//! - `GET /api/files/{cid}/info`: the file;
//! - `DELETE /api/files/{cid}`: deletes the caller's files with that content.
//!
//! A CID addresses content the caller owns (or, to read, was shared), as on
//! `/ipfs/{cid}`; anything else is 404.

use axum::Extension;
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Multipart, OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::db::files::FileRecord;
use crate::http::caller::{AuthUser, Reader};
use crate::http::error::ApiError;
use crate::http::files::{PinView, views};
use crate::http::ipfs::{self, parse_cid, readable_root};
use crate::http::listing::{ListParams, matching_page};
use crate::http::session_hint::SessionHint;
use crate::http::upload::{FormUpload, Naming, ReplaceParam, created_at, in_session};
use crate::pipeline;
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;

/// A file as seed 3 names its fields, with what depot adds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CidFile {
    /// The IPFS CID (CIDv1) `ipfs add --cid-version=1` gives the content.
    pub cid: String,
    /// The file's name among the owner's files.
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// When it was stored, RFC 3339.
    pub upload_date: String,
    /// The uploader's metadata: a JSON object.
    #[schema(value_type = Object)]
    pub metadata: Box<serde_json::value::RawValue>,
    pub description: String,
    pub sha256: String,
    /// How far publishing to the IPFS node got; null when depot publishes to none.
    pub ipfs: Option<PinView>,
}

async fn cid_files(state: &AppState, records: Vec<FileRecord>) -> Vec<CidFile> {
    views(state, records)
        .await
        .into_iter()
        .map(|view| CidFile {
            cid: view.cid.unwrap_or_default(),
            filename: view.file_name,
            content_type: view.content_type,
            size: view.size,
            upload_date: view.created_at,
            metadata: view.metadata,
            description: view.description,
            sha256: view.sha256,
            ipfs: view.ipfs,
        })
        .collect()
}

async fn cid_file(state: &AppState, record: FileRecord) -> CidFile {
    cid_files(state, vec![record]).await.swap_remove(0)
}

/// `POST /api/files/upload`
#[utoipa::path(post, path = "/api/files/upload", tag = "cid files", params(ReplaceParam),
    request_body(content = String, content_type = "multipart/form-data",
        description = "`file`, and optionally `file_name` (else the part's filename), `metadata` (a JSON object), `description`, `session_id`"),
    responses((status = 201, description = "Stored; `Location` is its info", body = CidFile),
        (status = 409, description = "The name is taken (`file_exists`)", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "Larger than the limit or the quota", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "No file, a bad name (`invalid_file_name`) or metadata (`invalid_metadata`)", body = crate::http::openapi::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    hint: SessionHint,
    replace: Result<Query<ReplaceParam>, QueryRejection>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let form = FormUpload::new(&state, user, audit, hint, Naming::FieldOrPart);
    let (session, stored) = form.store(replace, &headers, multipart).await;
    let answer = match stored {
        Ok(record) => {
            let location = format!("/api/files/{}/info", record.cid);
            Ok(created_at(&location, cid_file(&state, record).await))
        }
        Err(err) => Err(err),
    };
    in_session(&state, session.as_ref(), answer)
}

/// `GET /api/files/`
#[utoipa::path(get, path = "/api/files/", tag = "cid files", params(ListParams),
    responses((status = 200, description = "Your files; `Link`/`X-Next-Cursor` or `X-Total-Count` page them", body = Vec<CidFile>),
        (status = 400, description = "A bad parameter", body = crate::http::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<(HeaderMap, Json<Vec<CidFile>>), ApiError> {
    let Query(params) = params.map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    let (headers, rows) = matching_page(&state, user, &params, Some(&uri)).await?;
    Ok((headers, Json(cid_files(&state, rows).await)))
}

/// `POST /api/files/search`
#[utoipa::path(post, path = "/api/files/search", tag = "cid files", request_body = ListParams,
    responses((status = 200, description = "Your files that match; `X-Next-Cursor` or `X-Total-Count` page them", body = Vec<CidFile>),
        (status = 400, description = "A bad filter", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "Not JSON, or an unknown field (`validation_failed`)", body = crate::http::openapi::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Reader(user): Reader,
    params: Result<Json<ListParams>, JsonRejection>,
) -> Result<(HeaderMap, Json<Vec<CidFile>>), ApiError> {
    let Json(params) = params.map_err(crate::http::json_error)?;
    let (headers, rows) = matching_page(&state, user, &params, None).await?;
    Ok((headers, Json(cid_files(&state, rows).await)))
}

/// `GET /api/files/{cid}`
#[utoipa::path(get, path = "/api/files/{cid}", tag = "cid files", params(("cid" = String, Path)),
    responses((status = 200, description = "The bytes, with the file's type and name", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Not a CID (`invalid_cid`)", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No content of yours with that CID", body = crate::http::openapi::ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ipfs::bytes(&state, user, &parse_cid(&cid)?, &headers, &audit).await
}

/// `GET /api/files/{cid}/info`
#[utoipa::path(get, path = "/api/files/{cid}/info", tag = "cid files", params(("cid" = String, Path)),
    responses((status = 200, description = "Your file with that content (the oldest, if several), else one shared with you", body = CidFile),
        (status = 400, description = "Not a CID (`invalid_cid`)", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No content of yours with that CID", body = crate::http::openapi::ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(cid): Path<String>,
) -> Result<Json<CidFile>, ApiError> {
    let cid = parse_cid(&cid)?;
    let record = readable_root(&state, user, &cid).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    Ok(Json(cid_file(&state, record).await))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedByCid {
    pub cid: String,
    /// Your files with that content, now deleted.
    pub deleted: Vec<CidFile>,
}

/// `DELETE /api/files/{cid}`
#[utoipa::path(delete, path = "/api/files/{cid}", tag = "cid files", params(("cid" = String, Path)),
    responses((status = 200, description = "Your files with that content, deleted", body = DeletedByCid),
        (status = 400, description = "Not a CID (`invalid_cid`)", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No content of yours with that CID", body = crate::http::openapi::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(cid): Path<String>,
) -> Result<Json<DeletedByCid>, ApiError> {
    let cid = parse_cid(&cid)?;
    let deleted = pipeline::delete::delete_by_cid(&state, user, &cid.to_string(), &audit).await?;
    Ok(Json(DeletedByCid {
        cid: cid.to_string(),
        deleted: cid_files(&state, deleted).await,
    }))
}
