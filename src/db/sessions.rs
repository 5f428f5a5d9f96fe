//! Session rows: who owns a session, until when it lives, and its active file.
//! `active_version` counts changes of the active file so that caches can refuse
//! to overwrite a newer state with an older one.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::domain::SessionId;
use crate::domain::UserId;

const COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, active_file_id, active_version";

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub active_file_id: Option<i64>,
    pub active_version: i64,
}

/// The active file of a session changed to `file_id` (or to none) at `version`.
#[derive(Debug, Clone, FromRow)]
pub struct ActiveChange {
    pub id: String,
    pub user_id: UserId,
    pub expires_at: i64,
    pub active_version: i64,
}

pub async fn find(pool: &AnyPool, id: SessionId) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
    sqlx::query_as(&sql)
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
}

/// Registers `id` for `user` unless the id is taken (by anyone); returns
/// whether it was registered now.
pub async fn insert_if_absent(
    conn: &mut AnyConnection,
    id: SessionId,
    user: UserId,
    now: i64,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(user)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Slides the session's expiry forward from `now`.
pub async fn touch(pool: &AnyPool, id: SessionId, now: i64, expires_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(drop)
}

/// Makes `file_id` the session's active file; `None` when the session is not the
/// user's (or is gone).
pub async fn set_active(
    conn: &mut AnyConnection,
    id: SessionId,
    user: UserId,
    file_id: i64,
) -> Result<Option<ActiveChange>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE sessions SET active_file_id = $3, active_version = active_version + 1 \
         WHERE id = $1 AND user_id = $2 RETURNING id, user_id, expires_at, active_version",
    )
    .bind(id.to_string())
    .bind(user)
    .bind(file_id)
    .fetch_optional(conn)
    .await
}

/// Clears `file_id` as the active file of every session that had it.
pub async fn clear_active_file(
    conn: &mut AnyConnection,
    file_id: i64,
) -> Result<Vec<ActiveChange>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE sessions SET active_file_id = NULL, active_version = active_version + 1 \
         WHERE active_file_id = $1 RETURNING id, user_id, expires_at, active_version",
    )
    .bind(file_id)
    .fetch_all(conn)
    .await
}

/// Removes sessions that expired before `now`; their processing records stay.
pub async fn delete_expired(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}
