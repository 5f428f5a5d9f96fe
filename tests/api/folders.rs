//! Folders: names with `/` form a tree that lists one level at a time,
//! moves without copying bytes and deletes only when asked twice.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, encode, error_code};

const TREE: [(&str, &[u8]); 6] = [
    ("reports/2024/q1.csv", b"quarter,total\n1,10\n"),
    ("reports/2024/q2.csv", b"quarter,total\n2,20\n"),
    ("reports/2023/q4.csv", b"quarter,total\n4,40\n"),
    ("reports/summary.txt", b"four quarters"),
    ("reportsX.txt", b"not in the folder"),
    ("top.txt", b"at the top"),
];

async fn plant(app: &TestApp, user: &TestUser) {
    for (name, bytes) in TREE {
        let response = app.put_file(user, name, bytes.to_vec()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    }
}

/// `(folders as (path, files, size), file names)` of one level.
async fn level(
    app: &TestApp,
    user: &TestUser,
    query: &str,
) -> (Vec<(String, i64, i64)>, Vec<String>, Option<String>) {
    let body = app
        .get_json(user, &format!("/api/v1/files/?delimiter=/&{query}"))
        .await;
    let folders = body["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|folder| {
            (
                folder["path"].as_str().unwrap().to_owned(),
                folder["files"].as_i64().unwrap(),
                folder["size"].as_i64().unwrap(),
            )
        })
        .collect();
    let files = body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["file_name"].as_str().unwrap().to_owned())
        .collect();
    (folders, files, body["next_cursor"].as_str().map(str::to_owned))
}

fn size_of(names: &[&str]) -> i64 {
    TREE.iter()
        .filter(|(name, _)| names.contains(name))
        .map(|(_, bytes)| bytes.len() as i64)
        .sum()
}

async fn send(
    app: &TestApp,
    user: &TestUser,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(&user.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_tree_of_names_lists_one_level_at_a_time() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    plant(&app, &ann).await;

    let all_reports = [
        "reports/2024/q1.csv",
        "reports/2024/q2.csv",
        "reports/2023/q4.csv",
        "reports/summary.txt",
    ];
    let (folders, files, next) = level(&app, &ann, "").await;
    assert_eq!(folders, [("reports/".to_owned(), 4, size_of(&all_reports))]);
    assert_eq!(files, ["reportsX.txt", "top.txt"]);
    assert_eq!(next, None);

    let (folders, files, _) = level(&app, &ann, "prefix=reports/").await;
    assert_eq!(
        folders,
        [
            ("reports/2023/".to_owned(), 1, size_of(&["reports/2023/q4.csv"])),
            (
                "reports/2024/".to_owned(),
                2,
                size_of(&["reports/2024/q1.csv", "reports/2024/q2.csv"])
            ),
        ]
    );
    assert_eq!(files, ["reports/summary.txt"]);

    // One entry a page, each page after the last one's name: a folder is
    // one entry, however many files it holds.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("prefix=reports/&limit=1&cursor={}", encode(cursor)),
            None => "prefix=reports/&limit=1".to_owned(),
        };
        let (folders, files, next) = level(&app, &ann, &query).await;
        walked.extend(folders.into_iter().map(|(path, _, _)| path).chain(files));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, ["reports/2023/", "reports/2024/", "reports/summary.txt"]);

    // Without the delimiter, a prefix takes the folder at every depth.
    let under: Vec<Value> = app
        .get(&ann, "/api/v1/files/?prefix=reports/&sort=name")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = under
        .iter()
        .map(|file| file["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "reports/2023/q4.csv",
            "reports/2024/q1.csv",
            "reports/2024/q2.csv",
            "reports/summary.txt"
        ]
    );
    // A search spans the tree.
    let found: Vec<Value> = app
        .get(&ann, "/api/v1/files/?name=q1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["file_name"], "reports/2024/q1.csv");

    // A file in a folder is read by its whole name, percent-encoded, and
    // downloads under its own name.
    let response = app.download(&ann, "reports/2024/q1.csv").await;
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.contains("filename=\"q1.csv\""), "{disposition}");
    assert_eq!(response.bytes().await.unwrap().as_ref(), TREE[0].1);

    // The folder's totals, by its path as plain segments.
    let info = app.get_json(&ann, "/api/v1/folders/reports/2024").await;
    assert_eq!(
        (info["name"].clone(), info["files"].clone()),
        (json!("2024"), json!(2))
    );
    // Bob has no such folder, and sees none of ann's tree.
    assert_eq!(
        app.get(&bob, "/api/v1/folders/reports/2024").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(level(&app, &bob, "").await.0, []);

    // The delimiter is `/` and goes with a prefix and a page only.
    for query in ["delimiter=%3A", "delimiter=/&sort=name", "delimiter=/&name=q"] {
        let response = app.get(&ann, &format!("/api/v1/files/?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn moving_a_file_or_a_folder_renames_without_copying() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    plant(&app, &ann).await;
    let contents = || async {
        let db = app.db().await;
        sqlx::query_scalar::<_, String>("SELECT sha256 FROM blobs ORDER BY sha256")
            .fetch_all(db.pool())
            .await
            .unwrap()
    };
    let contents_before = contents().await;
    let q1 = app.metadata(&ann, "reports/2024/q1.csv").await;

    let renamed = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        &format!("/api/v1/files/{}", encode("reports/2024/q1.csv")),
        Some(json!({"file_name": "archive/q1-2024.csv"})),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["file_name"], "archive/q1-2024.csv");
    assert_eq!(renamed["sha256"], q1["sha256"]);
    assert_eq!(renamed["created_at"], q1["created_at"]);
    assert_eq!(
        app.download(&ann, "reports/2024/q1.csv").await.status(),
        StatusCode::NOT_FOUND
    );

    // A taken name, a bad one, a missing file.
    let taken = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        &format!("/api/v1/files/{}", encode("top.txt")),
        Some(json!({"file_name": "reportsX.txt"})),
    )
    .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(taken).await, "file_exists");
    let bad = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        "/api/v1/files/top.txt",
        Some(json!({"file_name": "a//b"})),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        "/api/v1/files/nothing.txt",
        Some(json!({"file_name": "b"})),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // A folder moves with everything in it.
    let moved = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        "/api/v1/folders/reports",
        Some(json!({"path": "old/reports"})),
    )
    .await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(
        moved.json::<Value>().await.unwrap(),
        json!({"path": "old/reports/", "moved": 3})
    );
    let (folders, files, _) = level(&app, &ann, "prefix=old/reports/").await;
    assert_eq!(
        folders.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["old/reports/2023/", "old/reports/2024/"]
    );
    assert_eq!(files, ["old/reports/summary.txt"]);
    let q2 = app.download(&ann, "old/reports/2024/q2.csv").await;
    assert_eq!(q2.bytes().await.unwrap().as_ref(), TREE[1].1);
    assert_eq!(
        app.get(&ann, "/api/v1/folders/reports").await.status(),
        StatusCode::NOT_FOUND
    );
    // No byte was copied: the same contents, the same blobs.
    assert_eq!(contents().await, contents_before);
    if app.blobs_on_disk() {
        assert_eq!(app.blob_files().len(), contents_before.len());
    }

    // Into itself, or onto names that are taken: nothing moves.
    let into_itself = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        "/api/v1/folders/old",
        Some(json!({"path": "old/reports/deeper"})),
    )
    .await;
    assert_eq!(into_itself.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.put_file(&ann, "new/2024/q2.csv", b"in the way".to_vec())
            .await
            .status(),
        StatusCode::CREATED
    );
    let clash = send(
        &app,
        &ann,
        reqwest::Method::PATCH,
        "/api/v1/folders/old/reports",
        Some(json!({"path": "new"})),
    )
    .await;
    assert_eq!(clash.status(), StatusCode::CONFLICT);
    let clash: Value = clash.json().await.unwrap();
    assert!(
        clash["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new/2024/q2.csv"),
        "{clash}"
    );
    assert_eq!(
        app.get_json(&ann, "/api/v1/folders/old/reports").await["files"],
        3
    );

    // Each move is one audit event.
    let admin_events: Vec<Value> = {
        let db = app.db().await;
        sqlx::query_scalar::<_, String>("SELECT action || ' ' || file_name || ' ' || outcome FROM audit_events WHERE action = 'move' ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .into_iter()
            .map(Value::from)
            .collect()
    };
    assert_eq!(
        admin_events,
        [
            json!("move reports/2024/q1.csv 200"),
            json!("move top.txt 409"),
            json!("move top.txt 422"),
            json!("move nothing.txt 404"),
            json!("move reports/ 200"),
            json!("move old/ 400"),
            json!("move old/reports/ 409"),
        ]
    );
}

#[tokio::test]
async fn deleting_a_folder_takes_a_confirmation_and_only_the_callers_files() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    plant(&app, &ann).await;
    plant(&app, &bob).await;

    let unconfirmed = send(
        &app,
        &ann,
        reqwest::Method::DELETE,
        "/api/v1/folders/reports",
        None,
    )
    .await;
    assert_eq!(unconfirmed.status(), StatusCode::CONFLICT);
    let unconfirmed: Value = unconfirmed.json().await.unwrap();
    assert_eq!(unconfirmed["error"]["code"], "folder_not_empty");
    assert!(
        unconfirmed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 files"),
        "{unconfirmed}"
    );
    assert_eq!(app.get_json(&ann, "/api/v1/folders/reports").await["files"], 4);

    let deleted = send(
        &app,
        &ann,
        reqwest::Method::DELETE,
        "/api/v1/folders/reports?recursive=true",
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let all_reports = [
        "reports/2024/q1.csv",
        "reports/2024/q2.csv",
        "reports/2023/q4.csv",
        "reports/summary.txt",
    ];
    assert_eq!(
        deleted.json::<Value>().await.unwrap(),
        json!({"path": "reports/", "deleted": 4, "size": size_of(&all_reports)})
    );
    let (folders, files, _) = level(&app, &ann, "").await;
    assert!(folders.is_empty());
    assert_eq!(files, ["reportsX.txt", "top.txt"]);
    assert_eq!(
        send(
            &app,
            &ann,
            reqwest::Method::DELETE,
            "/api/v1/folders/reports?recursive=true",
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    // Bob's folder of the same name is untouched, and his contents kept.
    assert_eq!(app.get_json(&bob, "/api/v1/folders/reports").await["files"], 4);
    let q1 = app.download(&bob, "reports/2024/q1.csv").await;
    assert_eq!(q1.bytes().await.unwrap().as_ref(), TREE[0].1);
    // Each file deleted is its own audit event.
    let db = app.db().await;
    let deletes: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'delete' AND outcome = 200")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(deletes, 4);
}
