//! Content addressing over HTTP, in the IPFS gateway's conventions, for content
//! the caller owns or was shared (anything else is 404):
//!
//! - `GET /ipfs/{cid}`: the file's bytes (Range, ETag `"{cid}"`, immutable);
//! - `?format=raw` or `Accept: application/vnd.ipld.raw`: the one block `cid`
//!   names, a leaf or an inner node;
//! - `?format=car` or `Accept: application/vnd.ipld.car`: a CARv1 stream with
//!   the root `cid` and every block of its DAG, depth first, each leaf checked
//!   against its CID on the way out;
//! - `GET /api/v1/cids/{cid}`: what the caller stores under that content;
//!   `DELETE` deletes those files.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use ipld_core::cid::Cid;
use serde::{Deserialize, Serialize};
use tokio_util::io::ReaderStream;

use crate::db::dag::{self, BlockSource};
use crate::db::files::{self, FileRecord};
use crate::domain::UserId;
use crate::domain::timestamp;
use crate::http::caller::AuthUser;
use crate::http::download::{self, Caching, unreadable};
use crate::http::error::ApiError;
use crate::http::files::{self as files_api, FileView};
use crate::ipfs::{CHUNK_BYTES, verify};
use crate::pipeline;
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::content;
use crate::pipeline::state::AppState;

/// Content that never changes under its name may be kept by the client forever.
const IMMUTABLE: &str = "private, max-age=29030400, immutable";
const CAR_TYPE: &str = "application/vnd.ipld.car";
const RAW_TYPE: &str = "application/vnd.ipld.raw";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GatewayParams {
    format: Option<String>,
}

/// What `GET /ipfs/{cid}` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Bytes,
    Raw,
    Car,
}

impl Answer {
    /// `?format=` first, then the `Accept` header, as IPFS gateways do.
    fn of(format: Option<&str>, headers: &HeaderMap) -> Result<Self, ApiError> {
        match format {
            Some("raw") => return Ok(Self::Raw),
            Some("car") => return Ok(Self::Car),
            Some(other) => {
                return Err(
                    Error::BadRequest(format!("format {other:?} is not served; use raw or car")).into(),
                );
            }
            None => {}
        }
        let accept = headers
            .get(ACCEPT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        Ok(if accept.contains(CAR_TYPE) {
            Self::Car
        } else if accept.contains(RAW_TYPE) {
            Self::Raw
        } else {
            Self::Bytes
        })
    }
}

/// Parses a CID in any base and version; depot names content by its CIDv1.
pub fn parse_cid(text: &str) -> Result<Cid, ApiError> {
    let cid = Cid::try_from(text).map_err(|err| ApiError::InvalidCid(format!("{text:?}: {err}")))?;
    cid.into_v1()
        .map_err(|err| ApiError::InvalidCid(format!("{text:?}: {err}")))
}

/// `GET /ipfs/{cid}`
#[utoipa::path(get, path = "/ipfs/{cid}", tag = "content", params(("cid" = String, Path), GatewayParams),
    responses((status = 200, description = "The bytes; or a CARv1 (`format=car`) or one block (`format=raw`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Not a CID (`invalid_cid`), or a bad format", body = crate::http::openapi::ErrorBody), (status = 404, description = "No content of yours with that CID", body = crate::http::openapi::ErrorBody)))]
pub async fn gateway(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(cid): Path<String>,
    params: Result<Query<GatewayParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    let cid = parse_cid(&cid)?;
    match Answer::of(params.format.as_deref(), &headers)? {
        Answer::Bytes => bytes(&state, user, &cid, &headers, &audit).await,
        Answer::Raw => raw_block(&state, user, cid).await,
        Answer::Car => car_stream(&state, user, cid).await,
    }
}

/// The bytes of content `cid` the caller may read, as a file's download is
/// served (its type and name, Range, conditional requests), under the
/// immutable ETag `"{cid}"`.
pub(crate) async fn bytes(
    state: &AppState,
    user: UserId,
    cid: &Cid,
    headers: &HeaderMap,
    audit: &Audit,
) -> Result<Response, ApiError> {
    let record = readable_root(state, user, cid).await?;
    let caching = Caching {
        etag: format!("\"{cid}\""),
        cache_control: IMMUTABLE,
    };
    download::serve(state, record, headers, caching, audit).await
}

/// The caller's oldest file whose content is `cid`, else the oldest shared
/// with them.
pub(crate) async fn readable_root(state: &AppState, user: UserId, cid: &Cid) -> Result<FileRecord, ApiError> {
    files::readable_by_cid(state.db.pool(), user, &cid.to_string())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound("content").into())
}

async fn raw_block(state: &AppState, user: UserId, cid: Cid) -> Result<Response, ApiError> {
    let data = match dag::readable_block(state.db.pool(), user, &cid.to_string()).await? {
        None => return Err(Error::NotFound("block").into()),
        Some(BlockSource::Node(data)) => data,
        Some(BlockSource::Leaf { blob: key, chunk }) => {
            let start = u64::try_from(chunk).unwrap_or_default() * CHUNK_BYTES as u64;
            let range = start..=start + CHUNK_BYTES as u64 - 1;
            let mut stream = state
                .blobs
                .read(&key, Some(range))
                .await
                .map_err(unreadable(&key))?;
            let mut data = Vec::with_capacity(CHUNK_BYTES);
            while let Some(bytes) = stream.next().await {
                data.extend_from_slice(&bytes.map_err(|err| unreadable(&key)(err.into()))?);
            }
            if !verify::matches(&cid, [&data[..]]) {
                let index = usize::try_from(chunk).unwrap_or_default();
                content::flag_corrupt(state, &key, verify::Mismatch { index });
                return Err(Error::Internal(anyhow::anyhow!(
                    "chunk {chunk} of {key} does not match its CID"
                ))
                .into());
            }
            data
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, RAW_TYPE)
        .header(CONTENT_LENGTH, data.len())
        .header(ETAG, format!("\"{cid}.raw\""))
        .header(CACHE_CONTROL, IMMUTABLE)
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(CONTENT_DISPOSITION, format!("attachment; filename=\"{cid}.bin\""))
        .body(Body::from(data))
        .map_err(ApiError::from)
}

/// A CARv1 of the whole DAG ([`content::car`]), streamed as it is written.
async fn car_stream(state: &AppState, user: UserId, root: Cid) -> Result<Response, ApiError> {
    let record = readable_root(state, user, &root).await?;
    let key = record.blob_key()?;
    let body = content::car(state, &key, root).await?;
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, format!("{CAR_TYPE}; version=1"))
        .header(ETAG, format!("\"{root}.car\""))
        .header(CACHE_CONTROL, IMMUTABLE)
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{root}.car\""),
        )
        .body(Body::from_stream(ReaderStream::new(body)))
        .map_err(ApiError::from)
}

/// What the caller stores under one CID.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CidInfo {
    pub cid: String,
    pub size: i64,
    pub content_type: String,
    /// The caller's files with this content, oldest first.
    pub file_names: Vec<String>,
    /// When the oldest of them was stored.
    pub created_at: String,
}

/// `GET /api/v1/cids/{cid}`
#[utoipa::path(get, path = "/api/v1/cids/{cid}", tag = "content", params(("cid" = String, Path)),
    responses((status = 200, description = "Your files with that content", body = CidInfo),
        (status = 400, description = "Not a CID", body = crate::http::openapi::ErrorBody), (status = 404, description = "No content of yours with that CID", body = crate::http::openapi::ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(cid): Path<String>,
) -> Result<Json<CidInfo>, ApiError> {
    let cid = parse_cid(&cid)?;
    let records = files::find_by_cid(state.db.pool(), user, &cid.to_string()).await?;
    let first = records.first().ok_or(Error::NotFound("content"))?;
    audit.note_file(&first.file_name, &first.sha256, 0);
    Ok(Json(CidInfo {
        cid: cid.to_string(),
        size: first.size,
        content_type: first.content_type.clone(),
        created_at: timestamp::to_rfc3339(first.created_at),
        file_names: records.iter().map(|record| record.file_name.clone()).collect(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub cid: String,
    pub deleted: Vec<FileView>,
}

/// `DELETE /api/v1/cids/{cid}`: deletes every file of the caller with that content.
#[utoipa::path(delete, path = "/api/v1/cids/{cid}", tag = "content", params(("cid" = String, Path)),
    responses((status = 200, description = "Your files with that content, deleted", body = Deleted),
        (status = 400, description = "Not a CID", body = crate::http::openapi::ErrorBody), (status = 404, description = "No content of yours with that CID", body = crate::http::openapi::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(cid): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let cid = parse_cid(&cid)?;
    let deleted = pipeline::delete::delete_by_cid(&state, user, &cid.to_string(), &audit).await?;
    Ok(Json(Deleted {
        cid: cid.to_string(),
        deleted: files_api::views(&state, deleted).await,
    }))
}
