//! The web UI: how depot serves it, and the whole flow in a real browser
//! (`tests/clients/ui.mjs`: playwright-core driving Debian's Chromium).

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};

use crate::clients::{js_clients, missing, run};
use crate::helpers::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";

#[tokio::test]
async fn the_page_links_versioned_assets_that_are_cached_for_good() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
    let policy = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");

    let html = page.text().await.unwrap();
    let script = html
        .split('"')
        .find(|part| part.starts_with("/ui/") && part.ends_with("/app.js"))
        .expect("the page loads app.js from a versioned path")
        .to_owned();
    let asset = app.client.get(app.url(&script)).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(asset.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(
        asset.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(asset.text().await.unwrap().contains("import"));

    let stale = script.replace("/ui/", "/ui/0").replace("/app.js", "0/app.js");
    let other_build = app.client.get(app.url(&stale)).send().await.unwrap();
    assert_eq!(
        other_build.status(),
        StatusCode::NOT_FOUND,
        "another build's assets are gone"
    );
}

/// Sign up, drop files and watch their progress, search, preview, make
/// active, delete, history; large files resumed after a cut and cancelled —
/// at desktop width and at 375 px. Screenshots go to `target/ui-screenshots/`.
#[tokio::test]
async fn a_person_manages_files_in_a_real_browser() {
    let Some(output) = in_the_browser("ui.mjs").await else {
        return;
    };
    assert!(
        output.contains("desktop: ok") && output.contains("phone: ok"),
        "{output}"
    );
}

/// Folders in the browser: a folder chosen and uploaded as a tree, folder
/// rows and breadcrumbs, a new folder uploaded into, files and folders
/// moved, a folder deleted after its confirmation.
#[tokio::test]
async fn a_person_works_with_folders_in_a_real_browser() {
    let Some(output) = in_the_browser("ui-folders.mjs").await else {
        return;
    };
    assert!(output.contains("folders: ok"), "{output}");
}

/// Runs the browser script `script` of tests/clients against a new app, in
/// Chromium; what it printed, or `None` (outside CI) when Chromium or the
/// js clients are missing.
async fn in_the_browser(script: &str) -> Option<String> {
    let clients = js_clients()?;
    if !Path::new(CHROMIUM).exists() {
        missing(&format!("{CHROMIUM} is missing: run `apt-get install chromium`"));
        return None;
    }
    let app = TestApp::spawn().await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    let mut node = Command::new("node");
    node.arg(clients.join(script))
        .arg(app.url(""))
        .arg(&screenshots)
        .env("CHROMIUM", CHROMIUM);
    Some(run(node).await)
}
