//! A store across the network that stops answering — its connections
//! accepted but never answered, as in a partition or a hung process — fails
//! uploads and downloads within seconds, `/readyz` within one, and everything
//! works again once the link heals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use depot::config::{Role, Secret};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{INTERNAL_KEY, TestApp, TestNode, TestS3, error_code, sample_bytes};

/// A TCP proxy whose link can be held: while held, connections are accepted
/// and bytes are taken in, but nothing is passed on either way, until it is
/// released — as packets are lost in a partition and TCP delivers them once
/// it heals.
struct Link {
    address: String,
    passing: watch::Sender<bool>,
}

impl Link {
    async fn to(server: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let passing = watch::Sender::new(true);
        let server = server.trim_start_matches("http://").to_owned();
        let gate = passing.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (server, gate) = (server.clone(), gate.clone());
                tokio::spawn(async move {
                    wait_open(gate.clone()).await;
                    let Ok(upstream) = TcpStream::connect(&server).await else {
                        return;
                    };
                    let (from_client, to_client) = client.into_split();
                    let (from_server, to_server) = upstream.into_split();
                    tokio::join!(
                        pass(from_client, to_server, gate.clone()),
                        pass(from_server, to_client, gate)
                    );
                });
            }
        });
        Self { address, passing }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn hold(&self) {
        self.passing.send_replace(false);
    }

    fn release(&self) {
        self.passing.send_replace(true);
    }
}

async fn wait_open(mut gate: watch::Receiver<bool>) {
    let _ = gate.wait_for(|open| *open).await;
}

async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    gate: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        wait_open(gate.clone()).await;
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        wait_open(gate.clone()).await;
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Holds `link` and checks that the gateway or S3-backed `app` fails fast,
/// keeps nothing, and recovers when the link is released.
async fn fails_fast_and_recovers(app: &TestApp, link: &Link) {
    let ann = app.user("ann").await;
    let stored = sample_bytes(3 * 1024 * 1024);
    assert_eq!(
        app.put_file(&ann, "before.bin", stored.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.client.get(app.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );

    link.hold();
    // Once the last round of readiness probes (2 s) is over, the next answers within a second.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let asked = Instant::now();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "/readyz took {:?}",
        asked.elapsed()
    );

    let asked = Instant::now();
    let upload = app
        .put_file(&ann, "during.bin", sample_bytes(6 * 1024 * 1024))
        .await;
    assert_eq!(upload.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(upload).await, "storage_unavailable");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the upload took {:?}",
        asked.elapsed()
    );

    let asked = Instant::now();
    let download = app.get(&ann, "/api/v1/files/before.bin/content").await;
    assert_eq!(download.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(download).await, "storage_unavailable");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the download took {:?}",
        asked.elapsed()
    );
    assert_eq!(
        app.get(&ann, "/api/v1/files/during.bin").await.status(),
        StatusCode::NOT_FOUND
    );

    link.release();
    let healed = Instant::now();
    let mut stored_again = false;
    while healed.elapsed() < Duration::from_secs(10) {
        let response = app.put_file(&ann, "after.bin", sample_bytes(1024 * 1024)).await;
        if response.status() == StatusCode::CREATED {
            stored_again = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stored_again, "uploads still failed 10 s after the link healed");
    let download = app.get(&ann, "/api/v1/files/before.bin/content").await;
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.bytes().await.unwrap() == stored);
    assert_eq!(
        app.client.get(app.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&ann, "/api/v1/files/during.bin").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_storage_node_that_stops_answering_fails_requests_within_seconds_and_comes_back() {
    let node = TestNode::start().await;
    let link = Arc::new(Link::to(&node.url).await);
    let url = link.url();
    let app = TestApp::spawn_with(move |config| {
        config.role = Role::Gateway;
        config.storage = None;
        config.storage_url = Some(url);
        config.internal_api_key = Some(Secret::new(INTERNAL_KEY));
    })
    .await;
    fails_fast_and_recovers(&app, &link).await;
    // What the failed upload staged on the node is discarded once it answers.
    let empty =
        |dir: std::path::PathBuf| std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
    let node_dir = node.data_dir.path().to_owned();
    let emptied = app
        .eventually(|| empty(node_dir.join("transient-uploads")) && empty(node_dir.join("blobs/uploads")))
        .await;
    assert!(emptied, "the failed upload's bytes stayed staged on the node");
}

#[tokio::test]
async fn an_s3_endpoint_that_stops_answering_fails_requests_within_seconds_and_comes_back() {
    let Some(s3) = TestS3::from_env() else { return };
    let link = Arc::new(Link::to(&s3.endpoint).await);
    let url = link.url();
    let app = TestApp::spawn_with(move |config| {
        config.role = Role::Standalone;
        config.storage_url = None;
        s3.configure(config, &format!("test-{}", uuid::Uuid::new_v4().simple()));
        config.s3_endpoint = Some(url);
    })
    .await;
    fails_fast_and_recovers(&app, &link).await;
}
