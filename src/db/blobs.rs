//! Reference counts of stored content. A blob row is locked by these statements, so
//! an upload and a deletion of the same content are serialised by the database.
//!
//! A row whose count falls to zero goes once its bytes are removed from the
//! store; if the store cannot remove them then (a storage node down), the row
//! stays with a `cleanup_scheduled_for` time, and a job tries again.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::timestamp::now_micros;
use crate::storage::BlobKey;

/// The key of a stored `sha256` column; a malformed one is a decode error
/// (the row is corrupt), never a path outside the store.
pub fn stored_key(sha256: &str) -> Result<BlobKey, sqlx::Error> {
    BlobKey::parse(sha256)
        .ok_or_else(|| sqlx::Error::Decode(format!("stored sha256 {sha256:?} is malformed").into()))
}

/// Whether the database has a row for `key` — content some file refers to,
/// or whose bytes are still to be removed. A read, without a lock: the
/// answer may be stale by the time the caller acts on it.
pub async fn known(pool: &AnyPool, key: &BlobKey) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT refcount FROM blobs WHERE sha256 = $1")
        .bind(key.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Counts one more file pointing at `key`, creating the row for new content;
/// returns the new count (1: no other file referred to it just before).
pub async fn add_ref(conn: &mut AnyConnection, key: &BlobKey, size: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO blobs (sha256, size, refcount, created_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (sha256) DO UPDATE SET refcount = blobs.refcount + 1, \
         cleanup_scheduled_for = NULL, cleanup_attempts = 0 RETURNING refcount",
    )
    .bind(key.as_str())
    .bind(size)
    .bind(now_micros())
    .fetch_one(conn)
    .await
}

/// Takes the lock of content's row — creating it, unused, if there is none —
/// and returns whether no file refers to it. The caller holds the lock until
/// it commits: an upload of the same content waits for it in [`add_ref`].
pub async fn hold_unused(conn: &mut AnyConnection, key: &BlobKey) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "INSERT INTO blobs (sha256, size, refcount, created_at) VALUES ($1, 0, 0, $2) \
         ON CONFLICT (sha256) DO UPDATE SET refcount = blobs.refcount RETURNING refcount",
    )
    .bind(key.as_str())
    .bind(now_micros())
    .fetch_one(conn)
    .await?;
    Ok(count == 0)
}

/// Counts one file fewer; returns true when that was the last reference, so
/// the caller must remove the bytes and then [`forget`] the row (or
/// [`schedule_cleanup`] when the store cannot remove them now).
pub async fn release(conn: &mut AnyConnection, key: &BlobKey) -> Result<bool, sqlx::Error> {
    let remaining: Option<i64> =
        sqlx::query_scalar("UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = $1 RETURNING refcount")
            .bind(key.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(remaining.is_some_and(|n| n <= 0))
}

/// Removes the row of content no file uses any more, once its bytes are gone.
pub async fn forget(conn: &mut AnyConnection, key: &BlobKey) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM blobs WHERE sha256 = $1 AND refcount = 0")
        .bind(key.as_str())
        .execute(conn)
        .await
        .map(drop)
}

/// Keeps the row of unused content whose bytes the store could not remove,
/// with the time of the next try; returns how many tries failed so far.
pub async fn schedule_cleanup(conn: &mut AnyConnection, key: &BlobKey, at: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE blobs SET cleanup_scheduled_for = $2, cleanup_attempts = cleanup_attempts + 1 \
         WHERE sha256 = $1 AND refcount = 0 RETURNING cleanup_attempts",
    )
    .bind(key.as_str())
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Puts off the removal of unused content's bytes until `at`, without
/// counting a failed try (a backup holds them).
pub async fn defer_cleanup(conn: &mut AnyConnection, key: &BlobKey, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE blobs SET cleanup_scheduled_for = $2 WHERE sha256 = $1 AND refcount = 0")
        .bind(key.as_str())
        .bind(at)
        .execute(conn)
        .await
        .map(drop)
}

/// Unused content whose removal is due at `now`, `limit` at most.
pub async fn due_cleanups(pool: &AnyPool, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT sha256 FROM blobs WHERE refcount = 0 AND cleanup_scheduled_for <= $1 \
         ORDER BY cleanup_scheduled_for LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Locks the row of unused content awaiting removal; `None` if an upload took
/// it back (or another node removed it) meanwhile.
pub async fn claim_cleanup(conn: &mut AnyConnection, key: &BlobKey) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE blobs SET cleanup_attempts = cleanup_attempts WHERE sha256 = $1 AND refcount = 0 \
         AND cleanup_scheduled_for IS NOT NULL RETURNING cleanup_attempts",
    )
    .bind(key.as_str())
    .fetch_optional(conn)
    .await
}

/// Stored blobs (key and size) after `after` in key order, `limit` at a time.
pub async fn page(pool: &AnyPool, after: &str, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT sha256, size FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
}
