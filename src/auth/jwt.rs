//! HS256 JWTs whose `sub` is the integer user id (seed 2's contract), and the
//! key of link tokens derived from the same secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};

use super::AuthError;
use super::link::LinkTokens;
use super::s3_keys::S3Secrets;
use crate::config::Secret;
use crate::domain::UserId;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 60;

/// Signing and verification keys derived from the configured secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    default_ttl: Duration,
    links: LinkTokens,
    s3: S3Secrets,
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
    /// Set on an admin's tokens and on those `depot token --admin` mints:
    /// they open the admin routes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
    /// The account's token generation when depot issued it; signing out
    /// moves the generation on and so revokes the token. Tokens minted
    /// elsewhere with the shared secret have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r#gen: Option<i64>,
}

/// What a valid bearer token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub user: UserId,
    pub admin: bool,
    /// The account's token generation it was issued in, if depot issued it.
    pub generation: Option<i64>,
}

impl Keys {
    pub fn new(secret: &Secret, default_ttl_seconds: u64) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm confusion fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        // A token that is not valid yet is refused like an expired one.
        validation.validate_nbf = true;
        // `sub` is checked by `Claims` itself: jsonwebtoken only accepts it as a string.
        validation.set_required_spec_claims(&["exp"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            default_ttl: Duration::from_secs(default_ttl_seconds),
            links: LinkTokens::derive(secret.expose().as_bytes()),
            s3: S3Secrets::derive(secret.expose().as_bytes()),
        }
    }

    /// The key of API keys' S3 secrets, derived from the same secret.
    pub fn s3(&self) -> &S3Secrets {
        &self.s3
    }

    /// The key of link tokens, derived from the same secret.
    pub fn links(&self) -> &LinkTokens {
        &self.links
    }

    /// Issues a token with the configured default lifetime in the account's
    /// token `generation`; `admin` for an admin's account.
    pub fn issue_default(&self, user: UserId, admin: bool, generation: i64) -> Result<String, AuthError> {
        self.encode(user, self.default_ttl, admin, Some(generation))
            .map_err(AuthError::from)
    }

    pub fn issue(&self, user: UserId, ttl: Duration) -> Result<String, jsonwebtoken::errors::Error> {
        self.issue_with(user, ttl, false)
    }

    /// A token that may also use the admin endpoints when `admin` is set, as
    /// an external auth service with the shared secret would mint it: in no
    /// token generation, so signing out does not revoke it.
    pub fn issue_with(
        &self,
        user: UserId,
        ttl: Duration,
        admin: bool,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.encode(user, ttl, admin, None)
    }

    fn encode(
        &self,
        user: UserId,
        ttl: Duration,
        admin: bool,
        generation: Option<i64>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now();
        let claims = Claims {
            sub: user.to_string(),
            iat: Some(now),
            exp: now.saturating_add(ttl.as_secs()),
            admin,
            r#gen: generation,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The user a token speaks for, or 401 for anything expired, tampered or malformed.
    pub fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        self.verify_claims(token).map(|claims| claims.user)
    }

    /// What a token says: its user, whether it is an admin token, and its generation.
    pub fn verify_claims(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::Unauthorized("invalid or expired token"))?;
        if data
            .claims
            .iat
            .is_some_and(|iat| iat > now().saturating_add(LEEWAY_SECONDS))
        {
            return Err(AuthError::Unauthorized("invalid or expired token"));
        }
        let user = data
            .claims
            .sub
            .parse()
            .map_err(|_| AuthError::Unauthorized("token subject is not a user id"))?;
        Ok(TokenClaims {
            user,
            admin: data.claims.admin,
            generation: data.claims.r#gen,
        })
    }
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
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
        let token = keys.issue(UserId::new(42), Duration::from_secs(60)).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), UserId::new(42));
    }

    #[test]
    fn only_tokens_minted_as_admin_say_so() {
        let keys = keys();
        let plain = keys.issue(UserId::new(7), Duration::from_secs(60)).unwrap();
        let admin = keys
            .issue_with(UserId::new(7), Duration::from_secs(60), true)
            .unwrap();
        assert!(!keys.verify_claims(&plain).unwrap().admin);
        assert!(keys.verify_claims(&admin).unwrap().admin);
    }

    #[test]
    fn issued_tokens_carry_their_generation_and_minted_ones_none() {
        let keys = keys();
        let issued = keys.issue_default(UserId::new(7), false, 3).unwrap();
        let minted = keys.issue(UserId::new(7), Duration::from_secs(60)).unwrap();
        assert_eq!(keys.verify_claims(&issued).unwrap().generation, Some(3));
        assert_eq!(keys.verify_claims(&minted).unwrap().generation, None);
    }

    #[test]
    fn token_signed_with_another_secret_is_rejected() {
        let other = Keys::new(&Secret::new("another-secret-another-secret-xx"), 3600);
        let token = other.issue(UserId::new(1), Duration::from_secs(60)).unwrap();
        assert!(keys().verify(&token).is_err());
    }
}
