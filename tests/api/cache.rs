//! The active-file cache against a real Redis: hits, misses that refill, TTL
//! refresh, and a Redis that is unreachable, hung, or comes back. The outages are
//! made by a TCP proxy between depot and Redis that the test can cut.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use depot::config::ServiceUrl;
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{REDIS_VAR, TestApp, TestUser, new_session, redis_url};

async fn redis() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap();
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("cannot reach Redis at {url} ({err}); start it or set {REDIS_VAR}"))
}

fn key(user: &TestUser, session: &str) -> String {
    format!("active_file:user{}:session:{session}", user.id)
}

async fn spawn_with_redis(url: String) -> TestApp {
    TestApp::spawn_with(move |config| config.redis_url = Some(ServiceUrl::new(url))).await
}

async fn ready(app: &TestApp) -> Value {
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "readiness must not fail on the cache"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_upload_caches_the_seed_fields_and_reads_refresh_the_ttl() {
    let app = spawn_with_redis(redis_url()).await;
    let mut redis = redis().await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "sales.csv", &b"a\n1\n"[..]).await;

    let cached: HashMap<String, String> = redis.hgetall(key(&ann, &session)).await.unwrap();
    assert_eq!(cached["file_name"], "sales.csv");
    assert_eq!(cached["user_id"], ann.id.to_string());
    assert_eq!(
        cached["storage_type"],
        app.storage_scheme().trim_end_matches("://")
    );
    for field in ["storage_uri", "description", "summary"] {
        assert!(cached.contains_key(field), "{field} missing");
    }

    let _: () = redis.expire(key(&ann, &session), 100).await.unwrap();
    assert_eq!(app.active_name(&ann, &session).await, Ok("sales.csv".into()));
    let ttl: i64 = redis.ttl(key(&ann, &session)).await.unwrap();
    assert!(ttl > 3500, "the read did not refresh the TTL (now {ttl} s)");
    assert_eq!(ready(&app).await["redis"], "ok");
}

#[tokio::test]
async fn a_cache_hit_is_answered_from_redis() {
    let app = spawn_with_redis(redis_url()).await;
    let mut redis = redis().await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "sales.csv", &b"a\n1\n"[..]).await;
    // Only an answer from the cache can carry this description.
    let _: () = redis
        .hset(key(&ann, &session), "description", "straight from redis")
        .await
        .unwrap();
    let active: Value = app.active_file(&ann, &session).await.unwrap();
    assert_eq!(active["description"], "straight from redis");
}

#[tokio::test]
async fn a_cache_miss_reads_the_database_and_refills_the_cache() {
    let app = spawn_with_redis(redis_url()).await;
    let mut redis = redis().await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "sales.csv", &b"a\n1\n"[..]).await;
    let _: () = redis.del(key(&ann, &session)).await.unwrap();

    assert_eq!(app.active_name(&ann, &session).await, Ok("sales.csv".into()));
    let cached: HashMap<String, String> = redis.hgetall(key(&ann, &session)).await.unwrap();
    assert_eq!(cached.get("file_name").map(String::as_str), Some("sales.csv"));
}

#[tokio::test]
async fn with_redis_unreachable_the_api_answers_from_the_database() {
    // Nothing listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_with_redis(url).await;
    let ann = app.user("ann").await;
    let session = new_session();
    assert_eq!(
        app.put_file_in(&ann, &session, "one.csv", &b"1"[..])
            .await
            .status(),
        StatusCode::CREATED
    );
    app.put_file_in(&ann, &session, "two.csv", &b"2"[..]).await;
    assert_eq!(app.active_name(&ann, &session).await, Ok("two.csv".into()));
    assert_eq!(
        app.set_active(&ann, &session, "one.csv").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.active_name(&ann, &session).await, Ok("one.csv".into()));
    app.delete_file(&ann, "one.csv").await;
    assert_eq!(app.active_name(&ann, &session).await, Err("not_found".into()));
    assert_eq!(ready(&app).await["redis"], "degraded");
}

#[tokio::test]
async fn a_hung_redis_costs_a_timeout_not_an_error() {
    let _ = redis().await;
    let proxy = Proxy::start(&redis_url()).await;
    let app = spawn_with_redis(proxy.url()).await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "one.csv", &b"1"[..]).await;
    proxy.set(Mode::Hang);
    app.put_file_in(&ann, &session, "two.csv", &b"2"[..]).await;
    assert_eq!(app.active_name(&ann, &session).await, Ok("two.csv".into()));
    assert_eq!(ready(&app).await["redis"], "degraded");
}

#[tokio::test]
async fn when_redis_comes_back_it_is_used_again_and_serves_nothing_stale() {
    let proxy = Proxy::start(&redis_url()).await;
    let app = spawn_with_redis(proxy.url()).await;
    let mut redis = redis().await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "old.csv", &b"1"[..]).await;
    app.put_file_in(&ann, &session, "new.csv", &b"2"[..]).await;
    assert_eq!(app.active_name(&ann, &session).await, Ok("new.csv".into()));

    // Redis drops out while the active file changes: the cache still says new.csv.
    proxy.set(Mode::Refuse);
    assert_eq!(
        app.set_active(&ann, &session, "old.csv").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.active_name(&ann, &session).await, Ok("old.csv".into()));
    let cached: String = redis.hget(key(&ann, &session), "file_name").await.unwrap();
    assert_eq!(cached, "new.csv");

    proxy.set(Mode::Pass);
    let mut back = false;
    for _ in 0..50 {
        // Never the stale answer, while Redis is being reconnected or after.
        assert_eq!(app.active_name(&ann, &session).await, Ok("old.csv".into()));
        if ready(&app).await["redis"] == "ok" {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "depot never went back to Redis");
    assert_eq!(app.active_name(&ann, &session).await, Ok("old.csv".into()));
    let cached: Option<String> = redis.hget(key(&ann, &session), "file_name").await.unwrap();
    assert_eq!(cached.as_deref(), Some("old.csv"), "the cache was not refilled");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes flow both ways.
    Pass,
    /// Connections are closed at once.
    Refuse,
    /// Connections are accepted and never answered.
    Hang,
}

/// A TCP proxy in front of Redis whose mode the test switches; every switch
/// drops the connections open at the time.
pub struct Proxy {
    address: String,
    mode: Arc<watch::Sender<Mode>>,
}

impl Proxy {
    pub async fn start(upstream_url: &str) -> Self {
        let upstream = upstream_url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mode = Arc::new(watch::Sender::new(Mode::Pass));
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changed = modes.subscribe();
                let now = *changed.borrow_and_update();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let mut client = client;
                    match now {
                        Mode::Refuse => {}
                        Mode::Hang => {
                            let _ = changed.changed().await;
                        }
                        Mode::Pass => {
                            let Ok(mut server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = changed.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Self { address, mode }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}
