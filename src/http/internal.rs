//! The internal storage API a storage node serves to its gateways (seed 4's
//! `/internal/storage/{upload,download,delete,list}`, and `ready`, which
//! checks that the node's store takes writes), and nothing else but health
//! checks. Every call needs `X-Internal-Api-Key`; a user's token is
//! not accepted here. The wire protocol is written down once, in
//! [`crate::storage::remote`], whose client is the only intended caller.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, extract::DefaultBodyLimit};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::domain::UploadId;
use crate::domain::byte_range::RangeRequest;
use crate::http::error::ApiError;
use crate::pipeline::Error;
use crate::pipeline::storage_node::StorageNode;
use crate::storage::BlobKey;
use crate::storage::remote::{
    Commit, KEY_HEADER, ListPage, ListedBlob, SHA256_HEADER, STATE_HEADER, Staged, TRANSIENT_HEADER,
};

/// Most blobs one `list` page names.
const MAX_LIST: usize = 1000;

#[derive(Debug, Clone)]
pub struct NodeState {
    pub node: Arc<StorageNode>,
    /// The SHA-256 of the shared key: comparing digests takes the same time
    /// whatever the length of what a caller sends.
    key_digest: [u8; 32],
}

impl NodeState {
    pub fn new(node: StorageNode, key: &Secret) -> Self {
        Self {
            node: Arc::new(node),
            key_digest: Sha256::digest(key.expose().as_bytes()).into(),
        }
    }
}

pub fn router(state: NodeState) -> Router {
    let internal = Router::new()
        .route("/internal/storage/upload", post(upload))
        .route(
            "/internal/storage/upload/{id}",
            put(append).head(check_staged).get(read_staged).delete(discard),
        )
        .route("/internal/storage/upload/{id}/commit", post(commit))
        .route("/internal/storage/download", get(download))
        .route("/internal/storage/delete", post(delete))
        .route("/internal/storage/list", get(list))
        .route("/internal/storage/ready", get(readyz))
        .layer(DefaultBodyLimit::disable())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(internal)
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::from(Error::NotFound("route")) })
        .with_state(state)
}

async fn require_key(State(state): State<NodeState>, request: Request, next: Next) -> Response {
    let given = request.headers().get(KEY_HEADER).map(HeaderValue::as_bytes);
    let accepted = given.is_some_and(|given| {
        let digest: [u8; 32] = Sha256::digest(given).into();
        bool::from(digest.ct_eq(&state.key_digest))
    });
    if accepted {
        next.run(request).await
    } else {
        ApiError::Unauthorized("the internal storage API needs a valid X-Internal-Api-Key").into_response()
    }
}

async fn readyz(State(state): State<NodeState>) -> Response {
    match state.node.blobs.check().await {
        Ok(()) => Json(json!({ "status": "ready", "role": "storage" })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "blob store not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

fn parse_key(text: &str) -> Result<BlobKey, Error> {
    BlobKey::parse(text).ok_or_else(|| Error::BadRequest(format!("not a SHA-256 key: {text:?}")))
}

fn parse_upload(text: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(text).ok_or_else(|| Error::NotFound("upload").into())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `POST /internal/storage/upload`: a whole blob, its SHA-256 in `X-Content-Sha256`.
async fn upload(
    State(state): State<NodeState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let declared = header(&headers, SHA256_HEADER)
        .ok_or_else(|| Error::MissingField(format!("{SHA256_HEADER} is required")))
        .and_then(parse_key)?;
    let size = state.node.upload(&declared, body.into_data_stream()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": declared.as_str(), "size": size })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct Offset {
    offset: u64,
}

/// `PUT /internal/storage/upload/{id}?offset=N`: the next chunk of a staged upload.
async fn append(
    State(state): State<NodeState>,
    Path(id): Path<String>,
    Query(Offset { offset }): Query<Offset>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Staged>, ApiError> {
    let id = parse_upload(&id)?;
    let upload_state = header(&headers, STATE_HEADER).unwrap_or_default();
    let transient = headers.contains_key(TRANSIENT_HEADER);
    let staged = state
        .node
        .append(id, offset, upload_state, transient, body.into_data_stream())
        .await?;
    Ok(Json(staged))
}

/// `HEAD /internal/storage/upload/{id}?offset=N`: 200 if the upload holds at
/// least `offset` bytes (any past it are dropped), else 404.
async fn check_staged(
    State(state): State<NodeState>,
    Path(id): Path<String>,
    Query(Offset { offset }): Query<Offset>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = parse_upload(&id)?;
    state
        .node
        .check_staged(id, offset, header(&headers, STATE_HEADER).unwrap_or_default())
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct StagedRange {
    start: u64,
    len: u64,
}

/// `GET /internal/storage/upload/{id}?start=&len=`: bytes of a staged upload,
/// for a gateway that reads a workbook back before it commits; 404 where the
/// node's store cannot read staged bytes without ending the write.
async fn read_staged(
    State(state): State<NodeState>,
    Path(id): Path<String>,
    Query(StagedRange { start, len }): Query<StagedRange>,
    headers: HeaderMap,
) -> Result<Bytes, ApiError> {
    let id = parse_upload(&id)?;
    state
        .node
        .read_staged(id, header(&headers, STATE_HEADER).unwrap_or_default(), start, len)
        .await
        .map_err(ApiError::from)
}

/// `POST /internal/storage/upload/{id}/commit`: the staged bytes become the
/// blob the gateway names, if their SHA-256 is that name.
async fn commit(
    State(state): State<NodeState>,
    Path(id): Path<String>,
    Json(request): Json<Commit>,
) -> Result<Response, ApiError> {
    let id = parse_upload(&id)?;
    let key = parse_key(&request.sha256)?;
    state.node.commit(id, &key, request.size, &request.state).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": key.as_str(), "size": request.size })),
    )
        .into_response())
}

/// `DELETE /internal/storage/upload/{id}`: drops a staged upload.
async fn discard(
    State(state): State<NodeState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = parse_upload(&id)?;
    state
        .node
        .discard(id, header(&headers, STATE_HEADER).unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    key: String,
}

/// `GET|HEAD /internal/storage/download?key=…`, with `Range`.
async fn download(
    State(state): State<NodeState>,
    method: Method,
    Query(KeyQuery { key }): Query<KeyQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = parse_key(&key)?;
    let size = state
        .node
        .blobs
        .size(&key)
        .await?
        .ok_or(Error::NotFound("blob"))?;
    let range = RangeRequest::from_header(header(&headers, RANGE.as_str()), size);
    let (status, range, length) = match range {
        RangeRequest::Full => (StatusCode::OK, None, size),
        RangeRequest::Partial(range) => (
            StatusCode::PARTIAL_CONTENT,
            Some(range.clone()),
            range.byte_count(),
        ),
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, length)
        .header(ACCEPT_RANGES, "bytes");
    if let Some(range) = &range {
        response = response.header(CONTENT_RANGE, range.content_range(size));
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let stream = state
            .node
            .blobs
            .read(&key, range.map(|range| range.as_inclusive()))
            .await?;
        Body::from_stream(stream)
    };
    response.body(body).map_err(ApiError::from)
}

#[derive(Debug, Deserialize)]
struct DeleteRequest {
    key: String,
}

/// `POST /internal/storage/delete` `{"key"}`: removing a missing blob succeeds.
async fn delete(
    State(state): State<NodeState>,
    Json(request): Json<DeleteRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = parse_key(&request.key)?;
    state.node.blobs.delete(&key).await?;
    Ok(Json(json!({ "key": key.as_str(), "deleted": true })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    after: String,
    limit: Option<usize>,
}

/// `GET /internal/storage/list?prefix=&after=&limit=`: blobs in key order.
async fn list(
    State(state): State<NodeState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListPage>, ApiError> {
    if query.prefix.len() > 64
        || !query
            .prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::Validation("prefix must be lower-case hex".to_owned()).into());
    }
    let after = match query.after.as_str() {
        "" => None,
        after => Some(parse_key(after)?),
    };
    let limit = query.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let page = state
        .node
        .blobs
        .list(&query.prefix, after.as_ref(), limit)
        .await?;
    let next = (page.len() == limit).then(|| page[limit - 1].0.to_string());
    Ok(Json(ListPage {
        blobs: page
            .into_iter()
            .map(|(key, size)| ListedBlob {
                key: key.to_string(),
                size,
            })
            .collect(),
        next,
    }))
}
