//! depot's failures as S3 errors: the code an S3 client acts on, with
//! depot's own message.

use s3s::{S3Error, S3ErrorCode};

use crate::pipeline::Error;

/// The S3 error for a failure of depot's workflow.
pub(super) fn from_pipeline(err: Error) -> S3Error {
    let message = err.to_string();
    let code = match &err {
        Error::NotFound(_) => S3ErrorCode::NoSuchKey,
        Error::FileExists(_) => S3ErrorCode::PreconditionFailed,
        Error::TooLarge { .. } | Error::PastUploadLength { .. } => S3ErrorCode::EntityTooLarge,
        Error::QuotaExceeded(_) => custom("QuotaExceeded"),
        Error::InvalidFileName(_) => S3ErrorCode::InvalidArgument,
        Error::InvalidMetadata(_) => S3ErrorCode::InvalidArgument,
        Error::ExtensionNotAllowed { .. } | Error::InvalidDataset(_) | Error::UnsupportedMediaType(_) => {
            S3ErrorCode::InvalidArgument
        }
        Error::Validation(_) | Error::BadRequest(_) | Error::MissingField(_) => S3ErrorCode::InvalidRequest,
        Error::ChecksumMismatch { .. } | Error::DigestMismatch { .. } => S3ErrorCode::BadDigest,
        Error::Interrupted => S3ErrorCode::IncompleteBody,
        Error::BodyTimeout => S3ErrorCode::RequestTimeout,
        Error::StorageFull => custom("StorageFull"),
        Error::StorageUnavailable | Error::Unavailable(_) => S3ErrorCode::ServiceUnavailable,
        Error::RateLimited(_) => S3ErrorCode::SlowDown,
        Error::InsufficientScope => S3ErrorCode::AccessDenied,
        Error::Internal(source) => {
            tracing::error!(error = ?source, "an S3 operation failed");
            S3ErrorCode::InternalError
        }
        _ => S3ErrorCode::InvalidRequest,
    };
    let status = match &err {
        Error::QuotaExceeded(_) => Some(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
        Error::StorageFull => Some(axum::http::StatusCode::INSUFFICIENT_STORAGE),
        Error::InvalidDataset(_) | Error::InvalidFileName(_) | Error::InvalidMetadata(_) => {
            Some(axum::http::StatusCode::BAD_REQUEST)
        }
        _ => None,
    };
    let mut s3 = S3Error::with_message(code, message);
    if let Some(status) = status {
        s3.set_status_code(status);
    }
    s3
}

/// A code S3 does not define, for a refusal S3 has no word for.
fn custom(code: &str) -> S3ErrorCode {
    S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::InternalError)
}

/// A database failure as the workflow would see it.
pub(super) fn from_db(err: sqlx::Error) -> S3Error {
    from_pipeline(err.into())
}
