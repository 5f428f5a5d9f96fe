//! The one error type of the HTTP surface: the pipeline's [`Error`] and what
//! only HTTP refuses, each with its status and stable `code`. Internal details
//! are logged here, once, and never sent to the client.

use axum::Json;
use axum::http::header::{CONTENT_RANGE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::openapi::{ErrorBody, ErrorDetail};
use crate::auth::AuthError;
use crate::pipeline::Error;

/// tus' status for a body whose `Upload-Checksum` does not match.
const CHECKSUM_MISMATCH: StatusCode = match StatusCode::from_u16(460) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Pipeline(#[from] Error),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("not a CID: {0}")]
    InvalidCid(String),
    #[error("unsupported tus version {0:?}; this server speaks 1.0.0")]
    UnsupportedTusVersion(String),
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}; try again when it has finished")]
    JobRunning(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Pipeline(err) => status_of(err),
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::JobRunning(_) => StatusCode::CONFLICT,
            Self::UnsupportedTusVersion(_) => StatusCode::PRECONDITION_FAILED,
            Self::InvalidCid(_) => StatusCode::BAD_REQUEST,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }

    /// The stable code clients match on; changing one is a breaking change.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Pipeline(err) => err.code(),
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidCid(_) => "invalid_cid",
            Self::UnsupportedTusVersion(_) => "unsupported_tus_version",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::JobRunning(_) => "job_running",
        }
    }
}

/// The status a pipeline failure is answered with.
fn status_of(err: &Error) -> StatusCode {
    match err {
        Error::NotFound(_) | Error::SessionExpired => StatusCode::NOT_FOUND,
        Error::FileExists(_)
        | Error::FolderNotEmpty { .. }
        | Error::OffsetMismatch { .. }
        | Error::UsernameTaken(_)
        | Error::LastAdmin => StatusCode::CONFLICT,
        Error::UploadLocked => StatusCode::LOCKED,
        Error::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        Error::UploadExpired | Error::UploadTerminated | Error::LinkExpired => StatusCode::GONE,
        Error::LinkPasswordRequired | Error::LinkPasswordWrong => StatusCode::UNAUTHORIZED,
        Error::ChecksumMismatch { .. } => CHECKSUM_MISMATCH,
        Error::TooLarge { .. } | Error::PastUploadLength { .. } | Error::QuotaExceeded(_) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Error::InvalidFileName(_)
        | Error::InvalidMetadata(_)
        | Error::InvalidSessionId(_)
        | Error::ExtensionNotAllowed { .. }
        | Error::InvalidDataset(_)
        | Error::DigestMismatch { .. }
        | Error::MissingField(_)
        | Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::BadRequest(_) | Error::Interrupted => StatusCode::BAD_REQUEST,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        Error::SignupClosed(_) | Error::InvalidInvite | Error::InsufficientScope => StatusCode::FORBIDDEN,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) | Error::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The code of an error answer, kept with the response for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Pipeline(Error::Internal(err)) = &self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) | Self::InvalidCredentials => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Pipeline(Error::LinkPasswordRequired | Error::LinkPasswordWrong) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("X-Link-Password"));
            }
            Self::UnsupportedTusVersion(_) => {
                headers.insert("tus-version", HeaderValue::from_static(super::TUS_VERSION));
            }
            Self::Pipeline(Error::RateLimited(refused)) => super::limits::tell(headers, &refused),
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

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthorized(reason) => Self::Unauthorized(reason),
            AuthError::Invalid(message) => Self::Pipeline(Error::Validation(message)),
            AuthError::Internal(err) => Self::Pipeline(Error::Internal(err)),
        }
    }
}

/// Every error the pipeline converts from converts to an answer the same way.
macro_rules! through_the_pipeline {
    ($($source:ty),*) => {$(
        impl From<$source> for ApiError {
            fn from(err: $source) -> Self {
                Self::Pipeline(err.into())
            }
        }
    )*};
}

through_the_pipeline!(
    crate::storage::StorageError,
    sqlx::Error,
    crate::domain::file_name::FileNameError,
    crate::profile::DatasetError,
    std::convert::Infallible
);

/// A response that could not be built (a header value out of range) is a bug.
impl From<axum::http::Error> for ApiError {
    fn from(err: axum::http::Error) -> Self {
        Self::Pipeline(Error::Internal(err.into()))
    }
}
