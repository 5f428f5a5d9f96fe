//! The holder's side of links, without an account. A download link's URL is
//! `/s/{token}`: a browser (`Accept: text/html`) gets a small page, anything
//! else — or `?download` — the file's bytes (Range, ETag, checked chunks, the
//! headers of every download); the page's password form `POST`s to the same
//! URL. An upload link's URL is `/u/{token}`: a page for a browser, and a
//! multipart `file` `POST`ed to it is stored in the link owner's space.
//! `/s/{token}/info` and `/u/{token}/info` tell the page what the link opens.
//! A password comes as `X-Link-Password`, `?password=` or the form's field.

use std::net::IpAddr;

use axum::Extension;
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::db::files::{self, FileRecord};
use crate::db::links::{Kind, Link};
use crate::domain::timestamp;
use crate::domain::{FileMetadata, content_type};
use crate::http::caller::Client;
use crate::http::download::{self, Caching};
use crate::http::error::ApiError;
use crate::http::files::FileView;
use crate::http::ui;
use crate::http::upload::{
    MULTIPART_OVERHEAD, created_at, declared_length, drain, location_of, multipart_error, read_file,
    refuse_oversized,
};
use crate::pipeline::Error;
use crate::pipeline::attempt::Announcement;
use crate::pipeline::audit::Audit;
use crate::pipeline::links::{self, FileSlot, Use, Visit};
use crate::pipeline::session::Named;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{Upload, UploadMeta};
use crate::profile::Format;

const PASSWORD_HEADER: &str = "x-link-password";

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// The link's password, if it has one (`X-Link-Password` keeps it out of logs).
    password: Option<String>,
    /// Present: the bytes, even for a browser.
    download: Option<String>,
}

/// The password form of the download page.
#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// What a link opens, as its page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkInfo {
    /// `download` or `upload`.
    kind: &'static str,
    file_name: Option<String>,
    size: Option<i64>,
    content_type: Option<String>,
    /// A dataset's summary, as the file's metadata has it.
    summary: Option<String>,
    expires_at: Option<String>,
    max_downloads: Option<i64>,
    downloads: i64,
    max_files: Option<i64>,
    files: i64,
    max_bytes: Option<i64>,
}

impl LinkInfo {
    fn of(link: &Link, file: Option<&FileRecord>) -> Self {
        Self {
            kind: link.kind().as_str(),
            file_name: file.map(|file| file.file_name.clone()),
            size: file.map(|file| file.size),
            content_type: file.map(|file| file.content_type.clone()),
            summary: file.map(|file| file.summary.clone()),
            expires_at: link.expires_at.map(timestamp::to_rfc3339),
            max_downloads: link.max_downloads,
            downloads: link.downloads,
            max_files: link.max_files,
            files: link.files,
            max_bytes: link.max_bytes,
        }
    }
}

/// The password a request brings: its header, else its query.
fn given_password<'a>(headers: &'a HeaderMap, query: &'a LinkQuery) -> Option<&'a str> {
    headers
        .get(PASSWORD_HEADER)
        .and_then(|value| value.to_str().ok())
        .or(query.password.as_deref())
}

/// Whether a browser asks: it wants HTML.
fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn query(query: Result<Query<LinkQuery>, QueryRejection>) -> Result<LinkQuery, ApiError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| Error::BadRequest(rejection.body_text()).into())
}

/// The upload link `token` opens for `purpose`, its password checked.
pub(super) async fn open_upload_link(
    state: &AppState,
    audit: &Audit,
    token: &str,
    params: Result<Query<LinkQuery>, QueryRejection>,
    address: IpAddr,
    headers: &HeaderMap,
    purpose: Use,
) -> Result<Link, ApiError> {
    let params = query(params)?;
    let visit = Visit {
        kind: Kind::Upload,
        purpose,
        password: given_password(headers, &params),
        address,
    };
    Ok(links::open(state, audit, token, visit).await?)
}

/// The file a download link opens: 410 once it is gone.
async fn file_of(state: &AppState, link: &Link) -> Result<FileRecord, ApiError> {
    let Some(id) = link.file_id else {
        return Err(Error::LinkExpired.into());
    };
    files::find_by_id(state.db.pool(), id)
        .await?
        .ok_or_else(|| Error::LinkExpired.into())
}

/// `GET /s/{token}`: the page, or the bytes.
#[utoipa::path(get, path = "/s/{token}", tag = "sharing", security(()),
    params(("token" = String, Path), LinkQuery, ("X-Link-Password" = Option<String>, Header), ("Range" = Option<String>, Header)),
    responses((status = 200, description = "The bytes (or, for a browser, the download page)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, was used up or revoked (`link_expired`)", body = crate::http::openapi::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path(token): Path<String>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    if params.download.is_none() && wants_page(&headers) {
        return Ok(ui::link_page());
    }
    let password = given_password(&headers, &params);
    serve_through(&state, &audit, &token, password, address, &method, &headers).await
}

/// `POST /s/{token}`: the download page's form, with the password; the
/// bytes, always as an attachment.
#[utoipa::path(post, path = "/s/{token}", tag = "sharing", security(()),
    params(("token" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`password`"),
    responses((status = 200, description = "The bytes, as an attachment", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, was used up or revoked (`link_expired`)", body = crate::http::openapi::ErrorBody)))]
pub async fn download_form(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path(token): Path<String>,
    Client(address): Client,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, ApiError> {
    // A form that is not one (no body) brings no password.
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let password = Some(form.password.as_str());
    serve_through(&state, &audit, &token, password, address, &Method::POST, &headers).await
}

/// The bytes of the link's file, counting a download that starts at its
/// first byte (a `HEAD`, a `304` or a later range does not count).
async fn serve_through(
    state: &AppState,
    audit: &Audit,
    token: &str,
    password: Option<&str>,
    address: IpAddr,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let visit = Visit {
        kind: Kind::Download,
        purpose: Use::New,
        password,
        address,
    };
    let link = links::open(state, audit, token, visit).await?;
    let file = file_of(state, &link).await?;
    let etag = format!("\"{}\"", file.sha256);
    let size = u64::try_from(file.size).unwrap_or_default();
    if *method != Method::HEAD && download::reads_from_start(headers, &etag, size) {
        links::count_download(state, &link).await?;
    }
    let caching = Caching {
        etag,
        cache_control: "private, no-cache",
    };
    let mut response = download::serve(state, file, headers, caching, audit).await?;
    if *method == Method::POST {
        save_as_file(&mut response);
    }
    Ok(response)
}

/// The download page's button saves the file, whatever it is: an `inline`
/// disposition becomes `attachment`, with the same file name.
fn save_as_file(response: &mut Response) {
    let disposition = response
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("inline"))
        .and_then(|rest| HeaderValue::from_str(&format!("attachment{rest}")).ok());
    if let Some(disposition) = disposition {
        response.headers_mut().insert(CONTENT_DISPOSITION, disposition);
    }
}

/// `GET /s/{token}/info`: what a download link opens.
#[utoipa::path(get, path = "/s/{token}/info", tag = "sharing", security(()),
    params(("token" = String, Path), LinkQuery, ("X-Link-Password" = Option<String>, Header)),
    responses((status = 200, description = "The file the link opens", body = LinkInfo),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, was used up or revoked (`link_expired`)", body = crate::http::openapi::ErrorBody)))]
pub async fn download_info(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path(token): Path<String>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
) -> Result<Json<LinkInfo>, ApiError> {
    let params = query(params)?;
    let visit = Visit {
        kind: Kind::Download,
        purpose: Use::New,
        password: given_password(&headers, &params),
        address,
    };
    let link = links::open(&state, &audit, &token, visit).await?;
    let file = file_of(&state, &link).await?;
    audit.note_file(&file.file_name, &file.sha256, 0);
    Ok(Json(LinkInfo::of(&link, Some(&file))))
}

/// `GET /u/{token}`: the upload page for a browser, what the link takes for
/// anything else.
#[utoipa::path(get, path = "/u/{token}", tag = "sharing", security(()),
    params(("token" = String, Path), LinkQuery, ("X-Link-Password" = Option<String>, Header)),
    responses((status = 200, description = "What the link takes (or, for a browser, the upload page)", body = LinkInfo),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, was used up or revoked (`link_expired`)", body = crate::http::openapi::ErrorBody)))]
pub async fn upload_page(
    state: State<AppState>,
    audit: Extension<Audit>,
    token: Path<String>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if wants_page(&headers) {
        return Ok(ui::link_page());
    }
    Ok(upload_info(state, audit, token, params, client, headers)
        .await?
        .into_response())
}

/// `GET /u/{token}/info`: what an upload link takes.
#[utoipa::path(get, path = "/u/{token}/info", tag = "sharing", security(()),
    params(("token" = String, Path), LinkQuery, ("X-Link-Password" = Option<String>, Header)),
    responses((status = 200, description = "What the link takes", body = LinkInfo),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, was used up or revoked (`link_expired`)", body = crate::http::openapi::ErrorBody)))]
pub async fn upload_info(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path(token): Path<String>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
) -> Result<Json<LinkInfo>, ApiError> {
    let link = open_upload_link(&state, &audit, &token, params, address, &headers, Use::New).await?;
    Ok(Json(LinkInfo::of(&link, None)))
}

/// `POST /u/{token}`: one file, the form's `file` part, stored in the link
/// owner's space under a name of its own (the client's name, then the link
/// and a random tag), through the same workflow as every upload.
#[utoipa::path(post, path = "/u/{token}", tag = "sharing", security(()),
    params(("token" = String, Path), LinkQuery, ("X-Link-Password" = Option<String>, Header)),
    request_body(content = String, content_type = "multipart/form-data", description = "A `file` part"),
    responses((status = 201, description = "Stored", body = crate::http::files::FileView),
        (status = 401, description = "The link's password is missing or wrong", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "The link expired, took its last file or was revoked (`link_expired`)", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "Larger than the link allows, or over the owner's quota", body = crate::http::openapi::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(audit): Extension<Audit>,
    Path(token): Path<String>,
    params: Result<Query<LinkQuery>, QueryRejection>,
    Client(address): Client,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let link = open_upload_link(&state, &audit, &token, params, address, &headers, Use::New).await?;
    let most = link.max_bytes.and_then(|most| u64::try_from(most).ok());
    if let Some(most) = most {
        refuse_oversized(&headers, most.saturating_add(MULTIPART_OVERHEAD), most)?;
    }
    let mut multipart = multipart.map_err(|rejection| Error::UnsupportedMediaType(rejection.body_text()))?;
    let slot = FileSlot::take(&state, &link).await?;
    let stored = loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break Err(Error::MissingField("form field `file` is required".into())),
            Err(err) => break Err(multipart_error(err)),
        };
        if field.name() != Some("file") {
            if let Err(err) = drain(field).await {
                break Err(err);
            }
            continue;
        }
        break store_part(&state, &audit, &link, most, &headers, field).await;
    };
    match stored {
        Ok(record) => {
            slot.keep();
            Ok(created_at(&location_of(&record), FileView::from(record)))
        }
        Err(err) => {
            slot.give_back().await;
            Err(err.into())
        }
    }
}

/// Stores one form part through the upload workflow as the link's owner's.
async fn store_part(
    state: &AppState,
    audit: &Audit,
    link: &Link,
    most: Option<u64>,
    headers: &HeaderMap,
    field: axum::extract::multipart::Field<'_>,
) -> Result<FileRecord, Error> {
    let client_name = field.file_name().map(str::to_owned);
    let name = links::stored_name(client_name.as_deref(), &link.id)?;
    let announced = Announcement {
        client_name: client_name.clone().unwrap_or_default(),
        stored_name: name.to_string(),
        declared_size: 0,
        content_type: content_type::detect(&[], name.as_str()),
    };
    let format = Format::detect(
        client_name.as_deref().unwrap_or(name.as_str()),
        field.content_type().unwrap_or_default(),
    );
    let (mut upload, _session) =
        Upload::begin(state, link.owner_id, Named::Nothing, announced, audit.clone()).await?;
    let meta = UploadMeta {
        user: link.owner_id,
        file_name: name,
        original_name: client_name,
        description: format!("uploaded through link {}", link.id),
        metadata: FileMetadata::default(),
        replace: false,
    };
    let received = async {
        upload.check(&meta).await?;
        if let Some(most) = most {
            upload.limit_bytes(most);
        }
        upload.expect_request_bytes(declared_length(headers));
        upload.open_body(format).await?;
        read_file(&mut upload, field).await?;
        Ok(meta)
    }
    .await;
    upload.end(received).await
}
