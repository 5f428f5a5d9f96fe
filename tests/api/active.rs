//! Seed 2's active file: set by every upload and by `POST /files/active/{session}`,
//! read by `GET`, cleared by deleting the file. Runs with whichever cache the
//! suite is configured for (in-process, or Redis with `DEPOT_TEST_REDIS_URL`).

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::helpers::{TestApp, error_code, file_part, new_session};

#[tokio::test]
async fn the_seed_flow_upload_then_read_then_switch_the_active_file() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    assert_eq!(app.active_name(&ann, &session).await, Err("not_found".into()));

    for name in ["sales_data", "customers"] {
        let form = Form::new()
            .text("file_name", name)
            .text("session_id", session.clone())
            .text("description", format!("{name} for Q1"))
            .part("file", file_part(format!("{name}\n1\n").into_bytes(), "data.csv"));
        assert_eq!(app.post_form(&ann, form).await.status(), StatusCode::CREATED);
    }
    let active: Value = app.active_file(&ann, &session).await.unwrap();
    assert_eq!(active["file_name"], "customers");
    assert_eq!(active["description"], "customers for Q1");
    assert!(
        active["storage_uri"]
            .as_str()
            .unwrap()
            .starts_with(app.storage_scheme())
    );
    assert!(active["summary"].is_string());

    let set = app.set_active(&ann, &session, "sales_data").await;
    assert_eq!(set.status(), StatusCode::OK);
    let set: Value = set.json().await.unwrap();
    assert_eq!(set["file_name"], "sales_data");
    assert_eq!(app.active_name(&ann, &session).await, Ok("sales_data".into()));
}

#[tokio::test]
async fn making_a_missing_or_foreign_file_active_returns_404() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.put_file(&bob, "bobs.csv", &b"b\n"[..]).await;
    let session = new_session();
    for name in ["nothing.csv", "bobs.csv"] {
        let response = app.set_active(&ann, &session, name).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_code(response).await, "not_found");
    }
    let bad_body = app
        .client
        .post(app.url(&format!("/api/v1/files/active/{session}")))
        .bearer_auth(&ann.token)
        .json(&serde_json::json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn deleting_a_file_clears_it_as_active_in_every_session() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let (first, second) = (new_session(), new_session());
    app.put_file_in(&ann, &first, "shared.csv", &b"a\n1\n"[..]).await;
    app.put_file_in(&ann, &second, "other.csv", &b"b\n2\n"[..]).await;
    assert_eq!(
        app.set_active(&ann, &second, "shared.csv").await.status(),
        StatusCode::OK
    );
    // Both sessions have it cached now.
    assert_eq!(app.active_name(&ann, &first).await, Ok("shared.csv".into()));
    assert_eq!(app.active_name(&ann, &second).await, Ok("shared.csv".into()));

    assert_eq!(app.delete_file(&ann, "shared.csv").await.status(), StatusCode::OK);
    assert_eq!(app.active_name(&ann, &first).await, Err("not_found".into()));
    assert_eq!(app.active_name(&ann, &second).await, Err("not_found".into()));
    // A new file of the same name is not the old one come back.
    app.put_file(&ann, "shared.csv", &b"new\n"[..]).await;
    assert_eq!(app.active_name(&ann, &first).await, Err("not_found".into()));
}

#[tokio::test]
async fn a_file_named_active_is_still_reachable() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "active", &b"i am a file"[..]).await.status(),
        StatusCode::CREATED
    );
    let meta = app.get(&ann, "/api/v1/files/active").await;
    assert_eq!(meta.status(), StatusCode::OK);
    let content = app.download(&ann, "active").await;
    assert_eq!(content.status(), StatusCode::OK);
    assert_eq!(content.bytes().await.unwrap(), &b"i am a file"[..]);
}
