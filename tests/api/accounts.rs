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
/// `user`'s new key: its JSON as created.
/// A JSON `POST` to `path` as `user`.
async fn post_as(app: &TestApp, user: &TestUser, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn create_key(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    post_as(app, user, "/api/v1/keys", body).await
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

/// Asks `path` for `user` on `app` until it answers 401, and returns how
/// long after `changed` the last request that was still let in was sent —
/// what the revocation bound promises to keep under 5 s, whatever the load
/// does to the answers' latency. `None` if it never answered 401.
async fn last_let_in(app: &TestApp, user: &TestUser, path: &str, changed: Instant) -> Option<Duration> {
    let mut last = Duration::ZERO;
    while changed.elapsed() < REVOCATION_BOUND + Duration::from_secs(10) {
        let sent = changed.elapsed();
        match app.get(user, path).await.status() {
            StatusCode::UNAUTHORIZED => return Some(last),
            StatusCode::OK => last = sent,
            other => panic!("{path} answered {other}"),
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
    if !app.blobs_on_disk() {
        return;
    }
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
    let session = send(&app, &reader, reqwest::Method::POST, "/api/v1/sessions").await;
    assert_eq!(
        session.status(),
        StatusCode::CREATED,
        "a session is the client's own bookkeeping"
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
    let second = first.second_node().await;
    let ann = first.user("ann").await;
    // The second node has seen the token, and keeps the account's standing.
    assert_eq!(second.get(&ann, "/api/v1/files/").await.status(), StatusCode::OK);

    let out = send(&first, &ann, reqwest::Method::POST, "/api/v1/auth/logout").await;
    let changed = Instant::now();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        first.get(&ann, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED,
        "at once on the node that signed out"
    );
    let took = last_let_in(&second, &ann, "/api/v1/files/", changed).await;
    assert!(took.is_some_and(|took| took < REVOCATION_BOUND), "{took:?}");

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
    let second = first.second_node().await;
    let ann = first.user("ann").await;
    let (key, id) = key_user(&first, &ann, "read-write").await;
    assert_eq!(second.get(&key, "/api/v1/files/").await.status(), StatusCode::OK);

    let path = format!("/api/v1/keys/{id}");
    let revoked = send(&first, &ann, reqwest::Method::DELETE, &path).await;
    let changed = Instant::now();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let took = last_let_in(&second, &key, "/api/v1/files/", changed).await;
    assert!(took.is_some_and(|took| took < REVOCATION_BOUND), "{took:?}");
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

    // An admin still makes accounts.
    let made = post_as(
        &app,
        &admin,
        "/api/v1/admin/users",
        json!({ "username": "mallory", "password": "correct horse battery" }),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    assert_eq!(made.json::<Value>().await.unwrap()["role"], "user");
    let login = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "mallory", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(
        app.put_file(&admin, "still.csv", sample_bytes(10)).await.status(),
        StatusCode::CREATED
    );
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/login",
        &json!({ "username": username, "password": password }),
    )
    .await
}

async fn token_of(response: reqwest::Response, id: i64) -> TestUser {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    TestUser {
        token: body["access_token"].as_str().unwrap().to_owned(),
        id,
    }
}

#[tokio::test]
async fn an_admin_creates_disables_promotes_and_demotes_users() {
    let app = TestApp::spawn().await;
    let second = app.second_node().await;
    let root = app.user("root").await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "a.csv", "x\n1\n").await.status(),
        StatusCode::CREATED
    );
    let (ann_key, _) = key_user(&app, &ann, "read-write").await;

    // Only an admin sees the accounts, with what each stores.
    assert_eq!(
        app.get(&ann, "/api/v1/admin/users").await.status(),
        StatusCode::NOT_FOUND
    );
    let listed: Value = app.get(&root, "/api/v1/admin/users").await.json().await.unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "ann"]);
    assert_eq!(
        (listed[0]["role"].as_str(), listed[1]["role"].as_str()),
        (Some("admin"), Some("user"))
    );
    assert_eq!(
        (listed[1]["files"].as_i64(), listed[1]["bytes_used"].as_i64()),
        (Some(1), Some(4))
    );

    // A reader an admin makes reads and cannot write, whatever its token says.
    let made = post_as(
        &app,
        &root,
        "/api/v1/admin/users",
        json!({ "username": "carl", "password": "carl's long password", "role": "reader" }),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let carl_id = made.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let carl_login: Value = login(&app, "carl", "carl's long password")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(carl_login["scope"], "read", "a reader's token says it reads only");
    let carl = token_of(login(&app, "carl", "carl's long password").await, carl_id).await;
    assert_eq!(app.get(&carl, "/api/v1/files/").await.status(), StatusCode::OK);
    let refused = app.put_file(&carl, "c.csv", "x\n1\n").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "insufficient_scope");

    // Disabled: ann's token and key stop working on both nodes, and she cannot sign in.
    assert_eq!(
        second.get(&ann_key, "/api/v1/files/").await.status(),
        StatusCode::OK
    );
    let disabled = app.admin_change(&root, ann.id, json!({ "disabled": true })).await;
    let changed = Instant::now();
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(disabled.json::<Value>().await.unwrap()["disabled"], true);
    assert_eq!(
        app.get(&ann, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&ann_key, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let took = last_let_in(&second, &ann_key, "/api/v1/files/", changed).await;
    assert!(took.is_some_and(|took| took < REVOCATION_BOUND), "{took:?}");
    let login_refused = login(&app, "ann", "correct horse battery").await;
    assert_eq!(login_refused.status(), StatusCode::UNAUTHORIZED);
    assert!(login_refused.text().await.unwrap().contains("disabled"));

    // Enabled again and promoted: her key works again, her old token does not.
    let promoted = app
        .admin_change(&root, ann.id, json!({ "disabled": false, "role": "admin" }))
        .await;
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(app.get(&ann_key, "/api/v1/files/").await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&ann, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let ann_admin = token_of(login(&app, "ann", "correct horse battery").await, ann.id).await;
    assert_eq!(
        app.get(&ann_admin, "/api/v1/admin/users").await.status(),
        StatusCode::OK
    );

    // An admin may step down while another remains; the last one may not.
    let stepped_down = app
        .admin_change(&ann_admin, root.id, json!({ "role": "user" }))
        .await;
    assert_eq!(stepped_down.status(), StatusCode::OK);
    let last = app
        .admin_change(&ann_admin, ann.id, json!({ "role": "user" }))
        .await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(last).await, "last_admin");
    let last = app
        .admin_change(&ann_admin, ann.id, json!({ "disabled": true }))
        .await;
    assert_eq!(error_code(last).await, "last_admin");
    assert_eq!(
        app.get(&ann_admin, "/api/v1/admin/users").await.status(),
        StatusCode::OK,
        "nothing changed"
    );

    // A password reset: the old password and token stop working.
    let reset = app
        .admin_change(&ann_admin, carl_id, json!({ "password": "a brand new password" }))
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(
        app.get(&carl, "/api/v1/files/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "carl", "carl's long password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "carl", "a brand new password").await.status(),
        StatusCode::OK
    );

    for (id, body, status) in [
        (
            carl_id,
            json!({ "role": "owner" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            carl_id,
            json!({ "password": "short" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (9999, json!({ "disabled": true }), StatusCode::NOT_FOUND),
    ] {
        assert_eq!(app.admin_change(&ann_admin, id, body).await.status(), status);
    }
}

#[tokio::test]
async fn deleting_a_user_deletes_their_files_and_keeps_shared_content() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let root = app.user("root").await;
    let ann = app.user("ann").await;
    let shared = sample_bytes(3000);
    assert_eq!(
        app.put_file(&root, "shared.bin", shared.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&ann, "same.bin", shared.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&ann, "own.bin", sample_bytes(5000)).await.status(),
        StatusCode::CREATED
    );
    let (key, _) = key_user(&app, &ann, "read").await;
    assert_eq!(app.blob_files().len(), 2);

    let refused = send(
        &app,
        &root,
        reqwest::Method::DELETE,
        &format!("/api/v1/admin/users/{}", root.id),
    )
    .await;
    assert_eq!(error_code(refused).await, "last_admin");

    let deleted = send(
        &app,
        &root,
        reqwest::Method::DELETE,
        &format!("/api/v1/admin/users/{}", ann.id),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let body: Value = deleted.json().await.unwrap();
    assert_eq!(
        (body["username"].as_str(), body["files_deleted"].as_u64()),
        (Some("ann"), Some(2))
    );

    assert_eq!(
        app.blob_files().len(),
        1,
        "ann's own content went, the shared stayed"
    );
    assert_eq!(
        app.download(&root, "shared.bin").await.bytes().await.unwrap(),
        shared
    );
    for credential in [&ann, &key] {
        assert_eq!(
            app.get(credential, "/api/v1/files/").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, "ann", "correct horse battery").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let listed: Value = app.get(&root, "/api/v1/admin/users").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let again = send(
        &app,
        &root,
        reqwest::Method::DELETE,
        &format!("/api/v1/admin/users/{}", ann.id),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // The trail keeps each deletion, and the chain verifies.
    let db = app.db().await;
    let actions: Vec<(String, i32)> = sqlx::query_as(
        "SELECT action, outcome FROM audit_events WHERE action IN ('delete', 'user_delete') ORDER BY id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            ("user_delete".into(), 409),
            ("delete".into(), 200),
            ("delete".into(), 200),
            ("user_delete".into(), 200),
            ("user_delete".into(), 404)
        ]
    );
    let key = depot::startup::audit_key(&app.config).unwrap();
    let verified = depot::db::audit::verify(db.pool(), &key, 100, |_| {})
        .await
        .unwrap();
    assert_eq!(verified.broken, None);
}

#[tokio::test]
async fn changing_ones_password_signs_out_everywhere_and_gives_a_new_token() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let other = token_of(login(&app, "ann", "correct horse battery").await, ann.id).await;
    let change = |current: &str, new: &str| {
        app.client
            .post(app.url("/api/v1/auth/password"))
            .bearer_auth(&ann.token)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
    };
    assert_eq!(
        change("wrong password", "another long one")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let changed = change("correct horse battery", "another long one").await.unwrap();
    let fresh = token_of(changed, ann.id).await;
    for old in [&ann, &other] {
        assert_eq!(
            app.get(old, "/api/v1/files/").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.get(&fresh, "/api/v1/files/").await.status(), StatusCode::OK);
    assert_eq!(
        login(&app, "ann", "another long one").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_invite_makes_one_account_with_its_role_when_sign_up_asks_for_invites() {
    let app = TestApp::spawn_with(|config| config.signup = Signup::Invite).await;
    let root = app.user("root").await;
    let register = |username: &'static str, invite: Option<String>| {
        let mut body = json!({ "username": username, "password": "correct horse battery" });
        if let Some(invite) = invite {
            body["invite"] = json!(invite);
        }
        let app = &app;
        async move { app.post_json("/api/v1/auth/register", &body).await }
    };
    let refused = register("eve", None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "signup_closed");
    assert!(refused["error"]["message"].as_str().unwrap().contains("invite"));

    let made = post_as(
        &app,
        &root,
        "/api/v1/admin/invites",
        json!({ "role": "reader", "expires_in": "1h" }),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let code = made["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("depot-invite-"), "{code}");

    let forged = register("eve", Some("depot-invite-0000".into())).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(forged).await, "invalid_invite");

    let joined = register("fay", Some(code.clone())).await;
    assert_eq!(joined.status(), StatusCode::CREATED);
    let fay: Value = joined.json().await.unwrap();
    let fay = TestUser {
        token: fay["access_token"].as_str().unwrap().to_owned(),
        id: fay["user_id"].as_i64().unwrap(),
    };
    let write = app.put_file(&fay, "f.csv", "x\n1\n").await;
    assert_eq!(
        error_code(write).await,
        "insufficient_scope",
        "the invite made a reader"
    );

    let again = register("gus", Some(code)).await;
    assert_eq!(
        error_code(again).await,
        "invalid_invite",
        "an invite makes one account"
    );
    let listed: Value = app
        .get(&root, "/api/v1/admin/invites")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["used_by"].as_i64(), Some(fay.id));
    assert!(listed[0].get("code").is_none());

    // A taken username leaves the invite unused.
    let second: Value = post_as(&app, &root, "/api/v1/admin/invites", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let code = second["code"].as_str().unwrap().to_owned();
    assert_eq!(
        register("fay", Some(code.clone())).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(register("hal", Some(code)).await.status(), StatusCode::CREATED);

    // A revoked invite is refused.
    let third: Value = post_as(&app, &root, "/api/v1/admin/invites", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/admin/invites/{}", third["id"]);
    assert_eq!(
        send(&app, &root, reqwest::Method::DELETE, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    let revoked = register("ida", Some(third["code"].as_str().unwrap().to_owned())).await;
    assert_eq!(error_code(revoked).await, "invalid_invite");
}
