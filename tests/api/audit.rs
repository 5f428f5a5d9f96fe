//! The audit trail: one event per operation, denials included; a hash chain
//! `depot audit verify` checks; admin queries and exports; and an operation
//! that fails when its event cannot be written.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, encode, hex_sha256, sample_bytes};
use crate::process::depot;

/// An operator's token for the app, as `depot token --admin` mints it.
fn admin_token(app: &TestApp) -> String {
    let keys = depot::auth::Keys::new(&depot::config::Secret::new(app.secret()), 3600);
    keys.issue_with(
        depot::domain::UserId::new(999),
        std::time::Duration::from_secs(600),
        true,
    )
    .unwrap()
}

/// Every event so far, oldest first (the query itself is one more event).
pub async fn events(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .client
        .get(app.url("/api/v1/admin/audit?limit=1000"))
        .bearer_auth(admin_token(app))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

/// (action, outcome, actor, file name) of each event.
pub fn summary(events: &[Value]) -> Vec<(String, i64, Option<i64>, String)> {
    events
        .iter()
        .map(|event| {
            (
                event["action"].as_str().unwrap().to_owned(),
                event["outcome"].as_i64().unwrap(),
                event["actor"].as_i64(),
                event["file_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn login(app: &TestApp, username: &str, password: &str) -> StatusCode {
    app.post_json(
        "/api/v1/auth/login",
        &serde_json::json!({ "username": username, "password": password }),
    )
    .await
    .status()
}

#[tokio::test]
async fn every_file_operation_and_every_denial_writes_exactly_one_event() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let content = sample_bytes(5000);
    let key = hex_sha256(&content);

    assert_eq!(
        app.put_file(&ann, "scan.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.get(&ann, "/api/v1/files/scan.bin").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.download(&ann, "scan.bin").await.bytes().await.unwrap().len(),
        5000
    );
    let part = app
        .get_with(&ann, "/api/v1/files/scan.bin/content", &[("range", "bytes=0-99")])
        .await;
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    assert_eq!(app.get(&ann, "/api/v1/files/").await.status(), StatusCode::OK);
    // Bob at Ann's file, and nobody at all.
    assert_eq!(
        app.get(&bob, "/api/v1/files/scan.bin/content").await.status(),
        StatusCode::NOT_FOUND
    );
    let anonymous = app
        .client
        .get(app.url("/api/v1/files/scan.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&app, "ann", "not her password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&app, "ann", "correct horse battery").await, StatusCode::OK);
    assert_eq!(app.delete_file(&ann, "scan.bin").await.status(), StatusCode::OK);

    let all = events(&app).await;
    let (a, b) = (Some(ann.id), Some(bob.id));
    let name = |text: &str| text.to_owned();
    assert_eq!(
        summary(&all),
        vec![
            (name("register"), 201, a, name("ann")),
            (name("register"), 201, b, name("bob")),
            (name("upload"), 201, a, name("scan.bin")),
            (name("metadata"), 200, a, name("scan.bin")),
            (name("download"), 200, a, name("scan.bin")),
            (name("download_range"), 206, a, name("scan.bin")),
            (name("list"), 200, a, name("")),
            (name("download"), 404, b, name("scan.bin")),
            (name("metadata"), 401, None, name("scan.bin")),
            (name("login"), 401, None, name("ann")),
            (name("login"), 200, a, name("ann")),
            (name("delete"), 200, a, name("scan.bin")),
        ]
    );
    let by_action = |action: &str, outcome: i64| {
        all.iter()
            .find(|event| event["action"] == action && event["outcome"] == outcome)
            .unwrap()
            .clone()
    };
    assert_eq!(by_action("upload", 201)["content_key"], key.as_str());
    assert_eq!(by_action("upload", 201)["bytes"], 5000);
    assert_eq!(by_action("download", 200)["bytes"], 5000);
    assert_eq!(by_action("download_range", 206)["bytes"], 100);
    assert_eq!(by_action("delete", 200)["content_key"], key.as_str());
    assert_eq!(
        by_action("download", 404)["content_key"],
        "",
        "a denial reveals no content"
    );
    let role = if app.on_node() { "gateway" } else { "standalone" };
    for event in &all {
        assert_eq!(event["client_ip"], "127.0.0.1");
        assert!(!event["request_id"].as_str().unwrap().is_empty());
        assert_eq!(event["server_role"], role);
    }
    let shown = serde_json::to_string(&all).unwrap();
    for secret in [
        ann.token.as_str(),
        bob.token.as_str(),
        "correct horse battery",
        "not her password",
    ] {
        assert!(!shown.contains(secret), "an event holds a token or password");
    }
}

#[tokio::test]
async fn the_chain_verifies_and_an_edited_event_is_caught_by_depot_audit_verify() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    for n in 0..3 {
        let name = format!("file-{n}.bin");
        assert_eq!(
            app.put_file(&ann, &name, sample_bytes(100 + n)).await.status(),
            StatusCode::CREATED
        );
    }
    let verify = || {
        let mut command = depot(app.data_dir());
        command
            .args(["audit", "verify", "--data-dir"])
            .arg(app.data_dir());
        if let Some(url) = &app.config.database_url {
            command.env("DATABASE_URL", url.expose());
        }
        command.env("SECRET_KEY", app.secret()).output().unwrap()
    };
    let whole = verify();
    let stdout = String::from_utf8_lossy(&whole.stdout).into_owned();
    assert!(
        whole.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert!(
        stdout.contains("4 events checked: the chain is whole"),
        "{stdout}"
    );

    // The table refuses edits; someone who drops its guard can make one.
    let db = app.db().await;
    let refused = sqlx::query("UPDATE audit_events SET bytes = 1 WHERE id = 2")
        .execute(db.pool())
        .await;
    assert!(refused.is_err(), "audit events are append-only");
    let unguard = match db.backend() {
        depot::config::Backend::Sqlite => "DROP TRIGGER audit_events_no_update",
        depot::config::Backend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events",
    };
    sqlx::query(unguard).execute(db.pool()).await.unwrap();
    sqlx::query("UPDATE audit_events SET bytes = 1 WHERE id = 3")
        .execute(db.pool())
        .await
        .unwrap();
    let broken = verify();
    let stdout = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert!(!broken.status.success());
    assert!(
        stdout.contains("2 events checked before the first broken link: event 3 was altered"),
        "{stdout}"
    );
}

#[tokio::test]
async fn admins_page_filter_and_export_the_trail_and_nobody_else_reads_it() {
    let app = TestApp::spawn().await;
    app.user("root").await; // the first account is an admin; ann is not
    let ann = app.user("ann").await;
    let formula = "=HYPERLINK(\"evil.example\",\"x\").csv";
    for name in ["a.bin", "b.bin", formula] {
        assert_eq!(
            app.put_file(&ann, name, b"1,2\n".to_vec()).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.get(&ann, "/api/v1/admin/audit").await.status(),
        StatusCode::NOT_FOUND
    );
    let anonymous = app
        .client
        .get(app.url("/api/v1/admin/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let admin = admin_token(&app);
    let get = |path: String| app.client.get(app.url(&path)).bearer_auth(&admin).send();
    let first: Value = get(format!(
        "/api/v1/admin/audit?action=upload&actor={}&limit=2",
        ann.id
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let names: Vec<&str> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.bin", "b.bin"]);
    let next = first["next"].as_i64().unwrap();
    let second: Value = get(format!("/api/v1/admin/audit?action=upload&after={next}&limit=2"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["events"][0]["file_name"], formula);
    assert!(second["next"].is_null());
    let bad = get("/api/v1/admin/audit?from=yesterday".to_owned())
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let jsonl = get("/api/v1/admin/audit/export?action=upload".to_owned())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["file_name"], formula);

    let csv = get(format!(
        "/api/v1/admin/audit/export?format=csv&file_name={}",
        encode(formula)
    ))
    .await
    .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("id,at,actor,session_id,action,file_name"),
        "{csv}"
    );
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[1].contains(",\"'=HYPERLINK(\"\"evil.example\"\",\"\"x\"\").csv\","),
        "a formula is defused and quoted: {csv}"
    );
}

#[tokio::test]
async fn an_operation_fails_when_its_audit_event_cannot_be_written() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "kept.bin", sample_bytes(10)).await.status(),
        StatusCode::CREATED
    );
    let db = app.db().await;
    // Without its head the chain takes no event.
    sqlx::query("DELETE FROM audit_head")
        .execute(db.pool())
        .await
        .unwrap();

    let upload = app.put_file(&ann, "lost.bin", sample_bytes(10)).await;
    assert!(upload.status().is_server_error(), "{}", upload.status());
    let files = |name: &'static str| {
        let pool = db.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM files WHERE file_name = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        files("lost.bin").await,
        0,
        "an upload whose event fails is not stored"
    );
    if !app.on_s3() {
        assert_eq!(app.blob_files().len(), 1, "nor are its bytes");
    }
    let read = app.get(&ann, "/api/v1/files/kept.bin").await;
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
    let delete = app.delete_file(&ann, "kept.bin").await;
    assert!(delete.status().is_server_error());
    assert_eq!(
        files("kept.bin").await,
        1,
        "a deletion whose event fails does not happen"
    );
    if !app.on_s3() {
        assert_eq!(app.blob_files().len(), 1, "and its bytes stay");
    }
}
