//! Uploads: `POST /api/v1/files/` (multipart, seed 2's form) and
//! `PUT /api/v1/files/{file_name}/content` (raw streaming body).
//!
//! Each request is one attempt with a processing record in its session. The
//! session is the form's `session_id`, else `X-Session-Id`, else the
//! `depot_session` cookie, else a new one; the response names it.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::db::files::FileRecord;
use crate::domain::UserId;
use crate::domain::{SessionId, content_type};
use crate::http::body_rate;
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::files::{FileView, parse_name};
use crate::http::session_hint::{SessionHint, announce, parse_session};
use crate::pipeline::Error;
use crate::pipeline::attempt::{Attempt, Intent};
use crate::pipeline::audit::Audit;
use crate::pipeline::session::{self, Session};
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{self, Ingest, UploadMeta};
use crate::profile::Format;

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
#[utoipa::path(post, path = "/api/v1/files/", tag = "files",
    request_body(content = String, content_type = "multipart/form-data",
        description = "Fields `file_name`, `session_id`, `description` and `file`, in any order"),
    responses((status = 201, description = "Stored", body = crate::http::files::FileView),
        (status = 409, description = "The name is taken (`file_exists`)", body = crate::http::openapi::ErrorBody), (status = 408, description = "The body arrived too slowly and was cut (`body_timeout`); nothing was kept", body = crate::http::openapi::ErrorBody), (status = 413, description = "Larger than the limit", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad name, a missing field, or a dataset pandas would refuse", body = crate::http::openapi::ErrorBody)))]
pub async fn multipart(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    hint: SessionHint,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut form = FormUpload {
        state: &state,
        user,
        audit,
        hint,
        session_field: None,
        begun: None,
    };
    let outcome = form.receive(&headers, multipart).await;
    form.finish(outcome).await
}

/// `PUT /api/v1/files/{file_name}/content`; `X-Description` optionally sets the description.
#[utoipa::path(put, path = "/api/v1/files/{file_name}/content", tag = "files",
    params(("file_name" = String, Path, description = "The name to store it under"),
        ("X-Description" = Option<String>, Header, description = "The file's description"),
        ("X-Session-Id" = Option<String>, Header, description = "The session the upload works in")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Stored", body = crate::http::files::FileView),
        (status = 409, description = "The name is taken (`file_exists`)", body = crate::http::openapi::ErrorBody), (status = 408, description = "The body arrived too slowly and was cut (`body_timeout`); nothing was kept", body = crate::http::openapi::ErrorBody), (status = 413, description = "Larger than the limit", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad name, or a dataset pandas would refuse", body = crate::http::openapi::ErrorBody)))]
pub async fn raw(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    hint: SessionHint,
    Path(file_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let begun = async {
        let session = session::resolve(&state, user, hint.named(None)?).await?;
        let intent = Intent {
            filename: file_name.clone(),
            file_name: file_name.clone(),
            size: declared_length(&headers).unwrap_or(0),
            content_type: content_type::detect(&[], &file_name),
        };
        let attempt = Attempt::begin(&state.db, user, session.id, intent).await?;
        Ok::<_, Error>((session, attempt))
    };
    let (session, attempt) = match begun.await {
        Ok(begun) => begun,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let outcome = receive_raw(&state, &attempt, &file_name, &headers, body, &audit).await;
    respond(&state, &session, attempt.finish(outcome).await)
}

async fn receive_raw(
    state: &AppState,
    attempt: &Attempt,
    file_name: &str,
    headers: &HeaderMap,
    body: Body,
    audit: &Audit,
) -> Result<FileRecord, Error> {
    refuse_oversized(
        headers,
        state.policy.max_upload_bytes,
        state.policy.max_upload_bytes,
    )?;
    let description = match headers.get("x-description") {
        Some(value) if value.len() > MAX_TEXT_FIELD => {
            return Err(Error::Validation(format!(
                "X-Description is longer than {MAX_TEXT_FIELD} bytes"
            )));
        }
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map_err(|_| Error::Validation("X-Description is not UTF-8".into()))?
            .to_owned(),
        None => String::new(),
    };
    let meta = meta(attempt.user(), file_name, None, description)?;
    upload::precheck(state, &meta).await?;
    attempt.processing().await?;

    let declared_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut ingest = Ingest::start(state, Format::detect(file_name, declared_type)).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(interrupted)?;
        ingest.push(chunk).await?;
    }
    upload::store(state, attempt, meta, ingest.finish().await?, audit).await
}

/// One multipart request as its parts arrive.
struct FormUpload<'a> {
    state: &'a AppState,
    user: UserId,
    audit: Audit,
    hint: SessionHint,
    /// The form's `session_id`, once read.
    session_field: Option<SessionId>,
    /// The session and attempt, from the moment the upload's session is known.
    begun: Option<(Session, Attempt)>,
}

impl FormUpload<'_> {
    async fn receive(
        &mut self,
        headers: &HeaderMap,
        multipart: Result<Multipart, MultipartRejection>,
    ) -> Result<FileRecord, Error> {
        let limit = self.state.policy.max_upload_bytes;
        refuse_oversized(headers, limit.saturating_add(MULTIPART_OVERHEAD), limit)?;
        let mut multipart =
            multipart.map_err(|rejection| Error::UnsupportedMediaType(rejection.body_text()))?;

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
                "session_id" => {
                    // A blank field (a form without a session) names none.
                    let text = read_text(field).await?;
                    if !text.trim().is_empty() {
                        self.session_field = Some(parse_session(&text)?);
                    }
                }
                "file" => {
                    let original_name = field.file_name().map(str::to_owned);
                    self.begin(file_name.as_deref(), original_name.as_deref()).await?;
                    if let Some(name) = &file_name {
                        let meta = meta(self.user, name, original_name.clone(), String::new())?;
                        upload::precheck(self.state, &meta).await?;
                        prechecked = true;
                    }
                    self.attempt()?.processing().await?;
                    // The part's own name, else the form's `file_name`, says what it is.
                    let named = original_name
                        .as_deref()
                        .or(file_name.as_deref())
                        .unwrap_or_default();
                    let format = Format::detect(named, field.content_type().unwrap_or_default());
                    staged = Some((ingest_field(self.state, field, format).await?, original_name));
                }
                _ => drain(field).await?,
            }
        }

        let file_name =
            file_name.ok_or_else(|| Error::MissingField("form field `file_name` is required".into()))?;
        let (ingest, original_name) =
            staged.ok_or_else(|| Error::MissingField("form field `file` is required".into()))?;
        let meta = meta(self.user, &file_name, original_name, description)?;
        if !prechecked {
            upload::precheck(self.state, &meta).await?;
        }
        self.follow_late_session_field().await?;
        upload::store(
            self.state,
            self.attempt()?,
            meta,
            ingest.finish().await?,
            &self.audit,
        )
        .await
    }

    /// Begins the attempt, once, in the session known so far.
    async fn begin(&mut self, file_name: Option<&str>, original_name: Option<&str>) -> Result<(), Error> {
        if self.begun.is_none() {
            let session =
                session::resolve(self.state, self.user, self.hint.named(self.session_field)?).await?;
            let filename = original_name.or(file_name).unwrap_or_default();
            let intent = Intent {
                filename: filename.to_owned(),
                file_name: file_name.unwrap_or_default().to_owned(),
                size: 0,
                content_type: content_type::detect(&[], filename),
            };
            let attempt = Attempt::begin(&self.state.db, self.user, session.id, intent).await?;
            self.begun = Some((session, attempt));
        }
        Ok(())
    }

    fn attempt(&self) -> Result<&Attempt, Error> {
        match &self.begun {
            Some((_, attempt)) => Ok(attempt),
            None => Err(Error::Internal(anyhow::anyhow!("upload attempt not begun"))),
        }
    }

    /// A `session_id` that came after the file part moves the attempt there.
    async fn follow_late_session_field(&mut self) -> Result<(), Error> {
        let (Some(field), Some((session, attempt))) = (self.session_field, self.begun.as_mut()) else {
            return Ok(());
        };
        if field != session.id {
            *session = session::resolve(self.state, self.user, session::Named::Explicit(field)).await?;
            attempt.move_to(field).await?;
        }
        Ok(())
    }

    /// Records the outcome — beginning the attempt now if the request failed
    /// before its file part — and answers.
    async fn finish(mut self, outcome: Result<FileRecord, Error>) -> Response {
        if self.begun.is_none()
            && let Err(err) = self.begin(None, None).await
        {
            // No session to record the attempt in (a bad or foreign session id).
            return ApiError::from(outcome.err().unwrap_or(err)).into_response();
        }
        match self.begun {
            Some((session, attempt)) => respond(self.state, &session, attempt.finish(outcome).await),
            None => {
                ApiError::from(Error::Internal(anyhow::anyhow!("upload attempt not begun"))).into_response()
            }
        }
    }
}

fn meta(
    user: UserId,
    file_name: &str,
    original_name: Option<String>,
    description: String,
) -> Result<UploadMeta, Error> {
    Ok(UploadMeta {
        user,
        file_name: parse_name(file_name)?,
        original_name,
        description,
    })
}

/// 201 with the file's metadata and where to fetch it, or the error; either way
/// naming the session.
fn respond(state: &AppState, session: &Session, result: Result<FileRecord, Error>) -> Response {
    let mut response = match result {
        Ok(record) => created(record),
        Err(err) => ApiError::from(err).into_response(),
    };
    announce(response.headers_mut(), session, state.sessions.ttl);
    response
}

fn created(record: FileRecord) -> Response {
    let location = format!(
        "/api/v1/files/{}",
        utf8_percent_encode(&record.file_name, PATH_SEGMENT)
    );
    let mut response = (StatusCode::CREATED, Json(FileView::from(record))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
}

/// A declared `Content-Length` over the limit is refused before any byte is read.
fn refuse_oversized(headers: &HeaderMap, max_body: u64, limit: u64) -> Result<(), Error> {
    match declared_length(headers) {
        Some(length) if length > max_body => Err(Error::TooLarge { limit }),
        _ => Ok(()),
    }
}

async fn ingest_field(
    state: &AppState,
    mut field: Field<'_>,
    format: Option<Format>,
) -> Result<Ingest, Error> {
    let mut ingest = Ingest::start(state, format).await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        ingest.push(chunk).await?;
    }
    Ok(ingest)
}

async fn read_text(mut field: Field<'_>) -> Result<String, Error> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(Error::Validation(format!(
                "form field `{name}` is longer than {MAX_TEXT_FIELD} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| Error::Validation(format!("form field `{name}` is not UTF-8")))
}

async fn drain(mut field: Field<'_>) -> Result<(), Error> {
    while field.chunk().await.map_err(multipart_error)?.is_some() {}
    Ok(())
}

/// A malformed form and a form whose body stopped arriving look alike to the
/// parser; both are the client's (400), and both discard the staged bytes. A
/// body cut for arriving too slowly is told apart (408).
fn multipart_error(err: MultipartError) -> Error {
    tracing::warn!(error = %err.body_text(), "multipart upload failed; staged bytes discarded");
    if body_rate::is_too_slow(&err) {
        return Error::BodyTimeout;
    }
    Error::BadRequest(format!(
        "malformed or interrupted multipart body: {}",
        err.body_text()
    ))
}

fn interrupted(err: axum::Error) -> Error {
    tracing::warn!(error = %err, "upload interrupted; staged bytes discarded");
    if body_rate::is_too_slow(&err) {
        return Error::BodyTimeout;
    }
    Error::Interrupted
}
