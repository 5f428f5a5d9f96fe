//! Accounts a team can govern: API keys and their scopes, signing out and
//! revocation across nodes, and the sign-up policy.

use std::time::{Duration, Instant};

use depot::config::Signup;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, sample_bytes};

/// How long a revocation may take to reach another node (docs/accounts.md).
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

/// Another node of `first`'s deployment: the same database, secret and blobs.
async fn second_node(first: &TestApp) -> TestApp {
    TestApp::spawn_with(|config| {
        config.data_dir = first.data_dir().to_owned();
        config.database_url = first.config.database_url.clone();
        config.storage = first.config.storage.clone();
        config.storage_url = first.config.storage_url.clone();
    })
    .await
}

/// `user`'s new key: its JSON as created.
async fn create_key(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A key of `user` with `scope`, as a user of its own.
async fn key_user(app: &TestApp, user: &TestUser, scope: &str) -> (TestUser, i64) {
    let response = create_key(
        app,
        user,
        json!({ "name": format!("{scope} key"), "scope": scope }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let key = TestUser {
        token: body["key"].as_str().unwrap().to_owned(),
        id: user.id,
    };
    (key, body["id"].as_i64().unwrap())
}

async fn send(app: &TestApp, user: &TestUser, method: reqwest::Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Waits until `path` answers `status` for `user` on `app`; how long it took.
async fn answers_within(app: &TestApp, user: &TestUser, path: &str, status: StatusCode) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < REVOCATION_BOUND + Duration::from_secs(2) {
        if app.get(user, path).await.status() == status {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn an_api_key_is_shown_once_listed_without_its_secret_and_revoked() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = create_key(
        &app,
        &ann,
        json!({ "name": "nightly sync", "scope": "read-write", "expires_in": "90d" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let secret = created["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("depot_") && secret.len() > 60, "{secret}");
    assert_eq!(created["name"], "nightly sync");
    assert_eq!(created["scope"], "read-write");
    assert!(created["expires_at"].is_string());
    let key = TestUser {
        token: secret.clone(),
        id: ann.id,
    };

    // It works as a bearer credential, for its owner's files.
    assert_eq!(
        app.put_file(&key, "by-key.csv", "a,b\n1,2\n").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.metadata(&ann, "by-key.csv").await["file_name"], "by-key.csv");

    // Listed with when it was used, never with its secret.
    let listed = send(&app, &ann, reqwest::Method::GET, "/api/v1/keys").await;
    let text = listed.text().await.unwrap();
    assert!(!text.contains(&secret[6..]), "the list shows the secret: {text}");
    let keys: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["id"], created["id"]);
    assert!(keys[0].get("key").is_none());
    let used = || async {
        send(&app, &ann, reqwest::Method::GET, "/api/v1/keys")
            .await
            .json::<Value>()
            .await
            .unwrap()[0]["last_used_at"]
            .is_string()
    };
    assert!(app.eventually_async(used).await, "last_used_at is noted");

    // Another user neither sees nor revokes it.
    let bob = app.user("bob").await;
    let theirs: Value = send(&app, &bob, reqwest::Method::GET, "/api/v1/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));
    let path = format!("/api/v1/keys/{}", created["id"]);
    assert_eq!(
        send(&app, &bob, reqwest::Method::DELETE, &path).await.status(),
        StatusCode::NOT_FOUND
    );

    // Revoked, it stops working at once on this node.
    assert_eq!(
        send(&app, &ann, reqwest::Method::DELETE, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&key, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, &ann, reqwest::Method::DELETE, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&ann, "/api/v1/files/").await.status(),
        StatusCode::OK,
        "the token still works"
    );
}

#[tokio::test]
async fn a_read_only_key_reads_but_cannot_change_anything() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "kept.csv", "a,b\n1,2\n").await.status(),
        StatusCode::CREATED
    );
    let (reader, _) = key_user(&app, &ann, "read").await;

    assert_eq!(app.get(&reader, "/api/v1/files/").await.status(), StatusCode::OK);
    assert_eq!(
        app.download(&reader, "kept.csv").await.bytes().await.unwrap(),
        "a,b\n1,2\n"
    );
    let link = send(
        &app,
        &reader,
        reqwest::Method::POST,
        "/api/v1/files/kept.csv/link",
    )
    .await;
    assert_eq!(
        link.status(),
        StatusCode::CREATED,
        "a download link changes nothing"
    );

    let refused = [
        app.put_file(&reader, "new.csv", "x\n1\n").await,
        app.post_form(
            &reader,
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(b"x\n1\n".to_vec()).file_name("form.csv"),
            ),
        )
        .await,
        send(&app, &reader, reqwest::Method::DELETE, "/api/v1/files/kept.csv").await,
        app.client
            .post(app.url("/api/v1/uploads/"))
            .bearer_auth(&reader.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "10")
            .header("upload-metadata", "filename dHVzLmJpbg==")
            .send()
            .await
            .unwrap(),
        create_key(
            &app,
            &reader,
            json!({ "name": "escalate", "scope": "read-write" }),
        )
        .await,
        send(&app, &reader, reqwest::Method::POST, "/api/v1/sessions").await,
    ];
    for response in refused {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(response).await, "insufficient_scope");
    }
    for name in ["new.csv", "form.csv"] {
        let path = format!("/api/v1/files/{name}");
        assert_eq!(app.get(&ann, &path).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(app.blob_files().len(), 1, "only kept.csv's bytes are stored");
    assert!(app.staged_files().is_empty());
    assert_eq!(app.metadata(&ann, "kept.csv").await["file_name"], "kept.csv");

    // Each refusal is in the audit trail.
    let db = app.db().await;
    let refusals: Vec<(String,)> =
        sqlx::query_as("SELECT action FROM audit_events WHERE outcome = 403 ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap();
    let actions: Vec<&str> = refusals.iter().map(|(action,)| action.as_str()).collect();
    assert_eq!(
        actions,
        ["upload", "upload", "delete", "upload_start", "key_create"]
    );
}

#[tokio::test]
async fn no_key_may_do_more_than_its_maker() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let ann = app.user("ann").await;
    let refused = create_key(&app, &ann, json!({ "name": "power", "scope": "admin" })).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "insufficient_scope");

    // An admin's admin key opens the admin routes; their read-write key does not.
    let (admin_key, _) = key_user(&app, &admin, "admin").await;
    assert_eq!(
        app.get(&admin_key, "/api/v1/admin/jobs").await.status(),
        StatusCode::OK
    );
    let (plain_key, _) = key_user(&app, &admin, "read-write").await;
    assert_eq!(
        app.get(&plain_key, "/api/v1/admin/jobs").await.status(),
        StatusCode::NOT_FOUND
    );

    for (body, what) in [
        (json!({ "name": "", "scope": "read" }), "an empty name"),
        (json!({ "name": "x", "scope": "write" }), "an unknown scope"),
        (
            json!({ "name": "x", "scope": "read", "expires_in": "soon" }),
            "an expiry that is no duration",
        ),
        (
            json!({ "name": "x", "scope": "read", "expires_in": 0 }),
            "an expiry of zero",
        ),
        (json!({ "name": "x" }), "no scope"),
    ] {
        let response = create_key(&app, &ann, body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
    }
    let keys: Value = send(&app, &ann, reqwest::Method::GET, "/api/v1/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys, json!([]), "nothing refused was kept");
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = create_key(
        &app,
        &ann,
        json!({ "name": "brief", "scope": "read", "expires_in": 1 }),
    )
    .await;
    let key = TestUser {
        token: response.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned(),
        id: ann.id,
    };
    assert_eq!(app.get(&key, "/api/v1/files/").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused = app.get(&key, "/api/v1/files/").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn signing_out_revokes_the_accounts_tokens_on_every_node_within_the_bound() {
    let first = TestApp::spawn().await;
    let second = second_node(&first).await;
    let ann = first.user("ann").await;
    // The second node has seen the token, and keeps the account's standing.
    assert_eq!(second.get(&ann, "/api/v1/files/").await.status(), StatusCode::OK);

    let out = send(&first, &ann, reqwest::Method::POST, "/api/v1/auth/logout").await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        first.get(&ann, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED,
        "at once on the node that signed out"
    );
    let took = answers_within(&second, &ann, "/api/v1/files/", StatusCode::UNAUTHORIZED).await;
    assert!(
        took.is_some_and(|took| took <= REVOCATION_BOUND + Duration::from_millis(500)),
        "{took:?}"
    );

    // Signing in again works at once on every node.
    let login = first
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "ann", "password": "correct horse battery" }),
        )
        .await;
    let again = TestUser {
        token: login.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        id: ann.id,
    };
    assert_eq!(
        second.get(&again, "/api/v1/files/").await.status(),
        StatusCode::OK
    );
    assert_eq!(first.get(&again, "/api/v1/files/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_key_stops_working_on_another_node_within_the_bound() {
    let first = TestApp::spawn().await;
    let second = second_node(&first).await;
    let ann = first.user("ann").await;
    let (key, id) = key_user(&first, &ann, "read-write").await;
    assert_eq!(second.get(&key, "/api/v1/files/").await.status(), StatusCode::OK);

    let path = format!("/api/v1/keys/{id}");
    assert_eq!(
        send(&first, &ann, reqwest::Method::DELETE, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    let took = answers_within(&second, &key, "/api/v1/files/", StatusCode::UNAUTHORIZED).await;
    assert!(
        took.is_some_and(|took| took <= REVOCATION_BOUND + Duration::from_millis(500)),
        "{took:?}"
    );
}

#[tokio::test]
async fn signing_out_with_a_key_revokes_that_key_only() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let (key, _) = key_user(&app, &ann, "read").await;
    let (other, _) = key_user(&app, &ann, "read").await;
    assert_eq!(
        send(&app, &key, reqwest::Method::POST, "/api/v1/auth/logout")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&key, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get(&other, "/api/v1/files/").await.status(), StatusCode::OK);
    assert_eq!(app.get(&ann, "/api/v1/files/").await.status(), StatusCode::OK);
    let keys: Value = send(&app, &ann, reqwest::Method::GET, "/api/v1/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn tokens_minted_with_the_shared_secret_keep_working_after_a_sign_out() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let keys = depot::auth::Keys::new(&depot::config::Secret::new(app.secret()), 3600);
    let minted = TestUser {
        token: keys
            .issue(depot::domain::UserId::new(ann.id), Duration::from_secs(600))
            .unwrap(),
        id: ann.id,
    };
    assert_eq!(
        send(&app, &ann, reqwest::Method::POST, "/api/v1/auth/logout")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&ann, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&minted, "/api/v1/files/").await.status(),
        StatusCode::OK,
        "the auth service owns those (seed 2)"
    );
}

#[tokio::test]
async fn a_closed_sign_up_admits_only_the_first_account() {
    let app = TestApp::spawn_with(|config| config.signup = Signup::Closed).await;
    let admin = app.user("root").await;
    let refused = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "username": "mallory", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "signup_closed");
    let login = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "mallory", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED, "no account was made");
    assert_eq!(
        app.put_file(&admin, "still.csv", sample_bytes(10)).await.status(),
        StatusCode::CREATED
    );
}
