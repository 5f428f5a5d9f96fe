//! The figures of the storage report: what is stored, for whom, of what type,
//! how it grew, and what is wrong with it.

use sqlx::AnyPool;

/// Files and their bytes as listed (logical), in one group.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Group {
    pub name: String,
    pub files: i64,
    pub bytes: i64,
}

/// (files, logical bytes) over every user.
pub async fn logical(pool: &AnyPool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM files")
        .fetch_one(pool)
        .await
}

/// (contents, physical bytes): each blob a file uses, once.
pub async fn physical(pool: &AnyPool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE refcount > 0")
        .fetch_one(pool)
        .await
}

/// The users with the most bytes, at most `limit`.
pub async fn by_user(pool: &AnyPool, limit: i64) -> Result<Vec<Group>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(users.username, CAST(files.user_id AS TEXT)) AS name, COUNT(*) AS files, \
         CAST(SUM(files.size) AS BIGINT) AS bytes FROM files LEFT JOIN users ON users.id = files.user_id \
         GROUP BY files.user_id, users.username ORDER BY bytes DESC, name LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The content types with the most bytes, at most `limit`.
pub async fn by_type(pool: &AnyPool, limit: i64) -> Result<Vec<Group>, sqlx::Error> {
    sqlx::query_as(
        "SELECT content_type AS name, COUNT(*) AS files, CAST(SUM(size) AS BIGINT) AS bytes FROM files \
         GROUP BY content_type ORDER BY bytes DESC, name LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Files and bytes added per UTC day since `since` (microseconds), oldest
/// first: (days since the epoch, files, bytes).
pub async fn growth(pool: &AnyPool, since: i64) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(created_at / 86400000000 AS BIGINT) AS day, COUNT(*), CAST(SUM(size) AS BIGINT) \
         FROM files WHERE created_at >= $1 GROUP BY day ORDER BY day",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Files flagged corrupt (their bytes gone or changed).
pub async fn corrupt_files(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE corrupt_at IS NOT NULL")
        .fetch_one(pool)
        .await
}

/// Unused content whose removal is pending (refused by the store, or an
/// orphan handed over by cleanup).
pub async fn unused_blobs(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE refcount = 0")
        .fetch_one(pool)
        .await
}
