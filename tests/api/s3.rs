//! The S3 API with the real clients data people use: boto3, the aws CLI,
//! rclone, pandas through s3fs, and polars — signed with an API key's S3
//! credentials, over the same files the REST API shows.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clients::{program, python_module, run};
use crate::helpers::{TestApp, TestUser, encode, hex_sha256, sample_bytes};
use crate::process::ServerProcess;

/// An API key's S3 credentials.
struct S3Key {
    id: i64,
    access_key_id: String,
    secret_access_key: String,
}

async fn s3_key(app: &TestApp, user: &TestUser, scope: &str) -> S3Key {
    let response = app
        .client
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&user.token)
        .json(&json!({"name": format!("s3 {scope}"), "scope": scope}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    S3Key::created(&response.json().await.unwrap())
}

impl S3Key {
    /// The credentials in `POST /api/v1/keys`'s answer.
    fn created(key: &Value) -> Self {
        Self {
            id: key["id"].as_i64().unwrap(),
            access_key_id: key["access_key_id"].as_str().unwrap().to_owned(),
            secret_access_key: key["secret_access_key"].as_str().unwrap().to_owned(),
        }
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|config| {
        config.s3_api_addr = Some("127.0.0.1:0".into());
        config.s3_api_domain = Some("s3.depot.test".into());
    })
    .await
}

/// Runs a scenario of `tests/clients/s3_clients.py` and returns what it saw.
async fn scenario(app: &TestApp, key: &S3Key, bucket: &str, name: &str, arg: Option<&str>) -> Value {
    scenario_at(app.s3_address.as_deref().unwrap(), key, bucket, name, arg).await
}

/// [`scenario`] against the S3 API at `endpoint`.
async fn scenario_at(endpoint: &str, key: &S3Key, bucket: &str, name: &str, arg: Option<&str>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/s3_clients.py");
    let mut python = Command::new("python3");
    python
        .arg(script)
        .args([name, endpoint, &key.access_key_id, &key.secret_access_key, bucket]);
    python.args(arg);
    let printed = run(python).await;
    serde_json::from_str(printed.trim()).unwrap_or_else(|err| panic!("{err}: {printed}"))
}

fn error(code: &str, status: u16) -> Value {
    json!({"code": code, "status": status})
}

#[tokio::test]
async fn boto3_reads_and_writes_a_users_files_as_their_bucket() {
    if !python_module("boto3", "boto3") {
        return;
    }
    let app = spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    assert_eq!(
        app.put_file(&bob, "secret.txt", b"bob's".to_vec()).await.status(),
        StatusCode::CREATED
    );
    let key = s3_key(&app, &ann, "read-write").await;

    let seen = scenario(&app, &key, "ann", "objects", Some("bob")).await;
    assert_eq!(seen["buckets"], json!(["ann"]));
    let q1 = b"quarter,total\n1,10\n2,20\n";
    assert_eq!(seen["put_etag"], hex_sha256(q1));
    assert_eq!(seen["get"], std::str::from_utf8(q1).unwrap());
    assert_eq!(seen["get_metadata"], json!({"project": "atlas"}));
    assert_eq!(seen["get_type"], "text/csv");
    assert_eq!(seen["range"], "total");
    assert_eq!(seen["head_length"], q1.len());
    assert_eq!(seen["not_modified"], error("304", 304));
    assert_eq!(seen["precondition"], error("PreconditionFailed", 412));
    assert_eq!(
        seen["top"],
        json!({"keys": ["top.txt"], "prefixes": ["reports/"]})
    );
    assert_eq!(
        seen["paged"],
        json!([
            "reports/2024/q1.csv",
            "reports/2024/q2.csv",
            "reports/summary.txt"
        ])
    );
    assert_eq!(seen["level"], json!(["reports/2024/"]));
    assert_eq!(seen["presigned"], seen["get"]);
    assert_eq!(seen["copied"], seen["get"]);
    assert_eq!(seen["deleted"], json!(["never-there.txt", "top.txt"]));
    assert_eq!(seen["no_such_key"], error("NoSuchKey", 404));
    assert_eq!(seen["bad_digest"], error("BadDigest", 400));
    assert_eq!(seen["bad_sha256"], error("BadDigest", 400));
    assert_eq!(seen["only_create"], error("PreconditionFailed", 412));
    assert_eq!(seen["empty_folder"], error("InvalidArgument", 400));
    assert_eq!(seen["bad_name"], error("InvalidArgument", 400));
    assert_eq!(seen["other_bucket"], error("NoSuchBucket", 404));
    assert_eq!(seen["other_object"], error("NoSuchBucket", 404));
    assert_eq!(seen["wrong_secret"], error("SignatureDoesNotMatch", 403));
    assert_eq!(seen["unknown_key"], error("InvalidAccessKeyId", 403));

    // The same files on the REST API: profiled, content-addressed, with
    // their metadata; what a checksum refused was never stored.
    let file = app.metadata(&ann, "reports/2024/q1.csv").await;
    assert_eq!(file["sha256"], hex_sha256(q1));
    assert!(file["cid"].as_str().unwrap().starts_with("bafk"), "{file}");
    assert_eq!(file["metadata"], json!({"project": "atlas"}));
    assert_eq!(file["profile"]["rows"], 2, "{file}");
    let copy = app.metadata(&ann, "archive/q1.csv").await;
    assert_eq!(copy["metadata"], json!({"project": "atlas"}));
    for gone in ["corrupt.csv", "top.txt", "reports/summary.txt"] {
        let response = app.get(&ann, &format!("/api/v1/files/{}", encode(gone))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{gone}");
    }
    // Bob's file is untouched.
    assert_eq!(
        app.download(&bob, "secret.txt")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"bob's"
    );

    // Each request is an audit event of the key's user, marked as S3's.
    let db = app.db().await;
    let uploads: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT file_name, outcome, reason FROM audit_events WHERE action = 'upload' AND actor = $1 ORDER BY id",
    )
    .bind(ann.id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(
        uploads.contains(&("reports/2024/q1.csv".into(), 200, String::new())),
        "{uploads:?}"
    );
    assert!(
        uploads.contains(&("corrupt.csv".into(), 400, "BadDigest".into())),
        "{uploads:?}"
    );
    // The key's uploads all work in one session, and show in its history.
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
        .bind(ann.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 1);
    let via: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE detail = 'via the S3 API'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(via > 10, "{via}");
}

#[tokio::test]
async fn keys_scope_and_revocation_hold_on_the_s3_api() {
    if !python_module("boto3", "boto3") {
        return;
    }
    let app = TestApp::spawn_with(|config| {
        config.s3_api_addr = Some("127.0.0.1:0".into());
        config.quota_bytes = 1024;
    })
    .await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "kept.txt", b"kept".to_vec()).await.status(),
        StatusCode::CREATED
    );

    let reader = s3_key(&app, &ann, "read").await;
    let seen = scenario(&app, &reader, "ann", "read_only", Some("kept.txt")).await;
    assert_eq!(seen["list"], json!(["kept.txt"]));
    assert_eq!(seen["put"], error("AccessDenied", 403));
    assert_eq!(seen["delete"], error("AccessDenied", 403));
    assert_eq!(seen["multipart"], error("AccessDenied", 403));
    assert_eq!(app.download(&ann, "kept.txt").await.status(), StatusCode::OK);

    // Over the quota: refused with the quota's reason, nothing stored.
    let writer = s3_key(&app, &ann, "read-write").await;
    let seen = scenario(&app, &writer, "ann", "too_large", None).await;
    assert_eq!(seen["put"], error("QuotaExceeded", 413));
    assert_eq!(
        app.get(&ann, "/api/v1/files/big.bin").await.status(),
        StatusCode::NOT_FOUND
    );

    // A revoked key signs nothing, at once on this node.
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/keys/{}", writer.id)))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let seen = scenario(&app, &writer, "ann", "refused", None).await;
    assert_eq!(seen["list"], error("InvalidAccessKeyId", 403));
}

#[tokio::test]
async fn multipart_uploads_become_one_file_and_leave_no_parts() {
    if !python_module("boto3", "boto3") {
        return;
    }
    let app = spawn().await;
    let ann = app.user("ann").await;
    let key = s3_key(&app, &ann, "read-write").await;
    let seen = scenario(&app, &key, "ann", "multipart", None).await;
    assert_eq!(seen["parts"], json!([[1, 5 * 1024 * 1024], [2, 1000]]));
    assert_eq!(seen["part_etags_are_sha256"], json!([true, true]));
    assert_eq!(seen["uploads"], json!(["parts/whole.bin"]));
    assert_eq!(seen["wrong_etag"], error("InvalidPart", 400));
    assert_eq!(seen["out_of_order"], error("InvalidPartOrder", 400));
    assert_eq!(seen["etag"], seen["sha256"]);
    assert_eq!(seen["whole_matches"], true);
    assert_eq!(seen["metadata"], json!({"source": "parts"}));
    assert_eq!(seen["completed_gone"], error("NoSuchUpload", 404));
    assert_eq!(seen["aborted_gone"], error("NoSuchUpload", 404));
    assert_eq!(seen["aborted_object"], error("404", 404));
    assert_eq!(seen["big_matches"], true);

    let whole = app.metadata(&ann, "parts/whole.bin").await;
    assert_eq!(whole["sha256"], seen["sha256"]);
    assert_eq!(whole["size"], 5 * 1024 * 1024 + 1000);
    assert_eq!(
        app.metadata(&ann, "parts/big.bin").await["sha256"],
        seen["big_sha256"]
    );
    // No part outlives its upload: the store holds the two files' contents only.
    let db = app.db().await;
    let parts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM multipart_parts")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(parts, 0);
    let blobs: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM blobs ORDER BY sha256")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut expected = vec![
        seen["sha256"].as_str().unwrap().to_owned(),
        seen["big_sha256"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(blobs, expected);
    if app.blobs_on_disk() {
        assert!(
            app.eventually(|| app.blob_files().len() == 2).await,
            "{:?}",
            app.blob_files()
        );
    }
}

/// A server process of its own, so that its `/metrics` count only this
/// test's uploads.
#[tokio::test]
async fn parts_sent_in_order_go_through_the_workflow_before_completion() {
    if !python_module("boto3", "boto3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(dir.path(), &[("DEPOT_S3_API_ADDR", "127.0.0.1:0")]);
    let s3_address = server
        .lines_within(Duration::from_secs(5))
        .iter()
        .find_map(|line| {
            line.split("s3_addr=")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        })
        .expect("the S3 API's address is logged");
    let client = reqwest::Client::new();
    let token = server.register(&client, "ann", "correct horse battery").await;
    let key: Value = client
        .post(format!("{}/api/v1/keys", server.address))
        .bearer_auth(&token)
        .json(&json!({"name": "s3", "scope": "read-write"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = format!("http://{s3_address}");
    let seen = scenario_at(&endpoint, &S3Key::created(&key), "ann", "streaming", None).await;
    // Whichever way each completed, the file is the parts chosen.
    let right = json!({"etag": true, "bytes": true});
    assert_eq!(seen["in_order"], right);
    assert_eq!(seen["sent_again"], right);
    assert_eq!(seen["left_out"], right);

    let metrics = server.metrics(&client).await;
    let completed = |outcome: &str| -> u64 {
        let series = format!("depot_multipart_completions_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series}in {metrics}"))
            .parse()
            .unwrap()
    };
    // All parts in order: streamed. A part left out: read back. A part
    // sent again after it streamed: read back, unless it was sent before
    // its first bytes streamed.
    assert_eq!(completed("streamed") + completed("read_back"), 3, "{metrics}");
    assert!(completed("streamed") >= 1, "{metrics}");
    assert!(completed("read_back") >= 1, "{metrics}");
    server.stop();
}

#[tokio::test]
async fn virtual_host_style_requests_name_the_bucket_in_the_host() {
    if !python_module("boto3", "boto3") {
        return;
    }
    let app = spawn().await;
    let ann = app.user("ann").await;
    let key = s3_key(&app, &ann, "read-write").await;
    let seen = scenario(&app, &key, "ann", "virtual", None).await;
    assert_eq!(seen, json!({"keys": ["virtual/hello.txt"], "body": "hello"}));
    assert_eq!(
        app.download(&ann, "virtual/hello.txt")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"hello"
    );
}

#[tokio::test]
async fn pandas_and_polars_read_and_write_datasets_in_place() {
    if !python_module("s3fs", "s3fs")
        || !python_module("polars", "polars")
        || !python_module("pyarrow", "pyarrow")
    {
        return;
    }
    let app = spawn().await;
    let ann = app.user("ann").await;
    let key = s3_key(&app, &ann, "read-write").await;
    let csv = b"region,total\nnorth,10\nsouth,20\neast,5\n";
    assert_eq!(
        app.put_file(&ann, "data/sales.csv", csv.to_vec()).await.status(),
        StatusCode::CREATED
    );

    let seen = scenario(&app, &key, "ann", "pandas", None).await;
    assert_eq!(seen["rows"], 3);
    assert_eq!(seen["columns"], json!(["region", "total", "double"]));
    assert_eq!(seen["dtypes"]["total"], "int64");
    assert_eq!(seen["parquet_equal"], true);
    let parquet = app.download(&ann, "out/sales.parquet").await;
    assert_eq!(parquet.status(), StatusCode::OK);
    assert!(parquet.bytes().await.unwrap().starts_with(b"PAR1"));

    let seen = scenario(&app, &key, "ann", "polars", None).await;
    assert_eq!(
        seen,
        json!({"rows": 3, "columns": ["region", "total", "triple"], "triple_sum": 105})
    );
    assert!(
        app.metadata(&ann, "out/polars.parquet").await["size"]
            .as_i64()
            .unwrap()
            > 0
    );
}

/// The aws CLI and rclone take their settings from the environment; an
/// `AWS_CA_BUNDLE` (set on some machines for HTTPS) breaks rclone's plain
/// HTTP client, and none is needed here.
fn cli(program: &str, key: &S3Key) -> Command {
    let mut command = Command::new(program);
    command
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_ACCESS_KEY_ID", &key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    command
}

/// A tree of files in a fresh directory: nested folders, names with spaces
/// and `+`, and a file big enough to go in parts.
fn plant_tree(root: &Path) {
    for (path, bytes) in [
        ("a/b/notes.txt", b"hello\n".to_vec()),
        ("c/name with space.txt", b"spaced\n".to_vec()),
        ("c/a+b.csv", b"x,y\n1,2\n".to_vec()),
        ("c/big.bin", sample_bytes(12 * 1024 * 1024 + 17)),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Every file under `root`, by relative path, with its bytes.
fn tree_of(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn the_aws_cli_copies_and_syncs_trees_in_parts() {
    if !program("aws", "--version", "awscli (pip install awscli)") {
        return;
    }
    let app = spawn().await;
    let ann = app.user("ann").await;
    let key = s3_key(&app, &ann, "read-write").await;
    let endpoint = app.s3_address.clone().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (up, down) = (work.path().join("up"), work.path().join("down"));
    plant_tree(&up);

    let mut sync = cli("aws", &key);
    sync.args(["--endpoint-url", &endpoint, "s3", "sync", "--only-show-errors"])
        .arg(&up)
        .arg("s3://ann/tree/");
    run(sync).await;
    let mut listing = cli("aws", &key);
    listing.args(["--endpoint-url", &endpoint, "s3", "ls", "s3://ann/tree/"]);
    let listed = run(listing).await;
    assert!(listed.contains("PRE a/") && listed.contains("PRE c/"), "{listed}");

    let mut back = cli("aws", &key);
    back.args([
        "--endpoint-url",
        &endpoint,
        "s3",
        "sync",
        "--only-show-errors",
        "s3://ann/tree/",
    ])
    .arg(&down);
    run(back).await;
    assert_eq!(tree_of(&down), tree_of(&up));
    // The 12 MiB file went in parts (8 MiB each, the CLI's default) and is one file.
    let big = app.metadata(&ann, "tree/c/big.bin").await;
    assert_eq!(
        big["sha256"],
        hex_sha256(&std::fs::read(up.join("c/big.bin")).unwrap())
    );
}

#[tokio::test]
async fn rclone_syncs_a_tree_up_and_back_byte_identical() {
    if !program("rclone", "version", "rclone") {
        return;
    }
    let app = spawn().await;
    let ann = app.user("ann").await;
    let key = s3_key(&app, &ann, "read-write").await;
    let work = tempfile::tempdir().unwrap();
    let (up, down) = (work.path().join("up"), work.path().join("down"));
    plant_tree(&up);
    let rclone = |args: &[&str]| {
        let mut command = cli("rclone", &key);
        command
            .env("RCLONE_CONFIG_DEPOT_TYPE", "s3")
            .env("RCLONE_CONFIG_DEPOT_PROVIDER", "Other")
            .env("RCLONE_CONFIG_DEPOT_ACCESS_KEY_ID", &key.access_key_id)
            .env("RCLONE_CONFIG_DEPOT_SECRET_ACCESS_KEY", &key.secret_access_key)
            .env("RCLONE_CONFIG_DEPOT_ENDPOINT", app.s3_address.as_deref().unwrap())
            .env("RCLONE_CONFIG_DEPOT_FORCE_PATH_STYLE", "true")
            // Parts of 5 MiB from 5 MiB up, so the big file goes in three.
            .args(["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"])
            .args(args);
        command
    };
    let (up_path, down_path) = (up.to_str().unwrap(), down.to_str().unwrap());
    run(rclone(&["sync", up_path, "depot:ann/tree"])).await;
    run(rclone(&["sync", "depot:ann/tree", down_path])).await;
    assert_eq!(tree_of(&down), tree_of(&up));
    let checked = run(rclone(&["check", up_path, "depot:ann/tree"])).await;
    assert!(!checked.contains("ERROR"), "{checked}");
    // A second sync finds nothing to copy: sizes and times (kept as the
    // files' metadata) match.
    let mut again = rclone(&["sync", up_path, "depot:ann/tree", "--stats-one-line", "-v"]);
    again.env("RCLONE_STATS_LOG_LEVEL", "NOTICE");
    let output = tokio::task::spawn_blocking(move || again.output())
        .await
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{said}");
    assert!(!said.contains("Copied"), "{said}");
    // The tree is ann's folders on the REST API too.
    let level = app
        .get_json(&ann, "/api/v1/files/?delimiter=/&prefix=tree/c/")
        .await;
    let names: Vec<&str> = level["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["tree/c/a+b.csv", "tree/c/big.bin", "tree/c/name with space.txt"]
    );
}
