//! Processing records: one per upload attempt (seed 1), kept after their session
//! expires. Rows are read back raw and checked by the caller, so a malformed row
//! is skipped rather than failing a page.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::db::conditions::{Conditions, contains_pattern};
use crate::domain::SessionId;
use crate::domain::UserId;
use crate::domain::processing::Status;

const COLUMNS: &str = "id, session_id, user_id, filename, file_name, size, content_type, status, \
                       error_code, error_message, started_at, completed_at, file_id";

#[derive(Debug, Clone, FromRow)]
pub struct RecordRow {
    pub id: String,
    pub session_id: String,
    pub user_id: UserId,
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

/// Records an attempt as it stands (`pending` or `processing`), inside the
/// caller's transaction.
pub async fn insert(conn: &mut AnyConnection, record: &NewRecord, status: Status) -> Result<(), sqlx::Error> {
    insert_with(conn, record, status, &Outcome::default()).await
}

/// Records an attempt that failed before it was ever recorded, inside the
/// caller's transaction.
pub async fn insert_failed(
    conn: &mut AnyConnection,
    record: &NewRecord,
    code: &str,
    message: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let outcome = Outcome {
        error: Some((code, message)),
        completed_at: Some(now),
        ..Outcome::default()
    };
    insert_with(conn, record, Status::Failed, &outcome).await
}

/// Records an attempt that completed before it was ever recorded, inside the
/// caller's transaction: one write where an early record takes three.
pub async fn insert_completed(
    conn: &mut AnyConnection,
    record: &NewRecord,
    done: &Completion<'_>,
) -> Result<(), sqlx::Error> {
    let completed = NewRecord {
        file_name: done.file_name.to_owned(),
        size: done.size,
        content_type: done.content_type.to_owned(),
        ..record.clone()
    };
    let outcome = Outcome {
        file_id: Some(done.file_id),
        completed_at: Some(done.completed_at),
        error: None,
    };
    insert_with(conn, &completed, Status::Completed, &outcome).await
}

/// How a record inserted at its end ended.
#[derive(Default)]
struct Outcome<'a> {
    file_id: Option<i64>,
    completed_at: Option<i64>,
    error: Option<(&'a str, &'a str)>,
}

async fn insert_with(
    conn: &mut AnyConnection,
    record: &NewRecord,
    status: Status,
    outcome: &Outcome<'_>,
) -> Result<(), sqlx::Error> {
    let session = record.session_id.to_string();
    sqlx::query(
        "INSERT INTO processing_records \
         (id, session_id, user_id, filename, file_name, size, content_type, status, started_at, \
          completed_at, file_id, error_code, error_message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&record.id)
    .bind(&session)
    .bind(record.user_id)
    .bind(&record.filename)
    .bind(&record.file_name)
    .bind(record.size)
    .bind(&record.content_type)
    .bind(status.as_str())
    .bind(record.started_at)
    .bind(outcome.completed_at)
    .bind(outcome.file_id)
    .bind(outcome.error.map_or("", |(code, _)| code))
    .bind(outcome.error.map_or("", |(_, message)| message))
    .execute(&mut *conn)
    .await?;
    count(conn, record.user_id, &session, status, 1).await
}

// Every transaction below starts with its write: on SQLite a transaction that
// reads first cannot always take the write lock later (SQLITE_BUSY), whatever the
// busy timeout.

/// Whose record was moved, and in which session.
type Moved = Option<(UserId, String)>;

/// Bytes are flowing: `pending` → `processing`.
pub async fn mark_processing(pool: &AnyPool, id: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let moved: Moved = sqlx::query_as(
        "UPDATE processing_records SET status = $2 WHERE id = $1 AND status = $3 \
         RETURNING user_id, session_id",
    )
    .bind(id)
    .bind(Status::Processing.as_str())
    .bind(Status::Pending.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    recount(&mut tx, moved, Status::Pending, Status::Processing).await?;
    tx.commit().await
}

/// The upload names another session than the one it began in.
pub async fn move_to_session(
    pool: &AnyPool,
    id: &str,
    from: SessionId,
    to: SessionId,
) -> Result<(), sqlx::Error> {
    let (from, to) = (from.to_string(), to.to_string());
    let mut tx = pool.begin().await?;
    let moved: Option<(UserId, String)> = sqlx::query_as(
        "UPDATE processing_records SET session_id = $2 WHERE id = $1 AND session_id = $3 \
         RETURNING user_id, status",
    )
    .bind(id)
    .bind(&to)
    .bind(&from)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((user, status)) = moved
        && let Ok(status) = status.parse::<Status>()
    {
        count(&mut tx, user, &from, status, -1).await?;
        count(&mut tx, user, &to, status, 1).await?;
    }
    tx.commit().await
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

/// Marks an unfinished attempt `completed`, inside the caller's transaction.
pub async fn complete(conn: &mut AnyConnection, id: &str, done: &Completion<'_>) -> Result<(), sqlx::Error> {
    for from in [Status::Processing, Status::Pending] {
        let moved: Moved = sqlx::query_as(
            "UPDATE processing_records SET status = $2, file_id = $3, file_name = $4, size = $5, \
             content_type = $6, completed_at = $7 WHERE id = $1 AND status = $8 \
             RETURNING user_id, session_id",
        )
        .bind(id)
        .bind(Status::Completed.as_str())
        .bind(done.file_id)
        .bind(done.file_name)
        .bind(done.size)
        .bind(done.content_type)
        .bind(done.completed_at)
        .bind(from.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if moved.is_some() {
            return recount(conn, moved, from, Status::Completed).await;
        }
    }
    Ok(())
}

/// Marks an unfinished attempt `failed`; a record already completed or failed keeps
/// its outcome.
pub async fn fail(pool: &AnyPool, id: &str, code: &str, message: &str, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for from in [Status::Processing, Status::Pending] {
        let moved: Moved = sqlx::query_as(
            "UPDATE processing_records SET status = $2, error_code = $3, error_message = $4, \
             completed_at = $5 WHERE id = $1 AND status = $6 RETURNING user_id, session_id",
        )
        .bind(id)
        .bind(Status::Failed.as_str())
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if moved.is_some() {
            recount(&mut tx, moved, from, Status::Failed).await?;
            break;
        }
    }
    tx.commit().await
}

/// After a record `moved` from one status to another, moves its count too.
async fn recount(
    conn: &mut AnyConnection,
    moved: Moved,
    from: Status,
    to: Status,
) -> Result<(), sqlx::Error> {
    if let Some((user, session)) = moved {
        count(conn, user, &session, from, -1).await?;
        count(conn, user, &session, to, 1).await?;
    }
    Ok(())
}

/// Keeps `processing_counts` — records per (session, user, status) — in step with
/// the records, so a page's total is a sum of a few rows rather than a count of
/// every matching record.
async fn count(
    conn: &mut AnyConnection,
    user: UserId,
    session: &str,
    status: Status,
    delta: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO processing_counts (session_id, user_id, status, records) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (session_id, user_id, status) DO UPDATE SET records = processing_counts.records + $4",
    )
    .bind(session)
    .bind(user)
    .bind(status.as_str())
    .bind(delta)
    .execute(conn)
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
    let mut conditions = scope_conditions(user, scope);
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

    let total = match total_from_counts(pool, user, scope, filter).await? {
        Some(total) => total,
        None => {
            let sql = format!(
                "SELECT COUNT(*) FROM processing_records WHERE {}",
                conditions.sql()
            );
            conditions
                .bind_scalar(sqlx::query_scalar::<_, i64>(&sql))
                .fetch_one(pool)
                .await?
        }
    };
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

/// The user's records in `scope` — always the user's: a swept session id may
/// since belong to someone else.
fn scope_conditions(user: UserId, scope: Scope) -> Conditions {
    let mut conditions = Conditions::new("user_id = {}", user.get());
    if let Scope::Session(session) = scope {
        conditions.push_text("session_id = {}", session.to_string());
    }
    conditions
}

/// The number of matching records from `processing_counts` when the filter is by
/// status alone; `None` when the records themselves must be counted.
async fn total_from_counts(
    pool: &AnyPool,
    user: UserId,
    scope: Scope,
    filter: &HistoryFilter,
) -> Result<Option<i64>, sqlx::Error> {
    if filter.from.is_some() || filter.to.is_some() || filter.filename.is_some() {
        return Ok(None);
    }
    let mut conditions = scope_conditions(user, scope);
    let statuses = if filter.statuses.is_empty() {
        Status::ALL.to_vec()
    } else {
        filter.statuses.clone()
    };
    conditions.push_text_in("status", statuses.iter().map(|status| status.as_str().to_owned()));
    // SUM of BIGINT is NUMERIC on PostgreSQL; the cast keeps one decoder for both.
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(records), 0) AS BIGINT) FROM processing_counts WHERE {}",
        conditions.sql()
    );
    let total = conditions
        .bind_scalar(sqlx::query_scalar::<_, i64>(&sql))
        .fetch_one(pool)
        .await?;
    Ok(Some(total))
}
