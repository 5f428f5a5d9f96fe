//! Invites: made by an admin, each good for one account until it expires.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::UserId;

/// An invite as an admin sees it: never its code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invite {
    pub id: i64,
    pub role: String,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_by: Option<UserId>,
    pub used_at: Option<i64>,
}

const COLUMNS: &str = "id, role, created_by, created_at, expires_at, used_by, used_at";

pub async fn insert(
    pool: &AnyPool,
    code_sha256: &str,
    role: &str,
    created_by: Option<UserId>,
    created_at: i64,
    expires_at: i64,
) -> Result<Invite, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO invites (code_sha256, role, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(code_sha256)
    .bind(role)
    .bind(created_by)
    .bind(created_at)
    .bind(expires_at)
    .fetch_one(pool)
    .await
}

/// Every invite, newest first.
pub async fn list(pool: &AnyPool) -> Result<Vec<Invite>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM invites ORDER BY id DESC"))
        .fetch_all(pool)
        .await
}

/// Removes invite `id`; whether there was one.
pub async fn revoke(pool: &AnyPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM invites WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Takes the unused, unexpired invite whose code has this digest, for the
/// account about to be made in the same transaction; returns its id and
/// role, or `None` if there is no such invite.
pub async fn take(
    conn: &mut AnyConnection,
    code_sha256: &str,
    now: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE invites SET used_at = $2 WHERE code_sha256 = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING id, role",
    )
    .bind(code_sha256)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Notes which account invite `id` made.
pub async fn used_by(conn: &mut AnyConnection, id: i64, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invites SET used_by = $2 WHERE id = $1")
        .bind(id)
        .bind(user)
        .execute(conn)
        .await
        .map(drop)
}
