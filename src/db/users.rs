//! Accounts for the built-in register/login endpoints.

use sqlx::AnyPool;

use crate::auth::UserId;
use crate::domain::timestamp::now_micros;

/// Creates a user; a taken username surfaces as a unique violation.
pub async fn create(pool: &AnyPool, username: &str, password_hash: &str) -> Result<UserId, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_micros())
    .fetch_one(pool)
    .await
}

/// The id and password hash of `username`, if it exists.
pub async fn find_credentials(
    pool: &AnyPool,
    username: &str,
) -> Result<Option<(UserId, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
}
