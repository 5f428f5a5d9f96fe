//! `/api/v1/keys`: a user's API keys — made (the secret shown once), listed
//! (never the secret) and revoked.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;
use crate::db::api_keys::{self, ApiKey};
use crate::domain::Scope;
use crate::domain::timestamp;
use crate::http::caller::{AuthUser, Reader};
use crate::http::error::ApiError;
use crate::http::json_error;
use crate::pipeline::audit::Audit;
use crate::pipeline::credentials::Caller;
use crate::pipeline::state::AppState;
use crate::pipeline::{Error, keys};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// What the key is for, e.g. `nightly-sync`.
    name: String,
    /// `read`, `read-write`, or `admin` (admins only).
    scope: Scope,
    /// How long the key works: seconds, or e.g. `90d`; unset, until revoked.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "90d")]
    expires_in: Option<HumanDuration>,
}

/// A key as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    id: i64,
    name: String,
    scope: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    /// The key's S3 access key id (the S3 API's `aws_access_key_id`); null
    /// for keys made before depot spoke S3.
    access_key_id: Option<String>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            scope: key.scope,
            created_at: timestamp::to_rfc3339(key.created_at),
            expires_at: key.expires_at.map(timestamp::to_rfc3339),
            last_used_at: key.last_used_at.map(timestamp::to_rfc3339),
            access_key_id: key.access_key_id,
        }
    }
}

/// A new key, with its secret: shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The secret, sent as `Authorization: Bearer <key>`.
    key: String,
    /// The S3 API's `aws_secret_access_key` for `access_key_id`: shown this
    /// once too. The key's scope holds on the S3 API as well.
    secret_access_key: String,
    #[serde(flatten)]
    view: KeyView,
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = KeyRequest,
    responses((status = 201, description = "The key; its secret is in `key` and is not shown again", body = CreatedKey),
        (status = 403, description = "A scope above the caller's own (`insufficient_scope`)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad name, scope or expiry", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    caller: Caller,
    // A read credential makes no keys at all.
    _writer: AuthUser,
    body: Result<Json<KeyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let Json(request) = body.map_err(json_error)?;
    let lifetime = request.expires_in.map(|HumanDuration(lifetime)| lifetime);
    let (secret, key) = keys::create(&state, &audit, caller, &request.name, request.scope, lifetime).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: secret,
            secret_access_key: key
                .access_key_id
                .as_deref()
                .map(|id| state.keys.s3().secret_for(id))
                .unwrap_or_default(),
            view: key.into(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, description = "The caller's keys, oldest first, without their secrets", body = [KeyView])))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = api_keys::list(state.db.pool(), user).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked: the key stops working on every node within 5 s"),
        (status = 404, description = "No such key of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Reader(user): Reader,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Any key may revoke the caller's keys, a read-only one too: taking
    // power away is always allowed.
    let id: i64 = id.parse().map_err(|_| Error::NotFound("key"))?;
    keys::revoke(&state, &audit, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
