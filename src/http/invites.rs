//! Invites for admins: `POST /api/v1/admin/invites` makes one (the code is
//! shown once), `GET` lists them, `DELETE …/{id}` revokes one. A person
//! signs up with the code (`invite` in `/api/v1/auth/register`, or the web
//! UI's link `/#invite=<code>`) and gets the invite's role.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;
use crate::db::invites::{self, Invite};
use crate::domain::timestamp;
use crate::domain::{AccountRole, UserId};
use crate::http::caller::AdminUser;
use crate::http::error::ApiError;
use crate::http::json_error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;
use crate::pipeline::{Error, accounts};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The role the account gets: `user` (the default), `reader` or `admin`.
    #[serde(default)]
    role: Option<AccountRole>,
    /// How long the invite works: seconds, or e.g. `7d` (the default).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "7d")]
    expires_in: Option<HumanDuration>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InviteView {
    id: i64,
    role: String,
    created_at: String,
    expires_at: String,
    /// The account it made, once used.
    #[schema(value_type = Option<i64>)]
    used_by: Option<UserId>,
    used_at: Option<String>,
}

impl From<Invite> for InviteView {
    fn from(invite: Invite) -> Self {
        Self {
            id: invite.id,
            role: invite.role,
            created_at: timestamp::to_rfc3339(invite.created_at),
            expires_at: timestamp::to_rfc3339(invite.expires_at),
            used_by: invite.used_by,
            used_at: invite.used_at.map(timestamp::to_rfc3339),
        }
    }
}

/// A new invite, with its code: shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedInvite {
    /// The code; the web UI's sign-up link is `/#invite=<code>`.
    code: String,
    #[serde(flatten)]
    view: InviteView,
}

#[utoipa::path(post, path = "/api/v1/admin/invites", tag = "admin", request_body = InviteRequest,
    responses((status = 201, description = "The invite; its code is not shown again", body = CreatedInvite),
        (status = 422, description = "A bad role or expiry", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    AdminUser(admin): AdminUser,
    body: Result<Json<InviteRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedInvite>), ApiError> {
    let Json(request) = body.map_err(json_error)?;
    let role = request.role.unwrap_or(AccountRole::User);
    let lifetime = request
        .expires_in
        .map_or(accounts::INVITE_LIFETIME, |HumanDuration(lifetime)| lifetime);
    let (code, invite) = accounts::invite(&state, role, lifetime, Some(admin)).await?;
    audit.note_name(role.as_str());
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvite {
            code,
            view: invite.into(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/invites", tag = "admin",
    responses((status = 200, description = "Every invite, newest first, without its code", body = [InviteView])))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<InviteView>>, ApiError> {
    let invites = invites::list(state.db.pool()).await?;
    Ok(Json(invites.into_iter().map(InviteView::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/admin/invites/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such invite", body = crate::http::openapi::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id.parse().map_err(|_| Error::NotFound("invite"))?;
    if !invites::revoke(state.db.pool(), id).await? {
        return Err(Error::NotFound("invite").into());
    }
    Ok(StatusCode::NO_CONTENT)
}
