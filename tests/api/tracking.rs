//! Seed 4's file tracking: every upload and download of a file's bytes is a
//! transfer with the server's role, its start and completion, and its bytes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, sample_bytes};

async fn transfers(app: &TestApp, user: &crate::helpers::TestUser, name: &str) -> Vec<Value> {
    let response = app.get(user, &format!("/api/v1/files/{name}/transfers")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Vec<Value>>().await.unwrap()
}

/// Waits until the file's transfers satisfy `done`, and returns them.
async fn transfers_once(
    app: &TestApp,
    user: &crate::helpers::TestUser,
    name: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..100 {
        let now = transfers(app, user, name).await;
        if done(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    transfers(app, user, name).await
}

#[tokio::test]
async fn every_upload_and_download_is_a_transfer_with_its_role_and_bytes() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let role = if app.on_node() { "gateway" } else { "standalone" };
    let content = sample_bytes(300_000);
    assert_eq!(
        app.put_file(&ann, "scan.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );

    let uploaded = transfers(&app, &ann, "scan.bin").await;
    assert_eq!(uploaded.len(), 1, "{uploaded:?}");
    let upload = &uploaded[0];
    assert_eq!(upload["direction"], "upload");
    assert_eq!(upload["server_role"], role);
    assert_eq!(upload["bytes_transferred"], 300_000);
    let (start, complete) = (
        upload["stream_start"].as_str().unwrap(),
        upload["stream_complete"].as_str().unwrap(),
    );
    assert!(start <= complete, "{upload}");
    assert!(upload["cleanup_scheduled_for"].is_null());

    let whole = app.download(&ann, "scan.bin").await.bytes().await.unwrap();
    assert_eq!(whole.len(), 300_000);
    let part = app
        .get_with(
            &ann,
            "/api/v1/files/scan.bin/content",
            &[("range", "bytes=100-199")],
        )
        .await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().len(), 100);

    let finished = |all: &[Value]| all.len() == 3 && all.iter().all(|t| !t["stream_complete"].is_null());
    let all = transfers_once(&app, &ann, "scan.bin", finished).await;
    assert!(finished(&all), "{all:?}");
    let downloads: Vec<i64> = all[1..]
        .iter()
        .map(|t| {
            assert_eq!(t["direction"], "download");
            assert_eq!(t["server_role"], role);
            t["bytes_transferred"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(downloads, [300_000, 100]);
}

#[tokio::test]
async fn a_download_the_client_abandons_is_recorded_as_cut_short() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let size = 32 * 1024 * 1024;
    assert_eq!(
        app.put_file(&ann, "big.bin", sample_bytes(size)).await.status(),
        StatusCode::CREATED
    );
    let mut response = app.download(&ann, "big.bin").await;
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);

    let cut = |all: &[Value]| all.len() == 2 && all[1]["bytes_transferred"].as_i64().unwrap_or_default() > 0;
    let all = transfers_once(&app, &ann, "big.bin", |all| {
        cut(all)
            && all[1]["stream_complete"].is_null()
            && all[1]["bytes_transferred"].as_i64() < Some(size as i64)
    })
    .await;
    assert!(cut(&all), "{all:?}");
    assert!(all[1]["stream_complete"].is_null(), "{all:?}");
    assert!(
        all[1]["bytes_transferred"].as_i64().unwrap() < size as i64,
        "{all:?}"
    );
}
