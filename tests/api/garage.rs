//! depot over a three-node Garage cluster (replication factor 3) that
//! `tests/garage/cluster.sh` runs on loopback: a node killed during
//! uploads and downloads, and brought back.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, TestS3, TestUser, hex_sha256, sample_bytes};

/// The cluster (`DEPOT_TEST_GARAGE_DIR`, which `.ci/test` sets), or `None`
/// (the test is skipped) without it, except under `CI=true`.
struct Garage {
    dir: PathBuf,
    s3: TestS3,
}

impl Garage {
    fn from_env() -> Option<Self> {
        let Some(dir) = std::env::var_os("DEPOT_TEST_GARAGE_DIR").filter(|dir| !dir.is_empty()) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "set DEPOT_TEST_GARAGE_DIR to a cluster that tests/garage/cluster.sh up started (.ci/test does)"
            );
            eprintln!("skipped: set DEPOT_TEST_GARAGE_DIR to test with Garage");
            return None;
        };
        let env = |name: &str| std::env::var(format!("DEPOT_TEST_GARAGE_{name}")).unwrap_or_default();
        Some(Self {
            dir: PathBuf::from(dir),
            s3: TestS3 {
                endpoint: env("ENDPOINT"),
                bucket: env("BUCKET"),
                access_key: env("ACCESS_KEY"),
                secret_key: env("SECRET_KEY"),
            },
        })
    }

    /// `tests/garage/cluster.sh COMMAND DIR [NODE]`.
    fn cluster(&self, command: &str, node: Option<u8>) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/garage/cluster.sh");
        let mut run = Command::new(script);
        run.arg(command)
            .arg(&self.dir)
            .args(node.map(|node| node.to_string()));
        let output = run.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `send` until it is not answered 503 (what a client does when depot says
/// the store is away, "try again shortly"), for 20 s at most; the answer.
async fn retrying(send: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    let started = std::time::Instant::now();
    loop {
        let response = send().send().await.unwrap();
        if response.status() != StatusCode::SERVICE_UNAVAILABLE || started.elapsed() > Duration::from_secs(20)
        {
            return response;
        }
        eprintln!(
            "503 while a Garage node is away: {}",
            response.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Uploads `count` distinct files named `{prefix}-{i}`; their SHA-256s.
async fn upload_all(app: &TestApp, user: &TestUser, prefix: &str, count: usize) -> Vec<(String, String)> {
    let mut stored = Vec::new();
    for i in 0..count {
        let name = format!("{prefix}-{i}.bin");
        let mut bytes = sample_bytes(300_000 + i * 1_000);
        let label = name.as_bytes();
        bytes[..label.len()].copy_from_slice(label);
        let response = retrying(|| {
            app.client
                .put(app.url(&format!("/api/v1/files/{name}/content")))
                .bearer_auth(&user.token)
                .body(bytes.clone())
        })
        .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{name}: {}",
            response.text().await.unwrap()
        );
        stored.push((name, hex_sha256(&bytes)));
    }
    stored
}

async fn all_whole(app: &TestApp, user: &TestUser, files: &[(String, String)]) {
    for (name, sha256) in files {
        let response = retrying(|| {
            app.client
                .get(app.url(&format!("/api/v1/files/{name}/content")))
                .bearer_auth(&user.token)
        })
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(
            &hex_sha256(&response.bytes().await.unwrap()),
            sha256,
            "{name} is whole"
        );
    }
}

/// A Garage node killed (SIGKILL) while depot stores and serves files: with
/// two of three nodes, Garage's quorum holds and every upload and download
/// succeeds — a request caught while Garage notices the node is gone may
/// wait past depot's store deadline and be answered 503 (nothing stored),
/// and is sent again, as clients do; once the node is back, every file is
/// there, whole, and verify finds nothing missing or damaged.
#[tokio::test]
async fn depot_keeps_serving_through_a_garage_node_kill() {
    let Some(garage) = Garage::from_env() else { return };
    garage.cluster("up", None);
    let prefix = format!("kill-{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::spawn_with(|config| {
        config.role = depot::config::Role::Standalone;
        garage.s3.configure(config, &prefix);
    })
    .await;
    let ann = app.user("ann").await;
    let mut files = upload_all(&app, &ann, "before", 6).await;

    garage.cluster("kill", Some(3));
    let during = upload_all(&app, &ann, "during", 6).await;
    all_whole(&app, &ann, &files).await;
    all_whole(&app, &ann, &during).await;
    files.extend(during);

    garage.cluster("start", Some(3));
    tokio::time::sleep(Duration::from_secs(1)).await;
    files.extend(upload_all(&app, &ann, "after", 3).await);
    all_whole(&app, &ann, &files).await;
    let listed: serde_json::Value = app
        .get(&ann, "/api/v1/files/?limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), files.len());

    // ann, the first account, is the admin.
    let run = crate::jobs::run_job(&app, &ann, "verify").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    let report = &run["report"];
    assert_eq!(report["blobs_checked"], files.len(), "{report}");
    assert_eq!(report["corrupt"], serde_json::json!([]), "{report}");
    assert_eq!(report["missing"], serde_json::json!([]), "{report}");
}
