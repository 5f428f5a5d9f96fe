//! `GET /api/v1/files/{file_name}/preview`: what the web UI shows of a file.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, encode, error_code, sample_bytes};

async fn preview(app: &TestApp, user: &TestUser, name: &str) -> Value {
    let response = app
        .get(user, &format!("/api/v1/files/{}/preview", encode(name)))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{name}");
    response.json().await.unwrap()
}

async fn stored(app: &TestApp, user: &TestUser, name: &str, bytes: impl Into<reqwest::Body>) {
    assert_eq!(
        app.put_file(user, name, bytes).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_csv_previews_as_its_first_hundred_rows_split_as_pandas_splits_them() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let mut csv = String::from("id,note\n");
    for i in 0..150 {
        csv.push_str(&format!("{i},\"line {i}, with a comma\nand a second line\"\n"));
    }
    stored(&app, &ann, "notes.csv", csv).await;

    let body = preview(&app, &ann, "notes.csv").await;
    assert_eq!(body["kind"], "table");
    assert_eq!(body["content_type"], "text/csv");
    assert_eq!(body["columns"], json!(["id", "note"]));
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(
        rows[99],
        json!(["99", "line 99, with a comma\nand a second line"])
    );
    assert_eq!(body["truncated"], true);

    stored(&app, &ann, "small.tsv", "a\tb\n1\t\n").await;
    let small = preview(&app, &ann, "small.tsv").await;
    assert_eq!(small["columns"], json!(["a", "b"]));
    assert_eq!(small["rows"], json!([["1", ""]]));
    assert_eq!(small["truncated"], false);
}

#[tokio::test]
async fn a_table_preview_reads_only_the_first_mebibyte() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    // Three rows of 600 KiB each: the second ends past the first MiB.
    let wide = "x".repeat(600 * 1024);
    let csv = format!("a,b\n1,{wide}\n2,{wide}\n3,{wide}\n");
    stored(&app, &ann, "wide.csv", csv).await;
    let body = preview(&app, &ann, "wide.csv").await;
    assert_eq!(body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(body["truncated"], true);
}

#[tokio::test]
async fn text_previews_are_the_first_64_kib_cut_between_characters() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    // 'é' is two bytes: 65,537 bytes of them and a prefix put one across the cut.
    let text = format!("a{}", "é".repeat(40_000));
    stored(&app, &ann, "long.txt", text.clone()).await;
    let body = preview(&app, &ann, "long.txt").await;
    assert_eq!(body["kind"], "text");
    let shown = body["text"].as_str().unwrap();
    assert_eq!(
        shown.len(),
        64 * 1024 - 1,
        "the character cut in half is left out"
    );
    assert!(text.starts_with(shown));
    assert_eq!(body["truncated"], true);

    stored(&app, &ann, "short.json", r#"{"a": 1}"#).await;
    let json = preview(&app, &ann, "short.json").await;
    assert_eq!(
        (json["kind"].as_str(), json["text"].as_str()),
        (Some("text"), Some(r#"{"a": 1}"#))
    );
    assert_eq!(json["truncated"], false);
}

#[tokio::test]
async fn markup_previews_as_text_images_inline_and_other_files_not_at_all() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let page = "<!doctype html><script>alert(document.cookie)</script>";
    stored(&app, &ann, "page.html", page).await;
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    stored(&app, &ann, "drawing.svg", svg).await;
    for (name, source) in [("page.html", page), ("drawing.svg", svg)] {
        let body = preview(&app, &ann, name).await;
        assert_eq!(body["kind"], "text", "{name}");
        assert_eq!(body["text"], source, "{name}");
    }

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    stored(&app, &ann, "dot.png", png).await;
    let image = preview(&app, &ann, "dot.png").await;
    assert_eq!(
        (image["kind"].as_str(), image["content_type"].as_str()),
        (Some("image"), Some("image/png"))
    );

    stored(&app, &ann, "blob.bin", sample_bytes(1000)).await;
    assert_eq!(preview(&app, &ann, "blob.bin").await["kind"], "none");

    stored(&app, &ann, "empty.txt", "").await;
    let empty = preview(&app, &ann, "empty.txt").await;
    assert_eq!(
        (empty["text"].as_str(), empty["truncated"].as_bool()),
        (Some(""), Some(false))
    );
}

#[tokio::test]
async fn another_users_file_has_no_preview() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    stored(&app, &ann, "mine.csv", "a\n1\n").await;
    let response = app.get(&bob, "/api/v1/files/mine.csv/preview").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "not_found");
}
