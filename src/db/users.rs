//! Accounts for the built-in register/login endpoints. The first account is
//! an admin; later ones are admins only when made so (`depot user add --admin`).

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
}

impl Standing {
    pub fn role(&self) -> AccountRole {
        AccountRole::from_stored(&self.role)
    }

    pub fn disabled(&self) -> bool {
        self.disabled != 0
    }
}

/// Creates a user, an admin if `admin` or if it is the first; returns its id
/// and whether it is an admin. A taken username surfaces as a unique violation.
pub async fn create(
    pool: &AnyPool,
    username: &str,
    password_hash: &str,
    admin: bool,
) -> Result<(UserId, bool), sqlx::Error> {
    let (id, role): (UserId, String) = sqlx::query_as(
        "INSERT INTO users (username, password_hash, created_at, role) \
         SELECT $1, $2, $3, CASE WHEN $4 = 1 OR NOT EXISTS (SELECT 1 FROM users) THEN 'admin' ELSE 'user' END \
         RETURNING id, role",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_micros())
    .bind(i64::from(admin))
    .fetch_one(pool)
    .await?;
    Ok((id, AccountRole::from_stored(&role) == AccountRole::Admin))
}

/// Whether the deployment has no account yet: its first one becomes the admin.
pub async fn none_yet(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let (any,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS one")
        .fetch_one(pool)
        .await?;
    Ok(any == 0)
}

/// The account named `username`, if it exists.
pub async fn find_credentials(pool: &AnyPool, username: &str) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, role, disabled, token_generation, last_seen_at FROM users \
         WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await
}

/// The standing of `user`'s account, or `None` for a user depot has no row
/// for (one an external auth service vouches for).
pub async fn standing(pool: &AnyPool, user: UserId) -> Result<Option<Standing>, sqlx::Error> {
    sqlx::query_as("SELECT role, disabled, token_generation, last_seen_at FROM users WHERE id = $1")
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
