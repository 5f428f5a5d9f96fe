//! Seed 3's API at its paths — `/api/files/upload`, `/api/files/{cid}`,
//! `/api/files/{cid}/info`, `/api/files/`, `/api/files/search`, `DELETE
//! /api/files/{cid}` — with its field names, over depot's files; and the
//! uploader's metadata, searchable through both APIs.

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::{Value, json};

use crate::audit;
use crate::helpers::{TestApp, TestUser, error_code, file_part};
use crate::resumable::Tus;

/// `POST /api/files/upload` of `bytes` as `filename`, with `metadata` if given.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    filename: &str,
    bytes: &[u8],
    metadata: Option<&str>,
) -> reqwest::Response {
    let mut form = Form::new();
    if let Some(metadata) = metadata {
        form = form.text("metadata", metadata.to_owned());
    }
    let form = form.part("file", file_part(bytes.to_vec(), filename));
    app.client
        .post(app.url("/api/files/upload"))
        .bearer_auth(&user.token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn search(app: &TestApp, user: &TestUser, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn filenames(files: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["filename"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test]
async fn a_seed_3_client_uploads_reads_lists_and_deletes_by_cid() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;

    let response = upload(
        &app,
        &ann,
        "notes.txt",
        b"hello\n",
        Some(r#"{"project": "atlas", "rows": 3}"#),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let cid = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/api/files/{cid}/info")
    );
    let file: Value = response.json().await.unwrap();
    assert_eq!(file["cid"], cid);
    assert_eq!(file["filename"], "notes.txt", "named by the part's filename");
    assert_eq!(file["content_type"], "text/plain");
    assert_eq!(file["size"], 6);
    assert!(file["upload_date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(file["metadata"], json!({ "project": "atlas", "rows": 3 }));
    assert_eq!(file["ipfs"], Value::Null, "no IPFS node is configured");

    // The same file through depot's own API, metadata included.
    let meta = app.metadata(&ann, "notes.txt").await;
    assert_eq!(meta["cid"], cid);
    assert_eq!(meta["metadata"], json!({ "project": "atlas", "rows": 3 }));

    let info: Value = app.get_json(&ann, &format!("/api/files/{cid}/info")).await;
    assert_eq!(info, file);

    let content = app.get(&ann, &format!("/api/files/{cid}")).await;
    assert_eq!(content.status(), StatusCode::OK);
    assert!(
        content.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        content.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("notes.txt")
    );
    assert_eq!(content.bytes().await.unwrap().as_ref(), b"hello\n");
    // A CID in another base (CIDv1 base32 is depot's; base58btc is js-ipfs's) names the same.
    let ranged = app
        .get_with(&ann, &format!("/api/files/{cid}"), &[("range", "bytes=1-3")])
        .await;
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), b"ell");

    assert_eq!(
        upload(&app, &ann, "more.csv", b"a,b\n1,2\n", None).await.status(),
        StatusCode::CREATED
    );
    let listed = app.get(&ann, "/api/files/?limit=1").await;
    assert_eq!(listed.status(), StatusCode::OK);
    let next = listed.headers()["x-next-cursor"].to_str().unwrap().to_owned();
    let page: Value = listed.json().await.unwrap();
    assert_eq!(filenames(&page), ["more.csv"], "newest first");
    assert_eq!(page[0]["metadata"], json!({}));
    let rest: Value = app
        .get_json(&ann, &format!("/api/files/?limit=1&cursor={next}"))
        .await;
    assert_eq!(filenames(&rest), ["notes.txt"]);

    let response = app
        .client
        .delete(app.url(&format!("/api/files/{cid}")))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let deleted: Value = response.json().await.unwrap();
    assert_eq!(deleted["cid"], cid);
    assert_eq!(filenames(&deleted["deleted"]), ["notes.txt"]);
    for path in [format!("/api/files/{cid}"), format!("/api/files/{cid}/info")] {
        let response = app.get(&ann, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(response).await, "not_found");
    }

    // Each operation is an audit event, as on depot's own routes.
    let actions: Vec<(String, i64)> = audit::summary(&audit::events(&app).await)
        .into_iter()
        .filter(|(_, _, actor, _)| *actor == Some(ann.id))
        .map(|(action, outcome, _, _)| (action, outcome))
        .collect();
    for expected in [
        ("upload", 201),
        ("metadata", 200),
        ("download", 200),
        ("download_range", 206),
        ("list", 200),
        ("delete", 200),
        ("metadata", 404),
    ] {
        assert!(
            actions.contains(&(expected.0.to_owned(), expected.1)),
            "{expected:?} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn search_filters_by_metadata_name_type_size_and_date_in_both_apis() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    for (name, bytes, metadata) in [
        (
            "q1.csv",
            &b"a,b\n1,2\n"[..],
            r#"{"project": "atlas", "quarter": 1, "final": true}"#,
        ),
        (
            "q2.csv",
            &b"a,b\n3,4\n5,6\n"[..],
            r#"{"project": "atlas", "quarter": 2, "final": false}"#,
        ),
        ("memo.txt", &b"remember\n"[..], r#"{"project": "zephyr"}"#),
    ] {
        let response = upload(&app, &ann, name, bytes, Some(metadata)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    }
    let response = app
        .client
        .put(app.url("/api/v1/files/q3.csv/content"))
        .bearer_auth(&ann.token)
        .header("x-metadata", r#"{"project": "atlas", "quarter": 3}"#)
        .body(&b"a,b\n7,8\n"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["metadata"], json!({ "project": "atlas", "quarter": 3 }));
    let bob = app.user("bob").await;
    upload(&app, &bob, "bob.csv", b"a\n1\n", Some(r#"{"project": "atlas"}"#)).await;

    let cases = [
        (
            json!({ "metadata": { "project": "atlas" } }),
            vec!["q1.csv", "q2.csv", "q3.csv"],
        ),
        (json!({ "metadata": { "quarter": 3 } }), vec!["q3.csv"]),
        (
            json!({ "metadata": { "project": "atlas", "quarter": 2 } }),
            vec!["q2.csv"],
        ),
        (json!({ "metadata": { "final": true } }), vec!["q1.csv"]),
        (json!({ "metadata": { "quarter": "2" } }), vec![]),
        (json!({ "metadata": { "project": "nowhere" } }), vec![]),
        (json!({ "name": "Q" }), vec!["q1.csv", "q2.csv", "q3.csv"]),
        (json!({ "content_type": "text/plain" }), vec!["memo.txt"]),
        (
            json!({ "min_size": 9, "metadata": { "project": "atlas" } }),
            vec!["q2.csv"],
        ),
        (
            json!({ "created_after": "2000-01-01T00:00:00Z", "created_before": "2001-01-01T00:00:00Z" }),
            vec![],
        ),
        (json!({}), vec!["memo.txt", "q1.csv", "q2.csv", "q3.csv"]),
    ];
    for (body, expected) in &cases {
        let found: Value = search(&app, &ann, "/api/files/search", body.clone())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(filenames(&found), *expected, "seed 3: {body}");
        let response = search(&app, &ann, "/api/v1/files/search", body.clone()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let found: Value = response.json().await.unwrap();
        let mut names: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file["file_name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, *expected, "depot's API: {body}");
    }

    // Numbered pages and the metadata filter in a query string.
    let response = search(
        &app,
        &ann,
        "/api/files/search",
        json!({ "page": 1, "page_size": 1, "sort": "name" }),
    )
    .await;
    assert_eq!(response.headers()["x-total-count"], "4");
    assert_eq!(filenames(&response.json().await.unwrap()), ["memo.txt"]);
    let query = "/api/v1/files/?metadata=%7B%22quarter%22%3A1%7D";
    let found: Value = app.get_json(&ann, query).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["file_name"], "q1.csv");

    for (body, code) in [
        (json!({ "metadata": { "tags": ["a"] } }), "bad_request"),
        (json!({ "metadata": "project" }), "bad_request"),
        (json!({ "colour": "red" }), "validation_failed"),
        (json!({ "limit": 0 }), "bad_request"),
        (
            json!({ "metadata": (0..65).map(|n| (format!("k{n}"), json!(n))).collect::<serde_json::Map<_, _>>() }),
            "bad_request",
        ),
    ] {
        let response = search(&app, &ann, "/api/files/search", body.clone()).await;
        let status = response.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {status}"
        );
        assert_eq!(error_code(response).await, code, "{body}");
    }
}

#[tokio::test]
async fn cids_address_only_the_callers_content_and_bad_input_leaves_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let file: Value = upload(&app, &ann, "private.txt", b"ann's own\n", None)
        .await
        .json()
        .await
        .unwrap();
    let cid = file["cid"].as_str().unwrap();

    // Bob learns the CID: it is as missing to him as a CID nobody stored.
    for path in [format!("/api/files/{cid}"), format!("/api/files/{cid}/info")] {
        let response = app.get(&bob, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = app
        .client
        .delete(app.url(&format!("/api/files/{cid}")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.metadata(&ann, "private.txt").await["cid"], cid, "still there");
    let found: Value = search(&app, &bob, "/api/files/search", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found, json!([]));

    let response = app.get(&ann, "/api/files/not-a-cid/info").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_cid");
    let unauthenticated = app.client.get(app.url("/api/files/")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_metadata_or_no_file_is_refused_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    for metadata in ["[1, 2]", "{not json", r#"{"": 1}"#, r#"{"a": "\u0000"}"#] {
        let response = upload(&app, &ann, "bad.csv", b"a\n1\n", Some(metadata)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{metadata}");
        assert_eq!(error_code(response).await, "invalid_metadata", "{metadata}");
    }
    // After the file part: its bytes were staged, and are discarded.
    let form = Form::new()
        .part("file", file_part(vec![b'x'; 300_000], "bad.csv"))
        .text("metadata", "[]");
    let response = app
        .client
        .post(app.url("/api/files/upload"))
        .bearer_auth(&ann.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, "invalid_metadata");
    // A raw upload carries its metadata in `X-Metadata`.
    let response = app
        .client
        .put(app.url("/api/v1/files/bad.csv/content"))
        .bearer_auth(&ann.token)
        .header("x-metadata", "[\"not\", \"an object\"]")
        .body(vec![b'y'; 300_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "invalid_metadata");
    let no_file = app
        .client
        .post(app.url("/api/files/upload"))
        .bearer_auth(&ann.token)
        .multipart(Form::new().text("metadata", "{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(no_file).await, "missing_field");
    app.assert_nothing_stored(&ann, "bad.csv").await;
}

/// A resumable upload gives its file metadata as `metadata` in tus'
/// `Upload-Metadata`: checked at creation, kept until the last byte.
#[tokio::test]
async fn a_resumable_upload_carries_metadata_to_its_file() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);

    let refused = tus
        .create(4, &[("filename", "bad.csv"), ("metadata", "[1]")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(refused).await, "invalid_metadata");

    let created = tus
        .create(8, &[("filename", "q4.csv"), ("metadata", r#"{"quarter": 4}"#)])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let upload = created.headers()["location"].to_str().unwrap().to_owned();
    let path = upload.trim_start_matches(&app.address).to_owned();
    assert_eq!(
        tus.patch(&path, 0, &b"a,b\n9,9\n"[..]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.metadata(&ann, "q4.csv").await["metadata"],
        json!({ "quarter": 4 })
    );
    let found: Value = search(
        &app,
        &ann,
        "/api/files/search",
        json!({ "metadata": { "quarter": 4 } }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(filenames(&found), ["q4.csv"]);
}

/// `POST /api/v1/files/search` shares its path with a file named `search`,
/// which stays readable and deletable there.
#[tokio::test]
async fn a_file_named_search_is_still_reachable() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "search", &b"i am a file"[..]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.metadata(&ann, "search").await["file_name"], "search");
    let found: Value = search(&app, &ann, "/api/v1/files/search", json!({ "name": "sea" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["file_name"], "search");
    assert_eq!(app.delete_file(&ann, "search").await.status(), StatusCode::OK);
    let gone = app.get(&ann, "/api/v1/files/search").await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}
