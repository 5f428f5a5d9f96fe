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
    /// Its S3 access key id; `None` for keys made before depot spoke S3.
    pub access_key_id: Option<String>,
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
    pub access_key_id: &'a str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str = "id, name, scope, created_at, expires_at, last_used_at, access_key_id";

pub async fn insert(conn: &mut AnyConnection, key: &NewKey<'_>) -> Result<ApiKey, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO api_keys (user_id, name, scope, secret_sha256, created_at, expires_at, access_key_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(key.user)
    .bind(key.name)
    .bind(key.scope)
    .bind(key.secret_sha256)
    .bind(key.created_at)
    .bind(key.expires_at)
    .bind(key.access_key_id)
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

/// A key revoked: what the caches that hold it know it by.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Revoked {
    pub name: String,
    pub secret_sha256: String,
    pub access_key_id: Option<String>,
}

/// Removes `user`'s key `id`; `None` if they have no such key.
pub async fn revoke(conn: &mut AnyConnection, user: UserId, id: i64) -> Result<Option<Revoked>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM api_keys WHERE user_id = $1 AND id = $2 RETURNING name, secret_sha256, access_key_id",
    )
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

/// The key with this S3 access key id, if there is one.
pub async fn find_by_access_key(pool: &AnyPool, access_key_id: &str) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, scope, expires_at, last_used_at FROM api_keys WHERE access_key_id = $1",
    )
    .bind(access_key_id)
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
