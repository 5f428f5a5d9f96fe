//! Files shared with other users for reading: one row per (file, recipient).
//! A share goes with its file (`ON DELETE CASCADE`) and with its recipient's
//! account ([`remove_recipient`]).

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::db::files::{FileRecord, columns_of};
use crate::domain::UserId;

/// A file shared with the reader: whose it is, since when, and the file.
#[derive(Debug, Clone, FromRow)]
pub struct SharedFile {
    pub owner: String,
    pub shared_at: i64,
    #[sqlx(flatten)]
    pub file: FileRecord,
}

/// Someone a file is shared with.
#[derive(Debug, Clone, FromRow)]
pub struct Recipient {
    pub username: String,
    pub shared_at: i64,
}

/// Shares file `file_id` with `user`; false if it already was.
pub async fn add(
    conn: &mut AnyConnection,
    file_id: i64,
    user: UserId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO shares (file_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (file_id, user_id) DO NOTHING",
    )
    .bind(file_id)
    .bind(user)
    .bind(now)
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// When file `file_id` was shared with `user`, if it is.
pub async fn shared_at(
    conn: &mut AnyConnection,
    file_id: i64,
    user: UserId,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT created_at FROM shares WHERE file_id = $1 AND user_id = $2")
        .bind(file_id)
        .bind(user)
        .fetch_optional(conn)
        .await
}

/// Stops sharing file `file_id` with `user`; false if it was not.
pub async fn remove(conn: &mut AnyConnection, file_id: i64, user: UserId) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM shares WHERE file_id = $1 AND user_id = $2")
        .bind(file_id)
        .bind(user)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Every share with `user`, as their account goes.
pub async fn remove_recipient(conn: &mut AnyConnection, user: UserId) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM shares WHERE user_id = $1")
        .bind(user)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}

/// Who file `file_id` is shared with, by username.
pub async fn recipients(pool: &AnyPool, file_id: i64) -> Result<Vec<Recipient>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.username, s.created_at AS shared_at FROM shares s JOIN users u ON u.id = s.user_id \
         WHERE s.file_id = $1 ORDER BY u.username",
    )
    .bind(file_id)
    .fetch_all(pool)
    .await
}

const SHARED: &str = "FROM shares s JOIN files f ON f.id = s.file_id JOIN users o ON o.id = f.user_id";

/// The files shared with `user`, newest share first.
pub async fn shared_with(pool: &AnyPool, user: UserId) -> Result<Vec<SharedFile>, sqlx::Error> {
    let sql = format!(
        "SELECT o.username AS owner, s.created_at AS shared_at, {} {SHARED} \
         WHERE s.user_id = $1 ORDER BY s.created_at DESC, f.id DESC",
        columns_of("f")
    );
    sqlx::query_as(&sql).bind(user).fetch_all(pool).await
}

/// `owner`'s file `file_name`, if it is shared with `user`.
pub async fn find(
    pool: &AnyPool,
    user: UserId,
    owner: &str,
    file_name: &str,
) -> Result<Option<SharedFile>, sqlx::Error> {
    let sql = format!(
        "SELECT o.username AS owner, s.created_at AS shared_at, {} {SHARED} \
         WHERE s.user_id = $1 AND o.username = $2 AND f.file_name = $3",
        columns_of("f")
    );
    sqlx::query_as(&sql)
        .bind(user)
        .bind(owner)
        .bind(file_name)
        .fetch_optional(pool)
        .await
}
