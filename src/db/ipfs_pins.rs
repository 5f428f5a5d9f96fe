//! The queue of publishing to an IPFS node: per stored content, whether the
//! node should have it pinned (`want = 'pin'`) or not (`'unpin'`), and how far
//! that got (`pending`, `pinned`, `failed` with the error and the next try).
//! A row changes its wish under the content's blob row lock (the upload or
//! deletion transaction); the publisher records its outcome only for the
//! `version` it worked on, so a wish changed meanwhile is not overwritten.

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::domain::timestamp::now_micros;

/// The wish of a row whose content is to leave the node.
pub const UNPIN: &str = "unpin";

const COLUMNS: &str = "sha256, cid, want, state, attempts, next_try_at, error, changed_at, version";

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PinRow {
    pub sha256: String,
    pub cid: String,
    /// `pin` or `unpin`.
    pub want: String,
    /// `pending`, `pinned` (for `unpin`: never; the row goes when done) or `failed`.
    pub state: String,
    /// Failed tries since the wish last changed.
    pub attempts: i64,
    pub next_try_at: i64,
    /// Why the last try failed.
    pub error: Option<String>,
    pub changed_at: i64,
    pub version: i64,
}

/// Asks for content to be pinned, unless that is asked already (or done).
pub async fn want_pinned(conn: &mut AnyConnection, sha256: &str, cid: &str) -> Result<(), sqlx::Error> {
    let now = now_micros();
    sqlx::query(
        "INSERT INTO ipfs_pins (sha256, cid, want, state, next_try_at, changed_at) \
         VALUES ($1, $2, 'pin', 'pending', $3, $3) \
         ON CONFLICT (sha256) DO UPDATE SET want = 'pin', state = 'pending', attempts = 0, \
         next_try_at = $3, error = NULL, changed_at = $3, version = ipfs_pins.version + 1 \
         WHERE ipfs_pins.want <> 'pin'",
    )
    .bind(sha256)
    .bind(cid)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
}

/// Asks for content no file uses any more to be unpinned, if it was published.
pub async fn want_unpinned(conn: &mut AnyConnection, sha256: &str) -> Result<(), sqlx::Error> {
    let now = now_micros();
    sqlx::query(
        "UPDATE ipfs_pins SET want = 'unpin', state = 'pending', attempts = 0, next_try_at = $2, \
         error = NULL, changed_at = $2, version = version + 1 WHERE sha256 = $1 AND want = 'pin'",
    )
    .bind(sha256)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
}

/// The next wish due at `now` that has failed fewer than `most_attempts` times.
pub async fn next_due(pool: &AnyPool, now: i64, most_attempts: i64) -> Result<Option<PinRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM ipfs_pins WHERE state <> 'pinned' AND next_try_at <= $1 AND attempts < $2 \
         ORDER BY next_try_at LIMIT 1"
    );
    sqlx::query_as(&sql)
        .bind(now)
        .bind(most_attempts)
        .fetch_optional(pool)
        .await
}

/// Records that the node pinned `row`'s content (if the wish is still the same).
pub async fn pinned(pool: &AnyPool, row: &PinRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ipfs_pins SET state = 'pinned', error = NULL, changed_at = $3 \
         WHERE sha256 = $1 AND version = $2",
    )
    .bind(&row.sha256)
    .bind(row.version)
    .bind(now_micros())
    .execute(pool)
    .await
    .map(drop)
}

/// Forgets content the node unpinned (if the wish is still the same).
pub async fn unpinned(pool: &AnyPool, row: &PinRow) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM ipfs_pins WHERE sha256 = $1 AND version = $2")
        .bind(&row.sha256)
        .bind(row.version)
        .execute(pool)
        .await
        .map(drop)
}

/// Records a failed try and when to try again.
pub async fn failed(pool: &AnyPool, row: &PinRow, error: &str, next_try_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ipfs_pins SET state = 'failed', error = $3, attempts = attempts + 1, next_try_at = $4, \
         changed_at = $5 WHERE sha256 = $1 AND version = $2",
    )
    .bind(&row.sha256)
    .bind(row.version)
    .bind(error)
    .bind(next_try_at)
    .bind(now_micros())
    .execute(pool)
    .await
    .map(drop)
}

/// Sets every wish that is not done to be tried again now, from its first try;
/// returns how many.
pub async fn retry_all(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE ipfs_pins SET attempts = 0, next_try_at = $1, version = version + 1 WHERE state <> 'pinned'",
    )
    .bind(now_micros())
    .execute(pool)
    .await
    .map(|done| done.rows_affected())
}

/// Marks content recorded as pinned as pending again (the node lost it).
pub async fn repin(pool: &AnyPool, sha256: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ipfs_pins SET state = 'pending', attempts = 0, next_try_at = $2, error = NULL, \
         changed_at = $2, version = version + 1 WHERE sha256 = $1 AND want = 'pin'",
    )
    .bind(sha256)
    .bind(now_micros())
    .execute(pool)
    .await
    .map(drop)
}

/// Stored content with a CID that has no wish yet: (sha256, cid), `limit` at
/// a time after `after` in key order.
pub async fn unqueued(pool: &AnyPool, after: &str, limit: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.sha256, MIN(f.cid) FROM blobs b JOIN files f ON f.sha256 = b.sha256 \
         WHERE b.refcount > 0 AND f.cid <> '' AND b.sha256 > $1 \
         AND NOT EXISTS (SELECT 1 FROM ipfs_pins p WHERE p.sha256 = b.sha256) \
         GROUP BY b.sha256 ORDER BY b.sha256 LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Content recorded as pinned: (sha256, cid), `limit` at a time after `after`.
pub async fn pinned_page(
    pool: &AnyPool,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sha256, cid FROM ipfs_pins WHERE state = 'pinned' AND sha256 > $1 ORDER BY sha256 LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The rows of these contents, by SHA-256.
pub async fn of(pool: &AnyPool, sha256s: &[&str]) -> Result<HashMap<String, PinRow>, sqlx::Error> {
    if sha256s.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders = (1..=sha256s.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {COLUMNS} FROM ipfs_pins WHERE sha256 IN ({placeholders})");
    let mut query = sqlx::query_as::<_, PinRow>(&sql);
    for sha256 in sha256s {
        query = query.bind(*sha256);
    }
    let rows = query.fetch_all(pool).await?;
    Ok(rows.into_iter().map(|row| (row.sha256.clone(), row)).collect())
}

/// How many wishes are in each (want, state): what /metrics shows.
pub async fn counts(pool: &AnyPool) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT want, state, COUNT(*) FROM ipfs_pins GROUP BY want, state")
        .fetch_all(pool)
        .await
}
