//! Seed 4's file tracking: a row per transfer of a file's bytes (upload in,
//! download out), with the role of the server that streamed them.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::UserId;

/// Which way the bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upload,
    Download,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewTransfer<'a> {
    pub file_id: i64,
    pub user_id: UserId,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub direction: Direction,
    pub server_role: &'a str,
    pub stream_start: i64,
    /// `None` while the stream runs (a download is recorded as it starts).
    pub stream_complete: Option<i64>,
    pub bytes_transferred: i64,
}

/// A transfer as the files API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Transfer {
    pub direction: String,
    pub server_role: String,
    pub stream_start: i64,
    pub stream_complete: Option<i64>,
    pub bytes_transferred: i64,
    pub cleanup_scheduled_for: Option<i64>,
}

/// Records a transfer; returns its id.
pub async fn insert(conn: &mut AnyConnection, transfer: &NewTransfer<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO transfers (file_id, user_id, file_name, sha256, direction, server_role, \
         stream_start, stream_complete, bytes_transferred) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(transfer.file_id)
    .bind(transfer.user_id)
    .bind(transfer.file_name)
    .bind(transfer.sha256)
    .bind(transfer.direction.as_str())
    .bind(transfer.server_role)
    .bind(transfer.stream_start)
    .bind(transfer.stream_complete)
    .bind(transfer.bytes_transferred)
    .fetch_one(conn)
    .await
}

/// How a download ended: the bytes that went out, and when (`None`: cut short).
pub async fn finish(pool: &AnyPool, id: i64, bytes: i64, complete: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE transfers SET bytes_transferred = $2, stream_complete = $3 WHERE id = $1")
        .bind(id)
        .bind(bytes)
        .bind(complete)
        .execute(pool)
        .await
        .map(drop)
}

/// Notes, on a file's transfers, when the removal of its stored bytes was
/// scheduled (the file is being deleted).
pub async fn schedule_cleanup(conn: &mut AnyConnection, file_id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE transfers SET cleanup_scheduled_for = $2 WHERE file_id = $1")
        .bind(file_id)
        .bind(at)
        .execute(conn)
        .await
        .map(drop)
}

/// A file's transfers, oldest first.
pub async fn of_file(pool: &AnyPool, file_id: i64) -> Result<Vec<Transfer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT direction, server_role, stream_start, stream_complete, bytes_transferred, \
         cleanup_scheduled_for FROM transfers WHERE file_id = $1 ORDER BY id",
    )
    .bind(file_id)
    .fetch_all(pool)
    .await
}
