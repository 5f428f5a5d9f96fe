//! Links: a download link opens one file to whoever holds its URL, an upload
//! link lets them upload into its owner's space. Their counters move in
//! single conditional updates, so a limit holds however many nodes serve
//! the link at once.

use sqlx::{AnyConnection, AnyPool, FromRow};

use crate::domain::UserId;

/// What a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Download,
    Upload,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Download => "download",
            Self::Upload => "upload",
        }
    }
}

/// A link as stored, with the name of the file a download link opens.
#[derive(Debug, Clone, FromRow)]
pub struct Link {
    pub id: String,
    pub owner_id: UserId,
    pub kind: String,
    pub file_id: Option<i64>,
    pub file_name: Option<String>,
    /// 0 for a link the web UI made for its own download.
    pub listed: i32,
    pub password_hash: Option<String>,
    pub expires_at: Option<i64>,
    pub max_downloads: Option<i64>,
    pub downloads: i64,
    pub max_files: Option<i64>,
    pub files: i64,
    pub max_bytes: Option<i64>,
    pub created_at: i64,
}

impl Link {
    pub fn kind(&self) -> Kind {
        if self.kind == "upload" {
            Kind::Upload
        } else {
            Kind::Download
        }
    }

    /// Whether the link is past its expiry at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the link no longer opens anything new at `now`: past its
    /// expiry, or every download or file it allowed used (or, for files,
    /// held by uploads under way).
    pub fn ended(&self, now: i64) -> bool {
        self.expired(now)
            || self.max_downloads.is_some_and(|most| self.downloads >= most)
            || self.max_files.is_some_and(|most| self.files >= most)
    }
}

/// A link to be stored.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    pub id: &'a str,
    pub owner: UserId,
    pub kind: Kind,
    pub file_id: Option<i64>,
    pub listed: bool,
    pub password_hash: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub max_downloads: Option<i64>,
    pub max_files: Option<i64>,
    pub max_bytes: Option<i64>,
    pub created_at: i64,
}

const SELECT: &str = "SELECT l.id, l.owner_id, l.kind, l.file_id, f.file_name, l.listed, l.password_hash, \
                      l.expires_at, l.max_downloads, l.downloads, l.max_files, l.files, l.max_bytes, \
                      l.created_at FROM links l LEFT JOIN files f ON f.id = l.file_id";

pub async fn insert(conn: &mut AnyConnection, link: &NewLink<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO links (id, owner_id, kind, file_id, listed, password_hash, expires_at, \
         max_downloads, max_files, max_bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(link.id)
    .bind(link.owner)
    .bind(link.kind.as_str())
    .bind(link.file_id)
    .bind(i32::from(link.listed))
    .bind(link.password_hash)
    .bind(link.expires_at)
    .bind(link.max_downloads)
    .bind(link.max_files)
    .bind(link.max_bytes)
    .bind(link.created_at)
    .execute(conn)
    .await
    .map(drop)
}

/// The link `id`, whoever owns it.
pub async fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// `owner`'s link `id`.
pub async fn find_owned(
    conn: &mut AnyConnection,
    owner: UserId,
    id: &str,
) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE l.id = $1 AND l.owner_id = $2"))
        .bind(id)
        .bind(owner)
        .fetch_optional(conn)
        .await
}

/// `owner`'s listed links, newest first.
pub async fn list(pool: &AnyPool, owner: UserId) -> Result<Vec<Link>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE l.owner_id = $1 AND l.listed = 1 ORDER BY l.created_at DESC, l.id"
    ))
    .bind(owner)
    .fetch_all(pool)
    .await
}

/// Sets the expiry and download limit of `owner`'s link `id`; false if
/// they have none such.
pub async fn change(
    conn: &mut AnyConnection,
    owner: UserId,
    id: &str,
    expires_at: Option<i64>,
    max_downloads: Option<i64>,
) -> Result<bool, sqlx::Error> {
    sqlx::query("UPDATE links SET expires_at = $3, max_downloads = $4 WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner)
        .bind(expires_at)
        .bind(max_downloads)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Removes `owner`'s link `id`; false if they have none such.
pub async fn remove(conn: &mut AnyConnection, owner: UserId, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM links WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Every link of `owner`, as their account goes.
pub async fn remove_owner(conn: &mut AnyConnection, owner: UserId) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM links WHERE owner_id = $1")
        .bind(owner)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}

/// Counts one download through link `id` if the link is live at `now` and
/// has one left; false if not. One statement, so concurrent downloads on
/// any node never pass the limit.
pub async fn take_download(pool: &AnyPool, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE links SET downloads = downloads + 1 WHERE id = $1 \
         AND (expires_at IS NULL OR expires_at > $2) \
         AND (max_downloads IS NULL OR downloads < max_downloads)",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Counts one file uploaded through link `id`, as [`take_download`] does.
pub async fn take_file(pool: &AnyPool, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE links SET files = files + 1 WHERE id = $1 \
         AND (expires_at IS NULL OR expires_at > $2) \
         AND (max_files IS NULL OR files < max_files)",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Gives back a file [`take_file`] counted for an upload that failed.
pub async fn give_back_file<'c>(conn: impl sqlx::AnyExecutor<'c>, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE links SET files = files - 1 WHERE id = $1 AND files > 0")
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

/// Removes the links that expired before `before`; returns how many went.
pub async fn remove_ended(pool: &AnyPool, before: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM links WHERE expires_at IS NOT NULL AND expires_at < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}
