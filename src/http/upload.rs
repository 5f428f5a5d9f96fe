//! Uploads: `POST /api/v1/files/` (multipart, seed 2's form) and
//! `PUT /api/v1/files/{file_name}/content` (raw streaming body).

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, State};
use axum::http::header::{CONTENT_LENGTH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::auth::AuthUser;
use crate::db::files::FileRecord;
use crate::error::AppError;
use crate::http::files::{FileView, parse_name};
use crate::pipeline::upload::{self, Ingest, UploadMeta};
use crate::state::AppState;

/// RFC 3986 unreserved characters stay as they are in a `Location` path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest accepted text form field or `X-Description` header, in bytes.
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// Room for the multipart framing and text fields around the file part.
const MULTIPART_OVERHEAD: u64 = 1024 * 1024;

/// `POST /api/v1/files/` with fields `file_name`, `session_id`, `description`, `file`
/// in any order. When `file_name` comes before `file`, a doomed upload is refused
/// before its bytes are read.
pub async fn multipart(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    refuse_oversized(
        &headers,
        state.policy.max_upload_bytes.saturating_add(MULTIPART_OVERHEAD),
        state.policy.max_upload_bytes,
    )?;
    let mut multipart =
        multipart.map_err(|rejection| AppError::UnsupportedMediaType(rejection.body_text()))?;

    let mut file_name = None;
    let mut description = String::new();
    let mut staged: Option<(Ingest, Option<String>)> = None;
    let mut prechecked = false;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "file_name" => {
                file_name = Some(read_text(field).await?);
                // A name given after the file has not been checked yet.
                prechecked = false;
            }
            "description" => description = read_text(field).await?,
            "file" => {
                let original_name = field.file_name().map(str::to_owned);
                if let Some(name) = &file_name {
                    let meta = meta(user, name, original_name.clone(), String::new())?;
                    upload::precheck(&state, &meta).await?;
                    prechecked = true;
                }
                staged = Some((ingest_field(&state, field).await?, original_name));
            }
            // `session_id` and unknown fields are read past; sessions come with their own issue.
            _ => drain(field).await?,
        }
    }

    let file_name =
        file_name.ok_or_else(|| AppError::MissingField("form field `file_name` is required".into()))?;
    let (ingest, original_name) =
        staged.ok_or_else(|| AppError::MissingField("form field `file` is required".into()))?;
    let meta = meta(user, &file_name, original_name, description)?;
    if !prechecked {
        upload::precheck(&state, &meta).await?;
    }
    created(upload::store(&state, meta, ingest).await?)
}

/// `PUT /api/v1/files/{file_name}/content`; `X-Description` optionally sets the description.
pub async fn raw(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(file_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    refuse_oversized(
        &headers,
        state.policy.max_upload_bytes,
        state.policy.max_upload_bytes,
    )?;
    let description = match headers.get("x-description") {
        Some(value) if value.len() > MAX_TEXT_FIELD => {
            return Err(AppError::Validation(format!(
                "X-Description is longer than {MAX_TEXT_FIELD} bytes"
            )));
        }
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map_err(|_| AppError::Validation("X-Description is not UTF-8".into()))?
            .to_owned(),
        None => String::new(),
    };
    let meta = meta(user, &file_name, None, description)?;
    upload::precheck(&state, &meta).await?;

    let mut ingest = Ingest::start(&state).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| interrupted(&err))?;
        ingest.push(&chunk).await?;
    }
    created(upload::store(&state, meta, ingest).await?)
}

fn meta(
    user: i64,
    file_name: &str,
    original_name: Option<String>,
    description: String,
) -> Result<UploadMeta, AppError> {
    Ok(UploadMeta {
        user,
        file_name: parse_name(file_name)?,
        original_name,
        description,
    })
}

/// 201 with the file's metadata and where to fetch it.
fn created(record: FileRecord) -> Result<Response, AppError> {
    let location = format!(
        "/api/v1/files/{}",
        utf8_percent_encode(&record.file_name, PATH_SEGMENT)
    );
    let mut response = (StatusCode::CREATED, Json(FileView::from(record))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    Ok(response)
}

/// A declared `Content-Length` over the limit is refused before any byte is read.
fn refuse_oversized(headers: &HeaderMap, max_body: u64, limit: u64) -> Result<(), AppError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_body => Err(AppError::TooLarge { limit }),
        _ => Ok(()),
    }
}

async fn ingest_field(state: &AppState, mut field: Field<'_>) -> Result<Ingest, AppError> {
    let mut ingest = Ingest::start(state).await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        ingest.push(&chunk).await?;
    }
    Ok(ingest)
}

async fn read_text(mut field: Field<'_>) -> Result<String, AppError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(AppError::Validation(format!(
                "form field `{name}` is longer than {MAX_TEXT_FIELD} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| AppError::Validation(format!("form field `{name}` is not UTF-8")))
}

async fn drain(mut field: Field<'_>) -> Result<(), AppError> {
    while field.chunk().await.map_err(multipart_error)?.is_some() {}
    Ok(())
}

/// A malformed form and a form whose body stopped arriving look alike to the
/// parser; both are the client's (400), and both discard the staged bytes.
fn multipart_error(err: MultipartError) -> AppError {
    tracing::warn!(error = %err.body_text(), "multipart upload failed; staged bytes discarded");
    AppError::BadRequest(format!(
        "malformed or interrupted multipart body: {}",
        err.body_text()
    ))
}

fn interrupted(err: &dyn std::fmt::Display) -> AppError {
    tracing::warn!(error = %err, "upload interrupted; staged bytes discarded");
    AppError::Interrupted
}
