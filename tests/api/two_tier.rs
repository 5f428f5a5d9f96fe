//! Two real depot processes on loopback ports: a storage node
//! (`--role storage`) and a gateway over it (`--role gateway`). What goes
//! through the gateway lands on the node, the key guards the internal API,
//! failures of the node reach clients cleanly and leave nothing behind, and
//! the gateway keeps no file bytes on its own disk.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{INTERNAL_KEY, PostgresDatabase, encode, error_code, hex_sha256, sample_bytes};
use crate::process::{ServerProcess, depot};

/// A node and a gateway, each with a data dir of its own; the gateway's
/// metadata on PostgreSQL when the suite runs there.
struct TwoTier {
    node: Option<ServerProcess>,
    gateway: ServerProcess,
    node_dir: tempfile::TempDir,
    gateway_dir: tempfile::TempDir,
    node_addr: String,
    client: reqwest::Client,
    token: String,
    _postgres: Option<PostgresDatabase>,
}

fn node_env() -> Vec<(&'static str, String)> {
    vec![("DEPOT_INTERNAL_API_KEY", INTERNAL_KEY.to_owned())]
}

fn start_node(dir: &Path, addr: &str) -> ServerProcess {
    let env = node_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ServerProcess::serve(dir, &["--role", "storage", "--addr", addr], &env)
}

impl TwoTier {
    async fn start() -> Self {
        Self::start_with_gateway_env(&[]).await
    }

    /// The gateway gets `extra` in its environment too.
    async fn start_with_gateway_env(extra: &[(&str, &str)]) -> Self {
        let node_dir = tempfile::tempdir().unwrap();
        let gateway_dir = tempfile::tempdir().unwrap();
        let node = start_node(node_dir.path(), "127.0.0.1:0");
        let node_addr = node.address.trim_start_matches("http://").to_owned();
        let postgres = PostgresDatabase::for_test().await;
        let mut env = vec![("DEPOT_INTERNAL_API_KEY".to_owned(), INTERNAL_KEY.to_owned())];
        if let Some(database) = &postgres {
            env.push(("DATABASE_URL".to_owned(), database.url()));
            env.push((
                "SECRET_KEY".to_owned(),
                "two-tier-secret-two-tier-secret!!".to_owned(),
            ));
        }
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let gateway = ServerProcess::serve(
            gateway_dir.path(),
            &[
                "--role",
                "gateway",
                "--storage-url",
                &node.address,
                "--addr",
                "127.0.0.1:0",
            ],
            &env,
        );
        let client = reqwest::Client::new();
        let token = gateway.register(&client, "ann", "correct horse battery").await;
        Self {
            node: Some(node),
            gateway,
            node_dir,
            gateway_dir,
            node_addr,
            client,
            token,
            _postgres: postgres,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.address)
    }

    async fn put(&self, name: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/api/v1/files/{}/content", encode(name))))
            .bearer_auth(&self.token)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// The gateway's metadata database.
    async fn gateway_db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = match &self._postgres {
            Some(database) => database.url(),
            None => format!("sqlite://{}", self.gateway_dir.path().join("depot.db").display()),
        };
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    fn kill_node(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop();
        }
    }

    /// The node again, on the same data dir and port.
    fn restart_node(&mut self) {
        self.kill_node();
        self.node = Some(start_node(self.node_dir.path(), &self.node_addr));
    }

    /// Committed blobs on the node's disk.
    fn node_blobs(&self) -> Vec<PathBuf> {
        files_under(&self.node_dir.path().join("blobs").join("sha256"))
    }

    /// Whatever the node has staged and not committed.
    fn node_staged(&self) -> Vec<PathBuf> {
        let blobs = self.node_dir.path().join("blobs");
        let mut staged = files_under(&blobs.join("tmp"));
        staged.extend(files_under(&blobs.join("uploads")));
        staged.extend(files_under(&self.node_dir.path().join("transient-uploads")));
        staged
    }
}

/// Every file below `dir`, none if it does not exist.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.unwrap().path())
        .flat_map(|path| {
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[tokio::test]
async fn uploads_downloads_and_deletes_through_the_gateway_land_on_the_node() {
    let tier = TwoTier::start().await;
    let content = sample_bytes(20 * 1024 * 1024 + 7);
    assert_eq!(
        tier.put("scan.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    let small = b"date,value\n2024-01-01,3\n".to_vec();
    assert_eq!(
        tier.put("small.csv", small.clone()).await.status(),
        StatusCode::CREATED
    );

    let blobs = tier.node_blobs();
    let names: BTreeSet<String> = blobs
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, BTreeSet::from([hex_sha256(&content), hex_sha256(&small)]));
    assert!(tier.node_staged().is_empty(), "{:?}", tier.node_staged());

    let file: Value = tier.get("/api/v1/files/scan.bin").await.json().await.unwrap();
    assert_eq!(
        file["storage_uri"],
        format!(
            "node://sha256/{}/{}",
            &file["sha256"].as_str().unwrap()[..2],
            file["sha256"].as_str().unwrap()
        ),
        "the node's address is not shown"
    );
    let csv: Value = tier.get("/api/v1/files/small.csv").await.json().await.unwrap();
    assert!(csv["summary"].as_str().unwrap().contains("**1 rows**"), "{csv}");

    let downloaded = tier
        .get("/api/v1/files/scan.bin/content")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(downloaded.as_ref() == content.as_slice());
    let ranged = tier
        .client
        .get(tier.url("/api/v1/files/scan.bin/content"))
        .bearer_auth(&tier.token)
        .header("range", "bytes=10000000-10000099")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        ranged.bytes().await.unwrap().as_ref(),
        &content[10_000_000..10_000_100]
    );

    let deleted = tier
        .client
        .delete(tier.url("/api/v1/files/scan.bin"))
        .bearer_auth(&tier.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        tier.node_blobs().len(),
        1,
        "the deleted file's blob left the node"
    );
}

#[tokio::test]
async fn the_internal_api_takes_only_its_key_and_the_public_api_refuses_it() {
    let tier = TwoTier::start().await;
    let node = &tier.node.as_ref().unwrap().address;
    let list = format!("{node}/internal/storage/list");
    let refused = [
        tier.client.get(&list),
        tier.client
            .get(&list)
            .header("x-internal-api-key", "not-the-key-not-the-key-not-the-key"),
        tier.client.get(&list).bearer_auth(&tier.token),
    ];
    for request in refused {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(response).await, "unauthorized");
    }
    let listed = tier
        .client
        .get(&list)
        .header("x-internal-api-key", INTERNAL_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    // The node serves nothing of the public API.
    let public = tier
        .client
        .get(format!("{node}/api/v1/files/"))
        .header("x-internal-api-key", INTERNAL_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);

    // The key opens nothing on the gateway, as a header or as a token.
    for request in [
        tier.client
            .get(tier.url("/api/v1/files/"))
            .header("x-internal-api-key", INTERNAL_KEY),
        tier.client
            .get(tier.url("/api/v1/files/"))
            .bearer_auth(INTERNAL_KEY),
    ] {
        assert_eq!(request.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    // Nor is the internal API served by the gateway.
    let on_gateway = tier
        .client
        .get(tier.url("/internal/storage/list"))
        .header("x-internal-api-key", INTERNAL_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(on_gateway.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_storage_node_refuses_to_start_without_a_strong_key_and_a_gateway_without_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        depot(dir.path())
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let fails = |output: std::process::Output, expected: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "it started: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    };
    fails(
        run(&["--role", "storage"], &[]),
        "DEPOT_INTERNAL_API_KEY must be set",
    );
    fails(
        run(&["--role", "storage"], &[("DEPOT_INTERNAL_API_KEY", "short")]),
        "DEPOT_INTERNAL_API_KEY must be at least 32 bytes",
    );
    fails(
        run(
            &["--role", "gateway"],
            &[("DEPOT_INTERNAL_API_KEY", INTERNAL_KEY)],
        ),
        "needs the storage node's URL",
    );
    // Nothing listens on port 1.
    fails(
        run(
            &["--role", "gateway", "--storage-url", "http://127.0.0.1:1"],
            &[("DEPOT_INTERNAL_API_KEY", INTERNAL_KEY)],
        ),
        "is unreachable or refuses the internal API key",
    );
}

#[tokio::test]
async fn a_gateway_whose_key_the_node_refuses_does_not_start() {
    let node_dir = tempfile::tempdir().unwrap();
    let node = start_node(node_dir.path(), "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let output = depot(dir.path())
        .args(["serve", "--role", "gateway", "--storage-url", &node.address])
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("DEPOT_INTERNAL_API_KEY", "a-different-key-a-different-key-!!")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("refused the internal API key"), "{stderr}");
    node.stop();
}

#[tokio::test]
async fn with_the_node_down_uploads_get_503_and_work_again_when_it_is_back() {
    let mut tier = TwoTier::start().await;
    tier.kill_node();
    let refused = tier.put("while-down.bin", sample_bytes(3 * 1024 * 1024)).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(refused).await, "storage_unavailable");
    assert_eq!(
        tier.get("/api/v1/files/while-down.bin").await.status(),
        StatusCode::NOT_FOUND
    );
    let history: Value = tier
        .get("/api/ingestion/history?scope=user&status=failed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        history["records"][0]["error_code"], "storage_unavailable",
        "{history}"
    );

    tier.restart_node();
    let content = sample_bytes(3 * 1024 * 1024);
    assert_eq!(
        tier.put("after.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    let back = tier
        .get("/api/v1/files/after.bin/content")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(back.as_ref() == content.as_slice());
}

#[tokio::test]
async fn a_file_deleted_while_the_node_is_down_goes_and_its_bytes_follow_when_the_node_is_back() {
    let mut tier = TwoTier::start_with_gateway_env(&[("DEPOT_CLEANUP_RETRY", "1s")]).await;
    let content = sample_bytes(100_000);
    assert_eq!(
        tier.put("gone.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(tier.node_blobs().len(), 1);

    tier.kill_node();
    let deleted = tier
        .client
        .delete(tier.url("/api/v1/files/gone.bin"))
        .bearer_auth(&tier.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.status(),
        StatusCode::OK,
        "the file goes even with its node down"
    );
    assert_eq!(
        tier.get("/api/v1/files/gone.bin").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(tier.node_blobs().len(), 1, "the bytes wait for the node");
    let db = tier.gateway_db().await;
    let scheduled: Option<i64> =
        sqlx::query_scalar("SELECT cleanup_scheduled_for FROM blobs WHERE sha256 = $1")
            .bind(hex_sha256(&content))
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(scheduled.is_some());
    let tracked: Option<i64> =
        sqlx::query_scalar("SELECT cleanup_scheduled_for FROM transfers WHERE file_name = $1")
            .bind("gone.bin")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(tracked, scheduled, "the file's tracking says when its bytes go");

    tier.restart_node();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM blobs")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let emptied = async {
        // The bytes go on the node, then the row in the gateway's commit.
        while !tier.node_blobs().is_empty() || rows().await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), emptied)
        .await
        .expect("the removal is retried until the node takes it");
}

#[tokio::test]
async fn a_node_killed_mid_upload_leaves_no_file_and_discards_the_partial_bytes_when_it_restarts() {
    let mut tier = TwoTier::start().await;
    let (feed, body) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = tokio_stream_from(body);
    let upload = {
        let request = tier
            .client
            .put(tier.url("/api/v1/files/doomed.bin/content"))
            .bearer_auth(&tier.token)
            .body(reqwest::Body::wrap_stream(stream));
        tokio::spawn(request.send())
    };
    // Three chunks' worth reach the node before it dies.
    let piece = Bytes::from(sample_bytes(1024 * 1024));
    for _ in 0..24 {
        feed.send(Ok(piece.clone())).await.unwrap();
    }
    let staged = async {
        while tier.node_staged().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), staged)
        .await
        .expect("the node staged the first chunks");
    tier.kill_node();
    // The client goes on sending until the gateway gives up on the node.
    let sender = tokio::spawn(async move { while feed.send(Ok(piece.clone())).await.is_ok() {} });
    let answer = upload.await.unwrap();
    sender.abort();
    match answer {
        Ok(response) => assert!(response.status().is_server_error(), "{}", response.status()),
        Err(err) => panic!("the gateway answered nothing: {err}"),
    }
    assert_eq!(
        tier.get("/api/v1/files/doomed.bin").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!tier.node_staged().is_empty(), "a killed node cannot clean up");

    tier.restart_node();
    assert!(tier.node_staged().is_empty(), "{:?}", tier.node_staged());
    assert!(tier.node_blobs().is_empty());
}

#[tokio::test]
async fn the_gateway_keeps_no_file_bytes_on_its_disk_while_a_gib_streams_through() {
    const SIZE: u64 = 1 << 30;
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = tmp.path().to_str().unwrap().to_owned();
    let tier = TwoTier::start_with_gateway_env(&[("TMPDIR", &tmp_path)]).await;
    let watched = [tier.gateway_dir.path().to_owned(), tmp.path().to_owned()];
    let largest = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (largest, seen, done) = (Arc::clone(&largest), Arc::clone(&seen), Arc::clone(&done));
        let gateway_dir = tier.gateway_dir.path().to_owned();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                for dir in &watched {
                    let files = files_under(dir);
                    let total: u64 = files
                        .iter()
                        .filter_map(|path| path.metadata().ok())
                        .map(|meta| meta.len())
                        .sum();
                    largest.fetch_max(total, Ordering::Relaxed);
                    let mut seen = seen.lock().unwrap();
                    for file in files {
                        let shown = file
                            .strip_prefix(&gateway_dir)
                            .unwrap_or(&file)
                            .display()
                            .to_string();
                        seen.insert(shown);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let piece_len = 1024 * 1024;
    let pieces = (SIZE / piece_len as u64) as usize;
    let body = futures_util::stream::iter((0..pieces).map(move |_| {
        // Fresh bytes per piece, so no piece deduplicates or compresses away.
        let mut piece = Vec::with_capacity(piece_len);
        while piece.len() < piece_len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            piece.extend_from_slice(&state.to_le_bytes());
        }
        Ok::<_, std::io::Error>(Bytes::from(piece))
    }));
    let response = tier.put("gib.bin", reqwest::Body::wrap_stream(body)).await;
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let file: Value = tier.get("/api/v1/files/gib.bin").await.json().await.unwrap();
    assert_eq!(file["size"], SIZE);
    assert_eq!(tier.node_blobs().len(), 1);
    assert_eq!(
        tier.node_blobs()[0].metadata().unwrap().len(),
        SIZE,
        "the bytes are on the node"
    );

    let seen = seen.lock().unwrap().clone();
    let metadata = [
        "depot.db",
        "depot.db-wal",
        "depot.db-shm",
        "depot.db-journal",
        "secret.key",
    ];
    assert!(
        seen.iter().all(|name| metadata.contains(&name.as_str())),
        "the gateway wrote files other than its metadata: {seen:?}"
    );
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        largest < 16 * 1024 * 1024,
        "the gateway's data and temp dirs held {largest} bytes while 1 GiB went through"
    );
}

/// A receiver as the stream a request body is made of.
fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
