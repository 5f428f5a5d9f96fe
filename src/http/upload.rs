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
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::db::files::FileRecord;
use crate::domain::UserId;
use crate::domain::{FileMetadata, SessionId, content_type};
use crate::http::body_rate;
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::files::{self, parse_name};
use crate::http::session_hint::{SessionHint, announce, parse_session};
use crate::pipeline::Error;
use crate::pipeline::attempt::Announcement;
use crate::pipeline::audit::Audit;
use crate::pipeline::session::Session;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{Upload, UploadMeta};
use crate::profile::Format;

/// RFC 3986 unreserved characters stay as they are in a `Location` path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest accepted text form field, `X-Description` or `X-Metadata` header, in bytes.
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// Room for the multipart framing and text fields around the file part.
pub(super) const MULTIPART_OVERHEAD: u64 = 1024 * 1024;

/// `?replace=true`: the upload takes the place of the caller's file of the
/// same name, if there is one, in the transaction that stores it; without
/// it, a taken name is refused with 409 `file_exists`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplaceParam {
    /// Replace a file of the same name (its shares and links end with it).
    #[serde(default)]
    replace: bool,
}

fn replace_param(query: Result<Query<ReplaceParam>, QueryRejection>) -> Result<bool, Error> {
    query
        .map(|Query(param)| param.replace)
        .map_err(|rejection| Error::Validation(rejection.body_text()))
}

/// `POST /api/v1/files/` with fields `file_name`, `session_id`, `description`, `file`
/// in any order. When `file_name` comes before `file`, a doomed upload is refused
/// before its bytes are read.
#[utoipa::path(post, path = "/api/v1/files/", tag = "files", params(ReplaceParam),
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
    replace: Result<Query<ReplaceParam>, QueryRejection>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let form = FormUpload::new(&state, user, audit, hint, Naming::Field);
    let (session, stored) = form.store(replace, &headers, multipart).await;
    let answer = match stored {
        Ok(record) => Ok(created(&state, record).await),
        Err(err) => Err(err),
    };
    in_session(&state, session.as_ref(), answer)
}

/// `PUT /api/v1/files/{file_name}/content`; `X-Description` and `X-Metadata`
/// optionally set the description and the metadata.
#[utoipa::path(put, path = "/api/v1/files/{file_name}/content", tag = "files",
    params(("file_name" = String, Path, description = "The name to store it under"),
        ("X-Description" = Option<String>, Header, description = "The file's description"),
        ("X-Metadata" = Option<String>, Header, description = "The file's metadata: a JSON object (UTF-8)"),
        ("X-Session-Id" = Option<String>, Header, description = "The session the upload works in"),
        ReplaceParam),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Stored", body = crate::http::files::FileView),
        (status = 409, description = "The name is taken (`file_exists`)", body = crate::http::openapi::ErrorBody), (status = 408, description = "The body arrived too slowly and was cut (`body_timeout`); nothing was kept", body = crate::http::openapi::ErrorBody), (status = 413, description = "Larger than the limit", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad name or metadata (`invalid_metadata`), or a dataset pandas would refuse", body = crate::http::openapi::ErrorBody)))]
#[allow(
    clippy::too_many_arguments,
    reason = "an axum handler: one argument per extractor"
)]
pub async fn raw(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    hint: SessionHint,
    Path(file_name): Path<String>,
    replace: Result<Query<ReplaceParam>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let announced = Announcement {
        client_name: file_name.clone(),
        stored_name: file_name.clone(),
        declared_size: declared_length(&headers).unwrap_or(0),
        content_type: content_type::detect(&[], &file_name),
    };
    let begun = match hint.named(None) {
        Ok(named) => Upload::begin(&state, user, named, announced, audit).await,
        Err(err) => Err(err),
    };
    let (mut upload, session) = match begun {
        Ok(begun) => begun,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let received = match replace_param(replace) {
        Ok(replace) => receive_raw(&mut upload, &state, &file_name, replace, &headers, body).await,
        Err(err) => Err(err),
    };
    let answer = match upload.end(received).await {
        Ok(record) => Ok(created(&state, record).await),
        Err(err) => Err(err),
    };
    in_session(&state, Some(&session), answer)
}

/// A text header of a raw upload, empty when absent.
fn header_text(headers: &HeaderMap, name: &str) -> Result<String, Error> {
    match headers.get(name.to_ascii_lowercase()) {
        Some(value) if value.len() > MAX_TEXT_FIELD => Err(Error::Validation(format!(
            "{name} is longer than {MAX_TEXT_FIELD} bytes"
        ))),
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map(str::to_owned)
            .map_err(|_| Error::Validation(format!("{name} is not UTF-8"))),
        None => Ok(String::new()),
    }
}

/// Reads a raw body into the upload: what to store it as.
async fn receive_raw(
    upload: &mut Upload<'_>,
    state: &AppState,
    file_name: &str,
    replace: bool,
    headers: &HeaderMap,
    body: Body,
) -> Result<UploadMeta, Error> {
    refuse_oversized(
        headers,
        state.policy.max_upload_bytes,
        state.policy.max_upload_bytes,
    )?;
    let description = header_text(headers, "X-Description")?;
    let metadata = FileMetadata::parse(&header_text(headers, "X-Metadata")?)?;
    let meta = meta(upload.user(), file_name, None, description, metadata, replace)?;
    upload.expect_file_bytes(declared_length(headers));
    upload.check(&meta).await?;

    let declared_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    upload.open_body(Format::detect(file_name, declared_type)).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        upload.push(chunk.map_err(interrupted)?).await?;
    }
    Ok(meta)
}

/// Where a form's file gets its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Naming {
    /// The `file_name` field (seed 2's form).
    Field,
    /// The `file_name` field if there is one, else the file part's own
    /// filename (seed 3's form: only `file`).
    FieldOrPart,
}

impl Naming {
    /// The name to store the file as, once known.
    fn name<'n>(self, field: Option<&'n str>, part: Option<&'n str>) -> Option<&'n str> {
        match self {
            Naming::Field => field,
            Naming::FieldOrPart => field.or(part).filter(|name| !name.is_empty()),
        }
    }
}

/// One multipart request as its parts arrive.
pub(super) struct FormUpload<'a> {
    state: &'a AppState,
    user: UserId,
    audit: Audit,
    hint: SessionHint,
    naming: Naming,
    /// The form's `session_id`, once read.
    session_field: Option<SessionId>,
    /// The upload and the session it works in, from the moment that is known.
    upload: Option<(Upload<'a>, Session)>,
}

impl<'a> FormUpload<'a> {
    pub(super) fn new(
        state: &'a AppState,
        user: UserId,
        audit: Audit,
        hint: SessionHint,
        naming: Naming,
    ) -> Self {
        Self {
            state,
            user,
            audit,
            hint,
            naming,
            session_field: None,
            upload: None,
        }
    }

    /// Reads the form and stores its file: the file, or why not, and the
    /// session the upload worked in (none when the request named a bad one).
    pub(super) async fn store(
        mut self,
        replace: Result<Query<ReplaceParam>, QueryRejection>,
        headers: &HeaderMap,
        multipart: Result<Multipart, MultipartRejection>,
    ) -> (Option<Session>, Result<FileRecord, Error>) {
        let outcome = match replace_param(replace) {
            Ok(replace) => self.receive(headers, multipart, replace).await,
            Err(err) => Err(err),
        };
        self.finish(outcome).await
    }

    /// Reads the form: what to store its file as.
    async fn receive(
        &mut self,
        headers: &HeaderMap,
        multipart: Result<Multipart, MultipartRejection>,
        replace: bool,
    ) -> Result<UploadMeta, Error> {
        let limit = self.state.policy.max_upload_bytes;
        refuse_oversized(headers, limit.saturating_add(MULTIPART_OVERHEAD), limit)?;
        let mut multipart =
            multipart.map_err(|rejection| Error::UnsupportedMediaType(rejection.body_text()))?;

        let mut file_name = None;
        let mut description = String::new();
        let mut metadata = FileMetadata::default();
        let mut original_name = None;
        let mut has_file = false;
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            match field.name().unwrap_or_default() {
                "file_name" => file_name = Some(read_text(field).await?),
                "description" => description = read_text(field).await?,
                "metadata" => metadata = FileMetadata::parse(&read_text(field).await?)?,
                "session_id" => {
                    // A blank field (a form without a session) names none.
                    let text = read_text(field).await?;
                    if !text.trim().is_empty() {
                        self.session_field = Some(parse_session(&text)?);
                    }
                }
                "file" => {
                    original_name = field.file_name().map(str::to_owned);
                    self.begin(file_name.as_deref(), original_name.as_deref()).await?;
                    let known = self.naming.name(file_name.as_deref(), original_name.as_deref());
                    let upload = self.upload_mut()?;
                    // A name given before the file refuses a doomed upload
                    // before its bytes are read.
                    if let Some(name) = known {
                        let meta = meta(
                            upload.user(),
                            name,
                            original_name.clone(),
                            String::new(),
                            FileMetadata::default(),
                            replace,
                        )?;
                        upload.check(&meta).await?;
                    }
                    // The part's own name, else the form's `file_name`, says what it is.
                    let named = original_name
                        .as_deref()
                        .or(file_name.as_deref())
                        .unwrap_or_default();
                    let format = Format::detect(named, field.content_type().unwrap_or_default());
                    upload.expect_request_bytes(declared_length(headers));
                    upload.open_body(format).await?;
                    read_file(upload, field).await?;
                    has_file = true;
                }
                _ => drain(field).await?,
            }
        }

        let file_name = self
            .naming
            .name(file_name.as_deref(), original_name.as_deref())
            .map(str::to_owned)
            .ok_or_else(|| Error::MissingField("form field `file_name` is required".into()))?;
        if !has_file {
            return Err(Error::MissingField("form field `file` is required".into()));
        }
        // A `session_id` that came after the file part moves the upload there.
        if let Some(field) = self.session_field
            && let Some((upload, session)) = &mut self.upload
            && let Some(moved) = upload.move_to(field).await?
        {
            *session = moved;
        }
        meta(
            self.user,
            &file_name,
            original_name,
            description,
            metadata,
            replace,
        )
    }

    /// Begins the upload, once, in the session known so far.
    async fn begin(&mut self, file_name: Option<&str>, original_name: Option<&str>) -> Result<(), Error> {
        if self.upload.is_none() {
            let filename = original_name.or(file_name).unwrap_or_default();
            let announced = Announcement {
                client_name: filename.to_owned(),
                stored_name: file_name.unwrap_or_default().to_owned(),
                declared_size: 0,
                content_type: content_type::detect(&[], filename),
            };
            let named = self.hint.named(self.session_field)?;
            let begun = Upload::begin(self.state, self.user, named, announced, self.audit.clone()).await?;
            self.upload = Some(begun);
        }
        Ok(())
    }

    fn upload_mut(&mut self) -> Result<&mut Upload<'a>, Error> {
        self.upload
            .as_mut()
            .map(|(upload, _)| upload)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("upload not begun")))
    }

    /// Stores the file or records why not — beginning the upload now if the
    /// request failed before its file part.
    async fn finish(
        mut self,
        outcome: Result<UploadMeta, Error>,
    ) -> (Option<Session>, Result<FileRecord, Error>) {
        if self.upload.is_none()
            && let Err(err) = self.begin(None, None).await
        {
            // No session to record the attempt in (a bad or foreign session id).
            return (None, Err(outcome.err().unwrap_or(err)));
        }
        let Some((upload, session)) = self.upload else {
            return (None, Err(Error::Internal(anyhow::anyhow!("upload not begun"))));
        };
        let stored = upload.end(outcome).await;
        (Some(session), stored)
    }
}

fn meta(
    user: UserId,
    file_name: &str,
    original_name: Option<String>,
    description: String,
    metadata: FileMetadata,
    replace: bool,
) -> Result<UploadMeta, Error> {
    Ok(UploadMeta {
        user,
        file_name: parse_name(file_name)?,
        original_name,
        description,
        metadata,
        replace,
    })
}

/// The answer, or the error, naming the session the upload worked in.
pub(super) fn in_session(
    state: &AppState,
    session: Option<&Session>,
    answer: Result<Response, Error>,
) -> Response {
    let mut response = answer.unwrap_or_else(|err| ApiError::from(err).into_response());
    if let Some(session) = session {
        announce(response.headers_mut(), session, state.sessions.ttl);
    }
    response
}

/// 201 with the file's metadata and where to fetch it.
async fn created(state: &AppState, record: FileRecord) -> Response {
    let location = location_of(&record);
    created_at(&location, files::view(state, record).await)
}

/// Where the file's metadata is: `/api/v1/files/{file_name}`.
pub(super) fn location_of(record: &FileRecord) -> String {
    format!(
        "/api/v1/files/{}",
        utf8_percent_encode(&record.file_name, PATH_SEGMENT)
    )
}

/// 201 with `body`, and `Location: location`.
pub(super) fn created_at(location: &str, body: impl serde::Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
}

/// A declared `Content-Length` over the limit is refused before any byte is read.
pub(super) fn refuse_oversized(headers: &HeaderMap, max_body: u64, limit: u64) -> Result<(), Error> {
    match declared_length(headers) {
        Some(length) if length > max_body => Err(Error::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Streams the form's file part into the upload.
pub(super) async fn read_file(upload: &mut Upload<'_>, mut field: Field<'_>) -> Result<(), Error> {
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        upload.push(chunk).await?;
    }
    Ok(())
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
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Validation(format!("form field `{name}` is not UTF-8")))?;
    // Text columns (PostgreSQL's) cannot hold a NUL.
    if text.contains('\0') {
        return Err(Error::Validation(format!(
            "form field `{name}` holds a NUL character"
        )));
    }
    Ok(text)
}

pub(super) async fn drain(mut field: Field<'_>) -> Result<(), Error> {
    while field.chunk().await.map_err(multipart_error)?.is_some() {}
    Ok(())
}

/// A malformed form and a form whose body stopped arriving look alike to the
/// parser; both are the client's (400), and both discard the staged bytes. A
/// body cut for arriving too slowly is told apart (408).
pub(super) fn multipart_error(err: MultipartError) -> Error {
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
