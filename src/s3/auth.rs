//! Who signs an S3 request: an API key, by its access key id. s3s checks the
//! SigV4 (or presigned URL) signature against the secret this returns;
//! a revoked or expired key, or a disabled account, has none.

use s3s::auth::{S3Auth, SecretKey};
use s3s::validation::NameValidation;
use s3s::{S3Result, s3_error};

use crate::auth::AuthError;
use crate::auth::s3_keys;
use crate::pipeline::state::AppState;

#[derive(Debug)]
pub(super) struct KeyAuth {
    state: AppState,
}

impl KeyAuth {
    pub(super) fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if !s3_keys::is_access_key_id(access_key) {
            return Err(s3_error!(InvalidAccessKeyId, "not an access key id depot made"));
        }
        match self.state.credentials.resolve_access_key(access_key).await {
            Ok(_) => Ok(SecretKey::from(self.state.keys.s3().secret_for(access_key))),
            Err(AuthError::Unauthorized(reason)) => Err(s3_error!(InvalidAccessKeyId, "{reason}")),
            Err(err) => {
                tracing::warn!(error = %err, "an S3 access key could not be checked");
                Err(s3_error!(ServiceUnavailable, "credentials cannot be checked now"))
            }
        }
    }
}

/// Bucket names are usernames: what depot accepts as one (1 to 64
/// printable characters), not only S3's DNS-style names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Usernames;

impl NameValidation for Usernames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty() && name.chars().count() <= 64 && !name.chars().any(|c| c.is_control() || c == '/')
    }
}
