//! The web UI at `/`: plain ES modules, HTML and CSS from `ui/`, embedded in
//! the binary at build time, so nothing is fetched or built with npm.
//!
//! Assets are served under `/ui/{version}/`, where the version is a hash of
//! them all: they are cached for good (`immutable`), and a new build changes
//! every URL. The page itself is revalidated on each load. A strict
//! Content-Security-Policy allows depot's own scripts, styles and API only.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;
use crate::pipeline::Error;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("upload.js", "text/javascript; charset=utf-8"),
    asset!("details.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("keys.js", "text/javascript; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("link.js", "text/javascript; charset=utf-8"),
    asset!("share.js", "text/javascript; charset=utf-8"),
    asset!("sharing.js", "text/javascript; charset=utf-8"),
    asset!("filelist.js", "text/javascript; charset=utf-8"),
    asset!("uploads.js", "text/javascript; charset=utf-8"),
    asset!("confirm.js", "text/javascript; charset=utf-8"),
    asset!("toast.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

const PAGE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/index.html"));
const LINK_PAGE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/link.html"));

/// Scripts, styles, images and API calls from depot itself; images also from
/// `blob:` URLs (an image preview is fetched with the token, then shown).
/// No inline script or style, no frames, no plugins, no form posts elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The first 16 hex digits of the SHA-256 over every asset's name and bytes.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in ASSETS {
        hash.update(asset.name.as_bytes());
        hash.update([0]);
        hash.update(asset.bytes);
    }
    hex::encode(&hash.finalize()[..8])
});

/// The page, its asset URLs pointing at this build's version.
static INDEX: LazyLock<String> = LazyLock::new(|| PAGE.replace("{{assets}}", &format!("/ui/{}", *VERSION)));
static LINK_INDEX: LazyLock<String> =
    LazyLock::new(|| LINK_PAGE.replace("{{assets}}", &format!("/ui/{}", *VERSION)));

/// `GET /`
#[utoipa::path(get, path = "/", tag = "operations", security(()),
    responses((status = 200, description = "The web UI", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    (
        guarded_headers("text/html; charset=utf-8", "no-cache"),
        INDEX.as_str(),
    )
        .into_response()
}

/// The page of a link (`/s/{token}`, `/u/{token}`) for someone without an
/// account: it reads the token from its own URL.
pub fn link_page() -> Response {
    let mut response = (
        guarded_headers("text/html; charset=utf-8", "no-cache"),
        LINK_INDEX.as_str(),
    )
        .into_response();
    response.extensions_mut().insert(super::audit::Unaudited);
    response
}

/// `GET /ui/{version}/{name}`: an asset of this build; any other version is
/// 404 (a page from an older build reloads).
#[utoipa::path(get, path = "/ui/{version}/{name}", tag = "operations", security(()),
    params(("version" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "A script, style or image of the web UI", body = String),
        (status = 404, description = "Another build's, or no such asset", body = crate::http::openapi::ErrorBody)))]
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name && version == *VERSION)
        .ok_or(Error::NotFound("asset"))?;
    Ok((
        guarded_headers(asset.content_type, "public, max-age=31536000, immutable"),
        asset.bytes,
    )
        .into_response())
}

fn guarded_headers(
    content_type: &'static str,
    cache_control: &'static str,
) -> [(HeaderName, HeaderValue); 6] {
    [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_script_and_style_by_this_builds_version() {
        assert!(!INDEX.contains("{{assets}}"));
        let prefix = format!("/ui/{}/", *VERSION);
        for linked in ["app.js", "style.css", "icon.svg"] {
            assert!(INDEX.contains(&format!("{prefix}{linked}")), "{linked} is linked");
        }
    }

    #[test]
    fn every_module_an_asset_imports_is_embedded() {
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            let source = std::str::from_utf8(asset.bytes).unwrap();
            for line in source.lines().filter(|line| line.starts_with("import ")) {
                let imported = line.rsplit("'./").next().unwrap().trim_end_matches("';");
                assert!(
                    ASSETS.iter().any(|other| other.name == imported),
                    "{} imports {imported}, which is not embedded",
                    asset.name
                );
            }
        }
    }
}
