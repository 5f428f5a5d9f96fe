//! `POST /api/v1/auth/register` and `/login`: built-in accounts that get a token.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::password;
use crate::db::is_unique_violation;
use crate::db::users;
use crate::domain::UserId;
use crate::http::error::ApiError;
use crate::http::json_error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    #[schema(value_type = i64)]
    user_id: UserId,
    /// Whether the account is an admin: its token also opens `/api/v1/admin/…`.
    admin: bool,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", security(()),
    request_body = Credentials,
    responses((status = 201, description = "The account and its token; the first account is an admin", body = TokenResponse),
        (status = 409, description = "The username is taken (`username_taken`)", body = crate::http::openapi::ErrorBody), (status = 422, description = "A bad username or password", body = crate::http::openapi::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let Json(credentials) = body.map_err(json_error)?;
    let username = credentials.username.trim();
    audit.note_name(username);
    password::check_new_account(username, &credentials.password)?;
    let hash = password::hash(credentials.password).await?;
    let (user_id, admin) = users::create(state.db.pool(), username, &hash, false)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                ApiError::UsernameTaken(username.to_owned())
            } else {
                err.into()
            }
        })?;
    tracing::info!(user = user_id.get(), admin, "user registered");
    audit.note_actor(user_id);
    Ok((StatusCode::CREATED, Json(token_for(&state, user_id, admin)?)))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = Credentials,
    responses((status = 200, description = "A token", body = TokenResponse),
        (status = 401, description = "Wrong username or password (`invalid_credentials`)", body = crate::http::openapi::ErrorBody), (status = 422, description = "Not the expected JSON", body = crate::http::openapi::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(credentials) = body.map_err(json_error)?;
    audit.note_name(credentials.username.trim());
    let Some(account) = users::find_credentials(state.db.pool(), credentials.username.trim()).await? else {
        password::verify_decoy(credentials.password).await?;
        return Err(ApiError::InvalidCredentials);
    };
    if !password::verify(credentials.password, account.password_hash).await? {
        return Err(ApiError::InvalidCredentials);
    }
    audit.note_actor(account.id);
    Ok(Json(token_for(&state, account.id, account.is_admin == 1)?))
}

fn token_for(state: &AppState, user_id: UserId, admin: bool) -> Result<TokenResponse, ApiError> {
    Ok(TokenResponse {
        access_token: state.keys.issue_default(user_id, admin)?,
        token_type: "bearer",
        user_id,
        admin,
    })
}
