//! Resumable uploads over tus 1.0 under `/api/v1/uploads/`: core (`HEAD`,
//! `PATCH`), creation (`POST`, with the first bytes in its body if the client
//! likes: creation-with-upload), termination (`DELETE`), expiration
//! (`Upload-Expires`) and checksum (`Upload-Checksum`, sha1 and sha256).
//! Every request but `OPTIONS` is authenticated and only ever sees the
//! caller's own uploads. The protocol's headers are read and written here;
//! what an upload does is [`resumable`]'s.
//!
//! `Upload-Metadata` keys: `file_name` (the name to store under) or
//! `filename` (what tus clients send), `description`, `session_id`.
//!
//! The same protocol runs under an upload link ([`link_uploads`](super::link_uploads)).

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::db::links::Link;
use crate::domain::{UploadId, UserId};
use crate::http::TUS_VERSION;
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::session_hint::{SessionHint, announce, parse_session};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::links;
use crate::pipeline::resumable::{self, ChecksumAlgorithm, Creation, ExpectedChecksum, Patch, Status};
use crate::pipeline::session::Named;
use crate::pipeline::state::AppState;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Where uploads live; an upload's URL is this plus its id.
const UPLOADS_PATH: &str = "/api/v1/uploads/";
/// Longest accepted `Upload-Metadata`, in bytes.
const MAX_METADATA: usize = 64 * 1024;

/// `OPTIONS`: what this server speaks.
#[utoipa::path(options, path = "/api/v1/uploads/", tag = "resumable", security(()),
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`")))]
pub async fn options(State(state): State<AppState>) -> Response {
    let checksums: Vec<&str> = ChecksumAlgorithm::ALL
        .iter()
        .map(|algorithm| algorithm.name())
        .collect();
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    headers.insert(
        "tus-extension",
        HeaderValue::from_static("creation,creation-with-upload,expiration,termination,checksum"),
    );
    headers.insert("tus-max-size", HeaderValue::from(state.policy.max_upload_bytes));
    if let Ok(value) = HeaderValue::from_str(&checksums.join(",")) {
        headers.insert("tus-checksum-algorithm", value);
    }
    response
}

/// `OPTIONS` on an upload's URL: the same.
#[utoipa::path(options, path = "/api/v1/uploads/{id}", tag = "resumable", security(()), params(("id" = String, Path, format = "uuid")),
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`")))]
pub async fn options_upload(state: State<AppState>) -> Response {
    options(state).await
}

/// `POST`: creates an upload of `Upload-Length` bytes; 201 with its URL. A
/// body of `application/offset+octet-stream` is its first bytes, as if sent by
/// a `PATCH` at offset 0; if they are refused, the error still names the
/// upload's URL, so the client can go on from what was kept.
#[utoipa::path(post, path = "/api/v1/uploads/", tag = "resumable",
    params(("Tus-Resumable" = String, Header), ("Upload-Length" = u64, Header),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename`/`file_name`, `description`, `session_id`, base64")),
    request_body(content = Option<Vec<u8>>, content_type = "application/offset+octet-stream", description = "Optionally, the first bytes"),
    responses((status = 201, description = "Created; `Location` is the upload's URL"),
        (status = 400, description = "A missing or bad header", body = crate::http::openapi::ErrorBody), (status = 412, description = "An unsupported tus version", body = crate::http::openapi::ErrorBody), (status = 413, description = "Larger than the limit", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    hint: SessionHint,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    create_as(&state, Uploader::Own(user, &hint), &audit, &headers, body).await
}

/// Who a tus request uploads as: the caller, in the session its request
/// names; or an upload link's owner, through the link, in a new session.
pub(super) enum Uploader<'a> {
    Own(UserId, &'a SessionHint),
    Link(&'a Link, &'a str),
}

impl Uploader<'_> {
    fn user(&self) -> UserId {
        match self {
            Self::Own(user, _) => *user,
            Self::Link(link, _) => link.owner_id,
        }
    }

    /// Where the uploads it makes live: the upload's URL is this and its id.
    fn uploads_path(&self) -> String {
        match self {
            Self::Own(..) => UPLOADS_PATH.to_owned(),
            Self::Link(_, token) => format!("/u/{token}/uploads/"),
        }
    }
}

/// Creates an upload as `uploader`: `Err` when none was made; an answer
/// otherwise, which may refuse first bytes sent with it.
pub(super) async fn create_as(
    state: &AppState,
    uploader: Uploader<'_>,
    audit: &Audit,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let user = uploader.user();
    require_tus(headers)?;
    if headers.contains_key(UPLOAD_DEFER_LENGTH) {
        return Err(
            Error::BadRequest("Upload-Defer-Length is not supported; send Upload-Length".into()).into(),
        );
    }
    let length = number(headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| Error::BadRequest("Upload-Length is required".into()))?;
    let raw_metadata = text(headers, &UPLOAD_METADATA)?.unwrap_or_default();
    if raw_metadata.len() > MAX_METADATA {
        return Err(Error::Validation(format!("Upload-Metadata is longer than {MAX_METADATA} bytes")).into());
    }
    let metadata = Metadata::parse(&raw_metadata)?;
    let client_name = metadata.get("filename").map(str::to_owned);
    let (named, creation) = match &uploader {
        Uploader::Own(_, hint) => {
            let session_field = match metadata.get("session_id") {
                Some(raw) if !raw.trim().is_empty() => Some(parse_session(raw)?),
                _ => None,
            };
            let creation = Creation {
                user,
                file_name: metadata
                    .get("file_name")
                    .or(metadata.get("filename"))
                    .map(str::to_owned),
                original_name: client_name,
                description: metadata.get("description").unwrap_or_default().to_owned(),
                length,
                metadata: raw_metadata,
                link: None,
                replace: metadata.get("replace") == Some("true"),
                file_metadata: metadata.get("metadata").unwrap_or_default().to_owned(),
            };
            (hint.named(session_field)?, creation)
        }
        Uploader::Link(link, _) => {
            if let Some(most) = link.max_bytes.and_then(|most| u64::try_from(most).ok())
                && length > most
            {
                return Err(Error::TooLarge { limit: most }.into());
            }
            let named = client_name.as_deref().or(metadata.get("file_name"));
            let creation = Creation {
                user,
                file_name: Some(links::stored_name(named, &link.id)?.to_string()),
                original_name: named.map(str::to_owned),
                description: format!("uploaded through link {}", link.id),
                length,
                metadata: raw_metadata,
                link: Some(link.id.clone()),
                replace: false,
                file_metadata: String::new(),
            };
            (Named::Nothing, creation)
        }
    };
    let (mut status, session) = resumable::create(state, named, creation, audit).await?;
    let location = HeaderValue::from_str(&format!("{}{}", uploader.uploads_path(), status.id));
    let carries_bytes = text(headers, &CONTENT_TYPE)?.is_some_and(|value| is_offset_octet_stream(&value));
    let mut response = StatusCode::CREATED.into_response();
    if carries_bytes && status.file.is_none() {
        let appended = match patch_of(headers, 0) {
            Ok(patch) => {
                resumable::append(state, user, status.id, patch, body.into_data_stream(), audit).await
            }
            Err(err) => Err(err),
        };
        match appended {
            Ok(appended) => status = appended,
            Err(err) => response = ApiError::from(err).into_response(),
        }
    }
    let created = response.status() == StatusCode::CREATED;
    let headers = response.headers_mut();
    if let Ok(location) = location {
        headers.insert(LOCATION, location);
    }
    if created {
        progress_headers(headers, &status);
    }
    // A link's holder is no one whose session the owner's is.
    if let Uploader::Own(..) = uploader {
        announce(headers, &session, state.sessions.ttl);
    }
    Ok(response)
}

/// `HEAD`: how many bytes of the upload are stored, durably.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "resumable",
    params(("id" = String, Path, format = "uuid"), ("Tus-Resumable" = String, Header)),
    responses((status = 200, description = "`Upload-Offset`: the durable bytes; `Upload-Length`"),
        (status = 404, description = "No such upload of yours"), (status = 410, description = "Expired")))]
pub async fn head(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    head_as(&state, user, upload_id(&id)?, &headers).await
}

pub(super) async fn head_as(
    state: &AppState,
    user: UserId,
    id: UploadId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    require_tus(headers)?;
    let status = resumable::status(state, user, id).await?;
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    progress_headers(headers, &status);
    headers.insert(UPLOAD_LENGTH, HeaderValue::from(status.length));
    if let Ok(value) = HeaderValue::from_str(&status.metadata)
        && !status.metadata.is_empty()
    {
        headers.insert(UPLOAD_METADATA, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `PATCH`: appends the body at `Upload-Offset`; 204 with the new offset.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "resumable",
    params(("id" = String, Path, format = "uuid"), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1` or `sha256`, base64")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "Appended; `Upload-Offset` is the new durable offset; the last byte stores the file"),
        (status = 404, description = "No such upload of yours", body = crate::http::openapi::ErrorBody), (status = 409, description = "A wrong offset (`offset_mismatch`)", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "Expired", body = crate::http::openapi::ErrorBody), (status = 413, description = "Past `Upload-Length`", body = crate::http::openapi::ErrorBody), (status = 415, description = "Not `application/offset+octet-stream`", body = crate::http::openapi::ErrorBody),
        (status = 423, description = "Another request is writing to it", body = crate::http::openapi::ErrorBody), (status = 460, description = "The checksum does not match", body = crate::http::openapi::ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    patch_as(&state, user, upload_id(&id)?, &headers, body, &audit).await
}

pub(super) async fn patch_as(
    state: &AppState,
    user: UserId,
    id: UploadId,
    headers: &HeaderMap,
    body: Body,
    audit: &Audit,
) -> Result<Response, ApiError> {
    require_tus(headers)?;
    if !text(headers, &CONTENT_TYPE)?.is_some_and(|value| is_offset_octet_stream(&value)) {
        return Err(
            Error::UnsupportedMediaType(format!("a PATCH body must be {OFFSET_OCTET_STREAM}")).into(),
        );
    }
    let offset = number(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| Error::BadRequest("Upload-Offset is required".into()))?;
    let patch = patch_of(headers, offset)?;
    let status = resumable::append(state, user, id, patch, body.into_data_stream(), audit).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    progress_headers(response.headers_mut(), &status);
    Ok(response)
}

/// `DELETE`: removes the upload and its bytes.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "resumable",
    params(("id" = String, Path, format = "uuid"), ("Tus-Resumable" = String, Header)),
    responses((status = 204, description = "Terminated; its bytes are released"), (status = 404, description = "No such upload of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn terminate(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    terminate_as(&state, user, upload_id(&id)?, &headers).await
}

pub(super) async fn terminate_as(
    state: &AppState,
    user: UserId,
    id: UploadId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    require_tus(headers)?;
    resumable::terminate(state, user, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What a request's headers say about the bytes it appends at `offset`.
fn patch_of(headers: &HeaderMap, offset: u64) -> Result<Patch, Error> {
    Ok(Patch {
        offset,
        declared_len: number(headers, &CONTENT_LENGTH)?,
        checksum: text(headers, &UPLOAD_CHECKSUM)?
            .map(|raw| checksum(&raw))
            .transpose()?,
    })
}

fn is_offset_octet_stream(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or_default().trim() == OFFSET_OCTET_STREAM
}

/// Every tus response names the protocol version, errors included.
pub async fn tus_resumable(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    response
}

/// `Upload-Offset`, and `Upload-Expires` while the upload is in progress.
fn progress_headers(headers: &mut HeaderMap, status: &Status) {
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(status.offset));
    if status.file.is_none()
        && let Ok(value) = HeaderValue::from_str(&http_date(status.expires_at))
    {
        headers.insert(UPLOAD_EXPIRES, value);
    }
}

fn http_date(micros: i64) -> String {
    let since_epoch = std::time::Duration::from_micros(u64::try_from(micros).unwrap_or_default());
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + since_epoch)
}

/// Requests must say they speak tus 1.0.0 (412 otherwise).
pub(super) fn require_tus(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(TUS_RESUMABLE).map(HeaderValue::as_bytes) {
        Some(version) if version == TUS_VERSION.as_bytes() => Ok(()),
        Some(version) => Err(ApiError::UnsupportedTusVersion(
            String::from_utf8_lossy(version).chars().take(32).collect(),
        )),
        None => Err(ApiError::UnsupportedTusVersion(String::new())),
    }
}

/// An upload URL's last segment; anything but an id we hand out is no upload.
pub(super) fn upload_id(raw: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(raw).ok_or_else(|| Error::NotFound("upload").into())
}

fn text(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, Error> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map(str::to_owned)
                .map_err(|_| Error::BadRequest(format!("{name} is not ASCII")))
        })
        .transpose()
}

fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, Error> {
    text(headers, name)?
        .map(|value| {
            let valid = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            valid
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| Error::BadRequest(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
fn checksum(raw: &str) -> Result<ExpectedChecksum, Error> {
    let (name, digest) = raw
        .split_once(' ')
        .ok_or_else(|| Error::BadRequest("Upload-Checksum must be `<algorithm> <base64 digest>`".into()))?;
    let algorithm = ChecksumAlgorithm::parse(name).ok_or_else(|| {
        Error::BadRequest(format!(
            "checksum algorithm {name:?} is not supported; use sha1 or sha256"
        ))
    })?;
    let digest = BASE64
        .decode(digest.trim())
        .map_err(|_| Error::BadRequest("the Upload-Checksum digest is not base64".into()))?;
    Ok(ExpectedChecksum { algorithm, digest })
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs; a key may
/// come without a value.
#[derive(Debug, Default)]
struct Metadata(Vec<(String, String)>);

impl Metadata {
    fn parse(raw: &str) -> Result<Self, Error> {
        let mut pairs = Vec::new();
        for pair in raw.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
            let bytes = BASE64
                .decode(value.trim())
                .map_err(|_| Error::BadRequest(format!("Upload-Metadata value of {key:?} is not base64")))?;
            let value = String::from_utf8(bytes)
                .map_err(|_| Error::Validation(format!("Upload-Metadata value of {key:?} is not UTF-8")))?;
            // Text columns (PostgreSQL's) cannot hold a NUL.
            if value.contains('\0') {
                return Err(Error::Validation(format!(
                    "Upload-Metadata value of {key:?} holds a NUL character"
                )));
            }
            pairs.push((key.to_owned(), value));
        }
        Ok(Self(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_decode_and_keys_may_come_alone() {
        let metadata = Metadata::parse("filename ZGF0YS5jc3Y=,is_confidential, description w6kg").unwrap();
        assert_eq!(metadata.get("filename"), Some("data.csv"));
        assert_eq!(metadata.get("is_confidential"), Some(""));
        assert_eq!(metadata.get("description"), Some("é "));
        assert_eq!(metadata.get("file_name"), None);
        assert!(matches!(
            Metadata::parse("filename not*base64"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            Metadata::parse("description YQBi"),
            Err(Error::Validation(_))
        ));
    }

    #[test]
    fn checksums_name_a_supported_algorithm_and_a_base64_digest() {
        let parsed = checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").unwrap();
        assert_eq!(parsed.algorithm, ChecksumAlgorithm::Sha1);
        assert_eq!(parsed.digest.len(), 20);
        assert!(checksum("md5 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").is_err());
        assert!(checksum("sha256").is_err());
        assert!(checksum("sha256 ***").is_err());
    }
}
