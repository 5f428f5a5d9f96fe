//! Storing files: multipart and raw uploads, and every way an upload is refused.

use std::io::Write;
use std::time::Duration;

use depot::config::ExtensionAllowList;
use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::helpers::{TestApp, error_code, file_part, hex_sha256, sample_bytes};

const CSV: &[u8] = b"date,product,sales\n2024-01-01,apple,3.5\n2024-01-02,pear,4\n";

#[tokio::test]
async fn multipart_upload_with_seed_fields_returns_201_and_metadata() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let form = Form::new()
        .text("file_name", "sales_data")
        .text("session_id", "3f1c1b9e-8d2a-4c1e-9a57-0d3b1f2e4a5c")
        .text("description", "Monthly sales data for Q1 2024")
        .part("file", file_part(CSV.to_vec(), "sales.csv"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/api/v1/files/sales_data");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["file_name"], "sales_data");
    assert_eq!(body["description"], "Monthly sales data for Q1 2024");
    assert_eq!(body["size"], CSV.len());
    assert_eq!(body["content_type"], "text/csv");
    assert_eq!(body["sha256"], hex_sha256(CSV));
    let sha256 = hex_sha256(CSV);
    if app.on_s3() {
        assert!(body["storage_uri"].as_str().unwrap().starts_with("s3://"));
    } else {
        // The blob within its store, not where the store lives on the host.
        assert_eq!(
            body["storage_uri"],
            format!("{}sha256/{}/{sha256}", app.storage_scheme(), &sha256[..2])
        );
    }
    assert!(body["summary"].is_string());
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn raw_put_upload_stores_the_body_and_x_description() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = app
        .client
        .put(app.url("/api/v1/files/report.csv/content"))
        .bearer_auth(&ann.token)
        .header("X-Description", "quarterly report")
        .body(CSV)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["description"], "quarterly report");
    assert_eq!(body["sha256"], hex_sha256(CSV));
    let download = app.download(&ann, "report.csv").await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), CSV);
}

#[tokio::test]
async fn multipart_fields_may_come_in_any_order() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let form = Form::new()
        .part("file", file_part(CSV.to_vec(), "sales.csv"))
        .text("description", "file first")
        .text("file_name", "late_name");
    assert_eq!(app.post_form(&ann, form).await.status(), StatusCode::CREATED);
    let meta = app.metadata(&ann, "late_name").await;
    assert_eq!(meta["description"], "file first");
}

/// A NUL fits no text column of PostgreSQL's: a description holding one is
/// refused with 422 on every path, and nothing is kept, rather than a 500.
#[tokio::test]
async fn a_description_holding_a_nul_is_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let form = Form::new()
        .text("file_name", "nul.csv")
        .text("description", "a\0b")
        .part("file", file_part(CSV.to_vec(), "nul.csv"));
    let refused = app.post_form(&ann, form).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(refused).await, "validation_failed");
    let tus = app
        .client
        .post(app.url("/api/v1/uploads/"))
        .bearer_auth(&ann.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .header("upload-metadata", "filename bnVsLmJpbg==,description YQBi")
        .send()
        .await
        .unwrap();
    assert_eq!(tus.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.assert_nothing_stored(&ann, "nul.csv").await;
}

#[tokio::test]
async fn uploading_a_duplicate_name_returns_409_and_keeps_the_original() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "a.csv", CSV).await.status(),
        StatusCode::CREATED
    );
    let again = app.put_file(&ann, "a.csv", &b"other content"[..]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(again).await, "file_exists");
    let form = Form::new()
        .text("file_name", "a.csv")
        .part("file", file_part(b"third".to_vec(), "a.csv"));
    assert_eq!(app.post_form(&ann, form).await.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.download(&ann, "a.csv").await.bytes().await.unwrap().as_ref(),
        CSV
    );
    assert_eq!(app.blob_files().len(), 1, "the refused uploads left a blob");
    assert!(app.staged_files().is_empty());
}

#[tokio::test]
async fn the_same_name_is_free_for_another_user() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    assert_eq!(
        app.put_file(&ann, "a.csv", CSV).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&bob, "a.csv", &b"bob's"[..]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.download(&bob, "a.csv").await.bytes().await.unwrap().as_ref(),
        b"bob's"
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_returns_413_before_reading_it() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 1024).await;
    let ann = app.user("ann").await;
    let response = app.put_file(&ann, "big.bin", sample_bytes(1025)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "payload_too_large");
    assert_eq!(
        app.put_file(&ann, "fits.bin", sample_bytes(1024)).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_returns_413_and_leaves_nothing() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 256 * 1024).await;
    let ann = app.user("ann").await;
    // Chunked, no Content-Length: the limit can only be enforced while streaming.
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![7u8; 16 * 1024]));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = app.put_file(&ann, "big.bin", body).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.assert_nothing_stored(&ann, "big.bin").await;
}

#[tokio::test]
async fn a_multipart_file_over_the_limit_returns_413_and_leaves_nothing() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 1000).await;
    let ann = app.user("ann").await;
    let form = Form::new()
        .text("file_name", "big.bin")
        .part("file", file_part(sample_bytes(1001), "big.bin"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.assert_nothing_stored(&ann, "big.bin").await;
}

#[tokio::test]
async fn a_disallowed_extension_returns_422() {
    let app =
        TestApp::spawn_with(|config| config.allowed_extensions = ExtensionAllowList::new(["csv"])).await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let response = app.put_file(&ann, "tool.exe", &b"MZ"[..]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "extension_not_allowed");
    // Seed 2's form: the extension is the uploaded file's, not the bare file_name's.
    let form = Form::new()
        .text("file_name", "sales_data")
        .part("file", file_part(b"MZ".to_vec(), "sales.exe"));
    assert_eq!(
        app.post_form(&ann, form).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let form = Form::new()
        .text("file_name", "sales_data")
        .part("file", file_part(CSV.to_vec(), "sales.CSV"));
    assert_eq!(app.post_form(&ann, form).await.status(), StatusCode::CREATED);
    assert_eq!(app.blob_files().len(), 1);
}

#[tokio::test]
async fn an_unsafe_file_name_returns_422() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let too_long = "x".repeat(256);
    for name in [
        "a//b",
        "/a",
        "a/",
        "a/../b",
        "a\\b",
        "..",
        "x..csv",
        "a\u{0}b",
        "tab\there",
        too_long.as_str(),
        " ",
        ".",
        " . ",
    ] {
        // HTTP clients resolve `.` and `..` path segments before sending; the form field carries them as is.
        if name.trim() != ".." && name.trim() != "." {
            let response = app.put_file(&ann, name, CSV).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
            assert_eq!(error_code(response).await, "invalid_file_name", "{name:?}");
        }
        let form = Form::new()
            .text("file_name", name.to_owned())
            .part("file", file_part(CSV.to_vec(), "f.csv"));
        assert_eq!(
            app.post_form(&ann, form).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}"
        );
    }
    // A dot segment sent as is, as a raw client could.
    for path in ["/api/v1/files/./content", "/api/v1/files/%2E/content"] {
        let head = app
            .raw_exchange(&format!(
                "PUT {path} HTTP/1.1\r\nHost: depot\r\nAuthorization: Bearer {}\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\nabc",
                ann.token
            ))
            .await;
        assert!(head.starts_with("HTTP/1.1 422"), "{path}: {head}");
        assert!(head.contains("invalid_file_name"), "{path}: {head}");
    }
    assert!(app.blob_files().is_empty());
    assert!(app.staged_files().is_empty());
}

#[tokio::test]
async fn a_form_missing_file_or_file_name_returns_422() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let no_file = Form::new().text("file_name", "x");
    let response = app.post_form(&ann, no_file).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "missing_field");
    let no_name = Form::new().part("file", file_part(CSV.to_vec(), "sales.csv"));
    let response = app.post_form(&ann, no_name).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "missing_field");
    assert!(app.blob_files().is_empty());
    assert!(app.eventually(|| app.staged_files().is_empty()).await);
}

#[tokio::test]
async fn a_non_multipart_post_returns_415() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = app
        .client
        .post(app.url("/api/v1/files/"))
        .bearer_auth(&ann.token)
        .json(&serde_json::json!({ "file_name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(response).await, "unsupported_media_type");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_no_trace() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "PUT /api/v1/files/cut.bin/content HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 10000000\r\n\r\n",
        ann.token
    )
    .unwrap();
    stream.write_all(&sample_bytes(2 * 1024 * 1024)).unwrap();
    stream.flush().unwrap();
    // The upload is under way…
    assert!(app.upload_under_way(&ann).await, "the upload never started");
    // …when the client goes away.
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);
    assert!(
        app.eventually(|| app.staged_files().is_empty()).await,
        "a temp file was left"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        app.get(&ann, "/api/v1/files/cut.bin").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(app.blob_files().is_empty());
}

#[tokio::test]
async fn identical_content_is_stored_once_and_freed_with_its_last_reference() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let content = sample_bytes(100_000);
    assert_eq!(
        app.put_file(&ann, "one.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&ann, "two.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&bob, "three.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.blob_files().len(), 1);

    assert_eq!(app.delete_file(&ann, "one.bin").await.status(), StatusCode::OK);
    assert_eq!(app.delete_file(&bob, "three.bin").await.status(), StatusCode::OK);
    assert_eq!(app.blob_files().len(), 1, "a referenced blob was deleted");
    assert_eq!(
        app.download(&ann, "two.bin")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        content.as_slice()
    );

    assert_eq!(app.delete_file(&ann, "two.bin").await.status(), StatusCode::OK);
    assert!(
        app.blob_files().is_empty(),
        "the last reference did not free the blob"
    );
}

#[tokio::test]
async fn deleting_a_file_returns_its_metadata_and_then_404() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "gone.csv", CSV).await;
    let response = app.delete_file(&ann, "gone.csv").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["file_name"], "gone.csv");
    assert_eq!(
        app.get(&ann, "/api/v1/files/gone.csv").await.status(),
        StatusCode::NOT_FOUND
    );
    let again = app.delete_file(&ann, "gone.csv").await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(again).await, "not_found");
}

#[tokio::test]
async fn content_type_comes_from_magic_bytes_before_the_extension() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    let body: Value = app.put_file(&ann, "looks.csv", png).await.json().await.unwrap();
    assert_eq!(body["content_type"], "image/png");
    let body: Value = app
        .put_file(&ann, "plain.json", &b"{\"a\":1}"[..])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["content_type"], "application/json");
}

#[tokio::test]
async fn concurrent_uploads_of_one_name_store_exactly_one_file() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let uploads = (0..6u8).map(|i| app.put_file(&ann, "race.bin", vec![i; 200_000]));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(uploads)
        .await
        .iter()
        .map(|response| response.status())
        .collect();
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (1, 5), "{statuses:?}");
    assert_eq!(app.blob_files().len(), 1, "a losing upload left its blob");
    assert!(app.eventually(|| app.staged_files().is_empty()).await);
}

/// New content's bytes reach their content address before the database
/// records them; a deletion of the last file with the same content, racing an
/// upload of it, must not leave the upload recorded without its bytes.
#[tokio::test]
async fn an_upload_racing_the_deletion_of_the_same_content_is_stored_whole() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let content = vec![7u8; 64 * 1024];
    for round in 0..20 {
        let first = format!("first-{round}.bin");
        let second = format!("second-{round}.bin");
        assert_eq!(
            app.put_file(&ann, &first, content.clone()).await.status(),
            StatusCode::CREATED
        );
        let (deleted, uploaded) = tokio::join!(
            app.delete_file(&ann, &first),
            app.put_file(&ann, &second, content.clone())
        );
        assert_eq!(
            deleted.status(),
            StatusCode::OK,
            "round {round}: {}",
            deleted.text().await.unwrap()
        );
        let status = uploaded.status();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "round {round}: {}",
            uploaded.text().await.unwrap()
        );
        let response = app.download(&ann, &second).await;
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        assert_eq!(response.bytes().await.unwrap(), content, "round {round}");
        assert_eq!(app.delete_file(&ann, &second).await.status(), StatusCode::OK);
    }
    assert!(app.blob_files().is_empty(), "bytes no file refers to were kept");
}
