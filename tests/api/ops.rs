//! Health, readiness and request ids.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_everything_is_up() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readyz_returns_503_when_the_blob_store_cannot_be_written() {
    // Breaks the local store's staging directory, whatever store the suite runs on.
    let app = TestApp::spawn_with(|config| config.storage = None).await;
    if !app.blobs_on_disk() {
        return;
    }
    let staging = app.blob_root().join("tmp");
    std::fs::remove_dir_all(&staging).unwrap();
    // A file where the staging directory should be: writes there fail even as root.
    std::fs::write(&staging, b"not a directory").unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(body["blob_store"], "failing");
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_an_incoming_one_is_kept() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn unknown_routes_return_a_json_404() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

/// The value of the sample named exactly `series` (name and labels) in a
/// Prometheus text exposition.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_bytes_uploads_jobs_and_the_pool() {
    let app = TestApp::spawn().await;
    let root = app.user("root").await;
    let content = crate::helpers::sample_bytes(123_456);
    assert_eq!(
        app.put_file(&root, "m.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.download(&root, "m.bin").await.bytes().await.unwrap().len(),
        123_456
    );
    let session = crate::helpers::new_session();
    app.put_file_in(&root, &session, "a.txt", "x").await;
    assert_eq!(app.active_name(&root, &session).await.unwrap(), "a.txt");
    let started = app
        .client
        .post(app.url("/api/v1/admin/jobs/report"))
        .bearer_auth(&root.token)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let scrape = || async { app.client.get(app.url("/metrics")).send().await.unwrap() };
    let ended = app
        .eventually_async(|| async {
            let text = scrape().await.text().await.unwrap();
            sample(
                &text,
                "depot_job_runs_total{job=\"report\",outcome=\"succeeded\"}",
            )
            .is_some_and(|runs| runs >= 1.0)
        })
        .await;
    assert!(ended, "the job's run is counted");

    let response = scrape().await;
    assert_eq!(response.status(), StatusCode::OK, "no token needed");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "a complete exposition");
    let at_least = |series: &str, floor: f64| {
        let value = sample(&text, series).unwrap_or_else(|| panic!("{series} is missing:\n{text}"));
        assert!(value >= floor, "{series} = {value}, expected ≥ {floor}");
    };
    at_least(
        "depot_http_requests_total{method=\"PUT\",route=\"/api/v1/files/{file_name}/content\",status=\"201\"}",
        1.0,
    );
    at_least(
        "depot_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/files/{file_name}/content\"}",
        1.0,
    );
    at_least("depot_upload_bytes_total", 123_456.0);
    at_least("depot_download_bytes_total", 123_456.0);
    at_least("depot_job_duration_seconds_count{job=\"report\"}", 1.0);
    at_least("depot_uploads_in_progress", 0.0);
    at_least("depot_db_pool_connections{state=\"idle\"}", 0.0);
    let lookups: f64 = ["hit", "miss", "unavailable"]
        .iter()
        .filter_map(|result| {
            sample(
                &text,
                &format!("depot_active_file_cache_lookups_total{{result=\"{result}\"}}"),
            )
        })
        .sum();
    assert!(lookups >= 1.0, "the active-file lookup is counted:\n{text}");
    assert!(
        !text.contains("route=\"/api/v1/files/m.bin"),
        "routes are templates, never paths"
    );
}
