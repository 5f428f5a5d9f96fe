//! tus 1.0 under an upload link, `/u/{token}/uploads/`, with the link as
//! the credential (its password in `X-Link-Password`): the protocol is
//! [`tus`](super::tus)'s; an upload made here is stored in the link owner's
//! space under a name of its own, holds one of the link's files until it is
//! stored or removed, and only that link reaches it.

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::db::uploads;
use crate::domain::{UploadId, UserId};
use crate::http::caller::Client;
use crate::http::error::ApiError;
use crate::http::link_access::{LinkQuery, open_upload_link};
use crate::http::tus::{
    Uploader, create_as, head_as, options, patch_as, require_tus, terminate_as, upload_id,
};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::links::{FileSlot, Use};
use crate::pipeline::state::AppState;

/// `OPTIONS` under an upload link: the same.
#[utoipa::path(options, path = "/u/{token}/uploads/", tag = "resumable", security(()), params(("token" = String, Path)),
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`")))]
pub async fn link_options(state: State<AppState>) -> Response {
    options(state).await
}

/// `OPTIONS` on an upload's URL under an upload link: the same.
#[utoipa::path(options, path = "/u/{token}/uploads/{id}", tag = "resumable", security(()),
    params(("token" = String, Path), ("id" = String, Path, format = "uuid")),
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`")))]
pub async fn link_options_upload(state: State<AppState>) -> Response {
    options(state).await
}

/// `POST /u/{token}/uploads/`: tus creation through an upload link, with
/// the link as the credential (its password in `X-Link-Password`); the
/// upload holds one of the link's files until it is stored or removed.
#[utoipa::path(post, path = "/u/{token}/uploads/", tag = "resumable", security(()),
    params(("token" = String, Path), ("Tus-Resumable" = String, Header), ("Upload-Length" = u64, Header),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename`, base64"),
        ("X-Link-Password" = Option<String>, Header)),
    request_body(content = Option<Vec<u8>>, content_type = "application/offset+octet-stream", description = "Optionally, the first bytes"),
    responses((status = 201, description = "Created; `Location` is the upload's URL, under the link's"),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, took its last file or was revoked (`link_expired`)", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "Larger than the link allows", body = crate::http::openapi::ErrorBody)))]
pub async fn link_create(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path(token): Path<String>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_tus(&headers)?;
    let link = open_upload_link(&state, &audit, &token, params, address, &headers, Use::New).await?;
    let slot = FileSlot::take(&state, &link).await?;
    match create_as(&state, Uploader::Link(&link, &token), &audit, &headers, body).await {
        // The upload holds the file from now on.
        Ok(response) => {
            slot.keep();
            Ok(response)
        }
        Err(err) => {
            slot.give_back().await;
            Err(err)
        }
    }
}

/// The upload `id` made through the upload link `token`, and its owner: an
/// upload made any other way is no upload of the link's (404).
async fn link_upload(
    state: &AppState,
    audit: &Audit,
    (token, id): (&str, &str),
    params: Result<Query<LinkQuery>, QueryRejection>,
    address: std::net::IpAddr,
    headers: &HeaderMap,
) -> Result<(UserId, UploadId), ApiError> {
    require_tus(headers)?;
    let link = open_upload_link(state, audit, token, params, address, headers, Use::Continue).await?;
    let id = upload_id(id)?;
    let row = uploads::find(state.db.pool(), id, link.owner_id).await?;
    if row.and_then(|row| row.link_id).as_deref() != Some(link.id.as_str()) {
        return Err(Error::NotFound("upload").into());
    }
    Ok((link.owner_id, id))
}

/// `HEAD /u/{token}/uploads/{id}`
#[utoipa::path(head, path = "/u/{token}/uploads/{id}", tag = "resumable", security(()),
    params(("token" = String, Path), ("id" = String, Path, format = "uuid"), ("Tus-Resumable" = String, Header), ("X-Link-Password" = Option<String>, Header)),
    responses((status = 200, description = "`Upload-Offset`: the durable bytes; `Upload-Length`"),
        (status = 404, description = "No such upload of the link's"), (status = 410, description = "Expired, or the link ended")))]
pub async fn link_head(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path((token, id)): Path<(String, String)>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (user, id) = link_upload(&state, &audit, (&token, &id), params, address, &headers).await?;
    head_as(&state, user, id, &headers).await
}

/// `PATCH /u/{token}/uploads/{id}`
#[utoipa::path(patch, path = "/u/{token}/uploads/{id}", tag = "resumable", security(()),
    params(("token" = String, Path), ("id" = String, Path, format = "uuid"), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header), ("X-Link-Password" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "Appended; the last byte stores the file in the link owner's space"),
        (status = 404, description = "No such upload of the link's", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "A wrong offset (`offset_mismatch`)", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "Expired, or the link ended", body = crate::http::openapi::ErrorBody)))]
pub async fn link_patch(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path((token, id)): Path<(String, String)>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (user, id) = link_upload(&state, &audit, (&token, &id), params, address, &headers).await?;
    patch_as(&state, user, id, &headers, body, &audit).await
}

/// `DELETE /u/{token}/uploads/{id}`: the link gets its file back.
#[utoipa::path(delete, path = "/u/{token}/uploads/{id}", tag = "resumable", security(()),
    params(("token" = String, Path), ("id" = String, Path, format = "uuid"), ("Tus-Resumable" = String, Header), ("X-Link-Password" = Option<String>, Header)),
    responses((status = 204, description = "Terminated; its bytes and its file of the link are released"),
        (status = 404, description = "No such upload of the link's", body = crate::http::openapi::ErrorBody)))]
pub async fn link_terminate(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path((token, id)): Path<(String, String)>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (user, id) = link_upload(&state, &audit, (&token, &id), params, address, &headers).await?;
    terminate_as(&state, user, id, &headers).await
}
