//! File rows: one per (user, file name), pointing at a blob by its SHA-256.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::db::conditions::{Conditions, contains_pattern, prefix_pattern};
use crate::domain::{FileMetadata, UserId};
use crate::storage::BlobKey;

pub const COLUMNS: &str = "id, user_id, file_name, storage_uri, description, summary, profile, size, content_type, sha256, cid, corrupt_at, created_at, metadata";

/// The file columns of a query that names the files table `alias`.
pub fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A condition on file `f` (the files table under that alias): user `$n`
/// owns it or it is shared with them — the files they may read.
pub fn readable_by(user_param: &str) -> String {
    format!(
        "(f.user_id = {user_param} OR f.id IN (SELECT s.file_id FROM shares s WHERE s.user_id = {user_param}))"
    )
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FileRecord {
    pub id: i64,
    pub user_id: UserId,
    pub file_name: String,
    pub storage_uri: String,
    pub description: String,
    pub summary: String,
    /// The dataset profile as JSON; empty for files that are not datasets.
    pub profile: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    /// The IPFS CID (CIDv1, kubo's defaults); empty for files stored before CIDs.
    pub cid: String,
    /// When the stored bytes were found not to match the CID.
    pub corrupt_at: Option<i64>,
    pub created_at: i64,
    /// The uploader's metadata, a JSON object (`{}` when none was given).
    pub metadata: String,
}

impl FileRecord {
    /// The key of the blob holding the file's bytes.
    pub fn blob_key(&self) -> Result<BlobKey, sqlx::Error> {
        crate::db::blobs::stored_key(&self.sha256)
    }
}

/// What an upload knows once its bytes are staged.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub user_id: UserId,
    pub file_name: String,
    pub storage_uri: String,
    pub description: String,
    pub summary: String,
    /// The dataset profile as JSON; empty for files that are not datasets.
    pub profile: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    /// The IPFS CID (CIDv1, kubo's defaults); empty for files stored before CIDs.
    pub cid: String,
    pub created_at: i64,
    pub metadata: FileMetadata,
}

/// Filters of `GET /api/v1/files/`; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    /// Names that start with it (a folder's prefix, `reports/`, takes
    /// everything under the folder at any depth).
    pub prefix: Option<String>,
    /// Case-insensitive substring of the file name.
    pub name_contains: Option<String>,
    /// An exact media type, or a top-level type with `/*` (`image/*`).
    pub content_type: Option<String>,
    pub min_size: Option<i64>,
    pub max_size: Option<i64>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    /// Top-level metadata keys and the value each must have, as compact JSON
    /// text ([`crate::domain::metadata::searchable_text`]).
    pub metadata: Vec<(String, String)>,
}

/// Which slice of the listing to return.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// Keyset pagination, newest first: rows older than the row with id `after`.
    Cursor { after: Option<i64>, limit: i64 },
    /// Numbered pages, 1-based, in the given order.
    Numbered { page: i64, page_size: i64, order: Order },
}

/// The order of numbered pages; ties go newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Newest,
    Oldest,
    /// By name, case-folded, A to Z.
    Name,
    NameDescending,
    Smallest,
    Largest,
}

impl Order {
    /// From `sort`: `created_at`, `name` or `size`, with `-` first for descending.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "-created_at" => Self::Newest,
            "created_at" => Self::Oldest,
            "name" => Self::Name,
            "-name" => Self::NameDescending,
            "size" => Self::Smallest,
            "-size" => Self::Largest,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Self::Newest => "id DESC",
            Self::Oldest => "id ASC",
            Self::Name => "LOWER(file_name) ASC, file_name ASC, id DESC",
            Self::NameDescending => "LOWER(file_name) DESC, file_name DESC, id DESC",
            Self::Smallest => "size ASC, id DESC",
            Self::Largest => "size DESC, id DESC",
        }
    }
}

/// Inserts the file's row and the index of its metadata.
pub async fn insert(conn: &mut AnyConnection, file: &NewFile) -> Result<FileRecord, sqlx::Error> {
    let sql = format!(
        "INSERT INTO files (user_id, file_name, storage_uri, description, summary, profile, size, content_type, sha256, cid, created_at, metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
    );
    let record: FileRecord = sqlx::query_as(&sql)
        .bind(file.user_id)
        .bind(&file.file_name)
        .bind(&file.storage_uri)
        .bind(&file.description)
        .bind(&file.summary)
        .bind(&file.profile)
        .bind(file.size)
        .bind(&file.content_type)
        .bind(&file.sha256)
        .bind(&file.cid)
        .bind(file.created_at)
        .bind(file.metadata.as_json())
        .fetch_one(&mut *conn)
        .await?;
    for (key, value) in file.metadata.searchable() {
        sqlx::query("INSERT INTO file_metadata (file_id, key, value) VALUES ($1, $2, $3)")
            .bind(record.id)
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    Ok(record)
}

pub async fn find(pool: &AnyPool, user: UserId, file_name: &str) -> Result<Option<FileRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE user_id = $1 AND file_name = $2");
    sqlx::query_as(&sql)
        .bind(user)
        .bind(file_name)
        .fetch_optional(pool)
        .await
}

/// Flags every file with content `sha256` as corrupt (once).
pub async fn mark_corrupt(pool: &AnyPool, sha256: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE files SET corrupt_at = $1 WHERE sha256 = $2 AND corrupt_at IS NULL")
        .bind(crate::domain::timestamp::now_micros())
        .bind(sha256)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}

/// Every file with content `sha256`, whoever owns it: (user id, file name).
pub async fn names_with_content(pool: &AnyPool, sha256: &str) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, file_name FROM files WHERE sha256 = $1 ORDER BY user_id, file_name")
        .bind(sha256)
        .fetch_all(pool)
        .await
}

/// Points every file with this content at `storage_uri` (its blob moved stores).
pub async fn relocate(pool: &AnyPool, sha256: &str, storage_uri: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE files SET storage_uri = $2 WHERE sha256 = $1 AND storage_uri <> $2")
        .bind(sha256)
        .bind(storage_uri)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}

/// The user's files with content `cid`, oldest first.
pub async fn find_by_cid(pool: &AnyPool, user: UserId, cid: &str) -> Result<Vec<FileRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE user_id = $1 AND cid = $2 ORDER BY created_at, id");
    sqlx::query_as(&sql).bind(user).bind(cid).fetch_all(pool).await
}

/// The files with content `cid` that `user` owns or was shared, theirs
/// first, then oldest first.
pub async fn readable_by_cid(
    pool: &AnyPool,
    user: UserId,
    cid: &str,
) -> Result<Vec<FileRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM files f WHERE f.cid = $2 AND {} \
         ORDER BY CASE WHEN f.user_id = $1 THEN 0 ELSE 1 END, f.created_at, f.id",
        columns_of("f"),
        readable_by("$1")
    );
    sqlx::query_as(&sql).bind(user).bind(cid).fetch_all(pool).await
}

pub async fn find_by_id(pool: &AnyPool, id: i64) -> Result<Option<FileRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE id = $1");
    sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
}

/// Finds the user's file and locks its row until the transaction ends, so that
/// making it active and deleting it happen one after the other.
pub async fn lock_owned(
    conn: &mut AnyConnection,
    user: UserId,
    file_name: &str,
) -> Result<Option<FileRecord>, sqlx::Error> {
    let sql = format!("UPDATE files SET id = id WHERE user_id = $1 AND file_name = $2 RETURNING {COLUMNS}");
    sqlx::query_as(&sql)
        .bind(user)
        .bind(file_name)
        .fetch_optional(conn)
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

/// Up to `limit` of `user`'s file names, in no particular order.
pub async fn names_of(pool: &AnyPool, user: UserId, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT file_name FROM files WHERE user_id = $1 LIMIT $2")
        .bind(user)
        .bind(limit)
        .fetch_all(pool)
        .await
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
    let mut conditions = Conditions::new("user_id = {}", user.get());
    if let Some(prefix) = &filter.prefix {
        conditions.push_text("file_name >= {}", prefix.clone());
        if let Some(end) = crate::domain::file_name::prefix_end(prefix) {
            conditions.push_text("file_name < {}", end);
        }
    }
    if let Some(name) = &filter.name_contains {
        conditions.push_text("LOWER(file_name) LIKE {} ESCAPE '\\'", contains_pattern(name));
    }
    match filter
        .content_type
        .as_deref()
        .map(|wanted| (wanted, wanted.strip_suffix("/*")))
    {
        Some((_, Some(top_level))) => {
            conditions.push_text(
                "content_type LIKE {} ESCAPE '\\'",
                prefix_pattern(&format!("{top_level}/")),
            );
        }
        Some((exact, None)) => conditions.push_text("content_type = {}", exact.to_owned()),
        None => {}
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
    for (key, value) in &filter.metadata {
        conditions.push_texts(
            "id IN (SELECT m.file_id FROM file_metadata m WHERE m.key = {} AND m.value = {})",
            [key.clone(), value.clone()],
        );
    }

    let total = match page {
        Page::Numbered { .. } => {
            let sql = format!("SELECT COUNT(*) FROM files WHERE {}", conditions.sql());
            Some(
                conditions
                    .bind_scalar(sqlx::query_scalar::<_, i64>(&sql))
                    .fetch_one(pool)
                    .await?,
            )
        }
        Page::Cursor { .. } => None,
    };

    let (limit, offset, order) = match page {
        Page::Cursor { after, limit } => {
            if let Some(after) = after {
                conditions.push_int("id < {}", after);
            }
            (limit, 0, Order::Newest)
        }
        Page::Numbered {
            page,
            page_size,
            order,
        } => (page_size, (page - 1).saturating_mul(page_size), order),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM files WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        conditions.sql(),
        order.sql()
    );
    let rows = conditions
        .bind_rows(sqlx::query_as::<_, FileRecord>(&sql))
        .fetch_all(pool)
        .await?;
    Ok((rows, total))
}

/// A user's storage: files and their bytes as listed (logical), and the
/// distinct contents behind them as stored (physical, each blob once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub files: i64,
    pub logical_bytes: i64,
    pub contents: i64,
    pub physical_bytes: i64,
}

/// (PostgreSQL sums `BIGINT`s as `NUMERIC`; the casts keep both backends on `i64`.)
pub async fn usage(pool: &AnyPool, user: UserId) -> Result<Usage, sqlx::Error> {
    let (files, logical_bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM files WHERE user_id = $1",
    )
    .bind(user)
    .fetch_one(pool)
    .await?;
    let (contents, physical_bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs \
         WHERE sha256 IN (SELECT sha256 FROM files WHERE user_id = $1)",
    )
    .bind(user)
    .fetch_one(pool)
    .await?;
    Ok(Usage {
        files,
        logical_bytes,
        contents,
        physical_bytes,
    })
}
