//! argon2id password hashes, computed on the blocking pool: a hash takes tens of
//! milliseconds of CPU and must not stall the async workers.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::AuthError;

/// A hash of a random secret, with the same parameters as every stored hash. A
/// login for a username that does not exist is checked against it, so it costs
/// as much time as a wrong password and the timing does not tell which
/// usernames exist.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut secret);
    hash_now(&secret).unwrap_or_default()
});

const MAX_USERNAME_CHARS: usize = 64;
const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

/// Whether `username` is one an account could have: a name that is not is
/// looked up nowhere (a NUL, say, is no text PostgreSQL can compare).
pub fn could_be_username(username: &str) -> bool {
    !username.is_empty()
        && username.chars().count() <= MAX_USERNAME_CHARS
        && !username.chars().any(char::is_control)
}

/// What a new account's username and password must be: 422 otherwise.
pub fn check_new_account(username: &str, password: &str) -> Result<(), AuthError> {
    if !could_be_username(username) {
        return Err(AuthError::Invalid(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} printable characters"
        )));
    }
    check_password(password)
}

/// What a new password must be: 422 otherwise.
pub fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::Invalid(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_now(password.as_bytes())).await?
}

fn hash_now(password: &[u8]) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AuthError::Internal(anyhow::anyhow!("password hashing failed: {err}")))
}

/// Spends the time of a password check for a username that does not exist.
pub async fn verify_decoy(password: String) -> Result<(), AuthError> {
    let decoy = tokio::task::spawn_blocking(|| DECOY.clone()).await?;
    verify(password, decoy).await.map(drop)
}

/// Whether `password` matches `stored`; a malformed stored hash never matches.
pub async fn verify(password: String, stored: String) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(AuthError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_decoy_costs_what_a_stored_hash_costs_and_matches_nothing() {
        let stored = hash("correct horse".into()).await.unwrap();
        let (stored, decoy) = (
            PasswordHash::new(&stored).unwrap(),
            PasswordHash::new(&DECOY).unwrap(),
        );
        assert_eq!(decoy.algorithm, stored.algorithm);
        assert_eq!(
            decoy.params, stored.params,
            "same memory, time and parallelism cost"
        );
        assert!(!verify("".into(), DECOY.clone()).await.unwrap());
        assert!(verify_decoy("correct horse".into()).await.is_ok());
    }
}
