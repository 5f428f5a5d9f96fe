//! File rows: one per (user, file name), pointing at a blob by its SHA-256.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::auth::UserId;

const COLUMNS: &str =
    "id, user_id, file_name, storage_uri, description, summary, size, content_type, sha256, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct FileRecord {
    pub id: i64,
    pub user_id: i64,
    pub file_name: String,
    pub storage_uri: String,
    pub description: String,
    pub summary: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    pub created_at: i64,
}

/// What an upload knows once its bytes are staged.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub user_id: UserId,
    pub file_name: String,
    pub storage_uri: String,
    pub description: String,
    pub summary: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    pub created_at: i64,
}

/// Filters of `GET /api/v1/files/`; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    /// Case-insensitive substring of the file name.
    pub name_contains: Option<String>,
    pub content_type: Option<String>,
    pub min_size: Option<i64>,
    pub max_size: Option<i64>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
}

/// Which slice of the (newest first) listing to return.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// Keyset pagination: rows older than the row with id `after`.
    Cursor { after: Option<i64>, limit: i64 },
    /// Numbered pages, 1-based.
    Numbered { page: i64, page_size: i64 },
}

pub async fn insert(conn: &mut AnyConnection, file: &NewFile) -> Result<FileRecord, sqlx::Error> {
    let sql = format!(
        "INSERT INTO files (user_id, file_name, storage_uri, description, summary, size, content_type, sha256, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(file.user_id)
        .bind(&file.file_name)
        .bind(&file.storage_uri)
        .bind(&file.description)
        .bind(&file.summary)
        .bind(file.size)
        .bind(&file.content_type)
        .bind(&file.sha256)
        .bind(file.created_at)
        .fetch_one(conn)
        .await
}

pub async fn find(pool: &AnyPool, user: UserId, file_name: &str) -> Result<Option<FileRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE user_id = $1 AND file_name = $2");
    sqlx::query_as(&sql)
        .bind(user)
        .bind(file_name)
        .fetch_optional(pool)
        .await
}

pub async fn exists(pool: &AnyPool, user: UserId, file_name: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM files WHERE user_id = $1 AND file_name = $2")
        .bind(user)
        .bind(file_name)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Deletes the row and returns it, or `None` when the user has no such file.
pub async fn delete(
    conn: &mut AnyConnection,
    user: UserId,
    file_name: &str,
) -> Result<Option<FileRecord>, sqlx::Error> {
    let sql = format!("DELETE FROM files WHERE user_id = $1 AND file_name = $2 RETURNING {COLUMNS}");
    sqlx::query_as(&sql)
        .bind(user)
        .bind(file_name)
        .fetch_optional(conn)
        .await
}

/// One page of the user's files, newest first, and — for numbered pages — the
/// total number of matching files.
pub async fn list(
    pool: &AnyPool,
    user: UserId,
    filter: &FileFilter,
    page: Page,
) -> Result<(Vec<FileRecord>, Option<i64>), sqlx::Error> {
    let mut conditions = Conditions::new(user);
    if let Some(name) = &filter.name_contains {
        conditions.push_text("LOWER(file_name) LIKE {} ESCAPE '\\'", like_pattern(name));
    }
    if let Some(content_type) = &filter.content_type {
        conditions.push_text("content_type = {}", content_type.clone());
    }
    for (column_test, value) in [
        ("size >= {}", filter.min_size),
        ("size <= {}", filter.max_size),
        ("created_at >= {}", filter.created_after),
        ("created_at <= {}", filter.created_before),
    ] {
        if let Some(value) = value {
            conditions.push_int(column_test, value);
        }
    }

    let total = match page {
        Page::Numbered { .. } => {
            let sql = format!("SELECT COUNT(*) FROM files WHERE {}", conditions.sql);
            let mut query = sqlx::query_scalar::<_, i64>(&sql);
            for arg in &conditions.args {
                query = arg.bind_scalar(query);
            }
            Some(query.fetch_one(pool).await?)
        }
        Page::Cursor { .. } => None,
    };

    let (limit, offset) = match page {
        Page::Cursor { after, limit } => {
            if let Some(after) = after {
                conditions.push_int("id < {}", after);
            }
            (limit, 0)
        }
        Page::Numbered { page, page_size } => (page_size, (page - 1).saturating_mul(page_size)),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM files WHERE {} ORDER BY id DESC LIMIT {limit} OFFSET {offset}",
        conditions.sql
    );
    let mut query = sqlx::query_as::<_, FileRecord>(&sql);
    for arg in &conditions.args {
        query = arg.bind_row(query);
    }
    Ok((query.fetch_all(pool).await?, total))
}

/// A `LIKE` pattern matching `needle` anywhere, with its wildcards escaped.
fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A WHERE clause built with numbered placeholders, which both backends accept.
struct Conditions {
    sql: String,
    args: Vec<Arg>,
}

enum Arg {
    Int(i64),
    Text(String),
}

type RowQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Any, FileRecord, sqlx::any::AnyArguments<'q>>;
type ScalarQuery<'q> = sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments<'q>>;

impl Arg {
    fn bind_row<'q>(&'q self, query: RowQuery<'q>) -> RowQuery<'q> {
        match self {
            Self::Int(value) => query.bind(*value),
            Self::Text(value) => query.bind(value.as_str()),
        }
    }

    fn bind_scalar<'q>(&'q self, query: ScalarQuery<'q>) -> ScalarQuery<'q> {
        match self {
            Self::Int(value) => query.bind(*value),
            Self::Text(value) => query.bind(value.as_str()),
        }
    }
}

impl Conditions {
    fn new(user: UserId) -> Self {
        Self {
            sql: "user_id = $1".to_owned(),
            args: vec![Arg::Int(user)],
        }
    }

    fn push(&mut self, template: &str, arg: Arg) {
        self.args.push(arg);
        let placeholder = format!("${}", self.args.len());
        self.sql.push_str(" AND ");
        self.sql.push_str(&template.replace("{}", &placeholder));
    }

    fn push_int(&mut self, template: &str, value: i64) {
        self.push(template, Arg::Int(value));
    }

    fn push_text(&mut self, template: &str, value: String) {
        self.push(template, Arg::Text(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn conditions_number_their_placeholders() {
        let mut conditions = Conditions::new(7);
        conditions.push_text("a = {}", "x".to_owned());
        conditions.push_int("b >= {}", 3);
        assert_eq!(conditions.sql, "user_id = $1 AND a = $2 AND b >= $3");
        assert_eq!(conditions.args.len(), 3);
    }
}
