//! Sessions: created, named by header, cookie, form field or path, owned by one
//! user, sliding, expiring and swept.

use std::time::Duration;

use depot::config::HumanDuration;
use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, error_code, file_part, new_session};

#[tokio::test]
async fn creating_a_session_returns_201_its_id_and_a_browser_cookie() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = app
        .client
        .post(app.url("/api/v1/sessions"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let named = response.headers()["x-session-id"].to_str().unwrap().to_owned();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(named, id);
    assert_eq!(location, format!("/api/v1/sessions/{id}"));
    assert!(cookie.starts_with(&format!("depot_session={id}")), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(body["active_file"], Value::Null);

    let read = app.get(&ann, &format!("/api/v1/sessions/{id}")).await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["id"], id);
    assert!(read["expires_at"].as_str().unwrap() > read["created_at"].as_str().unwrap());
}

#[tokio::test]
async fn a_made_up_session_id_is_registered_on_first_use() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    assert_eq!(
        app.get(&ann, &format!("/api/v1/sessions/{session}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let form = Form::new()
        .text("file_name", "sales")
        .text("session_id", session.clone())
        .part("file", file_part(b"a\n1\n".to_vec(), "sales.csv"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-session-id"], session.as_str());
    assert!(
        response.headers().get("set-cookie").is_none(),
        "a client-named session needs no cookie"
    );
    let read: Value = app
        .get(&ann, &format!("/api/v1/sessions/{session}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["active_file"], "sales");
}

#[tokio::test]
async fn another_users_session_is_404_and_stays_untouched() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let session = new_session();
    assert_eq!(
        app.put_file_in(&ann, &session, "ann.csv", &b"a\n1\n"[..])
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&bob, "bob.csv", &b"b\n2\n"[..]).await.status(),
        StatusCode::CREATED
    );

    let read = app.get(&bob, &format!("/api/v1/sessions/{session}")).await;
    assert_eq!(read.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.active_name(&bob, &session).await, Err("not_found".into()));
    let set = app.set_active(&bob, &session, "bob.csv").await;
    assert_eq!(set.status(), StatusCode::NOT_FOUND);
    let upload = app
        .put_file_in(&bob, &session, "sneaky.csv", &b"c\n3\n"[..])
        .await;
    assert_eq!(upload.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&bob, "/api/v1/files/sneaky.csv").await.status(),
        StatusCode::NOT_FOUND
    );
    let history = app
        .get_with(&bob, "/api/ingestion/history", &[("x-session-id", &session)])
        .await;
    assert_eq!(history.status(), StatusCode::NOT_FOUND);

    assert_eq!(app.active_name(&ann, &session).await, Ok("ann.csv".into()));
}

#[tokio::test]
async fn a_malformed_session_id_returns_422_wherever_it_is_given() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let codes = [
        app.get(&ann, "/api/v1/sessions/not-a-uuid").await,
        app.get(&ann, "/api/v1/files/active/not-a-uuid").await,
        app.set_active(&ann, "not-a-uuid", "x.csv").await,
        app.put_file_in(&ann, "not-a-uuid", "x.csv", &b"a\n"[..]).await,
        app.get_with(&ann, "/api/ingestion/history", &[("x-session-id", "12345")])
            .await,
        app.post_form(
            &ann,
            Form::new()
                .text("file_name", "x.csv")
                .text("session_id", "nope")
                .part("file", file_part(b"a\n".to_vec(), "x.csv")),
        )
        .await,
    ];
    for response in codes {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_code(response).await, "invalid_session_id");
    }
    assert_eq!(
        app.get(&ann, "/api/v1/files/x.csv").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// A browser: a client that keeps cookies.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().unwrap()
}

async fn browser_upload(app: &TestApp, browser: &reqwest::Client, user: &TestUser, name: &str) -> String {
    let response = browser
        .put(app.url(&format!("/api/v1/files/{name}/content")))
        .bearer_auth(&user.token)
        .body(name.as_bytes().to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.headers()["x-session-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_browsers_of_one_user_keep_their_own_active_file() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let (laptop, phone) = (browser(), browser());
    let laptop_session = browser_upload(&app, &laptop, &ann, "laptop.txt").await;
    let phone_session = browser_upload(&app, &phone, &ann, "phone.txt").await;
    assert_ne!(laptop_session, phone_session);
    // Each browser's cookie keeps it in its own session.
    assert_eq!(
        browser_upload(&app, &laptop, &ann, "laptop2.txt").await,
        laptop_session
    );
    assert_eq!(
        app.active_name(&ann, &laptop_session).await,
        Ok("laptop2.txt".into())
    );
    assert_eq!(
        app.active_name(&ann, &phone_session).await,
        Ok("phone.txt".into())
    );
}

#[tokio::test]
async fn a_session_slides_forward_when_used() {
    let app = TestApp::spawn_with(|config| config.session_ttl = HumanDuration::from_secs(20)).await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.set_active(&ann, &session, "none.csv").await;
    let first = expires_at(&app, &ann, &session).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = expires_at(&app, &ann, &session).await;
    assert!(later > first, "{later} is not after {first}");
}

async fn expires_at(app: &TestApp, user: &TestUser, session: &str) -> String {
    let body: Value = app
        .get(user, &format!("/api/v1/sessions/{session}"))
        .await
        .json()
        .await
        .unwrap();
    body["expires_at"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_expired_session_is_404_and_a_browser_gets_a_new_one() {
    let app = TestApp::spawn_with(|config| config.session_ttl = HumanDuration::from_secs(1)).await;
    let ann = app.user("ann").await;
    let laptop = browser();
    let old = browser_upload(&app, &laptop, &ann, "first.txt").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let read = app.get(&ann, &format!("/api/v1/sessions/{old}")).await;
    assert_eq!(read.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(read).await, "session_expired");
    assert_eq!(app.active_name(&ann, &old).await, Err("session_expired".into()));
    let named = app.put_file_in(&ann, &old, "late.txt", &b"x"[..]).await;
    assert_eq!(named.status(), StatusCode::NOT_FOUND);

    let new = browser_upload(&app, &laptop, &ann, "second.txt").await;
    assert_ne!(new, old, "the browser kept its expired session");
    assert_eq!(app.active_name(&ann, &new).await, Ok("second.txt".into()));
}

#[tokio::test]
async fn expired_sessions_are_swept_and_their_history_stays() {
    let app = TestApp::spawn_with(|config| {
        config.session_ttl = HumanDuration::from_secs(1);
        config.session_sweep_interval = HumanDuration(Duration::from_millis(200));
    })
    .await;
    let ann = app.user("ann").await;
    let session = new_session();
    assert_eq!(
        app.put_file_in(&ann, &session, "kept.txt", &b"x"[..])
            .await
            .status(),
        StatusCode::CREATED
    );
    // Left alone (every use would extend it) until it has expired…
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        swept(&app, &ann, &session).await,
        "the expired session was never removed"
    );
    let all = app.history(&ann, &new_session(), "scope=user").await;
    assert_eq!(all["total"], 1);
    assert_eq!(all["records"][0]["session_id"], session.as_str());
    assert_eq!(all["records"][0]["status"], "completed");
}

#[tokio::test]
async fn a_swept_session_id_taken_by_someone_else_does_not_show_them_the_old_history() {
    let app = TestApp::spawn_with(|config| {
        config.session_ttl = HumanDuration::from_secs(1);
        config.session_sweep_interval = HumanDuration(Duration::from_millis(100));
    })
    .await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "anns-secret.txt", &b"x"[..])
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        swept(&app, &ann, &session).await,
        "the expired session was never removed"
    );

    assert_eq!(
        app.put_file_in(&bob, &session, "bobs.txt", &b"y"[..])
            .await
            .status(),
        StatusCode::CREATED,
        "the swept id is free again"
    );
    let page = app.history(&bob, &session, "").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["records"][0]["file_name"], "bobs.txt");
}

#[tokio::test]
async fn a_blank_session_id_names_no_session() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let form = Form::new()
        .text("file_name", "blank")
        .text("session_id", "")
        .part("file", file_part(b"a\n".to_vec(), "blank.csv"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers().get("set-cookie").is_some(),
        "a new session was started"
    );
    let session = response.headers()["x-session-id"].to_str().unwrap().to_owned();
    assert_eq!(app.active_name(&ann, &session).await, Ok("blank".into()));
}

/// Waits up to five seconds for an expired session to be removed: it answers
/// `session_expired` until the sweep, `not_found` after.
async fn swept(app: &TestApp, user: &TestUser, session: &str) -> bool {
    for _ in 0..50 {
        let read = app.get(user, &format!("/api/v1/sessions/{session}")).await;
        if read.status() == StatusCode::NOT_FOUND && error_code(read).await == "not_found" {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
