//! Rate limits: 429 `rate_limited` with `Retry-After` and the IETF
//! `RateLimit` headers, buckets shared by two nodes through Redis and kept
//! per node while Redis is down, failed sign-ins slowed per username and
//! address, and client addresses taken from `X-Forwarded-For` only from a
//! trusted proxy.

use std::time::{Duration, Instant};

use depot::config::{Config, Rate, ServiceUrl, TrustedProxies};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::cache::{Mode, Proxy};
use crate::helpers::{TestApp, TestUser, error_code, redis_url};

fn rate(text: &str) -> Rate {
    Rate::parse(text).unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts a 429 for `limit`, and returns how long it says to wait.
async fn assert_limited(response: Response, limit: &str) -> Duration {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&response, "retry-after").parse().unwrap();
    assert!(retry >= 1, "Retry-After: {retry}");
    assert!(
        header(&response, "ratelimit").starts_with(&format!("\"{limit}\";r=0;")),
        "{}",
        header(&response, "ratelimit")
    );
    assert_eq!(error_code(response).await, "rate_limited");
    Duration::from_secs(retry)
}

async fn list(app: &TestApp, user: &TestUser) -> Response {
    app.get(user, "/api/v1/files/").await
}

/// A sign-in as `username` from `address`, through a proxy depot trusts.
async fn sign_in(app: &TestApp, username: &str, password: &str, address: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_past_the_rate_get_429_until_a_token_comes_back() {
    let app = TestApp::spawn_with(|config| config.rate_requests = rate("4/2s")).await;
    let ann = app.user("ann").await;
    let first = list(&app, &ann).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "ratelimit-policy"), "\"requests\";q=4;w=2");
    assert_eq!(header(&first, "ratelimit"), "\"requests\";r=3;t=1");
    for _ in 0..3 {
        assert_eq!(list(&app, &ann).await.status(), StatusCode::OK);
    }
    let refused = Instant::now();
    let wait = assert_limited(list(&app, &ann).await, "requests").await;
    assert!(wait <= Duration::from_secs(1), "one token comes back every 0.5 s");
    // Another user has a bucket of their own.
    let bob = app.user("bob").await;
    assert_eq!(list(&app, &bob).await.status(), StatusCode::OK);

    tokio::time::sleep(wait.saturating_sub(refused.elapsed())).await;
    assert_eq!(
        list(&app, &ann).await.status(),
        StatusCode::OK,
        "served again after Retry-After"
    );

    // Each refusal is audited with its reason (ann, the first account, is
    // an admin; her bucket is full again after two seconds)…
    tokio::time::sleep(Duration::from_secs(2)).await;
    let audited = app.get_json(&ann, "/api/v1/admin/audit?outcome=429").await;
    let event = &audited["events"][0];
    assert_eq!(event["action"], "list");
    assert_eq!(event["reason"], "rate_limited");
    assert_eq!(event["actor"], ann.id);
    // … and counted.
    assert!(
        app.metrics()
            .await
            .contains("depot_rate_limited_total{limit=\"requests\"}"),
        "no rate_limited metric"
    );
}

#[tokio::test]
async fn uploads_and_requests_without_a_credential_have_limits_of_their_own() {
    let app = TestApp::spawn_with(|config| {
        config.rate_uploads = rate("2/1min");
        config.rate_anonymous = rate("3/1min");
    })
    .await;
    let ann = app.user("ann").await;
    for name in ["a.txt", "b.txt"] {
        let stored = app.put_file(&ann, name, "x").await;
        assert_eq!(stored.status(), StatusCode::CREATED);
        assert!(header(&stored, "ratelimit-policy").starts_with("\"uploads\";q=2;w=60"));
    }
    assert_limited(app.put_file(&ann, "c.txt", "x").await, "uploads").await;
    let meta = app.get(&ann, "/api/v1/files/c.txt").await;
    assert_eq!(
        meta.status(),
        StatusCode::NOT_FOUND,
        "nothing of a refused upload is kept"
    );
    // Reads are not uploads.
    assert_eq!(list(&app, &ann).await.status(), StatusCode::OK);

    // A flood of forged tokens counts against its address.
    let forged = TestUser {
        token: "not-a-token".into(),
        id: 0,
    };
    for _ in 0..3 {
        assert_eq!(list(&app, &forged).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(list(&app, &forged).await, "anonymous").await;
    assert_eq!(
        list(&app, &ann).await.status(),
        StatusCode::OK,
        "ann's own bucket is untouched"
    );
}

/// A deployment of two nodes, their buckets in Redis at `redis`.
async fn two_nodes(redis: String, configure: impl FnOnce(&mut Config)) -> (TestApp, TestApp) {
    let first = TestApp::spawn_with(move |config| {
        config.redis_url = Some(ServiceUrl::new(redis));
        configure(config);
    })
    .await;
    let second = first.second_node().await;
    (first, second)
}

#[tokio::test]
async fn nodes_share_their_buckets_through_redis_and_keep_serving_when_it_is_down() {
    let proxy = Proxy::start(&redis_url()).await;
    let (first, second) = two_nodes(proxy.url(), |config| config.rate_requests = rate("6/30s")).await;
    let ann = first.user("ann").await;
    // Alternating between the nodes: six in all, not six each.
    let mut served = 0;
    for n in 0..8 {
        let node = if n % 2 == 0 { &first } else { &second };
        match list(node, &ann).await.status() {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(served, 6, "the two nodes counted against one bucket");

    // Redis goes away: requests are still served, each node now counting
    // for itself (its own bucket is fresh), none failing.
    proxy.set(Mode::Refuse);
    let bob = first.user("bob").await;
    let mut statuses = Vec::new();
    for n in 0..14 {
        let node = if n % 2 == 0 { &first } else { &second };
        statuses.push(list(node, &bob).await.status().as_u16());
    }
    assert!(
        statuses.iter().all(|status| [200, 429].contains(status)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        12,
        "six per node while Redis is down: {statuses:?}"
    );
    assert!(
        first
            .metrics()
            .await
            .contains("depot_rate_limit_decisions_total{store=\"in_process\"}"),
        "the fallback is counted"
    );
    proxy.set(Mode::Pass);
}

#[tokio::test]
async fn a_guessing_loop_is_stopped_and_the_user_still_signs_in_from_elsewhere() {
    let app = TestApp::spawn_with(|config| {
        config.rate_login_failures = rate("3/15min");
        config.trusted_proxies = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
    })
    .await;
    let ann = app.user("ann").await;
    let attacker = "203.0.113.66";
    for _ in 0..3 {
        let guess = sign_in(&app, "ann", "wrong guess", attacker).await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is not checked from there.
    let stopped = sign_in(&app, "ann", "correct horse battery", attacker).await;
    let wait = assert_limited(stopped, "login_failures").await;
    assert!(
        wait > Duration::from_secs(60),
        "a guess every 5 minutes: {wait:?}"
    );
    // Ann signs in from her own address.
    let signed_in = sign_in(&app, "ann", "correct horse battery", "198.51.100.7").await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    // Another account is not held up from the attacker's address either.
    app.user("bob").await;
    let bob = sign_in(&app, "bob", "correct horse battery", attacker).await;
    assert_eq!(bob.status(), StatusCode::OK);

    // The audit trail names the attacker's address, as the proxy told it.
    let events = app
        .get_json(&ann, "/api/v1/admin/audit?action=login&outcome=429")
        .await;
    assert_eq!(events["events"][0]["client_ip"], attacker);
    assert_eq!(events["events"][0]["reason"], "rate_limited");
}

#[tokio::test]
async fn sign_ins_are_limited_per_address_and_a_forged_address_does_not_escape() {
    // No trusted proxy: X-Forwarded-For is the client's own word, ignored.
    let app = TestApp::spawn_with(|config| config.rate_login = rate("4/1min")).await;
    app.user("ann").await; // a sign-up counts too
    let mut statuses = Vec::new();
    for n in 0..4 {
        let forged = format!("192.0.2.{n}");
        statuses.push(
            sign_in(&app, "ann", "correct horse battery", &forged)
                .await
                .status(),
        );
    }
    use StatusCode as S;
    assert_eq!(statuses, [S::OK, S::OK, S::OK, S::TOO_MANY_REQUESTS]);
}

#[tokio::test]
async fn nodes_taking_tokens_ahead_never_pass_the_rate_together() {
    // 40 a minute: each node takes four at a time from Redis and spends
    // them itself; together they never allow more than the bucket holds.
    let (first, second) = two_nodes(redis_url(), |config| config.rate_requests = rate("40/1min")).await;
    let ann = first.user("ann").await;
    let mut served = 0;
    for n in 0..60 {
        let node = if n % 3 == 0 { &first } else { &second };
        match list(node, &ann).await.status() {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    // A node's last tokens taken ahead may go unspent while the other is refused.
    assert!((34..=41).contains(&served), "{served} served");
}
