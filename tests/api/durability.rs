//! What makes a 2xx durable on the embedded default, and how depot comes back
//! from a disk that failed for a moment.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use depot::config::{Backend, Config};
use reqwest::StatusCode;

use crate::clients::missing;
use crate::helpers::PostgresDatabase;
use crate::process::ServerProcess;

#[tokio::test]
async fn the_embedded_database_runs_in_wal_mode_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    assert_eq!(config.backend(), Backend::Sqlite);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let db = depot::db::Db::connect(&config).await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "synchronous = FULL");
}

/// Makes every `fsync` and `fdatasync` of process `pid` (all its threads)
/// fail with EIO until dropped, as a failing disk would.
struct FsyncFault(Child);

impl FsyncFault {
    /// `None` (the test is skipped) without strace, except under `CI=true`.
    fn inject(pid: u32) -> Option<Self> {
        let found = Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            missing("strace is missing: `apt-get install strace` (.ci/test does)");
            return None;
        }
        let strace = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync,fdatasync"])
            .args(["-e", "inject=fsync,fdatasync:error=EIO", "-p", &pid.to_string()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Some(Self(strace))
    }
}

impl Drop for FsyncFault {
    /// strace detaches on SIGTERM, and the process goes on as before.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn after_fsync_errors_end_uploads_work_again_and_readyz_tracks_the_fault() {
    let deployment = Deployment::new("fault-test-secret-fault-test-secret!").await;
    let server = deployment.serve();
    let (client, token) = signed_in(&server).await;
    let put = |name: String| {
        let request = client
            .put(format!("{}/api/v1/files/{name}/content", server.address))
            .bearer_auth(&token)
            .body(format!("name,value\n{name},1\n"));
        async move { request.send().await.unwrap().status() }
    };
    let ready = || {
        let request = client.get(format!("{}/readyz", server.address));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(put("before.csv".into()).await, StatusCode::CREATED);
    assert_eq!(ready().await, StatusCode::OK);

    let Some(fault) = FsyncFault::inject(server.pid()) else {
        return;
    };
    // strace takes a moment to attach to every thread: /readyz, whose probe
    // syncs a file, tells when the fault holds.
    let mut seen = Vec::new();
    let mut not_ready = false;
    for _ in 0..40 {
        let readiness = ready().await;
        seen.push(readiness.as_u16());
        if readiness == StatusCode::SERVICE_UNAVAILABLE {
            not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(not_ready, "/readyz said ready all through the fault: {seen:?}");
    let mut refused = Vec::new();
    for n in 0..3 {
        let name = format!("during-{n}.csv");
        let status = put(name.clone()).await;
        assert!(!status.is_success(), "{name} was acknowledged while fsync failed");
        refused.push(name);
    }
    drop(fault);

    // Back by itself within seconds: no transaction or lock left behind.
    let mut recovered = false;
    for n in 0..40 {
        if put(format!("recovery-{n}.csv")).await == StatusCode::CREATED {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "uploads still failed 10 s after the fault ended");
    for n in 0..5 {
        assert_eq!(put(format!("after-{n}.csv")).await, StatusCode::CREATED);
    }
    let mut ready_again = false;
    for _ in 0..20 {
        if ready().await == StatusCode::OK {
            ready_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready_again, "/readyz stayed not ready after the fault");

    // None of what failed was kept.
    for name in &refused {
        let response = client
            .get(format!("{}/api/v1/files/{name}", server.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
    }
}

/// Uploads that end together commit together; a kill -9 in the middle of
/// that loses none that were acknowledged, and leaves none half-stored.
#[tokio::test]
async fn kill_9_amid_concurrent_small_uploads_loses_no_acknowledged_file() {
    let deployment = Deployment::new("batch-test-secret-batch-test-secret!").await;
    let server = deployment.serve();
    let (client, token) = signed_in(&server).await;
    let body = |name: &str| format!("{name}\n").repeat(200).into_bytes();

    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..32)
        .map(|sender| {
            let (client, token, address) = (client.clone(), token.clone(), server.address.clone());
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let name = format!("small-{sender}-{n}.txt");
                    let sent = client
                        .put(format!("{address}/api/v1/files/{name}/content"))
                        .bearer_auth(&token)
                        .body(body(&name))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == StatusCode::CREATED => {
                            acknowledged.lock().unwrap().push(name);
                        }
                        _ => return n,
                    }
                }
                unreachable!()
            })
        })
        .collect();
    // Well into the stream of commits, then gone.
    for _ in 0..600 {
        if acknowledged.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop();
    let sent: usize = futures_util::future::join_all(senders)
        .await
        .into_iter()
        .map(|sent| sent.unwrap() + 1)
        .sum();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 300,
        "only {} uploads went through",
        acknowledged.len()
    );

    let server = deployment.serve();
    let get = |path: String| {
        client
            .get(format!("{}{path}", server.address))
            .bearer_auth(&token)
            .send()
    };
    let listing: serde_json::Value = get("/api/v1/files/?limit=1000".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let files = listing.as_array().unwrap();
    let listed: Vec<&str> = files
        .iter()
        .map(|file| file["file_name"].as_str().unwrap())
        .collect();
    assert!(listed.len() < 1000, "more files than one page holds");
    assert!(
        listed.len() <= sent,
        "{} files after the restart; {sent} were sent",
        listed.len()
    );
    for name in &acknowledged {
        assert!(
            listed.contains(&name.as_str()),
            "{name} was acknowledged, then lost"
        );
    }
    // Every file there — acknowledged or not — is whole, with its record completed.
    let history: serde_json::Value =
        get("/api/ingestion/history?scope=user&status=completed&page_size=1".into())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        history["total"].as_u64().unwrap() as usize,
        listed.len(),
        "{history}"
    );
    for name in listed {
        let response = get(format!("/api/v1/files/{name}/content")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(response.bytes().await.unwrap(), body(name), "{name}");
    }
}

/// A data dir of its own, on a PostgreSQL database of its own when the tests
/// have one, for servers started (and started again) on both.
struct Deployment {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    /// Dropped with the deployment: the database goes then.
    _postgres: Option<PostgresDatabase>,
}

/// A client that gives up on a request after 30 s, and the token of a user
/// "ann" registered on `server`.
async fn signed_in(server: &ServerProcess) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = server.register(&client, "ann", "correct horse battery").await;
    (client, token)
}

impl Deployment {
    async fn new(secret: &str) -> Self {
        let postgres = PostgresDatabase::for_test().await;
        let mut env = vec![("SECRET_KEY", secret.to_owned())];
        if let Some(database) = &postgres {
            env.push(("DATABASE_URL", database.url()));
        }
        Self {
            dir: tempfile::tempdir().unwrap(),
            env,
            _postgres: postgres,
        }
    }

    fn serve(&self) -> ServerProcess {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .collect();
        ServerProcess::serve(self.dir.path(), &["--addr", "127.0.0.1:0"], &env)
    }
}
