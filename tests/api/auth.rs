//! Accounts and tokens: register, login, and every way a token is refused.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn list_status(app: &TestApp, token: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url("/api/v1/files/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(www.as_deref(), Some("Bearer"));
        (status, error_code(response).await)
    } else {
        (status, String::new())
    }
}

#[tokio::test]
async fn register_then_login_returns_a_bearer_token_for_the_same_user() {
    let app = TestApp::spawn().await;
    let registered = app.user("carol").await;
    let response = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "carol", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["user_id"], registered.id);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(list_status(&app, token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn login_with_a_wrong_password_or_unknown_user_returns_401() {
    let app = TestApp::spawn().await;
    app.user("dave").await;
    for (username, password) in [("dave", "wrong password"), ("nobody", "correct horse battery")] {
        let response = app
            .post_json(
                "/api/v1/auth/login",
                &json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(response).await, "invalid_credentials");
    }
}

#[tokio::test]
async fn registering_a_taken_username_returns_409() {
    let app = TestApp::spawn().await;
    app.user("erin").await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "username": "erin", "password": "another password" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "username_taken");
}

#[tokio::test]
async fn registering_with_a_short_password_or_bad_json_returns_422() {
    let app = TestApp::spawn().await;
    let short = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "username": "frank", "password": "short" }),
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(short).await, "validation_failed");
    let missing = app
        .post_json("/api/v1/auth/register", &json!({ "username": "frank" }))
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_missing_token_returns_401() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/api/v1/files/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await, "unauthorized");
}

#[tokio::test]
async fn an_expired_token_returns_401() {
    let app = TestApp::spawn().await;
    // Past the 60 s leeway.
    let token = sign(
        &json!({ "sub": "1", "exp": now() - 120 }),
        &app.secret(),
        Algorithm::HS256,
    );
    assert_eq!(
        list_status(&app, &token).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_returns_401_past_the_clock_leeway() {
    let app = TestApp::spawn().await;
    let status_with = |claims: Value| {
        let token = sign(&claims, &app.secret(), Algorithm::HS256);
        let app = &app;
        async move { list_status(app, &token).await }
    };
    let exp = now() + 7200;
    let refused = (StatusCode::UNAUTHORIZED, "unauthorized".to_owned());
    assert_eq!(
        status_with(json!({ "sub": "1", "exp": exp, "nbf": now() + 3600 })).await,
        refused
    );
    assert_eq!(
        status_with(json!({ "sub": "1", "exp": exp, "iat": now() + 3600 })).await,
        refused
    );
    // Within the 60 s allowed for clock skew, as for `exp`.
    let ok = (StatusCode::OK, String::new());
    assert_eq!(
        status_with(json!({ "sub": "1", "exp": exp, "nbf": now() + 30 })).await,
        ok
    );
    assert_eq!(
        status_with(json!({ "sub": "1", "exp": exp, "iat": now() + 30 })).await,
        ok
    );
    assert_eq!(
        status_with(json!({ "sub": "1", "exp": exp, "nbf": now() - 30, "iat": now() - 30 })).await,
        ok
    );
}

#[tokio::test]
async fn a_token_without_exp_returns_401() {
    let app = TestApp::spawn().await;
    let token = sign(&json!({ "sub": "1" }), &app.secret(), Algorithm::HS256);
    assert_eq!(list_status(&app, &token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_tampered_token_returns_401() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let mut parts: Vec<String> = ann.token.split('.').map(str::to_owned).collect();
    let claims = json!({ "sub": "999", "exp": now() + 600 });
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_eq!(
        list_status(&app, &parts.join(".")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let foreign = sign(
        &json!({ "sub": "1", "exp": now() + 600 }),
        "some-other-secret-some-other-secret",
        Algorithm::HS256,
    );
    assert_eq!(list_status(&app, &foreign).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_alg_none_token_returns_401() {
    let app = TestApp::spawn().await;
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    let claims = URL_SAFE_NO_PAD.encode(json!({ "sub": "1", "exp": now() + 600 }).to_string());
    assert_eq!(
        list_status(&app, &format!("{header}.{claims}.")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another HMAC algorithm with the right secret is not on the allow-list either.
    let hs512 = sign(
        &json!({ "sub": "1", "exp": now() + 600 }),
        &app.secret(),
        Algorithm::HS512,
    );
    assert_eq!(list_status(&app, &hs512).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn seed_tokens_with_a_string_or_integer_sub_are_accepted() {
    let app = TestApp::spawn().await;
    for sub in [json!("41"), json!(41)] {
        let token = sign(
            &json!({ "sub": sub, "exp": now() + 600 }),
            &app.secret(),
            Algorithm::HS256,
        );
        assert_eq!(list_status(&app, &token).await.0, StatusCode::OK, "sub = {sub}");
    }
    let user = TestUser {
        token: sign(
            &json!({ "sub": "41", "exp": now() + 600 }),
            &app.secret(),
            Algorithm::HS256,
        ),
        id: 41,
    };
    assert_eq!(
        app.put_file(&user, "ext.csv", &b"a\n1\n"[..]).await.status(),
        StatusCode::CREATED
    );
}
