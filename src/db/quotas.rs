//! What each user's files take (`user_usage`, kept with every file added or
//! deleted) and the room held for uploads under way (`quota_reservations`).
//! A reservation is made under the lock of its user's usage row, which every
//! change to that usage also takes, so reservations made on different nodes
//! at once are decided one after the other.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::UserId;

/// What a user's files take: their bytes, each file counted in full, and how
/// many there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Usage {
    pub bytes: i64,
    pub files: i64,
}

/// Room held for a user's uploads under way: bytes, and one file each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Held {
    pub bytes: i64,
    pub files: i64,
}

/// Adds a file of `bytes` (or, negative, removes one) to `user`'s usage;
/// returns the usage after. Takes the usage row's lock until the caller
/// commits.
pub async fn add(
    conn: &mut AnyConnection,
    user: UserId,
    bytes: i64,
    files: i64,
) -> Result<Usage, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO user_usage (user_id, bytes, files) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET bytes = user_usage.bytes + excluded.bytes, \
         files = user_usage.files + excluded.files RETURNING bytes, files",
    )
    .bind(user)
    .bind(bytes)
    .bind(files)
    .fetch_one(conn)
    .await
}

/// Takes the lock of `user`'s usage row and reads it: as a write, so that it
/// is also a SQLite transaction's first statement that takes the write lock.
pub async fn hold(conn: &mut AnyConnection, user: UserId) -> Result<Usage, sqlx::Error> {
    add(conn, user, 0, 0).await
}

/// `user`'s usage, without a lock.
pub async fn usage(pool: &AnyPool, user: UserId) -> Result<Usage, sqlx::Error> {
    let found = sqlx::query_as("SELECT bytes, files FROM user_usage WHERE user_id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await?;
    Ok(found.unwrap_or_default())
}

/// Room held at `now` for `user`'s uploads, but the reservation `except`.
pub async fn held(
    conn: &mut AnyConnection,
    user: UserId,
    except: &str,
    now: i64,
) -> Result<Held, sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS bytes, COUNT(*) AS files \
         FROM quota_reservations WHERE user_id = $1 AND id <> $2 AND expires_at > $3",
    )
    .bind(user)
    .bind(except)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Holds `bytes` (and one file) for the upload `id` until `expires_at`,
/// replacing what it held; the caller has checked that they fit.
pub async fn reserve(
    conn: &mut AnyConnection,
    id: &str,
    user: UserId,
    bytes: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO quota_reservations (id, user_id, bytes, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes, expires_at = excluded.expires_at",
    )
    .bind(id)
    .bind(user)
    .bind(bytes)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(drop)
}

/// Removes `user`'s reservations that expired by `now`: those of requests
/// a crash cut off.
pub async fn drop_expired(conn: &mut AnyConnection, user: UserId, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM quota_reservations WHERE user_id = $1 AND expires_at <= $2")
        .bind(user)
        .bind(now)
        .execute(conn)
        .await
        .map(drop)
}

/// Removes every reservation that expired by `now`; returns how many went.
pub async fn drop_all_expired(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM quota_reservations WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}

/// Gives up the room the upload `id` held.
pub async fn release(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM quota_reservations WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}
