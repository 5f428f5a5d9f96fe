//! Processing records: one per upload attempt (seed 1), kept after their session
//! expires. Rows are read back raw and checked by the caller, so a malformed row
//! is skipped rather than failing a page.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::auth::UserId;
use crate::db::conditions::{Conditions, contains_pattern};
use crate::domain::SessionId;
use crate::domain::processing::Status;

const COLUMNS: &str = "id, session_id, user_id, filename, file_name, size, content_type, status, \
                       error_code, error_message, started_at, completed_at, file_id";

#[derive(Debug, Clone, FromRow)]
pub struct RecordRow {
    pub id: String,
    pub session_id: String,
    pub user_id: i64,
    /// The client's name for the upload (a multipart part's filename, or the file name).
    pub filename: String,
    /// depot's name for the stored file.
    pub file_name: String,
    pub size: i64,
    pub content_type: String,
    pub status: String,
    pub error_code: String,
    pub error_message: String,
    pub started_at: i64,
    pub completed_at: Option<i64>,
    pub file_id: Option<i64>,
}

/// What is known when an attempt starts.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub id: String,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub filename: String,
    pub file_name: String,
    pub size: i64,
    pub content_type: String,
    pub started_at: i64,
}

/// Filters of `GET /api/ingestion/history`; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Any of these statuses; empty means all.
    pub statuses: Vec<Status>,
    /// Started at or after (microseconds).
    pub from: Option<i64>,
    /// Started at or before (microseconds).
    pub to: Option<i64>,
    /// Case-insensitive substring of the client's or depot's file name.
    pub filename: Option<String>,
}

/// Whose records: one session's, or all of the user's.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Session(SessionId),
    User,
}

pub async fn insert(pool: &AnyPool, record: &NewRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO processing_records \
         (id, session_id, user_id, filename, file_name, size, content_type, status, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&record.id)
    .bind(record.session_id.to_string())
    .bind(record.user_id)
    .bind(&record.filename)
    .bind(&record.file_name)
    .bind(record.size)
    .bind(&record.content_type)
    .bind(Status::Pending.as_str())
    .bind(record.started_at)
    .execute(pool)
    .await
    .map(drop)
}

/// Bytes are flowing: `pending` → `processing`.
pub async fn mark_processing(pool: &AnyPool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE processing_records SET status = $2 WHERE id = $1 AND status = $3")
        .bind(id)
        .bind(Status::Processing.as_str())
        .bind(Status::Pending.as_str())
        .execute(pool)
        .await
        .map(drop)
}

/// The upload names (or is moved to) another session than the one it began in.
pub async fn move_to_session(pool: &AnyPool, id: &str, session: SessionId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE processing_records SET session_id = $2 WHERE id = $1")
        .bind(id)
        .bind(session.to_string())
        .execute(pool)
        .await
        .map(drop)
}

/// The outcome of a completed upload, written in the transaction that stores the file.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub file_id: i64,
    pub file_name: &'a str,
    pub size: i64,
    pub content_type: &'a str,
    pub completed_at: i64,
}

pub async fn complete(conn: &mut AnyConnection, id: &str, done: &Completion<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE processing_records SET status = $2, file_id = $3, file_name = $4, size = $5, \
         content_type = $6, completed_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(Status::Completed.as_str())
    .bind(done.file_id)
    .bind(done.file_name)
    .bind(done.size)
    .bind(done.content_type)
    .bind(done.completed_at)
    .execute(conn)
    .await
    .map(drop)
}

/// Marks an unfinished attempt `failed`; a record already completed or failed keeps
/// its outcome.
pub async fn fail(pool: &AnyPool, id: &str, code: &str, message: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE processing_records SET status = $2, error_code = $3, error_message = $4, completed_at = $5 \
         WHERE id = $1 AND status IN ($6, $7)",
    )
    .bind(id)
    .bind(Status::Failed.as_str())
    .bind(code)
    .bind(message)
    .bind(now)
    .bind(Status::Pending.as_str())
    .bind(Status::Processing.as_str())
    .execute(pool)
    .await
    .map(drop)
}

pub async fn find(pool: &AnyPool, id: &str) -> Result<Option<RecordRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM processing_records WHERE id = $1");
    sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
}

/// One numbered page (1-based) of records, newest first, and the number of
/// matching records.
pub async fn page(
    pool: &AnyPool,
    user: UserId,
    scope: Scope,
    filter: &HistoryFilter,
    page: i64,
    page_size: i64,
) -> Result<(Vec<RecordRow>, i64), sqlx::Error> {
    // Always the user's: a swept session id may since belong to someone else.
    let mut conditions = Conditions::new("user_id = {}", user);
    if let Scope::Session(session) = scope {
        conditions.push_text("session_id = {}", session.to_string());
    }
    if !filter.statuses.is_empty() {
        conditions.push_text_in(
            "status",
            filter.statuses.iter().map(|status| status.as_str().to_owned()),
        );
    }
    if let Some(from) = filter.from {
        conditions.push_int("started_at >= {}", from);
    }
    if let Some(to) = filter.to {
        conditions.push_int("started_at <= {}", to);
    }
    if let Some(name) = &filter.filename {
        conditions.push_text(
            "(LOWER(filename) LIKE {} ESCAPE '\\' OR LOWER(file_name) LIKE {} ESCAPE '\\')",
            contains_pattern(name),
        );
    }

    let count_sql = format!(
        "SELECT COUNT(*) FROM processing_records WHERE {}",
        conditions.sql()
    );
    let total = conditions
        .bind_scalar(sqlx::query_scalar::<_, i64>(&count_sql))
        .fetch_one(pool)
        .await?;
    let offset = (page - 1).saturating_mul(page_size);
    let sql = format!(
        "SELECT {COLUMNS} FROM processing_records WHERE {} \
         ORDER BY started_at DESC, id DESC LIMIT {page_size} OFFSET {offset}",
        conditions.sql()
    );
    let rows = conditions
        .bind_rows(sqlx::query_as::<_, RecordRow>(&sql))
        .fetch_all(pool)
        .await?;
    Ok((rows, total))
}
