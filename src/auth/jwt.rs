//! HS256 JWTs whose `sub` is the integer user id (seed 2's contract).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::Secret;
use crate::error::AppError;

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 60;

pub type UserId = i64;

/// Signing and verification keys derived from the configured secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    default_ttl: Duration,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(deserialize_with = "user_id_from_string_or_number")]
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    /// Set only on tokens `depot token --admin` mints: they may read the audit trail.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
}

impl Keys {
    pub fn new(secret: &Secret, default_ttl_seconds: u64) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm confusion fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        // `sub` is checked by `Claims` itself: jsonwebtoken only accepts it as a string.
        validation.set_required_spec_claims(&["exp"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            default_ttl: Duration::from_secs(default_ttl_seconds),
        }
    }

    /// Issues a token with the configured default lifetime; `admin` for an admin's account.
    pub fn issue_default(&self, user: UserId, admin: bool) -> Result<String, AppError> {
        self.issue_with(user, self.default_ttl, admin)
            .map_err(|err| AppError::Internal(err.into()))
    }

    pub fn issue(&self, user: UserId, ttl: Duration) -> Result<String, jsonwebtoken::errors::Error> {
        self.issue_with(user, ttl, false)
    }

    /// A token that may also use the admin endpoints when `admin` is set.
    pub fn issue_with(
        &self,
        user: UserId,
        ttl: Duration,
        admin: bool,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user.to_string(),
            iat: Some(now),
            exp: now.saturating_add(ttl.as_secs()),
            admin,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The user a token speaks for, or 401 for anything expired, tampered or malformed.
    pub fn verify(&self, token: &str) -> Result<UserId, AppError> {
        self.verify_claims(token).map(|(user, _)| user)
    }

    /// The user a token speaks for, and whether it is an admin token.
    pub fn verify_claims(&self, token: &str) -> Result<(UserId, bool), AppError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::Unauthorized("invalid or expired token"))?;
        let user = data
            .claims
            .sub
            .parse()
            .map_err(|_| AppError::Unauthorized("token subject is not a user id"))?;
        Ok((user, data.claims.admin))
    }
}

/// Seed 2 tokens carry `sub` as a string of digits; some issuers send an integer.
fn user_id_from_string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sub {
        Text(String),
        Number(i64),
    }
    Ok(match Sub::deserialize(deserializer)? {
        Sub::Text(text) => text,
        Sub::Number(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&Secret::new("0123456789abcdef0123456789abcdef"), 3600)
    }

    #[test]
    fn issued_token_verifies_to_its_user() {
        let keys = keys();
        let token = keys.issue(42, Duration::from_secs(60)).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), 42);
    }

    #[test]
    fn only_tokens_minted_as_admin_say_so() {
        let keys = keys();
        let plain = keys.issue(7, Duration::from_secs(60)).unwrap();
        let admin = keys.issue_with(7, Duration::from_secs(60), true).unwrap();
        assert_eq!(keys.verify_claims(&plain).unwrap(), (7, false));
        assert_eq!(keys.verify_claims(&admin).unwrap(), (7, true));
    }

    #[test]
    fn token_signed_with_another_secret_is_rejected() {
        let other = Keys::new(&Secret::new("another-secret-another-secret-xx"), 3600);
        let token = other.issue(1, Duration::from_secs(60)).unwrap();
        assert!(keys().verify(&token).is_err());
    }
}
