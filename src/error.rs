//! The one error type of the HTTP surface. Every variant has a stable machine-readable
//! `code`; internal details are logged here, once, and never sent to the client.

use axum::Json;
use axum::http::header::{CONTENT_RANGE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::openapi::{ErrorBody, ErrorDetail};
use crate::storage::StorageError;

/// tus' status for a body whose `Upload-Checksum` does not match.
const CHECKSUM_MISMATCH: StatusCode = match StatusCode::from_u16(460) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the session has expired; start a new one")]
    SessionExpired,
    #[error("{0}")]
    InvalidSessionId(String),
    #[error("a file named {0:?} already exists")]
    FileExists(String),
    #[error("username {0:?} is taken")]
    UsernameTaken(String),
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    InvalidFileName(String),
    #[error("extension not allowed; accepted: {allowed}")]
    ExtensionNotAllowed { allowed: String },
    #[error("{0}")]
    MissingField(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("not a CID: {0}")]
    InvalidCid(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the upload was interrupted before it completed")]
    Interrupted,
    #[error("the request body arrived too slowly and was cut off; nothing was kept")]
    BodyTimeout,
    #[error("the upload is at offset {expected}, not {given}")]
    OffsetMismatch { expected: u64, given: u64 },
    #[error("the body goes past the upload's Upload-Length of {length} bytes; none of it was kept")]
    PastUploadLength { length: u64 },
    #[error("another request is writing to this upload; retry when it has finished")]
    UploadLocked,
    #[error("the upload has expired")]
    UploadExpired,
    #[error("the upload was terminated by its owner")]
    UploadTerminated,
    #[error(
        "the {algorithm} checksum of the request body does not match Upload-Checksum; its bytes were discarded"
    )]
    ChecksumMismatch { algorithm: &'static str },
    #[error("unsupported tus version {0:?}; this server speaks 1.0.0")]
    UnsupportedTusVersion(String),
    #[error("not a dataset pandas would read: {0}")]
    InvalidDataset(#[from] crate::profile::DatasetError),
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("storage is full")]
    StorageFull,
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error("the storage node is unavailable; nothing was stored, try again shortly")]
    StorageUnavailable,
    #[error("the bytes received do not have the declared SHA-256 {declared}; nothing was stored")]
    DigestMismatch { declared: String },
    #[error("{0}; try again when it has finished")]
    JobRunning(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<crate::domain::file_name::FileNameError> for AppError {
    fn from(err: crate::domain::file_name::FileNameError) -> Self {
        Self::InvalidFileName(err.to_string())
    }
}

impl From<std::convert::Infallible> for AppError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) | Self::SessionExpired => StatusCode::NOT_FOUND,
            Self::FileExists(_)
            | Self::UsernameTaken(_)
            | Self::OffsetMismatch { .. }
            | Self::JobRunning(_) => StatusCode::CONFLICT,
            Self::UploadLocked => StatusCode::LOCKED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UploadExpired | Self::UploadTerminated => StatusCode::GONE,
            Self::ChecksumMismatch { .. } => CHECKSUM_MISMATCH,
            Self::UnsupportedTusVersion(_) => StatusCode::PRECONDITION_FAILED,
            Self::TooLarge { .. } | Self::PastUploadLength { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidFileName(_)
            | Self::ExtensionNotAllowed { .. }
            | Self::InvalidSessionId(_)
            | Self::InvalidDataset(_)
            | Self::DigestMismatch { .. }
            | Self::MissingField(_)
            | Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) | Self::Interrupted | Self::InvalidCid(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Unavailable(_) | Self::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on; changing one is a breaking change.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::NotFound(_) => "not_found",
            Self::SessionExpired => "session_expired",
            Self::InvalidSessionId(_) => "invalid_session_id",
            Self::FileExists(_) => "file_exists",
            Self::UsernameTaken(_) => "username_taken",
            Self::TooLarge { .. } => "payload_too_large",
            Self::InvalidFileName(_) => "invalid_file_name",
            Self::ExtensionNotAllowed { .. } => "extension_not_allowed",
            Self::MissingField(_) => "missing_field",
            Self::Validation(_) => "validation_failed",
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Interrupted => "upload_interrupted",
            Self::BodyTimeout => "body_timeout",
            Self::OffsetMismatch { .. } => "offset_mismatch",
            Self::PastUploadLength { .. } => "past_upload_length",
            Self::UploadLocked => "upload_locked",
            Self::UploadExpired => "upload_expired",
            Self::UploadTerminated => "upload_terminated",
            Self::ChecksumMismatch { .. } => "checksum_mismatch",
            Self::UnsupportedTusVersion(_) => "unsupported_tus_version",
            Self::InvalidDataset(_) => "invalid_dataset",
            Self::InvalidCid(_) => "invalid_cid",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::StorageFull => "storage_full",
            Self::Unavailable(_) => "unavailable",
            Self::StorageUnavailable => "storage_unavailable",
            Self::DigestMismatch { .. } => "digest_mismatch",
            Self::JobRunning(_) => "job_running",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) | Self::InvalidCredentials => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::UnsupportedTusVersion(_) => {
                headers.insert("tus-version", HeaderValue::from_static(crate::http::TUS_VERSION));
            }
            Self::RangeNotSatisfiable { size } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<StorageError> for AppError {
    fn from(err: StorageError) -> Self {
        crate::metrics::blob_store_error(err.kind());
        match err {
            StorageError::NotFound => Self::NotFound("blob"),
            StorageError::Full => Self::StorageFull,
            StorageError::Unavailable(reason) => {
                tracing::warn!(%reason, "storage node unavailable");
                Self::StorageUnavailable
            }
            StorageError::Io(err) => Self::Internal(err.into()),
        }
    }
}

impl From<sqlx::Error> for AppError {
    /// Pool exhaustion and lost connections mean the database is down for this
    /// request (503); anything else is a bug or corruption (500).
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable("database")
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// Whether a database error is a unique-constraint violation (duplicate name).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| db.is_unique_violation())
}
