//! Serving files back: bytes, ranges, validators and browser-safety headers.

use reqwest::StatusCode;

use crate::helpers::{TestApp, error_code, hex_sha256, sample_bytes};

#[tokio::test]
async fn a_download_is_byte_identical_with_etag_and_nosniff() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let content = sample_bytes(3 * 1024 * 1024 + 17);
    app.put_file(&ann, "data.bin", content.clone()).await;
    let response = app.download(&ann, "data.bin").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["etag"], format!("\"{}\"", hex_sha256(&content)));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["content-length"], content.len().to_string());
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(response.bytes().await.unwrap().as_ref(), content.as_slice());
}

#[tokio::test]
async fn a_range_request_returns_206_with_that_slice() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let content = sample_bytes(10_000);
    app.put_file(&ann, "data.bin", content.clone()).await;
    for (header, start, end) in [
        ("bytes=100-199", 100, 199),
        ("bytes=9990-", 9990, 9999),
        ("bytes=-10", 9990, 9999),
    ] {
        let response = app
            .get_with(&ann, "/api/v1/files/data.bin/content", &[("Range", header)])
            .await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{header}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{end}/10000")
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), &content[start..=end]);
    }
}

#[tokio::test]
async fn an_unsatisfiable_range_returns_416_with_the_size() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "small.bin", sample_bytes(10)).await;
    let response = app
        .get_with(
            &ann,
            "/api/v1/files/small.bin/content",
            &[("Range", "bytes=50-60")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()["content-range"], "bytes */10");
    assert_eq!(error_code(response).await, "range_not_satisfiable");
}

#[tokio::test]
async fn if_range_with_a_stale_etag_gets_the_whole_file() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "data.bin", sample_bytes(100)).await;
    let response = app
        .get_with(
            &ann,
            "/api/v1/files/data.bin/content",
            &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().len(), 100);
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_returns_304() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "data.csv", &b"a,b\n1,2\n"[..]).await;
    let etag = app.download(&ann, "data.csv").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let response = app
        .get_with(
            &ann,
            "/api/v1/files/data.csv/content",
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"], etag);
    assert!(response.bytes().await.unwrap().is_empty());
    let changed = app
        .get_with(
            &ann,
            "/api/v1/files/data.csv/content",
            &[("If-None-Match", "\"something-else\"")],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
}

#[tokio::test]
async fn html_svg_xml_and_js_are_served_as_attachments() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let cases: [(&str, &[u8]); 4] = [
        (
            "page.html",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        ),
        ("logo.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"),
        ("feed.xml", b"<?xml version=\"1.0\"?><feed/>"),
        ("app.js", b"alert(document.cookie)"),
    ];
    for (name, body) in cases {
        app.put_file(&ann, name, body).await;
        let response = app.download(&ann, name).await;
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(disposition.starts_with("attachment;"), "{name}: {disposition}");
        assert!(
            disposition.contains(&format!("filename*=UTF-8''{name}")),
            "{name}: {disposition}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn a_non_ascii_name_round_trips_through_content_disposition() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "données été.html", &b"<html></html>"[..])
        .await;
    let response = app.download(&ann, "données été.html").await;
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.ends_with("filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9.html"),
        "{disposition}"
    );
}

#[tokio::test]
async fn another_users_file_is_404_exactly_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.put_file(&ann, "private.csv", &b"secret,data\n"[..]).await;
    for path in ["/api/v1/files/private.csv", "/api/v1/files/private.csv/content"] {
        let theirs = app.get(&bob, path).await;
        let missing = app.get(&bob, &path.replace("private", "nothing")).await;
        assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
        assert_eq!(theirs.text().await.unwrap(), missing.text().await.unwrap());
    }
    assert_eq!(
        app.delete_file(&bob, "private.csv").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.download(&ann, "private.csv").await.status(), StatusCode::OK);
}

/// The web UI's download link reads its one file without a bearer token,
/// for its maker only, and is no bearer token itself.
#[tokio::test]
async fn a_download_link_opens_one_file_without_a_token() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let content = crate::helpers::sample_bytes(300_000);
    app.put_file(&ann, "big data.bin", content.clone()).await;

    let made = app
        .client
        .post(app.url("/api/v1/files/big%20data.bin/link"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let link: serde_json::Value = made.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/s/")), "an absolute URL: {url}");
    assert!(url.ends_with("?download"), "bytes even for a browser: {url}");
    assert!(link["expires_at"].is_string(), "{link}");
    let fetched = app
        .client
        .get(url)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert!(fetched.bytes().await.unwrap() == content, "the file's bytes");
    let ranged = app
        .client
        .get(url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    // The download is on the trail as the link's maker's (ann, the first account, is an admin).
    let trail: serde_json::Value = app
        .get(&ann, "/api/v1/admin/audit?action=download&limit=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trail["events"][0]["actor"], ann.id, "{trail}");
    assert_eq!(trail["events"][0]["file_name"], "big data.bin", "{trail}");
    let token = url.trim_end_matches("?download").rsplit('/').next().unwrap();
    assert!(
        trail["events"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("via link "),
        "{trail}"
    );
    assert!(!trail.to_string().contains(token), "the token is not kept");
    assert!(
        app.get_json(&ann, "/api/v1/links")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "the web UI's own links are not listed"
    );

    let as_bearer = app
        .client
        .get(app.url("/api/v1/files/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_bearer.status(),
        StatusCode::UNAUTHORIZED,
        "a link is no bearer token"
    );
    let tampered = app
        .client
        .get(format!("{}x", url.trim_end_matches("?download")))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::NOT_FOUND);

    let not_hers = app
        .client
        .post(app.url("/api/v1/files/big%20data.bin/link"))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(not_hers.status(), StatusCode::NOT_FOUND);
}
