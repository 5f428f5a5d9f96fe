//! Reference counts of stored content. A blob row is locked by these statements, so
//! an upload and a deletion of the same content are serialised by the database.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::timestamp::now_micros;
use crate::storage::BlobKey;

/// The key of a stored `sha256` column; a malformed one is a decode error
/// (the row is corrupt), never a path outside the store.
pub fn stored_key(sha256: &str) -> Result<BlobKey, sqlx::Error> {
    BlobKey::parse(sha256)
        .ok_or_else(|| sqlx::Error::Decode(format!("stored sha256 {sha256:?} is malformed").into()))
}

/// Counts one more file pointing at `key`, creating the row for new content.
pub async fn add_ref(conn: &mut AnyConnection, key: &BlobKey, size: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO blobs (sha256, size, refcount, created_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (sha256) DO UPDATE SET refcount = blobs.refcount + 1",
    )
    .bind(key.as_str())
    .bind(size)
    .bind(now_micros())
    .execute(conn)
    .await
    .map(drop)
}

/// Counts one file fewer; returns true when that was the last reference and the
/// row is gone, so the caller must delete the blob itself.
pub async fn release(conn: &mut AnyConnection, key: &BlobKey) -> Result<bool, sqlx::Error> {
    let remaining: Option<i64> =
        sqlx::query_scalar("UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = $1 RETURNING refcount")
            .bind(key.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    if remaining.is_some_and(|n| n <= 0) {
        sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
            .bind(key.as_str())
            .execute(conn)
            .await?;
        return Ok(true);
    }
    Ok(false)
}

/// Stored blobs (key and size) after `after` in key order, `limit` at a time.
pub async fn page(pool: &AnyPool, after: &str, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT sha256, size FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
}
