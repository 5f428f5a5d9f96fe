//! User administration for admins: `/api/v1/admin/users` lists accounts
//! with what they store, creates them, changes their role, standing,
//! password or storage quota (`PATCH`), and deletes them with their files.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::db::users::{self, Account};
use crate::domain::timestamp;
use crate::domain::{AccountRole, UserId};
use crate::http::caller::AdminUser;
use crate::http::error::ApiError;
use crate::http::json_error;
use crate::pipeline::Error;
use crate::pipeline::accounts::{self, Admission};
use crate::pipeline::audit::Audit;
use crate::pipeline::quota::Quota;
use crate::pipeline::state::AppState;

/// An account as an admin sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
    role: AccountRole,
    disabled: bool,
    created_at: String,
    /// When a credential of the account was last used (to the minute).
    last_seen_at: Option<String>,
    files: i64,
    /// The bytes of its files, each counted in full (deduplicated content too).
    bytes_used: i64,
    /// The account's own storage quota in bytes, where an admin set one
    /// (0: none); `null` when the deployment's applies.
    quota_bytes: Option<u64>,
    /// The account's own quota of files, likewise.
    quota_files: Option<u64>,
    /// The quota that applies to it: its own or the deployment's (0: none).
    quota: Quota,
}

impl UserView {
    fn of(account: Account, default: Quota) -> Self {
        let own = |limit: Option<i64>| limit.map(|limit| u64::try_from(limit).unwrap_or_default());
        let (quota_bytes, quota_files) = (own(account.quota_bytes), own(account.quota_files));
        Self {
            id: account.id,
            username: account.username,
            role: AccountRole::from_stored(&account.role),
            disabled: account.disabled != 0,
            created_at: timestamp::to_rfc3339(account.created_at),
            last_seen_at: account.last_seen_at.map(timestamp::to_rfc3339),
            files: account.files,
            bytes_used: account.bytes,
            quota_bytes,
            quota_files,
            quota: Quota::own_or(account.quota_bytes, account.quota_files, default),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    /// `user` (the default), `reader` or `admin`.
    #[serde(default)]
    role: Option<AccountRole>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// Promote or demote: `admin`, `user` or `reader`.
    role: Option<AccountRole>,
    /// Disable (its tokens and keys stop working) or re-enable.
    disabled: Option<bool>,
    /// A new password, set by the admin.
    password: Option<String>,
    /// The account's own storage quota in bytes (0: none); `null` gives it
    /// the deployment's again.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<u64>)]
    quota_bytes: Option<Option<u64>>,
    /// The account's own quota of files (0: none); `null` gives it the
    /// deployment's again.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<u64>)]
    quota_files: Option<Option<u64>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedUser {
    #[schema(value_type = i64)]
    id: UserId,
    username: String,
    files_deleted: u64,
}

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses((status = 200, description = "Every account, oldest first", body = [UserView])))]
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Vec<UserView>>, ApiError> {
    let accounts = users::accounts(state.db.pool()).await?;
    let default = state.policy.quota;
    Ok(Json(
        accounts
            .into_iter()
            .map(|account| UserView::of(account, default))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUser,
    responses((status = 201, description = "The account", body = UserView),
        (status = 409, description = "The username is taken (`username_taken`)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad username, password or role", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    _admin: AdminUser,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let Json(new) = body.map_err(json_error)?;
    let username = new.username.trim();
    audit.note_name(username);
    let role = new.role.unwrap_or(AccountRole::User);
    let (id, _) = accounts::create(&state, username, new.password, Admission::ByAdmin(role)).await?;
    tracing::info!(
        user = id.get(),
        role = role.as_str(),
        "account created by an admin"
    );
    let account = account(&state, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView::of(account, state.policy.quota)),
    ))
}

#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", params(("id" = i64, Path)),
    request_body = UserChange,
    responses((status = 200, description = "The account as changed; the tokens issued to it before stop working", body = UserView),
        (status = 404, description = "No such account", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "It would leave no enabled admin (`last_admin`)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad role or password", body = crate::http::openapi::ErrorBody)))]
pub async fn change(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    _admin: AdminUser,
    Path(id): Path<String>,
    body: Result<Json<UserChange>, JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let id = user_id(&id)?;
    let Json(change) = body.map_err(json_error)?;
    let change = accounts::Change {
        role: change.role,
        disabled: change.disabled,
        password: change.password,
        quota_bytes: change.quota_bytes,
        quota_files: change.quota_files,
    };
    let account = accounts::change(&state, &audit, id, change, "user_update").await?;
    Ok(Json(UserView::of(account, state.policy.quota)))
}

#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, description = "Deleted, with every file of the account; its audit events stay", body = DeletedUser),
        (status = 404, description = "No such account", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "It is the last enabled admin (`last_admin`)", body = crate::http::openapi::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<DeletedUser>, ApiError> {
    let id = user_id(&id)?;
    let (username, files_deleted) = accounts::delete(&state, &audit, id).await?;
    Ok(Json(DeletedUser {
        id,
        username,
        files_deleted,
    }))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map_err(|_| Error::NotFound("user").into())
}

async fn account(state: &AppState, id: UserId) -> Result<Account, ApiError> {
    let mut conn = state.db.pool().acquire().await.map_err(Error::from)?;
    Ok(users::account(&mut conn, id)
        .await
        .map_err(Error::from)?
        .ok_or(Error::NotFound("user"))?)
}
