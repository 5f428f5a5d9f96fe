//! Accounts for the built-in register/login endpoints. The first account is
//! an admin; later ones are admins only when made so (`depot user add --admin`).

use sqlx::AnyPool;

use crate::domain::UserId;
use crate::domain::timestamp::now_micros;

/// An account as a login needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
    pub is_admin: i64,
}

/// Creates a user, an admin if `admin` or if it is the first; returns its id
/// and whether it is an admin. A taken username surfaces as a unique violation.
pub async fn create(
    pool: &AnyPool,
    username: &str,
    password_hash: &str,
    admin: bool,
) -> Result<(UserId, bool), sqlx::Error> {
    let (id, is_admin): (UserId, i64) = sqlx::query_as(
        "INSERT INTO users (username, password_hash, created_at, is_admin) \
         SELECT $1, $2, $3, CASE WHEN $4 = 1 OR NOT EXISTS (SELECT 1 FROM users) THEN 1 ELSE 0 END \
         RETURNING id, is_admin",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_micros())
    .bind(i64::from(admin))
    .fetch_one(pool)
    .await?;
    Ok((id, is_admin == 1))
}

/// The account named `username`, if it exists.
pub async fn find_credentials(pool: &AnyPool, username: &str) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash, is_admin FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
}
