//! `?replace=true`: an upload takes the place of the file of the same name in
//! one transaction — the old file's shares end, its quota comes back, its
//! bytes go once nothing else uses them — and without it a taken name is
//! still refused.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, hex_sha256};
use crate::resumable::{Tus, location};

async fn put(app: &TestApp, user: &TestUser, query: &str, bytes: &'static [u8]) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/files/data.csv/content{query}")))
        .bearer_auth(&user.token)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn content(app: &TestApp, user: &TestUser) -> Vec<u8> {
    app.download(user, "data.csv")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Waits for the scheduled removal of unused bytes (local blobs only).
async fn blob_gone(app: &TestApp, sha256: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if !app.blob_files().iter().any(|path| path.ends_with(sha256)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn replace_takes_the_place_of_a_file_and_its_old_bytes_go() {
    const FIRST: &[u8] = b"city,sales\nOslo,1\n";
    const SECOND: &[u8] = b"city,sales\nOslo,1\nLima,2\n";
    let app = TestApp::spawn_with(|config| {
        config.cleanup_retry = depot::config::HumanDuration::from_secs(1);
    })
    .await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    assert_eq!(put(&app, &ann, "", FIRST).await.status(), StatusCode::CREATED);
    let shared = app
        .client
        .put(app.url("/api/v1/files/data.csv/shared-with/bob"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::CREATED);

    let refused = put(&app, &ann, "", SECOND).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let bad = put(&app, &ann, "?replace=perhaps", SECOND).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        content(&app, &ann).await,
        FIRST,
        "a refused upload changes nothing"
    );

    let replaced = put(&app, &ann, "?replace=true", SECOND).await;
    assert_eq!(replaced.status(), StatusCode::CREATED);
    let body: Value = replaced.json().await.unwrap();
    assert_eq!(body["sha256"], hex_sha256(SECOND));
    assert!(body["summary"].as_str().unwrap().contains("**2 rows**"), "{body}");
    assert_eq!(content(&app, &ann).await, SECOND);
    let usage: Value = app.get(&ann, "/api/v1/usage").await.json().await.unwrap();
    assert_eq!(usage["files"], 1, "{usage}");
    assert_eq!(usage["logical_bytes"], SECOND.len(), "{usage}");
    let bobs: Value = app.get(&bob, "/api/v1/shared").await.json().await.unwrap();
    assert_eq!(bobs, serde_json::json!([]), "the old file's share ended with it");

    // The same bytes again: nothing to free, nothing lost.
    assert_eq!(
        put(&app, &ann, "?replace=true", SECOND).await.status(),
        StatusCode::CREATED
    );
    // A name that is free takes a replacing upload too.
    let fresh = app
        .client
        .put(app.url("/api/v1/files/new.csv/content?replace=true"))
        .bearer_auth(&ann.token)
        .body(FIRST)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::CREATED);
    assert_eq!(app.delete_file(&ann, "new.csv").await.status(), StatusCode::OK);

    if !app.on_s3() && !app.on_node() {
        assert!(
            blob_gone(&app, &hex_sha256(FIRST)).await,
            "the replaced bytes stayed"
        );
        assert!(
            app.blob_files()
                .iter()
                .any(|path| path.ends_with(hex_sha256(SECOND))),
            "the bytes in use were removed"
        );
    }
    assert_eq!(content(&app, &ann).await, SECOND);
}

#[tokio::test]
async fn a_resumable_upload_with_replace_in_its_metadata_replaces_when_it_completes() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    assert_eq!(put(&app, &ann, "", b"a\n1\n").await.status(), StatusCode::CREATED);
    let tus = Tus::new(&app, &ann);
    let refused = tus.create(4, &[("filename", "data.csv")]).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let created = tus
        .create(6, &[("filename", "data.csv"), ("replace", "true")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let upload = location(&created);
    assert_eq!(
        tus.patch(&upload, 0, &b"a\n1\n2\n"[..]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(content(&app, &ann).await, b"a\n1\n2\n");
}
