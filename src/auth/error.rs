//! What authentication refuses, and why it could not answer.

/// An authentication failure. The HTTP layer answers [`AuthError::Unauthorized`]
/// with 401, [`AuthError::Invalid`] with 422 and [`AuthError::Internal`] with 500.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A token or link that is missing, expired, tampered or malformed.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A new account's username or password that breaks the rules.
    #[error("{0}")]
    Invalid(String),
    #[error("authentication failed")]
    Internal(#[source] anyhow::Error),
}

impl From<tokio::task::JoinError> for AuthError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<jsonwebtoken::errors::Error> for AuthError {
    fn from(err: jsonwebtoken::errors::Error) -> Self {
        Self::Internal(err.into())
    }
}
