//! Accounts: the built-in register/login endpoints' users, their roles and
//! standing, and what an admin changes of them. The first account is an
//! admin; later ones are admins only when made so.

use sqlx::{AnyConnection, AnyPool};

use crate::domain::timestamp::now_micros;
use crate::domain::{AccountRole, UserId};

/// An account as a login needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
    #[sqlx(flatten)]
    pub standing: Standing,
}

/// What decides whether an account's credentials still work.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Standing {
    role: String,
    disabled: i64,
    pub token_generation: i64,
    pub last_seen_at: Option<i64>,
    /// The account's own storage quota, where an admin set one: `None`
    /// for the deployment's, 0 for none.
    pub quota_bytes: Option<i64>,
    pub quota_files: Option<i64>,
}

impl Standing {
    pub fn role(&self) -> AccountRole {
        AccountRole::from_stored(&self.role)
    }

    pub fn disabled(&self) -> bool {
        self.disabled != 0
    }
}

/// Creates a user with `role`, or an admin if it is the deployment's first
/// account; returns its id and role. A taken username surfaces as a unique
/// violation.
pub async fn create(
    conn: &mut AnyConnection,
    username: &str,
    password_hash: &str,
    role: AccountRole,
) -> Result<(UserId, AccountRole), sqlx::Error> {
    let (id, role): (UserId, String) = sqlx::query_as(
        "INSERT INTO users (username, password_hash, created_at, role) \
         SELECT $1, $2, $3, CASE WHEN NOT EXISTS (SELECT 1 FROM users) THEN 'admin' ELSE $4 END \
         RETURNING id, role",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_micros())
    .bind(role.as_str())
    .fetch_one(conn)
    .await?;
    Ok((id, AccountRole::from_stored(&role)))
}

/// Whether the deployment has no account yet: its first one becomes the admin.
pub async fn none_yet(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let (any,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS one")
        .fetch_one(conn)
        .await?;
    Ok(any == 0)
}

/// The account named `username`, if it exists.
pub async fn find_credentials(pool: &AnyPool, username: &str) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, role, disabled, token_generation, last_seen_at, quota_bytes, quota_files FROM users \
         WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await
}

/// The standing of `user`'s account, or `None` for a user depot has no row
/// for (one an external auth service vouches for).
pub async fn standing(pool: &AnyPool, user: UserId) -> Result<Option<Standing>, sqlx::Error> {
    sqlx::query_as(
        "SELECT role, disabled, token_generation, last_seen_at, quota_bytes, quota_files FROM users WHERE id = $1",
    )
        .bind(user)
        .fetch_optional(pool)
        .await
}

/// `user`'s username, if depot keeps their account.
pub async fn username(pool: &AnyPool, user: UserId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await
}

/// `user`'s username and when the account was made, if depot keeps it.
pub async fn name_and_created(pool: &AnyPool, user: UserId) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT username, created_at FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await
}

/// Revokes every token issued to `user` so far; returns the new generation,
/// or `None` if the account does not exist.
pub async fn revoke_tokens(conn: &mut AnyConnection, user: UserId) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET token_generation = token_generation + 1 WHERE id = $1 RETURNING token_generation",
    )
    .bind(user)
    .fetch_optional(conn)
    .await
}

/// Notes that `user` was seen at `now`.
pub async fn seen(pool: &AnyPool, user: UserId, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_seen_at = $2 WHERE id = $1")
        .bind(user)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
}

/// An account as an admin sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: UserId,
    pub username: String,
    pub role: String,
    pub disabled: i64,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub files: i64,
    pub bytes: i64,
    pub quota_bytes: Option<i64>,
    pub quota_files: Option<i64>,
}

const ACCOUNT: &str = "SELECT u.id, u.username, u.role, u.disabled, u.created_at, u.last_seen_at, \
     COALESCE(usage.files, 0) AS files, COALESCE(usage.bytes, 0) AS bytes, u.quota_bytes, u.quota_files \
     FROM users u LEFT JOIN user_usage usage ON usage.user_id = u.id";

/// Every account, oldest first.
pub async fn accounts(pool: &AnyPool) -> Result<Vec<Account>, sqlx::Error> {
    sqlx::query_as(&format!("{ACCOUNT} ORDER BY u.id"))
        .fetch_all(pool)
        .await
}

/// One account, if it exists.
pub async fn account(conn: &mut AnyConnection, user: UserId) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!("{ACCOUNT} WHERE u.id = $1"))
        .bind(user)
        .fetch_optional(conn)
        .await
}

/// What an admin changes of an account; `None` keeps a field.
#[derive(Debug, Default)]
pub struct AccountChange<'a> {
    pub role: Option<&'a str>,
    pub disabled: Option<bool>,
    pub password_hash: Option<&'a str>,
    /// The account's own quota: `Some(None)` gives it the deployment's again.
    pub quota_bytes: Option<Option<i64>>,
    pub quota_files: Option<Option<i64>>,
}

impl AccountChange<'_> {
    /// Whether the tokens issued before carry what the change makes untrue.
    fn revokes_tokens(&self) -> bool {
        self.role.is_some() || self.disabled.is_some() || self.password_hash.is_some()
    }
}

/// Applies `change` to `user`'s account — revoking the tokens issued to it
/// so far when they carry what it was; `false` if there is no such account.
pub async fn change(
    conn: &mut AnyConnection,
    user: UserId,
    change: &AccountChange<'_>,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
         password_hash = COALESCE($4, password_hash), token_generation = token_generation + $5, \
         quota_bytes = CASE WHEN $6 = 1 THEN $7 ELSE quota_bytes END, \
         quota_files = CASE WHEN $8 = 1 THEN $9 ELSE quota_files END \
         WHERE id = $1",
    )
    .bind(user)
    .bind(change.role)
    .bind(change.disabled.map(i64::from))
    .bind(change.password_hash)
    .bind(i64::from(change.revokes_tokens()))
    .bind(i64::from(change.quota_bytes.is_some()))
    .bind(change.quota_bytes.flatten())
    .bind(i64::from(change.quota_files.is_some()))
    .bind(change.quota_files.flatten())
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// How many enabled admins the deployment has.
pub async fn enabled_admins(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
        .fetch_one(conn)
        .await
}

/// The password hash of `user`, if depot keeps their account.
pub async fn password_hash(pool: &AnyPool, user: UserId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await
}

/// Removes what is left of `user` once their files are gone: their keys,
/// sessions and processing history, and the account itself. Resumable
/// uploads they left are made due for cleanup. Audit events stay.
pub async fn remove(conn: &mut AnyConnection, user: UserId) -> Result<bool, sqlx::Error> {
    for statement in [
        "DELETE FROM api_keys WHERE user_id = $1",
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM processing_records WHERE user_id = $1",
        "DELETE FROM processing_counts WHERE user_id = $1",
        "DELETE FROM quota_reservations WHERE user_id = $1",
        "DELETE FROM user_usage WHERE user_id = $1",
        "UPDATE uploads SET expires_at = 0 WHERE user_id = $1",
    ] {
        sqlx::query(statement).bind(user).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// The id of the account named `username`.
pub async fn id_of(pool: &AnyPool, username: &str) -> Result<Option<UserId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
}
