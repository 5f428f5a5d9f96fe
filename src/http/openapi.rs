//! The OpenAPI description of the public API, generated from the handlers'
//! `#[utoipa::path]` annotations and their types, served at `/openapi.json`,
//! and Swagger UI at `/docs` — its files built into the binary (the
//! `vendored` feature), so nothing is fetched at build or run time.

use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::http::{
    active, admin, auth, cid_files, download, files, folders, history, invites, ipfs, jobs, keys,
    link_access, link_uploads, links, listing, metrics, ops, preview, sessions, shares, tus, ui, upload,
    usage, users,
};
use crate::pipeline::state::AppState;

/// Every error: `{"error": {"code", "message"}}`; `code` is stable.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `not_found`, `file_exists`, `invalid_dataset`, …
    pub code: &'static str,
    /// For people.
    pub message: String,
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "depot",
        description = "Self-hosted file and dataset storage: uploads (multipart, raw, tus), \
                       content addressing, dataset profiles, sessions, audit and maintenance.",
    ),
    modifiers(&BearerToken, &RateLimited),
    security(("bearer" = [])),
    paths(
        auth::register, auth::login, auth::logout, auth::me, auth::change_password, keys::create, keys::list, keys::revoke,
        upload::multipart, listing::list, listing::search, upload::raw, download::content,
        active::upload_file_named_active, active::download_file_named_active,
        files::metadata, files::delete, files::transfers, files::metadata_of_file_named_search, files::delete_file_named_search, links::browser_link, preview::preview,
        shares::share, shares::unshare, shares::recipients, shares::list, shares::metadata, shares::content, shares::preview,
        links::create, links::create_upload, links::list, links::change, links::revoke,
        link_access::download, link_access::download_form, link_access::download_info, link_access::upload_page, link_access::upload_info, link_access::upload,
        folders::rename, folders::info, folders::move_folder, folders::delete,
        active::get, active::set,
        tus::options, tus::create, tus::options_upload, tus::head, tus::patch, tus::terminate,
        link_uploads::link_options, link_uploads::link_options_upload, link_uploads::link_create, link_uploads::link_head, link_uploads::link_patch, link_uploads::link_terminate,
        ipfs::gateway, ipfs::info, ipfs::delete,
        cid_files::upload, cid_files::list, cid_files::search, cid_files::content, cid_files::info, cid_files::delete,
        usage::usage, sessions::create, sessions::read, history::history,
        admin::audit, admin::export, jobs::runs, jobs::start,
        users::list, users::create, users::change, users::delete,
        invites::create, invites::list, invites::revoke,
        ops::healthz, ops::readyz, metrics::scrape, ui::index, ui::asset,
    ),
    tags(
        (name = "files", description = "Upload, list, read and delete files"),
        (name = "folders", description = "Names with `/` form folders: rename a file, move or delete a folder"),
        (name = "resumable", description = "tus 1.0 resumable uploads"),
        (name = "sharing", description = "Files shared with other users, download links and upload links"),
        (name = "content", description = "Content addressing: IPFS CIDs, CARs, blocks"),
        (name = "cid files", description = "Seed 3's API: files uploaded, read, searched and deleted by their CID"),
        (name = "sessions", description = "Sessions, the active file and processing history"),
        (name = "auth", description = "Accounts and tokens"),
        (name = "keys", description = "API keys for scripts: made, listed and revoked by their owner"),
        (name = "admin", description = "Users, the audit trail and maintenance jobs (admins only)"),
        (name = "operations", description = "Health, metrics and the web UI"),
    ),
)]
pub struct ApiDoc;

/// The bearer token every endpoint but a few needs.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT or depot_… API key")
                        .build(),
                ),
            );
        }
    }
}

/// Any request may be refused by a rate limit: every operation says so,
/// unless it says more about it itself.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let refused = ResponseBuilder::new()
            .description(
                "Too many requests (`rate_limited`): `Retry-After` says when to try again, \
                 `RateLimit` and `RateLimit-Policy` how the limit stands",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| refused.clone().into());
            }
        }
    }
}

/// `/openapi.json` and Swagger UI at `/docs`.
pub fn router() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
