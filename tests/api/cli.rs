//! The `depot` binary's deployment commands: `token`, `admin`, `user`,
//! `profile`, and its logs (starting and configuration: `startup.rs`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, TestS3, new_session, sample_bytes};
use crate::process::{ServerProcess, depot};

pub(crate) fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn depot_token_mints_a_token_the_server_accepts() {
    let app = TestApp::spawn().await;
    let output = depot_for(&app, &["token", "--user", "77", "--ttl", "10m"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let response = app
        .client
        .get(app.url("/api/v1/files/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// `depot ARGS…` on the same deployment (data dir, database, secret) as `app`.
pub fn depot_for(app: &TestApp, args: &[&str]) -> Command {
    depot_on(&app.config, args)
}

/// `depot ARGS…` on the deployment `config` describes: its data dir,
/// database, secret, and its store (S3, or the storage node of a gateway).
pub fn depot_on(config: &depot::config::Config, args: &[&str]) -> Command {
    let mut command = depot(&config.data_dir);
    command.args(args).arg("--data-dir").arg(&config.data_dir);
    if let Some(url) = &config.database_url {
        command.env("DATABASE_URL", url.expose());
    }
    if let Some(secret) = &config.secret_key {
        command.env("SECRET_KEY", secret.expose());
    }
    if let Some(storage) = &config.storage {
        command.env("DEPOT_STORAGE", storage);
        command.env("DEPOT_S3_PATH_STYLE", config.s3_path_style.to_string());
        for (name, value) in [
            ("DEPOT_S3_ENDPOINT", &config.s3_endpoint),
            ("DEPOT_S3_ACCESS_KEY_ID", &config.s3_access_key_id),
        ] {
            if let Some(value) = value {
                command.env(name, value);
            }
        }
        if let Some(secret) = &config.s3_secret_access_key {
            command.env("DEPOT_S3_SECRET_ACCESS_KEY", secret.expose());
        }
    }
    if let Some(node) = &config.ipfs_api {
        command.env("DEPOT_IPFS_API", node.expose());
    }
    if config.role == depot::config::Role::Gateway {
        command.env("DEPOT_ROLE", "gateway");
        command.env(
            "DEPOT_STORAGE_URL",
            config.storage_url.as_deref().unwrap_or_default(),
        );
        if let Some(key) = &config.internal_api_key {
            command.env("DEPOT_INTERNAL_API_KEY", key.expose());
        }
    }
    command
}

/// A deployment on local disk moves to S3: every blob is copied and checked,
/// a corrupt one is named and left behind (and the command fails), and a
/// second run copies only what is missing. A server on S3 then serves the
/// files as they were.
#[tokio::test]
async fn depot_admin_migrate_storage_copies_every_blob_to_s3_checking_each() {
    let Some(s3) = TestS3::from_env() else { return };
    let prefix = format!("migrated-{}", uuid::Uuid::new_v4().simple());
    let target = s3.storage(&prefix);
    // From the local store, whatever store the suite runs on.
    let app = TestApp::spawn_with(|config| {
        config.storage = None;
        config.role = depot::config::Role::Standalone;
    })
    .await;
    let ann = app.user("ann").await;
    let big = sample_bytes(20 * 1024 * 1024 + 7);
    for (name, bytes) in [
        ("a.txt", b"same bytes".to_vec()),
        ("b.txt", b"same bytes".to_vec()),
        ("big.bin", big.clone()),
        ("c.txt", b"will rot".to_vec()),
    ] {
        assert_eq!(
            app.put_file(&ann, name, bytes).await.status(),
            StatusCode::CREATED
        );
    }
    let rotten = app.metadata(&ann, "c.txt").await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotten_file = app
        .blob_files()
        .into_iter()
        .find(|path| path.ends_with(&rotten))
        .unwrap();
    std::fs::write(&rotten_file, b"bit rot!").unwrap();

    let migrate = || {
        let mut command = depot_for(&app, &["admin", "migrate-storage", "--to", &target]);
        command.envs(s3.env()).output().unwrap()
    };
    let first = migrate();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        !first.status.success(),
        "a corrupt blob fails the migration:\n{stdout}"
    );
    assert!(stdout.contains("3 blobs: 2 copied"), "{stdout}");
    assert!(stdout.contains(&format!(
        "corrupt (its bytes do not match their SHA-256; not copied): {rotten}"
    )));
    assert!(stderr_of(&first).contains("some blobs could not be copied"));

    assert_eq!(app.delete_file(&ann, "c.txt").await.status(), StatusCode::OK);
    let second = migrate();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}{}", stderr_of(&second));
    assert!(
        stdout.contains("2 blobs: 0 copied (0 bytes), 2 already there"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("set DEPOT_STORAGE={target}")));

    let on_s3 = TestApp::spawn_with(|config| {
        config.data_dir = app.data_dir().to_owned();
        config.database_url = app.config.database_url.clone();
        config.role = depot::config::Role::Standalone;
        s3.configure(config, &prefix);
    })
    .await;
    let file = on_s3.metadata(&ann, "big.bin").await;
    assert!(
        file["storage_uri"].as_str().unwrap().starts_with(&target),
        "{file}"
    );
    let downloaded = on_s3.download(&ann, "big.bin").await.bytes().await.unwrap();
    assert!(
        downloaded.as_ref() == big.as_slice(),
        "the big file came through whole"
    );
    let small = on_s3.download(&ann, "b.txt").await.bytes().await.unwrap();
    assert_eq!(small.as_ref(), b"same bytes");
}

#[tokio::test]
async fn depot_admin_expire_sessions_removes_expired_sessions_and_keeps_history() {
    let app = TestApp::spawn_with(|config| {
        config.session_ttl = depot::config::HumanDuration::from_secs(1);
    })
    .await;
    let ann = app.user("ann").await;
    let (expired, live) = (new_session(), new_session());
    app.put_file_in(&ann, &expired, "old.txt", &b"x"[..]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.put_file_in(&ann, &live, "new.txt", &b"y"[..]).await;

    let output = depot_for(&app, &["admin", "expire-sessions"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "removed 1 expired session(s)"
    );

    let gone = app.get(&ann, &format!("/api/v1/sessions/{expired}")).await;
    assert_eq!(crate::helpers::error_code(gone).await, "not_found");
    assert_eq!(
        app.get(&ann, &format!("/api/v1/sessions/{live}")).await.status(),
        StatusCode::OK
    );
    let history = app.history(&ann, &live, "scope=user").await;
    assert_eq!(history["total"], 2, "the expired session's record stays");
}

/// A `depot serve` child process whose stderr (the logs) is collected.
#[tokio::test]
async fn logs_carry_request_ids_but_no_token_secret_or_file_content() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let client = reqwest::Client::new();
    let password = "log-leak-password-123";
    let token = server.register(&client, "logger", password).await;
    let marker = "FILE-CONTENT-MARKER-5f2a";
    let mut content = marker.as_bytes().to_vec();
    content.extend(sample_bytes(1000));
    let response = client
        .put(format!("{}/api/v1/files/secret.txt/content", server.address))
        .bearer_auth(&token)
        .header("x-request-id", "req-under-test")
        .body(content)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bad = client
        .get(format!("{}/api/v1/files/", server.address))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    let secret = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    let logs = server.stop();
    assert!(
        logs.contains("req-under-test"),
        "request id missing from logs:\n{logs}"
    );
    assert!(logs.contains("file stored"), "{logs}");
    for leak in [token.as_str(), secret.trim(), marker, password, "not-a-token"] {
        assert!(!logs.contains(leak), "logs contain {leak:?}:\n{logs}");
    }
}

#[tokio::test]
async fn a_redis_outage_is_logged_once_not_per_request_and_without_its_password() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://:redis-password-77@{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(dir.path(), &[("REDIS_URL", &url)]);
    let client = reqwest::Client::new();
    let token = server.register(&client, "ops", "long enough password").await;
    let session = new_session();
    // Requests spread over more than two breaker periods of one second.
    for i in 0..25 {
        let stored = client
            .put(format!("{}/api/v1/files/f{i}.txt/content", server.address))
            .bearer_auth(&token)
            .header("x-session-id", &session)
            .body(format!("{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(stored.status(), StatusCode::CREATED);
        let active: serde_json::Value = client
            .get(format!("{}/api/v1/files/active/{session}", server.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(active["file_name"], format!("f{i}.txt"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = server.stop();
    let warnings = logs.matches("active-file cache degraded").count();
    assert_eq!(warnings, 1, "{logs}");
    assert!(!logs.contains("redis-password-77"), "{logs}");
}

#[test]
fn depot_profile_prints_the_summary_an_upload_would_get() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/csv");
    let output = depot(&data)
        .args(["profile", "sales_small.csv"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with("The dataset has **3 rows** and **5 columns**."),
        "{stdout}"
    );
    let output = depot(&data)
        .args(["profile", "--json", "uint64.csv"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["profile"]["columns"][0]["dtype"], "uint64");
    let refused = depot(&data).args(["profile", "README.md"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains("not a format depot profiles"),
        "{}",
        stderr_of(&refused)
    );
}

/// `depot user …` on the server's machine: a closed deployment's accounts
/// made, listed, disabled, re-roled, reset, given a quota and deleted
/// without the API, each taking hold on the running server.
// Several threads: the depot commands it runs block this one, and over a
// gateway they reach the storage node this process serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depot_user_administers_accounts_on_the_servers_machine() {
    let app = &TestApp::spawn_with(|config| config.signup = depot::config::Signup::Closed).await;
    let root = app.user("root").await;
    let with_password = |args: &[&str], password: &str| {
        let mut command = depot_for(app, args);
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let added = with_password(&["user", "add", "dana", "--role", "reader"], "danas password");
    assert!(added.status.success(), "{}", stderr_of(&added));
    assert!(String::from_utf8_lossy(&added.stdout).contains("a reader"));
    // Looking at an account is not the account being seen.
    let shown = depot_for(app, &["user", "quota", "dana"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("dana: no limit; 0 B in 0 files are stored"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
    let users = app.get_json(&root, "/api/v1/admin/users").await;
    let dana = users
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["username"] == "dana")
        .unwrap();
    assert_eq!(dana["last_seen_at"], serde_json::Value::Null, "{dana}");
    let login = |password: &'static str| async move {
        let body = serde_json::json!({ "username": "dana", "password": password });
        app.post_json("/api/v1/auth/login", &body).await
    };
    assert_eq!(login("danas password").await.status(), StatusCode::OK);

    let listed = depot_for(app, &["user", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("root") && listed.contains("dana") && listed.contains("reader"),
        "{listed}"
    );

    let disabled = depot_for(app, &["user", "disable", "dana"]).output().unwrap();
    assert!(disabled.status.success(), "{}", stderr_of(&disabled));
    assert_eq!(login("danas password").await.status(), StatusCode::UNAUTHORIZED);
    assert!(
        depot_for(app, &["user", "enable", "dana"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let reset = with_password(&["user", "reset-password", "dana"], "a fresh password");
    assert!(reset.status.success(), "{}", stderr_of(&reset));
    assert_eq!(login("danas password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("a fresh password").await.status(), StatusCode::OK);

    // The last admin stays one; a typo names the missing account.
    let demote = depot_for(app, &["user", "set-role", "root", "user"])
        .output()
        .unwrap();
    assert!(!demote.status.success());
    assert!(
        stderr_of(&demote).contains("without an enabled admin"),
        "{}",
        stderr_of(&demote)
    );
    let typo = depot_for(app, &["user", "disable", "dnaa"]).output().unwrap();
    assert!(
        stderr_of(&typo).contains("no account named \"dnaa\""),
        "{}",
        stderr_of(&typo)
    );

    let invited = depot_for(app, &["user", "invite", "--role", "reader", "--expires-in", "2d"])
        .output()
        .unwrap();
    assert!(invited.status.success(), "{}", stderr_of(&invited));
    assert!(String::from_utf8_lossy(&invited.stdout).starts_with("depot-invite-"));
    let invites: serde_json::Value = app
        .get(&root, "/api/v1/admin/invites")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invites[0]["role"], "reader");

    // A quota set on the machine takes hold on the server within the bound.
    let quota = depot_for(app, &["user", "quota", "root", "--bytes", "1KiB"])
        .output()
        .unwrap();
    assert!(quota.status.success(), "{}", stderr_of(&quota));
    assert!(
        String::from_utf8_lossy(&quota.stdout).contains("a quota of 1.0 KiB"),
        "{}",
        String::from_utf8_lossy(&quota.stdout)
    );
    let refused = async |attempt: u32| {
        let response = app
            .put_file(&root, &format!("big-{attempt}.bin"), vec![b'x'; 2000])
            .await;
        response.status() == StatusCode::PAYLOAD_TOO_LARGE
    };
    let deadline = std::time::Instant::now() + depot::pipeline::credentials::REVOCATION_BOUND * 2;
    let mut attempt = 0;
    while !refused(attempt).await {
        attempt += 1;
        assert!(std::time::Instant::now() < deadline, "the quota never took hold");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let shown = depot_for(app, &["user", "quota", "root", "--default"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("root: no limit"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
    let bad = depot_for(app, &["user", "quota", "root", "--bytes", "lots"])
        .output()
        .unwrap();
    assert!(!bad.status.success() && stderr_of(&bad).contains("not a size"));

    let unconfirmed = depot_for(app, &["user", "delete", "dana"]).output().unwrap();
    assert!(!unconfirmed.status.success() && stderr_of(&unconfirmed).contains("--yes"));
    let deleted = depot_for(app, &["user", "delete", "dana", "--yes"])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{}", stderr_of(&deleted));
    assert_eq!(login("a fresh password").await.status(), StatusCode::UNAUTHORIZED);
    let users: serde_json::Value = app.get(&root, "/api/v1/admin/users").await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
}
