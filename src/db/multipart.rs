//! Uploads in numbered parts: the upload (whose name, metadata and type the
//! file will have) and its parts, each a content kept in `blobs`.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::domain::UserId;

#[derive(Debug, Clone, FromRow)]
pub struct MultipartUpload {
    pub id: String,
    pub user_id: UserId,
    pub file_name: String,
    pub metadata: String,
    pub content_type: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Part {
    pub part_number: i32,
    pub sha256: String,
    pub size: i64,
    pub created_at: i64,
}

const UPLOAD_COLUMNS: &str = "id, user_id, file_name, metadata, content_type, created_at, expires_at";

pub async fn insert(conn: &mut AnyConnection, upload: &MultipartUpload) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO multipart_uploads (id, user_id, file_name, metadata, content_type, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&upload.id)
    .bind(upload.user_id)
    .bind(&upload.file_name)
    .bind(&upload.metadata)
    .bind(&upload.content_type)
    .bind(upload.created_at)
    .bind(upload.expires_at)
    .execute(conn)
    .await
    .map(drop)
}

/// `user`'s upload `id`; another user's is as missing as an unknown one.
pub async fn find(pool: &AnyPool, user: UserId, id: &str) -> Result<Option<MultipartUpload>, sqlx::Error> {
    let sql = format!("SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE id = $1 AND user_id = $2");
    sqlx::query_as(&sql)
        .bind(id)
        .bind(user)
        .fetch_optional(pool)
        .await
}

/// Locks upload `id`'s row until the transaction ends (a part stored and
/// the upload ending happen one after the other); `None` once it ended.
pub async fn lock(conn: &mut AnyConnection, id: &str) -> Result<Option<MultipartUpload>, sqlx::Error> {
    let sql = format!("UPDATE multipart_uploads SET id = id WHERE id = $1 RETURNING {UPLOAD_COLUMNS}");
    sqlx::query_as(&sql).bind(id).fetch_optional(conn).await
}

/// `user`'s uploads under way whose names start with `prefix`, by name
/// then age, `limit` at most.
pub async fn of_user(
    pool: &AnyPool,
    user: UserId,
    prefix: &str,
    limit: i64,
) -> Result<Vec<MultipartUpload>, sqlx::Error> {
    let sql = format!(
        "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE user_id = $1 AND SUBSTR(file_name, 1, CAST($2 AS INTEGER)) = $3 \
         ORDER BY file_name, created_at, id LIMIT {limit}"
    );
    sqlx::query_as(&sql)
        .bind(user)
        .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
        .bind(prefix)
        .fetch_all(pool)
        .await
}

/// The upload's parts, by number.
pub async fn parts(pool: &AnyPool, id: &str) -> Result<Vec<Part>, sqlx::Error> {
    sqlx::query_as(
        "SELECT part_number, sha256, size, created_at FROM multipart_parts WHERE upload_id = $1 ORDER BY part_number",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// Part `number` of upload `id`, if it is stored.
pub async fn part(pool: &AnyPool, id: &str, number: i32) -> Result<Option<Part>, sqlx::Error> {
    sqlx::query_as(
        "SELECT part_number, sha256, size, created_at FROM multipart_parts WHERE upload_id = $1 AND part_number = $2",
    )
    .bind(id)
    .bind(number)
    .fetch_optional(pool)
    .await
}

/// Records part `number` of upload `id`; returns the content of the part it
/// replaces, if the number was uploaded before.
pub async fn put_part(
    conn: &mut AnyConnection,
    id: &str,
    number: i32,
    sha256: &str,
    size: i64,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let replaced: Option<String> = sqlx::query_scalar(
        "DELETE FROM multipart_parts WHERE upload_id = $1 AND part_number = $2 RETURNING sha256",
    )
    .bind(id)
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO multipart_parts (upload_id, part_number, sha256, size, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(number)
    .bind(sha256)
    .bind(size)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(replaced)
}

/// Removes upload `id` and its parts; returns the parts' contents.
pub async fn remove(conn: &mut AnyConnection, id: &str) -> Result<Vec<String>, sqlx::Error> {
    let contents: Vec<String> =
        sqlx::query_scalar("DELETE FROM multipart_parts WHERE upload_id = $1 RETURNING sha256")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM multipart_uploads WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(contents)
}

/// The bytes of `user`'s parts of uploads under way: room they take of the
/// quota before they become a file.
pub async fn pending_bytes(pool: &AnyPool, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(p.size), 0) AS BIGINT) FROM multipart_parts p \
         JOIN multipart_uploads u ON u.id = p.upload_id WHERE u.user_id = $1",
    )
    .bind(user)
    .fetch_one(pool)
    .await
}

/// Up to `limit` uploads that expired before `now`.
pub async fn expired(pool: &AnyPool, now: i64, limit: i64) -> Result<Vec<(String, UserId)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id FROM multipart_uploads WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Up to `limit` of `user`'s uploads, any age.
pub async fn ids_of(pool: &AnyPool, user: UserId, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM multipart_uploads WHERE user_id = $1 LIMIT $2")
        .bind(user)
        .bind(limit)
        .fetch_all(pool)
        .await
}
