//! The HTTP surface: routes, middleware and handlers. Status codes, headers and
//! JSON shapes are decided here and nowhere else.

mod active;
mod admin;
mod audit;
mod auth;
pub mod body_rate;
pub mod caller;
mod cid_files;
mod download;
pub mod error;
mod files;
mod folders;
mod history;
mod internal;
mod invites;
mod ipfs;
mod jobs;
mod keys;
mod limits;
mod link_access;
mod link_uploads;
mod links;
mod listing;
mod metrics;
pub mod openapi;
mod ops;
mod preview;
pub mod session_hint;
mod sessions;
mod shares;
mod tus;
mod ui;
mod upload;
mod usage;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::JsonRejection;
use axum::http::{Request, StatusCode};
use axum::routing::{delete, get, options, patch, post, put};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::http::error::ApiError;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

pub use internal::NodeState;

/// The tus protocol version spoken under `/api/v1/uploads/`.
pub(crate) const TUS_VERSION: &str = "1.0.0";

/// JSON bodies (credentials) are small; uploads stream and enforce their own limit.
pub(crate) const JSON_BODY_LIMIT: usize = 64 * 1024;

/// A JSON body that could not be read: too large, not JSON, or the wrong shape.
pub(crate) fn json_error(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge {
            limit: JSON_BODY_LIMIT as u64,
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType(rejection.body_text()),
        _ => Error::Validation(rejection.body_text()),
    }
    .into()
}

/// Whether a request to `route` (its template) brings an upload's bytes, or
/// begins one: what the upload rate limit and the upload metrics count.
pub(crate) fn is_upload(method: &str, route: &str) -> bool {
    matches!(
        (method, route),
        (
            "POST",
            "/api/v1/files/" | "/api/v1/files" | "/api/v1/uploads/" | "/api/v1/uploads" | "/api/files/upload"
        ) | (
            "PUT",
            "/api/v1/files/{file_name}/content" | "/api/v1/files/active/content"
        ) | ("PATCH", "/api/v1/uploads/{id}")
    )
}

/// A JSON field that may be absent (`None`: left as it is), `null` or a value.
pub(crate) fn present<'de, D, T>(field: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(field).map(Some)
}

pub fn router(state: AppState) -> Router {
    let uploads = Router::new()
        .route("/api/v1/files/", post(upload::multipart).get(listing::list))
        .route("/api/v1/files", post(upload::multipart).get(listing::list))
        .route("/api/files/upload", post(cid_files::upload))
        .route(
            "/api/v1/files/{file_name}/content",
            put(upload::raw).get(download::content),
        )
        .route(
            "/api/v1/files/active/content",
            put(active::upload_file_named_active).get(active::download_file_named_active),
        )
        .route(
            "/u/{token}",
            get(link_access::upload_page).post(link_access::upload),
        )
        .layer(DefaultBodyLimit::disable());

    let resumable = Router::new()
        .route("/api/v1/uploads/", options(tus::options).post(tus::create))
        .route("/api/v1/uploads", options(tus::options).post(tus::create))
        .route(
            "/api/v1/uploads/{id}",
            options(tus::options_upload)
                .head(tus::head)
                .patch(tus::patch)
                .delete(tus::terminate),
        )
        .route(
            "/u/{token}/uploads/",
            options(link_uploads::link_options).post(link_uploads::link_create),
        )
        .route(
            "/u/{token}/uploads/{id}",
            options(link_uploads::link_options_upload)
                .head(link_uploads::link_head)
                .patch(link_uploads::link_patch)
                .delete(link_uploads::link_terminate),
        )
        .layer(axum::middleware::map_response(tus::tus_resumable))
        .layer(DefaultBodyLimit::disable());

    let api = Router::new()
        .route(
            "/api/v1/files/{file_name}",
            get(files::metadata).patch(folders::rename).delete(files::delete),
        )
        .route(
            "/api/v1/folders/{*path}",
            get(folders::info)
                .patch(folders::move_folder)
                .delete(folders::delete),
        )
        .route(
            "/api/v1/files/search",
            post(listing::search)
                .get(files::metadata_of_file_named_search)
                .delete(files::delete_file_named_search),
        )
        .route("/api/v1/files/{file_name}/transfers", get(files::transfers))
        .route("/api/v1/files/{file_name}/preview", get(preview::preview))
        .route("/api/v1/files/{file_name}/link", post(links::browser_link))
        .route("/api/v1/files/{file_name}/links", post(links::create))
        .route("/api/v1/files/{file_name}/shared-with", get(shares::recipients))
        .route(
            "/api/v1/files/{file_name}/shared-with/{username}",
            put(shares::share).delete(shares::unshare),
        )
        .route("/api/v1/shared", get(shares::list))
        .route("/api/v1/shared/{owner}/{file_name}", get(shares::metadata))
        .route("/api/v1/shared/{owner}/{file_name}/content", get(shares::content))
        .route("/api/v1/shared/{owner}/{file_name}/preview", get(shares::preview))
        .route("/api/v1/links", get(links::list))
        .route("/api/v1/links/{id}", patch(links::change).delete(links::revoke))
        .route("/api/v1/upload-links", post(links::create_upload))
        .route(
            "/s/{token}",
            get(link_access::download).post(link_access::download_form),
        )
        .route("/s/{token}/info", get(link_access::download_info))
        .route("/u/{token}/info", get(link_access::upload_info))
        .route(
            "/api/v1/files/active/{session}",
            get(active::get).post(active::set),
        )
        .route("/ipfs/{cid}", get(ipfs::gateway))
        .route("/api/files/", get(cid_files::list))
        .route("/api/files", get(cid_files::list))
        .route("/api/files/search", post(cid_files::search))
        .route(
            "/api/files/{cid}",
            get(cid_files::content).delete(cid_files::delete),
        )
        .route("/api/files/{cid}/info", get(cid_files::info))
        .route("/api/v1/cids/{cid}", get(ipfs::info).delete(ipfs::delete))
        .route("/api/v1/usage", get(usage::usage))
        .route("/api/v1/sessions", post(sessions::create))
        .route("/api/v1/sessions/{id}", get(sessions::read))
        .route("/api/ingestion/history", get(history::history))
        .route("/api/v1/admin/audit", get(admin::audit))
        .route("/api/v1/admin/audit/export", get(admin::export))
        .route("/api/v1/admin/jobs", get(jobs::runs))
        .route("/api/v1/admin/jobs/{name}", post(jobs::start))
        .route("/api/v1/admin/users", get(users::list).post(users::create))
        .route("/api/v1/admin/invites", get(invites::list).post(invites::create))
        .route("/api/v1/admin/invites/{id}", delete(invites::revoke))
        .route(
            "/api/v1/admin/users/{id}",
            patch(users::change).delete(users::delete),
        )
        .route("/api/v1/auth/register", post(auth::register))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/auth/password", post(auth::change_password))
        .route("/api/v1/keys", post(keys::create).get(keys::list))
        .route("/api/v1/keys/{id}", delete(keys::revoke))
        .route("/", get(ui::index))
        .route("/ui/{version}/{name}", get(ui::asset))
        .route("/metrics", get(metrics::scrape))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));

    let audited = axum::middleware::from_fn_with_state(state.clone(), audit::trail);
    let limited = axum::middleware::from_fn_with_state(state.clone(), limits::limit);
    let api = api.merge(openapi::router());
    observed(
        uploads
            .merge(resumable)
            .merge(api)
            .route_layer(limited)
            .route_layer(audited)
            .route_layer(axum::middleware::from_fn(metrics::track))
            .fallback(|| async { ApiError::from(Error::NotFound("route")) })
            .with_state(state),
    )
}

/// A storage node's router: the internal storage API and health checks.
pub fn node_router(state: NodeState) -> Router {
    observed(internal::router(state))
}

/// Request ids on every request and response, and one log span per request.
fn observed(router: Router) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                // Method, path and request id only: queries, headers (tokens) and
                // bodies never reach the logs.
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .extensions()
                            .get::<RequestId>()
                            .and_then(|id| id.header_value().to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                        )
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}
