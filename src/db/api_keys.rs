//! API keys: made, listed and revoked by their owner, found by the digest
//! of the secret a request presents.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::UserId;

/// A key as its owner sees it: never its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A key as a request's authentication needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    pub id: i64,
    pub user_id: UserId,
    pub scope: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A key to be stored.
#[derive(Debug)]
pub struct NewKey<'a> {
    pub user: UserId,
    pub name: &'a str,
    pub scope: &'a str,
    pub secret_sha256: &'a str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str = "id, name, scope, created_at, expires_at, last_used_at";

pub async fn insert(conn: &mut AnyConnection, key: &NewKey<'_>) -> Result<ApiKey, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO api_keys (user_id, name, scope, secret_sha256, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(key.user)
    .bind(key.name)
    .bind(key.scope)
    .bind(key.secret_sha256)
    .bind(key.created_at)
    .bind(key.expires_at)
    .fetch_one(conn)
    .await
}

/// `user`'s keys, oldest first.
pub async fn list(pool: &AnyPool, user: UserId) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user)
    .fetch_all(pool)
    .await
}

/// Removes `user`'s key `id`; returns its name and the digest of its
/// secret, or `None` if they have no such key.
pub async fn revoke(
    conn: &mut AnyConnection,
    user: UserId,
    id: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("DELETE FROM api_keys WHERE user_id = $1 AND id = $2 RETURNING name, secret_sha256")
        .bind(user)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The key whose secret has this digest, if there is one.
pub async fn find(pool: &AnyPool, secret_sha256: &str) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, scope, expires_at, last_used_at FROM api_keys WHERE secret_sha256 = $1",
    )
    .bind(secret_sha256)
    .fetch_optional(pool)
    .await
}

/// Notes that key `id` was used at `now`.
pub async fn used(pool: &AnyPool, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
}
