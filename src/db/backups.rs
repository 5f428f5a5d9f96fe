//! Backups in progress. A backup takes a hold before it snapshots the
//! metadata and lets go when its copy of the bytes is done; while any hold is
//! live, unused content keeps its bytes (its removal is scheduled instead), so
//! no file in the snapshot loses them before they are copied.
//!
//! The hold is taken under the audit chain's head, which every deletion takes
//! first: a deletion either committed before the hold (and so before the
//! snapshot, which then does not have its file) or sees the hold.

use futures_util::stream::BoxStream;
use sqlx::{AnyConnection, AnyPool};

use crate::db::audit::hold_head;

/// Takes a hold named `id` until `until`, committed before it returns.
pub async fn take_hold(pool: &AnyPool, id: &str, now: i64, until: i64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    hold_head(&mut tx).await?;
    sqlx::query("INSERT INTO backup_holds (id, started_at, expires_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(now)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Keeps a live hold until `until`; false if it is gone.
pub async fn extend_hold(pool: &AnyPool, id: &str, until: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE backup_holds SET expires_at = $2 WHERE id = $1")
        .bind(id)
        .bind(until)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets go of a hold (and of any that expired: their backups died).
pub async fn release_hold(pool: &AnyPool, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM backup_holds WHERE id = $1 OR expires_at < $2")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
}

/// Whether a backup holds unused bytes now. Asked inside the transaction
/// that would remove them, after it took the content's row lock.
pub async fn holding(conn: &mut AnyConnection, now: i64) -> Result<bool, sqlx::Error> {
    let live: Option<i64> = sqlx::query_scalar("SELECT 1 FROM backup_holds WHERE expires_at >= $1 LIMIT 1")
        .bind(now)
        .fetch_optional(conn)
        .await?;
    Ok(live.is_some())
}

/// Content some file uses, in key order with sizes, as `conn` sees it (a
/// snapshot's connection): what a backup of that snapshot must copy.
pub fn used_content(conn: &mut AnyConnection) -> BoxStream<'_, Result<(String, i64), sqlx::Error>> {
    sqlx::query_as("SELECT sha256, size FROM blobs WHERE refcount > 0 ORDER BY sha256").fetch(conn)
}

/// Drops every hold: in a restored deployment, the hold of the backup that
/// made its snapshot (taken before it) is nobody's.
pub async fn release_all(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM backup_holds")
        .execute(pool)
        .await
        .map(drop)
}
