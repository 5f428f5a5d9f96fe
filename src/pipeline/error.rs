//! What an operation on depot's files refuses or fails at. Each kind has a
//! stable `code`: processing records and audit events keep it, and the HTTP
//! layer answers with it (and a status of its choosing). Storage and database
//! errors are given their meaning here, once.

use crate::domain::file_name::FileNameError;
use crate::domain::metadata::MetadataError;
use crate::profile::DatasetError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the session has expired; start a new one")]
    SessionExpired,
    #[error("{0}")]
    InvalidSessionId(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("a file named {0:?} already exists")]
    FileExists(String),
    #[error("{folder} holds {files} files ({bytes} bytes); delete it with recursive=true to delete them all")]
    FolderNotEmpty { folder: String, files: i64, bytes: i64 },
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    QuotaExceeded(crate::pipeline::quota::Exceeded),
    #[error("{0}")]
    InvalidFileName(String),
    #[error("{0}")]
    InvalidMetadata(String),
    #[error("extension not allowed; accepted: {allowed}")]
    ExtensionNotAllowed { allowed: String },
    #[error("{0}")]
    MissingField(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    BadRequest(String),
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
        "the {algorithm} checksum of the request body does not match the one sent with it (Upload-Checksum, Content-MD5 or x-amz-checksum-*); its bytes were discarded"
    )]
    ChecksumMismatch { algorithm: &'static str },
    #[error("not a dataset pandas would read: {0}")]
    InvalidDataset(#[from] DatasetError),
    #[error("the bytes received do not have the declared SHA-256 {declared}; nothing was stored")]
    DigestMismatch { declared: String },
    #[error("storage is full")]
    StorageFull,
    #[error("the storage node is unavailable; nothing was stored, try again shortly")]
    StorageUnavailable,
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error("username {0:?} is taken")]
    UsernameTaken(String),
    #[error("that would leave the deployment without an enabled admin")]
    LastAdmin,
    #[error("{0}")]
    SignupClosed(&'static str),
    #[error("this credential may not do that: it may only read, or it asks for more than it has")]
    InsufficientScope,
    #[error("too many requests ({}: {}); try again in {} s", .0.limit.name(), .0.rate, retry_seconds(.0))]
    RateLimited(crate::pipeline::limits::Standing),
    #[error("the invite is unknown, used or expired; ask an admin for another")]
    InvalidInvite,
    #[error("this link has expired, been used up or been revoked")]
    LinkExpired,
    #[error("this link needs its password (a form field, `?password=` or `X-Link-Password`)")]
    LinkPasswordRequired,
    #[error("wrong password for this link")]
    LinkPasswordWrong,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// The stable code clients, records and audit events name the failure by;
    /// changing one is a breaking change.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::SessionExpired => "session_expired",
            Self::InvalidSessionId(_) => "invalid_session_id",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::FileExists(_) => "file_exists",
            Self::FolderNotEmpty { .. } => "folder_not_empty",
            Self::TooLarge { .. } => "payload_too_large",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::InvalidFileName(_) => "invalid_file_name",
            Self::InvalidMetadata(_) => "invalid_metadata",
            Self::ExtensionNotAllowed { .. } => "extension_not_allowed",
            Self::MissingField(_) => "missing_field",
            Self::Validation(_) => "validation_failed",
            Self::BadRequest(_) => "bad_request",
            Self::Interrupted => "upload_interrupted",
            Self::BodyTimeout => "body_timeout",
            Self::OffsetMismatch { .. } => "offset_mismatch",
            Self::PastUploadLength { .. } => "past_upload_length",
            Self::UploadLocked => "upload_locked",
            Self::UploadExpired => "upload_expired",
            Self::UploadTerminated => "upload_terminated",
            Self::ChecksumMismatch { .. } => "checksum_mismatch",
            Self::InvalidDataset(_) => "invalid_dataset",
            Self::DigestMismatch { .. } => "digest_mismatch",
            Self::StorageFull => "storage_full",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Unavailable(_) => "unavailable",
            Self::UsernameTaken(_) => "username_taken",
            Self::LastAdmin => "last_admin",
            Self::SignupClosed(_) => "signup_closed",
            Self::InsufficientScope => "insufficient_scope",
            Self::RateLimited(_) => "rate_limited",
            Self::InvalidInvite => "invalid_invite",
            Self::LinkExpired => "link_expired",
            Self::LinkPasswordRequired => "link_password_required",
            Self::LinkPasswordWrong => "link_password_wrong",
            Self::Internal(_) => "internal",
        }
    }
}

/// When a refused client may try again, in whole seconds (at least one).
pub fn retry_seconds(refused: &crate::pipeline::limits::Standing) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, at least 1
    let seconds = refused.decision.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    seconds
}

impl From<StorageError> for Error {
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

impl From<sqlx::Error> for Error {
    /// Pool exhaustion and lost connections mean the database is down for this
    /// request; anything else is a bug or corruption.
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

impl From<crate::auth::AuthError> for Error {
    fn from(err: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match err {
            AuthError::Invalid(message) => Self::Validation(message),
            AuthError::Unauthorized(reason) => Self::Validation(reason.to_owned()),
            AuthError::Internal(err) => Self::Internal(err),
        }
    }
}

impl From<FileNameError> for Error {
    fn from(err: FileNameError) -> Self {
        Self::InvalidFileName(err.to_string())
    }
}

impl From<MetadataError> for Error {
    fn from(err: MetadataError) -> Self {
        Self::InvalidMetadata(err.to_string())
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
