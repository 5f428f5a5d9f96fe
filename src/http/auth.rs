//! `/api/v1/auth/…`: built-in accounts that register (as the sign-up
//! setting allows) and log in for a token, sign out everywhere, change
//! their password, and ask who they are (`me`).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::password;
use crate::db::users;
use crate::domain::{AccountRole, Scope, UserId};
use crate::http::caller::{AuthUser, Client};
use crate::http::error::ApiError;
use crate::http::json_error;
use crate::pipeline::Error;
use crate::pipeline::accounts::{self, Admission};
use crate::pipeline::audit::Audit;
use crate::pipeline::credentials::Caller;
use crate::pipeline::keys;
use crate::pipeline::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
    /// Registration only: an invite code from an admin, which sign-up
    /// `invite` asks for; it gives the account the invite's role.
    #[serde(default)]
    invite: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    #[schema(value_type = i64)]
    user_id: UserId,
    /// Whether the account is an admin: its token also opens `/api/v1/admin/…`.
    admin: bool,
    /// What the token may do: `admin`, `read-write`, or `read` for a reader.
    scope: Scope,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", security(()),
    request_body = Credentials,
    responses((status = 201, description = "The account and its token; the first account is an admin", body = TokenResponse),
        (status = 403, description = "Sign-up is closed, or needs an invite (`signup_closed`); the invite is unknown, used or expired (`invalid_invite`)", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "The username is taken (`username_taken`)", body = crate::http::openapi::ErrorBody), (status = 422, description = "A bad username or password", body = crate::http::openapi::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let Json(credentials) = body.map_err(json_error)?;
    let username = credentials.username.trim();
    audit.note_name(username);
    let invite = credentials
        .invite
        .as_deref()
        .map(str::trim)
        .filter(|code| !code.is_empty());
    let admission = Admission::SignUp { invite };
    let (user_id, role) = accounts::create(&state, username, credentials.password, admission).await?;
    tracing::info!(user = user_id.get(), role = role.as_str(), "user registered");
    audit.note_actor(user_id);
    Ok((StatusCode::CREATED, Json(token_for(&state, user_id, role, 0)?)))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = Credentials,
    responses((status = 200, description = "A token", body = TokenResponse),
        (status = 401, description = "Wrong username or password (`invalid_credentials`)", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "Too many sign-ins from this address, or too many failed ones for this username from it (`rate_limited`; `Retry-After` says when to try again)", body = crate::http::openapi::ErrorBody), (status = 422, description = "Not the expected JSON", body = crate::http::openapi::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Client(address): Client,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(credentials) = body.map_err(json_error)?;
    let username = credentials.username.trim();
    audit.note_name(username);
    // A name guessed at from this address too often waits, without its
    // password being checked; from anywhere else it is not held up.
    if let Some(refused) = state.limits.sign_in_allowed(username, address).await {
        crate::metrics::rate_limited(refused.limit.name());
        return Err(Error::RateLimited(refused).into());
    }
    let verified = match users::find_credentials(state.db.pool(), username).await? {
        Some(account) => password::verify(credentials.password, account.password_hash.clone())
            .await?
            .then_some(account),
        None => {
            password::verify_decoy(credentials.password).await?;
            None
        }
    };
    let Some(account) = verified else {
        state.limits.sign_in_failed(username, address).await;
        return Err(ApiError::InvalidCredentials);
    };
    state.limits.sign_in_succeeded(username, address).await;
    audit.note_actor(account.id);
    if account.standing.disabled() {
        return Err(ApiError::Unauthorized("the account is disabled"));
    }
    let standing = &account.standing;
    Ok(Json(token_for(
        &state,
        account.id,
        standing.role(),
        standing.token_generation,
    )?))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out: with a token, every token issued to the account so far stops working; with an API key, that key is revoked. Both within 5 s on every node, at once on this one"),
        (status = 401, description = "No valid credential", body = crate::http::openapi::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    keys::sign_out(&state, &audit, caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, description = "Changed: every token issued before stops working; here is a new one", body = TokenResponse),
        (status = 401, description = "The current password is wrong (`invalid_credentials`)", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "The account is kept by an external auth service", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A new password that breaks the rules", body = crate::http::openapi::ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    AuthUser(user): AuthUser,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(change) = body.map_err(json_error)?;
    let stored = users::password_hash(state.db.pool(), user)
        .await?
        .ok_or(Error::NotFound("account"))?;
    if !password::verify(change.current_password, stored).await? {
        return Err(ApiError::InvalidCredentials);
    }
    let password = Some(change.new_password);
    let change = accounts::Change {
        password,
        ..Default::default()
    };
    accounts::change(&state, &audit, user, change, "password_change").await?;
    let standing = users::standing(state.db.pool(), user)
        .await?
        .ok_or(Error::NotFound("account"))?;
    Ok(Json(token_for(
        &state,
        user,
        standing.role(),
        standing.token_generation,
    )?))
}

/// Who the caller is, as `depot whoami` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    #[schema(value_type = i64)]
    user_id: UserId,
    /// None for an account an external auth service vouches for.
    username: Option<String>,
    /// What this credential may do: `read`, `read-write` or `admin`.
    scope: Scope,
    /// The API key the request was made with, if it was one.
    key_id: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The caller and what its credential may do", body = Me),
        (status = 401, description = "No valid credential", body = crate::http::openapi::ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me {
        user_id: caller.user,
        username: users::username(state.db.pool(), caller.user).await?,
        scope: caller.scope,
        key_id: caller.key,
    }))
}

fn token_for(
    state: &AppState,
    user_id: UserId,
    role: AccountRole,
    generation: i64,
) -> Result<TokenResponse, ApiError> {
    let admin = role == AccountRole::Admin;
    Ok(TokenResponse {
        access_token: state.keys.issue_default(user_id, admin, generation)?,
        token_type: "bearer",
        user_id,
        admin,
        scope: role.ceiling(),
    })
}
