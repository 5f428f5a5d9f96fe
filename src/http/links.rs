//! The owner's side of links: `POST /api/v1/files/{file_name}/links` (a
//! download link), `POST /api/v1/upload-links`, `GET /api/v1/links`, and
//! `PATCH`/`DELETE /api/v1/links/{id}`; and `POST
//! /api/v1/files/{file_name}/link`, the five-minute link the web UI makes
//! for its own downloads — an unlisted download link like any other. Their
//! holders' side is [`super::link_access`].

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;
use crate::db::links::{self, Kind, Link};
use crate::domain::UserId;
use crate::domain::timestamp::{self, now_micros};
use crate::http::caller::{AuthUser, Reader};
use crate::http::error::ApiError;
use crate::http::files::parse_name;
use crate::http::json_error;
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::links::{self as pipeline_links, Change, Rules, Target};
use crate::pipeline::state::AppState;

/// A download link to make; every field may be left out.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// How long the link works: seconds, or e.g. `7d`; unset, until revoked.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "7d")]
    expires_in: Option<HumanDuration>,
    /// A password the link's users must give (argon2id; at least 8 characters).
    #[serde(default)]
    password: Option<String>,
    /// How many downloads the link serves (see docs/sharing.md for what counts).
    #[serde(default)]
    max_downloads: Option<u64>,
}

/// An upload link to make; every field may be left out.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadLinkRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "7d")]
    expires_in: Option<HumanDuration>,
    /// How many files the link takes.
    #[serde(default)]
    max_files: Option<u64>,
    /// The most bytes one file may have.
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default)]
    password: Option<String>,
}

/// A change to a link: a field left out stays, `null` removes its limit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkChange {
    /// How long the link works from now: seconds, or e.g. `7d`.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<String>, example = "1d")]
    expires_in: Option<Option<HumanDuration>>,
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<u64>)]
    max_downloads: Option<Option<u64>>,
}

/// A link as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    id: String,
    /// `download` or `upload`.
    kind: &'static str,
    /// Open it in a browser for a page; `GET` it (curl, wget) for the bytes
    /// of a download link, `POST` a multipart `file` to it to upload.
    url: String,
    /// The file a download link opens.
    file_name: Option<String>,
    expires_at: Option<String>,
    max_downloads: Option<i64>,
    downloads: i64,
    max_files: Option<i64>,
    files: i64,
    max_bytes: Option<i64>,
    password: bool,
    /// `active`, or `ended` (expired or used up).
    state: &'static str,
    created_at: String,
}

impl LinkView {
    fn of(link: Link, base: &str, state: &AppState) -> Self {
        let token = state.keys.links().token(&link.id);
        let url = match link.kind() {
            Kind::Download if link.listed == 0 => format!("{base}/s/{token}?download"),
            Kind::Download => format!("{base}/s/{token}"),
            Kind::Upload => format!("{base}/u/{token}"),
        };
        Self {
            state: if link.ended(now_micros()) {
                "ended"
            } else {
                "active"
            },
            kind: link.kind().as_str(),
            url,
            file_name: link.file_name,
            expires_at: link.expires_at.map(timestamp::to_rfc3339),
            max_downloads: link.max_downloads,
            downloads: link.downloads,
            max_files: link.max_files,
            files: link.files,
            max_bytes: link.max_bytes,
            password: link.password_hash.is_some(),
            created_at: timestamp::to_rfc3339(link.created_at),
            id: link.id,
        }
    }
}

/// A JSON body that may be left out (every field has a default).
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|err| Error::Validation(format!("the JSON body does not fit: {err}")).into())
}

/// Where people reach this deployment: `public_url`, else `http://` and the
/// request's `Host`.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.as_str().to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        // A host name or address and a port: nothing that would change the URL's shape.
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Makes `user` a link to `target` with `rules`: 201 with it.
async fn make(
    state: &AppState,
    audit: &Audit,
    user: UserId,
    target: Target<'_>,
    rules: Rules,
    headers: &HeaderMap,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    let link = pipeline_links::create(state, audit, user, target, rules).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkView::of(link, &base_url(state, headers), state)),
    ))
}

/// `POST /api/v1/files/{file_name}/links`
#[utoipa::path(post, path = "/api/v1/files/{file_name}/links", tag = "sharing", params(("file_name" = String, Path)),
    request_body(content = LinkRequest, description = "Every field may be left out"),
    responses((status = 201, description = "The link", body = LinkView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "A bad limit or a short password", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    let request: LinkRequest = optional_json(&body)?;
    let name = parse_name(&file_name)?;
    let rules = Rules {
        expires_in: request.expires_in.map(|lifetime| lifetime.0),
        password: request.password,
        max_downloads: request.max_downloads,
        ..Rules::default()
    };
    let target = Target::File {
        name: &name,
        listed: true,
    };
    make(&state, &audit, user, target, rules, &headers).await
}

/// `POST /api/v1/files/{file_name}/link`: a URL that reads this one file for
/// five minutes without a bearer token — for browsers, which cannot send
/// one with a plain download. Not listed among the user's links.
#[utoipa::path(post, path = "/api/v1/files/{file_name}/link", tag = "files", params(("file_name" = String, Path)),
    responses((status = 201, description = "The link", body = LinkView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn browser_link(
    State(state): State<AppState>,
    Reader(user): Reader,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    let name = parse_name(&file_name)?;
    let rules = Rules {
        expires_in: Some(pipeline_links::BROWSER_LINK_TTL),
        ..Rules::default()
    };
    let target = Target::File {
        name: &name,
        listed: false,
    };
    make(&state, &audit, user, target, rules, &headers).await
}

/// `POST /api/v1/upload-links`
#[utoipa::path(post, path = "/api/v1/upload-links", tag = "sharing",
    request_body(content = UploadLinkRequest, description = "Every field may be left out"),
    responses((status = 201, description = "The link", body = LinkView),
        (status = 422, description = "A bad limit or a short password", body = crate::http::openapi::ErrorBody)))]
pub async fn create_upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    let request: UploadLinkRequest = optional_json(&body)?;
    let rules = Rules {
        expires_in: request.expires_in.map(|lifetime| lifetime.0),
        password: request.password,
        max_files: request.max_files,
        max_bytes: request.max_bytes,
        ..Rules::default()
    };
    make(&state, &audit, user, Target::Upload, rules, &headers).await
}

/// `GET /api/v1/links`: the caller's links, newest first, with their counters.
#[utoipa::path(get, path = "/api/v1/links", tag = "sharing",
    responses((status = 200, description = "Your links, download and upload", body = Vec<LinkView>)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
) -> Result<Json<Vec<LinkView>>, ApiError> {
    let base = base_url(&state, &headers);
    let links = links::list(state.db.pool(), user).await?;
    Ok(Json(
        links
            .into_iter()
            .map(|link| LinkView::of(link, &base, &state))
            .collect(),
    ))
}

/// `PATCH /api/v1/links/{id}`: a new expiry (from now) or download limit.
#[utoipa::path(patch, path = "/api/v1/links/{id}", tag = "sharing", params(("id" = String, Path)),
    request_body = LinkChange,
    responses((status = 200, description = "The changed link", body = LinkView),
        (status = 404, description = "No such link of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn change(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<LinkChange>, JsonRejection>,
) -> Result<Json<LinkView>, ApiError> {
    let Json(request) = body.map_err(json_error)?;
    let change = Change {
        expires_in: request
            .expires_in
            .map(|lifetime| lifetime.map(|lifetime| lifetime.0)),
        max_downloads: request.max_downloads,
    };
    let link = pipeline_links::change(&state, &audit, user, &id, change).await?;
    Ok(Json(LinkView::of(link, &base_url(&state, &headers), &state)))
}

/// `DELETE /api/v1/links/{id}`: the link answers 410 from now on.
#[utoipa::path(delete, path = "/api/v1/links/{id}", tag = "sharing", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such link of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Extension(audit): Extension<Audit>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    pipeline_links::revoke(&state, &audit, user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
