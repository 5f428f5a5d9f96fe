//! `GET /api/v1/files/{file_name}/content`: the bytes, with Range (206/416), a strong
//! ETag (the SHA-256), `If-None-Match` (304) and `If-Range`, and headers that keep a
//! browser from running what it downloads. Every read, whole or a range, is
//! checked chunk by chunk against the file's CID as it streams
//! ([`crate::ipfs::verify`]); a mismatch cuts the body short and flags the file
//! `corrupt`.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, IF_RANGE, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::db::files::FileRecord;
use crate::domain::byte_range::RangeRequest;
use crate::domain::content_type;
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::files::find_owned;
use crate::pipeline::audit::Audit;
use crate::pipeline::content;
use crate::pipeline::state::AppState;
use crate::pipeline::transfer;
use crate::storage::{BlobKey, ByteStream, StorageError};

#[utoipa::path(get, path = "/api/v1/files/{file_name}/content", tag = "files",
    security((), ("bearer" = [])),
    params(("file_name" = String, Path), ("Range" = Option<String>, Header, description = "`bytes=…`"),
        ("If-None-Match" = Option<String>, Header), ("If-Range" = Option<String>, Header)),
    responses((status = 200, description = "The bytes, checked against the CID as they stream", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified"), (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody),
        (status = 416, description = "The range is outside the file", body = crate::http::openapi::ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let record = find_owned(&state, user, &file_name).await?;
    let caching = Caching {
        etag: format!("\"{}\"", record.sha256),
        cache_control: "private, no-cache",
    };
    serve(&state, record, &request, caching, &audit).await
}

/// How a response names its content for caches.
#[derive(Debug)]
pub struct Caching {
    pub etag: String,
    pub cache_control: &'static str,
}

/// A file's bytes, whole or in the requested range, with validators.
pub async fn serve(
    state: &AppState,
    record: FileRecord,
    request: &HeaderMap,
    caching: Caching,
    audit: &Audit,
) -> Result<Response, ApiError> {
    audit.note_file(&record.file_name, &record.sha256, 0);
    let Caching { etag, cache_control } = caching;
    let size = u64::try_from(record.size).unwrap_or_default();

    let mut builder = Response::builder()
        .header(ETAG, &etag)
        .header(ACCEPT_RANGES, "bytes")
        .header(CACHE_CONTROL, cache_control)
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff");

    if not_modified(request, &etag) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(ApiError::from);
    }

    let range = match range_asked(request, &etag, size) {
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
        RangeRequest::Partial(range) => Some(range),
        RangeRequest::Full => None,
    };

    let key = record.blob_key()?;
    builder = builder
        .header(
            CONTENT_TYPE,
            header_value(&record.content_type, "application/octet-stream"),
        )
        .header(
            CONTENT_DISPOSITION,
            header_value(
                &content_type::disposition(&record.content_type, &record.file_name),
                "attachment",
            ),
        );
    let (body, length): (ByteStream, u64) = match &range {
        Some(range) => {
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(CONTENT_RANGE, range.content_range(size))
                .header(CONTENT_LENGTH, range.byte_count());
            (
                content::verified_range(state, &key, range, size).await?,
                range.byte_count(),
            )
        }
        None => {
            builder = builder.status(StatusCode::OK).header(CONTENT_LENGTH, size);
            (content::verified_whole(state, &key).await?, size)
        }
    };
    let tracked = transfer::track_download(state, &record, length, body).await?;
    builder.body(Body::from_stream(tracked)).map_err(ApiError::from)
}

/// Whether the client's copy is current (`If-None-Match`): 304.
fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    header_text(request, IF_NONE_MATCH).is_some_and(|value| etag_matches(value, etag))
}

/// The range a request asks for; a Range is honoured only if the client's
/// copy is still this content (`If-Range`).
fn range_asked(request: &HeaderMap, etag: &str, size: u64) -> RangeRequest {
    let range_header = match header_text(request, IF_RANGE) {
        Some(validator) if validator != etag => None,
        _ => header_text(request, RANGE),
    };
    RangeRequest::from_header(range_header, size)
}

/// Whether [`serve`] will send the content from its first byte: the whole
/// of it, or a range that starts there — what a link counts as a download.
pub fn reads_from_start(request: &HeaderMap, etag: &str, size: u64) -> bool {
    !not_modified(request, etag)
        && match range_asked(request, etag, size) {
            RangeRequest::Full => true,
            RangeRequest::Partial(range) => range.start == 0,
            RangeRequest::Unsatisfiable => false,
        }
}

/// A live file's blob that cannot be read ([`content::unreadable`]), as an answer.
pub fn unreadable(key: &BlobKey) -> impl Fn(StorageError) -> ApiError + '_ {
    move |err| ApiError::from(content::unreadable(key)(err))
}

fn header_text(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn header_value(text: &str, fallback: &'static str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(fallback))
}

/// `If-None-Match` semantics: `*`, or any listed tag equal under weak comparison.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag));
        assert!(etag_matches("\"x\", W/\"abc\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"abcd\"", etag));
    }
}
