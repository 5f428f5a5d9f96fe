//! `GET /api/v1/files/{file_name}/content`: the bytes, with Range (206/416), a strong
//! ETag (the SHA-256), `If-None-Match` (304) and `If-Range`, and headers that keep a
//! browser from running what it downloads.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, IF_RANGE, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::auth::AuthUser;
use crate::domain::byte_range::RangeRequest;
use crate::domain::content_type;
use crate::error::AppError;
use crate::http::files::find_owned;
use crate::state::AppState;
use crate::storage::BlobKey;

pub async fn content(
    State(state): State<AppState>,
    user: AuthUser,
    Path(file_name): Path<String>,
    request: HeaderMap,
) -> Result<Response, AppError> {
    let record = find_owned(&state, user, &file_name).await?;
    let etag = format!("\"{}\"", record.sha256);
    let size = u64::try_from(record.size).unwrap_or_default();

    let mut builder = Response::builder()
        .header(ETAG, &etag)
        .header(ACCEPT_RANGES, "bytes")
        .header(CACHE_CONTROL, "private, no-cache")
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff");

    if header_text(&request, IF_NONE_MATCH).is_some_and(|value| etag_matches(value, &etag)) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|err| AppError::Internal(err.into()));
    }

    // A Range is honoured only if the client's copy is still this content.
    let range_header = match header_text(&request, IF_RANGE) {
        Some(validator) if validator != etag => None,
        _ => header_text(&request, RANGE),
    };
    let range = match RangeRequest::from_header(range_header, size) {
        RangeRequest::Unsatisfiable => return Err(AppError::RangeNotSatisfiable { size }),
        RangeRequest::Partial(range) => Some(range),
        RangeRequest::Full => None,
    };

    let key = BlobKey::parse(&record.sha256).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("stored sha256 {:?} is malformed", record.sha256))
    })?;
    let stream = state
        .blobs
        .read(&key, range.as_ref().map(|range| range.as_inclusive()))
        .await
        .map_err(|err| {
            AppError::Internal(anyhow::anyhow!("blob {key} of a live file is unreadable: {err}"))
        })?;

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
    builder = match &range {
        Some(range) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(CONTENT_RANGE, range.content_range(size))
            .header(CONTENT_LENGTH, range.byte_count()),
        None => builder.status(StatusCode::OK).header(CONTENT_LENGTH, size),
    };
    builder
        .body(Body::from_stream(stream))
        .map_err(|err| AppError::Internal(err.into()))
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
