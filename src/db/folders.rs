//! Folders: the `/`-separated names of a user's files read as a tree. A
//! folder is the range of names under its prefix (`reports/` up to
//! `reports0`, [`prefix_end`]), in byte order on both databases (PostgreSQL's
//! file names collate as "C"), so a level, a count or a move is a scan of the
//! (user, name) index, whatever else the user stores.

use sqlx::{AnyConnection, AnyPool};

use crate::db::files::{FileRecord, columns_of};
use crate::domain::UserId;
use crate::domain::file_name::prefix_end;

/// One entry of a folder's level: a file directly in it, or a subfolder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File(Box<FileRecord>),
    /// A subfolder by its whole prefix (`reports/2024/`).
    Folder(String),
}

impl Entry {
    /// What the next page starts after: a file's name, a folder's prefix.
    pub fn key(&self) -> &str {
        match self {
            Self::File(file) => &file.file_name,
            Self::Folder(prefix) => prefix,
        }
    }
}

/// The rows of one query of a level, at most.
const ROWS_PER_QUERY: usize = 1000;

/// Up to `limit` entries of the level under `prefix` (empty: the top), in
/// byte order, after `after` — a file name or a folder prefix a previous page
/// ended with (a folder's whole range is skipped). A subfolder is found by
/// its first file, and the next query starts after its range, so a page
/// costs a query per subfolder on it, not per file under them.
pub async fn level(
    pool: &AnyPool,
    user: UserId,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Entry>, sqlx::Error> {
    let end = prefix_end(prefix);
    // The lower bound and whether it is included.
    let mut from = match after {
        Some(after) if after.ends_with('/') => match prefix_end(after) {
            Some(next) => (next, true),
            None => return Ok(Vec::new()),
        },
        Some(after) => (after.to_owned(), false),
        None => (prefix.to_owned(), true),
    };
    let mut entries = Vec::new();
    'queries: while entries.len() < limit {
        let want = (limit - entries.len()).min(ROWS_PER_QUERY);
        let rows = range(pool, user, &from, end.as_deref(), want).await?;
        let exhausted = rows.len() < want;
        for row in rows {
            let rest = row.file_name.get(prefix.len()..).unwrap_or_default();
            match rest.find('/') {
                None => {
                    from = (row.file_name.clone(), false);
                    entries.push(Entry::File(Box::new(row)));
                }
                Some(slash) => {
                    let folder = format!("{prefix}{}", &rest[..=slash]);
                    let Some(next) = prefix_end(&folder) else {
                        entries.push(Entry::Folder(folder));
                        break 'queries;
                    };
                    entries.push(Entry::Folder(folder));
                    from = (next, true);
                    continue 'queries;
                }
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(entries)
}

/// Up to `limit` of the user's files whose names start with `prefix`, at any
/// depth, in byte order, after the name `after`.
pub async fn under(
    pool: &AnyPool,
    user: UserId,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<FileRecord>, sqlx::Error> {
    let from = match after {
        Some(after) if after >= prefix => (after.to_owned(), false),
        _ => (prefix.to_owned(), true),
    };
    range(pool, user, &from, prefix_end(prefix).as_deref(), limit).await
}

/// Up to `limit` of the user's files from `from` (included or not) up to
/// `end` (excluded), in byte order.
async fn range(
    pool: &AnyPool,
    user: UserId,
    from: &(String, bool),
    end: Option<&str>,
    limit: usize,
) -> Result<Vec<FileRecord>, sqlx::Error> {
    let lower = if from.1 { ">=" } else { ">" };
    let upper = if end.is_some() { "AND f.file_name < $3" } else { "" };
    let sql = format!(
        "SELECT {} FROM files f WHERE f.user_id = $1 AND f.file_name {lower} $2 {upper} \
         ORDER BY f.file_name LIMIT {limit}",
        columns_of("f")
    );
    let mut query = sqlx::query_as(&sql).bind(user).bind(&from.0);
    if let Some(end) = end {
        query = query.bind(end);
    }
    query.fetch_all(pool).await
}

/// How many files a folder holds, at any depth, and their bytes.
pub async fn totals(pool: &AnyPool, user: UserId, prefix: &str) -> Result<(i64, i64), sqlx::Error> {
    let (upper, end) = upper_bound(prefix);
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM files \
         WHERE user_id = $1 AND file_name >= $2 {upper}"
    );
    let mut query = sqlx::query_as(&sql).bind(user).bind(prefix);
    if let Some(end) = end {
        query = query.bind(end);
    }
    query.fetch_one(pool).await
}

/// Up to `limit` names under `prefix`, at any depth, in byte order.
pub async fn names_under(
    pool: &AnyPool,
    user: UserId,
    prefix: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let (upper, end) = upper_bound(prefix);
    let sql = format!(
        "SELECT file_name FROM files WHERE user_id = $1 AND file_name >= $2 {upper} \
         ORDER BY file_name LIMIT {limit}"
    );
    let mut query = sqlx::query_scalar(&sql).bind(user).bind(prefix);
    if let Some(end) = end {
        query = query.bind(end);
    }
    query.fetch_all(pool).await
}

/// Renames every file under `from` to the same path under `to` (both folder
/// prefixes), unless one of the new names is taken: then nothing moves and
/// the first taken name is returned. The caller's transaction makes the
/// check and the move one step.
pub async fn move_all(
    conn: &mut AnyConnection,
    user: UserId,
    from: &str,
    to: &str,
) -> Result<Result<u64, String>, sqlx::Error> {
    let Some(end) = prefix_end(from) else {
        return Ok(Ok(0));
    };
    // Characters, as SUBSTR counts on both databases.
    let rest_starts = i64::try_from(from.chars().count() + 1).unwrap_or(i64::MAX);
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT b.file_name FROM files a \
         JOIN files b ON b.user_id = a.user_id AND b.file_name = $4 || SUBSTR(a.file_name, CAST($5 AS INTEGER)) \
         WHERE a.user_id = $1 AND a.file_name >= $2 AND a.file_name < $3 ORDER BY b.file_name LIMIT 1",
    )
    .bind(user)
    .bind(from)
    .bind(&end)
    .bind(to)
    .bind(rest_starts)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(name) = taken {
        return Ok(Err(name));
    }
    let done = sqlx::query(
        "UPDATE files SET file_name = $4 || SUBSTR(file_name, CAST($5 AS INTEGER)) \
         WHERE user_id = $1 AND file_name >= $2 AND file_name < $3",
    )
    .bind(user)
    .bind(from)
    .bind(&end)
    .bind(to)
    .bind(rest_starts)
    .execute(conn)
    .await?;
    Ok(Ok(done.rows_affected()))
}

/// Renames one file; `None` when the user has no file `from`. A taken `to`
/// is the database's unique violation.
pub async fn rename(
    conn: &mut AnyConnection,
    user: UserId,
    from: &str,
    to: &str,
) -> Result<Option<FileRecord>, sqlx::Error> {
    let sql = format!(
        "UPDATE files SET file_name = $3 WHERE user_id = $1 AND file_name = $2 RETURNING {}",
        crate::db::files::COLUMNS
    );
    sqlx::query_as(&sql)
        .bind(user)
        .bind(from)
        .bind(to)
        .fetch_optional(conn)
        .await
}

/// The SQL of a range's upper bound (`$3`) and its value, if it has one.
fn upper_bound(prefix: &str) -> (&'static str, Option<String>) {
    match prefix_end(prefix) {
        Some(end) => ("AND file_name < $3", Some(end)),
        None => ("", None),
    }
}
