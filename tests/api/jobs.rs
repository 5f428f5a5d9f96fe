//! Maintenance jobs: the admin role, `cleanup`, `verify` and `report` against
//! a deployment seeded with each kind of fault, the lease between two server
//! processes, and `depot admin …` / `depot user add` from the command line.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::depot_for;
use crate::helpers::{TestApp, TestUser, error_code, hex_sha256, sample_bytes};
use crate::process::ServerProcess;

async fn start_job(app: &TestApp, admin: &TestUser, job: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/admin/jobs/{job}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
}

/// Starts `job` and waits for its run to end; the run as listed.
pub(crate) async fn run_job(app: &TestApp, admin: &TestUser, job: &str) -> Value {
    let response = start_job(app, admin, job).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(
        (started["job"].as_str(), started["outcome"].as_str()),
        (Some(job), Some("running"))
    );
    finished_run(&app.address, &admin.token, started["id"].as_i64().unwrap()).await
}

async fn finished_run(address: &str, token: &str, id: i64) -> Value {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        let page: Value = client
            .get(format!("{address}/api/v1/admin/jobs"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run = page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|run| run["id"] == id)
            .cloned()
            .unwrap();
        if run["outcome"] != "running" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job run {id} did not finish in 30 s");
}

fn file_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| entry["files"].as_array().unwrap().clone())
        .map(|file| file["file_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_first_account_is_an_admin_and_only_admins_reach_the_jobs() {
    let app = TestApp::spawn().await;
    let app = &app;
    let register = |name: &'static str| async move {
        let body = json!({ "username": name, "password": "correct horse battery" });
        let response = app.post_json("/api/v1/auth/register", &body).await;
        response.json::<Value>().await.unwrap()
    };
    let first = register("root").await;
    let second = register("ann").await;
    assert_eq!(
        (first["admin"].as_bool(), second["admin"].as_bool()),
        (Some(true), Some(false))
    );
    let login: Value = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "root", "password": "correct horse battery" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["admin"], true, "a login keeps the role");

    let ann = TestUser {
        token: second["access_token"].as_str().unwrap().to_owned(),
        id: second["user_id"].as_i64().unwrap(),
    };
    for response in [
        start_job(app, &ann, "report").await,
        app.get(&ann, "/api/v1/admin/jobs").await,
    ] {
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "not even there for others"
        );
    }
    let root = TestUser {
        token: first["access_token"].as_str().unwrap().to_owned(),
        id: first["user_id"].as_i64().unwrap(),
    };
    let unknown = start_job(app, &root, "defragment").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad = app.get(&root, "/api/v1/admin/jobs?job=defragment").await;
    assert_eq!(error_code(bad).await, "validation_failed");
}

#[tokio::test]
async fn the_report_counts_files_bytes_dedup_users_and_types() {
    let app = TestApp::spawn().await;
    let root = app.user("root").await;
    let ann = app.user("ann").await;
    let data = sample_bytes(10_000);
    for (user, name) in [(&ann, "a.bin"), (&ann, "b.bin"), (&root, "c.bin")] {
        assert_eq!(
            app.put_file(user, name, data.clone()).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.put_file(&ann, "d.csv", "x,y\n1,2\n").await.status(),
        StatusCode::CREATED
    );

    let run = run_job(&app, &root, "report").await;
    assert_eq!(
        (run["outcome"].as_str(), run["trigger"].as_str()),
        (Some("succeeded"), Some("api"))
    );
    let report = &run["report"];
    assert_eq!(report["files"], 4);
    assert_eq!(report["logical_bytes"], 30_008);
    assert_eq!(
        (report["contents"].as_i64(), report["physical_bytes"].as_i64()),
        (Some(2), Some(10_008))
    );
    assert!((report["dedup_ratio"].as_f64().unwrap() - 30_008.0 / 10_008.0).abs() < 1e-9);
    assert_eq!(
        report["by_user"][0],
        json!({ "name": "ann", "files": 3, "bytes": 20_008 })
    );
    assert_eq!(
        report["by_user"][1],
        json!({ "name": "root", "files": 1, "bytes": 10_000 })
    );
    assert_eq!(
        report["by_content_type"][1],
        json!({ "name": "text/csv", "files": 1, "bytes": 8 })
    );
    let today = &report["growth"][0];
    assert_eq!(
        (today["files"].as_i64(), today["bytes"].as_i64()),
        (Some(4), Some(30_008))
    );
    assert_eq!(report["corrupt_files"], 0);
}

#[tokio::test]
async fn cleanup_and_verify_find_each_kind_of_fault() {
    let app =
        TestApp::spawn_with(|config| config.cleanup_grace = depot::config::HumanDuration(Duration::ZERO))
            .await;
    if !app.blobs_on_disk() {
        return;
    }
    let root = app.user("root").await;
    let db = app.db().await;

    // An orphan: bytes the store holds that no row names any more.
    let orphan = sample_bytes(5_000);
    app.put_file(&root, "orphan.bin", orphan.clone()).await;
    sqlx::query("DELETE FROM files WHERE file_name = 'orphan.bin'")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
        .bind(hex_sha256(&orphan))
        .execute(db.pool())
        .await
        .unwrap();
    // A missing blob, and a flipped byte.
    let lost = b"these bytes will be lost".to_vec();
    app.put_file(&root, "lost.txt", lost.clone()).await;
    let rotten = sample_bytes(300_000);
    app.put_file(&root, "rotten.bin", rotten.clone()).await;
    app.put_file(&root, "healthy.txt", "fine").await;
    let blob_of = |bytes: &[u8]| {
        let sha256 = hex_sha256(bytes);
        app.blob_files()
            .into_iter()
            .find(|path| path.ends_with(&sha256))
            .unwrap()
    };
    std::fs::remove_file(blob_of(&lost)).unwrap();
    let rotten_path = blob_of(&rotten);
    let mut bytes = std::fs::read(&rotten_path).unwrap();
    bytes[200_000] ^= 0x01;
    std::fs::write(&rotten_path, bytes).unwrap();
    // An expired session, and an expired resumable upload.
    let session = crate::helpers::new_session();
    app.put_file_in(&root, &session, "in-session.txt", "s").await;
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE id = $1")
        .bind(&session)
        .execute(db.pool())
        .await
        .unwrap();
    let created = app
        .client
        .post(app.url("/api/v1/uploads/"))
        .bearer_auth(&root.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "100")
        .header("Upload-Metadata", "filename YWJhbmRvbmVkLmJpbg==")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    sqlx::query("UPDATE uploads SET expires_at = 1")
        .execute(db.pool())
        .await
        .unwrap();
    // A staged write a crash left behind (only the local disk keeps them between requests).
    let stale_stage = app.blob_root().join("tmp").join("crashed.part");
    let local = !app.on_s3() && !app.on_node();
    if local {
        std::fs::write(&stale_stage, b"half an upload").unwrap();
    }

    let first = run_job(&app, &root, "cleanup").await;
    assert_eq!(first["outcome"], "succeeded", "{first}");
    let report = &first["report"];
    assert_eq!(report["sessions_expired"], 1);
    assert_eq!(report["uploads_expired"], 1);
    assert_eq!(report["stale_stages_removed"], u64::from(local));
    assert!(!stale_stage.exists());
    assert_eq!(file_names(&report["missing"]), ["lost.txt"]);
    assert_eq!(
        report["orphans_waiting"], 1,
        "an orphan waits out the grace period once"
    );
    assert!(report["orphans_removed"].as_array().unwrap().is_empty());
    assert!(
        app.blob_files()
            .iter()
            .any(|path| path.ends_with(hex_sha256(&orphan)))
    );

    let second = run_job(&app, &root, "cleanup").await;
    assert_eq!(
        second["report"]["orphans_removed"],
        json!([{ "sha256": hex_sha256(&orphan), "size": 5_000 }])
    );
    assert!(
        !app.blob_files()
            .iter()
            .any(|path| path.ends_with(hex_sha256(&orphan))),
        "the orphan's bytes are gone"
    );

    let verify = run_job(&app, &root, "verify").await;
    let report = &verify["report"];
    assert_eq!(file_names(&report["corrupt"]), ["rotten.bin"]);
    assert_eq!(file_names(&report["missing"]), ["lost.txt"]);
    assert_eq!(report["blobs_checked"], 4);
    for (name, corrupt) in [("rotten.bin", true), ("lost.txt", true), ("healthy.txt", false)] {
        assert_eq!(app.metadata(&root, name).await["corrupt"], corrupt, "{name}");
    }
    let summary = run_job(&app, &root, "report").await;
    assert_eq!(summary["report"]["corrupt_files"], 2);
}

/// The environment of depot processes that share one database (a PostgreSQL
/// one of their own when the suite runs on PostgreSQL, else their data dir's
/// SQLite), with `verify` held to `verify_rate` bytes a second.
async fn process_env(
    verify_rate: &str,
) -> (
    Option<crate::helpers::PostgresDatabase>,
    Vec<(&'static str, String)>,
) {
    let postgres = crate::helpers::PostgresDatabase::for_test().await;
    let mut env = vec![
        ("SECRET_KEY", "jobs-test-secret-jobs-test-secret!!".to_owned()),
        ("DEPOT_VERIFY_RATE", verify_rate.to_owned()),
    ];
    if let Some(database) = &postgres {
        env.push(("DATABASE_URL", database.url()));
    }
    (postgres, env)
}

/// Two servers on one database: while one runs a job, the other is refused
/// it, naming who runs it; once it ends, the other may run it.
#[tokio::test]
async fn one_node_at_a_time_runs_a_job() {
    let (_postgres, env) = process_env("262144").await;
    let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &env);
    let second = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &env);
    let client = reqwest::Client::new();
    let token = first.register(&client, "root", "correct horse battery").await;
    let uploaded = client
        .put(format!("{}/api/v1/files/big.bin/content", first.address))
        .bearer_auth(&token)
        .body(sample_bytes(1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);

    let start = |address: String| {
        let client = client.clone();
        let token = token.clone();
        async move {
            client
                .post(format!("{address}/api/v1/admin/jobs/verify"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let running = start(first.address.clone()).await;
    assert_eq!(running.status(), StatusCode::ACCEPTED);
    let run: Value = running.json().await.unwrap();
    let refused = start(second.address.clone()).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "job_running");
    let holder = run["node"].as_str().unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains(holder),
        "{body}"
    );

    let done = finished_run(&first.address, &token, run["id"].as_i64().unwrap()).await;
    assert_eq!(done["outcome"], "succeeded");
    let after = start(second.address.clone()).await;
    assert_eq!(after.status(), StatusCode::ACCEPTED, "the lease was let go");
    let second_run: Value = after.json().await.unwrap();
    assert_ne!(second_run["node"], run["node"]);
}

/// A server asked to stop gives its running job time to record itself
/// `interrupted` (and let go of its lease) before it exits.
#[tokio::test]
async fn a_server_that_stops_records_its_running_job_as_interrupted() {
    let (_postgres, env) = process_env("65536").await;
    let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &env);
    let client = reqwest::Client::new();
    let token = server.register(&client, "root", "correct horse battery").await;
    let uploaded = client
        .put(format!("{}/api/v1/files/slow.bin/content", server.address))
        .bearer_auth(&token)
        .body(sample_bytes(1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let started: Value = client
        .post(format!("{}/api/v1/admin/jobs/verify", server.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stopped = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(
        stopped,
        "the server exits on SIGTERM, well before the 16 s the job needs"
    );

    let again = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &env);
    let run = finished_run(&again.address, &token, started["id"].as_i64().unwrap()).await;
    assert_eq!(run["outcome"], "interrupted", "{run}");
    let restarted = client
        .post(format!("{}/api/v1/admin/jobs/verify", again.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(restarted.status(), StatusCode::ACCEPTED, "the lease was let go");
}

#[tokio::test]
async fn depot_admin_runs_jobs_and_user_add_makes_admins() {
    let app = TestApp::spawn().await;
    if app.on_s3() || app.on_node() {
        return; // the command line here speaks to the local store
    }
    let root = app.user("root").await;
    assert_eq!(
        app.put_file(&root, "a.csv", "x\n1\n").await.status(),
        StatusCode::CREATED
    );
    let depot_admin = |args: &[&str]| depot_for(&app, args);
    let report = depot_admin(&["admin", "report"]).output().unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(text.contains("files: 1, 4 B as listed"), "{text}");
    assert!(text.contains("root") && text.contains("text/csv"), "{text}");

    let verify = depot_admin(&["admin", "verify", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(verify.status.success());
    assert_eq!(json["blobs_checked"], 1);

    let mut add = depot_admin(&["user", "add", "carol", "--admin"]);
    add.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = add.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"carols password\n").unwrap();
    let added = child.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stdout)
    );
    let login: Value = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "carol", "password": "carols password" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["admin"], true);
    let carol = TestUser {
        token: login["access_token"].as_str().unwrap().to_owned(),
        id: login["user_id"].as_i64().unwrap(),
    };
    let runs: Value = app
        .get(&carol, "/api/v1/admin/jobs?job=verify")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        runs["runs"][0]["trigger"], "cli",
        "the command line's run is on record"
    );
}
