//! Resumable uploads in progress (see migration `0005_uploads.sql`). Every
//! change of an upload's progress is made under its lock, and every read is
//! scoped to its owner.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::domain::UploadId;
use crate::domain::UserId;
use crate::storage::ResumeState;

const COLUMNS: &str = "id, user_id, session_id, record_id, file_name, filename, description, metadata, \
                       length, upload_offset, store_state, hash_state, created_at, expires_at, locked_until, link_id, \
                       replace_existing, file_metadata";

#[derive(Debug, Clone, FromRow)]
pub struct UploadRow {
    pub id: String,
    pub user_id: UserId,
    pub session_id: String,
    pub record_id: String,
    pub file_name: String,
    pub filename: String,
    pub description: String,
    pub metadata: String,
    pub length: i64,
    pub upload_offset: i64,
    /// A state the row holds damaged fails the read that finds it.
    #[sqlx(try_from = "String")]
    pub store_state: ResumeState,
    pub hash_state: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub locked_until: Option<i64>,
    /// The upload link it was created through, if it was.
    pub link_id: Option<String>,
    /// 1 if it takes the place of a file of the same name.
    pub replace_existing: i64,
    /// The file's metadata, a JSON object validated at creation.
    pub file_metadata: String,
}

#[derive(Debug)]
pub struct NewUpload<'a> {
    pub id: UploadId,
    pub user_id: UserId,
    pub session_id: String,
    pub record_id: &'a str,
    pub file_name: &'a str,
    pub filename: &'a str,
    pub description: &'a str,
    pub metadata: &'a str,
    pub length: i64,
    pub hash_state: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub link_id: Option<&'a str>,
    pub replace_existing: bool,
    pub file_metadata: &'a str,
}

pub async fn insert(pool: &AnyPool, upload: &NewUpload<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO uploads (id, user_id, session_id, record_id, file_name, filename, description, \
         metadata, length, hash_state, created_at, expires_at, link_id, replace_existing, file_metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(upload.id.to_string())
    .bind(upload.user_id)
    .bind(&upload.session_id)
    .bind(upload.record_id)
    .bind(upload.file_name)
    .bind(upload.filename)
    .bind(upload.description)
    .bind(upload.metadata)
    .bind(upload.length)
    .bind(upload.hash_state.clone())
    .bind(upload.created_at)
    .bind(upload.expires_at)
    .bind(upload.link_id)
    .bind(i64::from(upload.replace_existing))
    .bind(upload.file_metadata)
    .execute(pool)
    .await
    .map(drop)
}

/// The user's upload `id`; another user's is `None`, as if it did not exist.
pub async fn find(pool: &AnyPool, id: UploadId, user: UserId) -> Result<Option<UploadRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM uploads WHERE id = $1 AND user_id = $2");
    sqlx::query_as(&sql)
        .bind(id.to_string())
        .bind(user)
        .fetch_optional(pool)
        .await
}

/// Takes the lock of the user's unexpired upload for `token` until `until`,
/// unless someone holds it still; the upload as it stands when taken.
pub async fn lock(
    pool: &AnyPool,
    id: UploadId,
    user: UserId,
    token: &str,
    now: i64,
    until: i64,
) -> Result<Option<UploadRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE uploads SET lock_token = $3, locked_until = $5 \
         WHERE id = $1 AND user_id = $2 AND expires_at >= $4 AND (locked_until IS NULL OR locked_until < $4) \
         RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(id.to_string())
        .bind(user)
        .bind(token)
        .bind(now)
        .bind(until)
        .fetch_optional(pool)
        .await
}

/// Extends a lock `token` holds; `false` when it no longer holds it.
pub async fn renew(pool: &AnyPool, id: UploadId, token: &str, until: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("UPDATE uploads SET locked_until = $3 WHERE id = $1 AND lock_token = $2")
        .bind(id.to_string())
        .bind(token)
        .bind(until)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Durable progress of an upload: where it stands, what the blob store and the
/// hashes need to go on from there, and until when it lives.
#[derive(Debug)]
pub struct Progress {
    pub offset: i64,
    pub store_state: ResumeState,
    pub hash_state: Vec<u8>,
    pub expires_at: i64,
    /// The digests of the CID leaves finished since the last progress (32
    /// bytes each), and the index of the first.
    pub first_leaf: i64,
    pub leaves: Vec<u8>,
}

/// Records durable progress, if `token` still holds the lock (which it keeps).
pub async fn record(
    pool: &AnyPool,
    id: UploadId,
    token: &str,
    progress: Progress,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let recorded = sqlx::query(
        "UPDATE uploads SET upload_offset = $3, store_state = $4, hash_state = $5, expires_at = $6 \
         WHERE id = $1 AND lock_token = $2",
    )
    .bind(id.to_string())
    .bind(token)
    .bind(progress.offset)
    .bind(progress.store_state.encode())
    .bind(progress.hash_state)
    .bind(progress.expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !recorded {
        return Ok(false);
    }
    if !progress.leaves.is_empty() {
        sqlx::query("INSERT INTO upload_leaves (upload_id, first_leaf, digests) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(progress.first_leaf)
            .bind(progress.leaves)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The digests of an upload's recorded CID leaves, in order: `None` if the
/// rows do not follow on from each other.
pub async fn leaves(pool: &AnyPool, id: UploadId) -> Result<Option<Vec<[u8; 32]>>, sqlx::Error> {
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT first_leaf, digests FROM upload_leaves WHERE upload_id = $1 ORDER BY first_leaf",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    let mut leaves: Vec<[u8; 32]> = Vec::new();
    for (first, digests) in rows {
        if first != leaves.len() as i64 || digests.len() % 32 != 0 {
            return Ok(None);
        }
        leaves.extend(
            digests
                .chunks_exact(32)
                .map(|digest| <[u8; 32]>::try_from(digest).unwrap_or_default()),
        );
    }
    Ok(Some(leaves))
}

/// Lets go of the lock without progress.
pub async fn unlock(pool: &AnyPool, id: UploadId, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET lock_token = NULL, locked_until = NULL WHERE id = $1 AND lock_token = $2")
        .bind(id.to_string())
        .bind(token)
        .execute(pool)
        .await
        .map(drop)
}

/// Removes the upload (completed, terminated or expired); false if it was
/// gone already.
pub async fn delete(conn: &mut AnyConnection, id: UploadId) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Takes the lock of an expired upload nobody is writing to, to remove it.
pub async fn claim_expired(
    pool: &AnyPool,
    id: UploadId,
    token: &str,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE uploads SET lock_token = $2, locked_until = $4 \
         WHERE id = $1 AND expires_at < $3 AND (locked_until IS NULL OR locked_until < $3)",
    )
    .bind(id.to_string())
    .bind(token)
    .bind(now)
    .bind(until)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Uploads past their expiry that nobody is writing to, oldest first.
pub async fn expired(pool: &AnyPool, now: i64, limit: i64) -> Result<Vec<UploadRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM uploads WHERE expires_at < $1 AND (locked_until IS NULL OR locked_until < $1) \
         ORDER BY expires_at LIMIT $2"
    );
    sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(pool).await
}

/// Makes every resumable upload expired as of `now`, for the expiry to end
/// (a restored deployment's, whose staged bytes were not backed up);
/// returns how many there are.
pub async fn expire_all(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE uploads SET expires_at = $1, lock_token = NULL, locked_until = NULL")
        .bind(now - 1)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}

/// Lets go of every lock: on a single-node backend (SQLite) at startup, when
/// whoever held them is gone.
pub async fn unlock_all(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE uploads SET lock_token = NULL, locked_until = NULL WHERE lock_token IS NOT NULL")
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}
