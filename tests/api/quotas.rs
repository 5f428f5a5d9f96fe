//! Storage quotas: every upload path refused before the excess is kept,
//! uploads on two nodes at once never passing the quota, room held by
//! resumable uploads, and an admin's per-user override.

use bytes::Bytes;
use futures_util::stream;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, encode, error_code, file_part, sample_bytes};
use crate::resumable::{Tus, location};

const QUOTA: u64 = 100_000;

async fn with_quota(bytes: u64, files: u64) -> TestApp {
    TestApp::spawn_with(|config| {
        config.quota_bytes = bytes;
        config.quota_files = files;
    })
    .await
}

async fn usage(app: &TestApp, user: &TestUser) -> Value {
    app.get_json(user, "/api/v1/usage").await
}

/// A raw `PUT` whose body comes in pieces, with no length told.
async fn put_streamed(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> Response {
    let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(16 * 1024)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    app.client
        .put(app.url(&format!("/api/v1/files/{}/content", encode(name))))
        .bearer_auth(&user.token)
        .body(reqwest::Body::wrap_stream(stream::iter(pieces)))
        .send()
        .await
        .unwrap()
}

/// A tus upload of `length` bytes named `name`, created as `user`.
async fn tus_create(app: &TestApp, user: &TestUser, name: &str, length: u64) -> Response {
    Tus::new(app, user).create(length, &[("filename", name)]).await
}

/// Asserts a refusal for the quota, whose message names the quota and the usage.
async fn assert_quota_exceeded(response: Response, quota: &str, used: &str) {
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(quota), "the quota is named: {message}");
    assert!(message.contains(used), "the usage is named: {message}");
}

#[tokio::test]
async fn every_upload_path_is_refused_before_the_excess_is_kept() {
    let app = with_quota(QUOTA, 0).await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let stored = app.put_file(&ann, "first.bin", sample_bytes(60_000)).await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    let blobs = app.blob_files().len();

    // A raw PUT that says its length: refused before a byte is read.
    let put = app.put_file(&ann, "put.bin", sample_bytes(50_000)).await;
    assert_quota_exceeded(put, "quota of 97.7 KiB", "58.6 KiB in 1 files are stored").await;
    // A multipart form.
    let form = reqwest::multipart::Form::new()
        .text("file_name", "form.bin")
        .part("file", file_part(sample_bytes(50_000), "form.bin"));
    assert_quota_exceeded(app.post_form(&ann, form).await, "97.7 KiB", "58.6 KiB").await;
    // Bytes that arrive without a length: refused once they pass the room left.
    let streamed = put_streamed(&app, &ann, "streamed.bin", sample_bytes(50_000)).await;
    assert_quota_exceeded(streamed, "97.7 KiB", "58.6 KiB").await;
    // A resumable upload whose Upload-Length does not fit: refused at creation.
    let tus = tus_create(&app, &ann, "tus.bin", 50_000).await;
    assert_quota_exceeded(tus, "97.7 KiB", "58.6 KiB").await;

    for name in ["put.bin", "form.bin", "streamed.bin", "tus.bin"] {
        let meta = app.get(&ann, &format!("/api/v1/files/{name}")).await;
        assert_eq!(meta.status(), StatusCode::NOT_FOUND, "{name} was kept");
    }
    assert_eq!(app.blob_files().len(), blobs, "no blob was kept");
    assert!(
        app.eventually(|| app.staged_files().is_empty()).await,
        "a temp file was left"
    );
    assert!(
        app.staged_uploads().is_empty(),
        "a resumable upload's bytes were left"
    );

    // Each refusal failed its processing record with the reason.
    let history = app
        .get_json(&ann, "/api/ingestion/history?scope=user&status=failed")
        .await;
    let reasons: Vec<&str> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["error_code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(reasons, ["quota_exceeded"; 4], "{history}");
    // And each is in the audit trail with its reason (ann, the first account, is an admin).
    let audited = app.get_json(&ann, "/api/v1/admin/audit?outcome=413").await;
    let audited: Vec<(&str, &str)> = audited["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["action"].as_str().unwrap(),
                event["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        audited,
        [
            ("upload", "quota_exceeded"),
            ("upload", "quota_exceeded"),
            ("upload", "quota_exceeded"),
            ("upload_start", "quota_exceeded")
        ]
    );

    let shown = usage(&app, &ann).await;
    assert_eq!(shown["quota"], json!({ "bytes": QUOTA, "files": 0 }));
    assert_eq!(shown["logical_bytes"], 60_000);
    assert_eq!(shown["reserved_bytes"], 0, "refused uploads hold no room");

    // What fits still goes in, up to the last byte.
    let fits = put_streamed(&app, &ann, "fits.bin", sample_bytes(40_000)).await;
    assert_eq!(fits.status(), StatusCode::CREATED);
    assert_eq!(usage(&app, &ann).await["logical_bytes"], QUOTA);
    // Deleting a file makes room again.
    assert_eq!(app.delete_file(&ann, "first.bin").await.status(), StatusCode::OK);
    let again = app.put_file(&ann, "put.bin", sample_bytes(50_000)).await;
    assert_eq!(again.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_quota_of_files_counts_files_and_each_user_has_their_own() {
    let app = with_quota(0, 2).await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    for name in ["a.txt", "b.txt"] {
        assert_eq!(
            app.put_file(&ann, name, "same").await.status(),
            StatusCode::CREATED
        );
    }
    // Deduplicated content counts per file.
    let third = app.put_file(&ann, "c.txt", "same").await;
    assert_quota_exceeded(third, "quota of 2 files", "in 2 files are stored").await;
    assert_eq!(
        app.put_file(&bob, "a.txt", "same").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_resumable_upload_holds_its_room_until_it_ends() {
    let app = with_quota(QUOTA, 0).await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let created = tus_create(&app, &ann, "big.bin", 60_000).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let upload = location(&created);
    assert_eq!(usage(&app, &ann).await["reserved_bytes"], 60_000);

    // The room it holds is not there for another upload.
    let put = app.put_file(&ann, "other.bin", sample_bytes(50_000)).await;
    assert_quota_exceeded(put, "97.7 KiB", "58.6 KiB held by 1 uploads under way").await;

    // Terminated, it gives the room up.
    assert_eq!(tus.delete(&upload).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(usage(&app, &ann).await["reserved_bytes"], 0);
    let put = app.put_file(&ann, "other.bin", sample_bytes(50_000)).await;
    assert_eq!(put.status(), StatusCode::CREATED);

    // Completed, its room becomes its file's.
    let created = tus_create(&app, &ann, "rest.bin", 50_000).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let patched = tus.patch(&location(&created), 0, sample_bytes(50_000)).await;
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    let shown = usage(&app, &ann).await;
    assert_eq!(shown["logical_bytes"], QUOTA);
    assert_eq!(shown["reserved_bytes"], 0);
}

#[tokio::test]
async fn concurrent_uploads_on_two_nodes_never_pass_the_quota() {
    const SIZE: usize = 100_000;
    const QUOTA_BYTES: u64 = 1_000_000;
    let first = with_quota(QUOTA_BYTES, 0).await;
    let second = first.second_node().await;
    let ann = first.user("ann").await;

    // Twenty at once, alternating nodes; half say their length (checked
    // when stored), half do not (holding room as their bytes arrive).
    let uploads = (0..20).map(|i| {
        let (app, ann) = (if i % 2 == 0 { &first } else { &second }, &ann);
        let bytes = sample_bytes(SIZE + i);
        async move {
            let name = format!("part-{i}.bin");
            let response = if i % 4 < 2 {
                app.put_file(ann, &name, bytes).await
            } else {
                put_streamed(app, ann, &name, bytes).await
            };
            let status = response.status();
            let code = if status == StatusCode::CREATED {
                String::new()
            } else {
                error_code(response).await
            };
            (status, code, SIZE + i)
        }
    });
    let outcomes = futures_util::future::join_all(uploads).await;
    let mut stored = 0;
    for (status, code, size) in &outcomes {
        match *status {
            StatusCode::CREATED => stored += size,
            StatusCode::PAYLOAD_TOO_LARGE => assert_eq!(code, "quota_exceeded"),
            other => panic!("an upload got {other} {code}"),
        }
    }
    assert!(stored > 0, "{outcomes:?}");
    assert!(
        stored as u64 <= QUOTA_BYTES,
        "{stored} bytes stored: {outcomes:?}"
    );
    let shown = usage(&first, &ann).await;
    assert_eq!(
        shown["logical_bytes"], stored as u64,
        "usage counts what was stored"
    );
    assert_eq!(shown["reserved_bytes"], 0, "no room stays held");

    // The room left is all there: exactly it fits, on either node.
    let left = usize::try_from(QUOTA_BYTES).unwrap() - stored;
    let one_more = second
        .put_file(&ann, "one-byte-over.bin", sample_bytes(left + 1))
        .await;
    assert_eq!(error_code(one_more).await, "quota_exceeded");
    if left > 0 {
        let rest = second.put_file(&ann, "rest.bin", sample_bytes(left)).await;
        assert_eq!(rest.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn an_admin_gives_a_user_a_quota_of_their_own() {
    let app = with_quota(QUOTA, 0).await;
    let admin = app.user("root").await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "a.bin", sample_bytes(80_000)).await.status(),
        StatusCode::CREATED
    );

    // A user cannot raise their own: the route is not there for them.
    let own = app.admin_change(&ann, ann.id, json!({ "quota_bytes": 0 })).await;
    assert_eq!(own.status(), StatusCode::NOT_FOUND);

    let raised = app
        .admin_change(&admin, ann.id, json!({ "quota_bytes": 200_000 }))
        .await;
    assert_eq!(raised.status(), StatusCode::OK);
    let view: Value = raised.json().await.unwrap();
    assert_eq!(view["quota_bytes"], 200_000);
    assert_eq!(view["quota"], json!({ "bytes": 200_000, "files": 0 }));
    assert_eq!(view["bytes_used"], 80_000);
    // It takes hold at once on this node, and the user's tokens still work.
    assert_eq!(usage(&app, &ann).await["quota"]["bytes"], 200_000);
    assert_eq!(
        app.put_file(&ann, "b.bin", sample_bytes(80_000)).await.status(),
        StatusCode::CREATED
    );

    // Below what is used: nothing is removed, but nothing more goes in.
    let lowered = app
        .admin_change(&admin, ann.id, json!({ "quota_bytes": 100_000 }))
        .await;
    assert_eq!(lowered.status(), StatusCode::OK);
    let refused = app.put_file(&ann, "c.bin", "x").await;
    assert_quota_exceeded(refused, "97.7 KiB", "156.2 KiB in 2 files are stored").await;
    assert_eq!(app.download(&ann, "b.bin").await.status(), StatusCode::OK);

    // `null` gives the deployment's back; 0 takes the limit off.
    let none = app
        .admin_change(&admin, ann.id, json!({ "quota_bytes": 0 }))
        .await;
    assert_eq!(none.json::<Value>().await.unwrap()["quota"]["bytes"], 0);
    assert_eq!(
        app.put_file(&ann, "c.bin", "x").await.status(),
        StatusCode::CREATED
    );
    let reset = app
        .admin_change(&admin, ann.id, json!({ "quota_bytes": null }))
        .await;
    let view: Value = reset.json().await.unwrap();
    assert_eq!(view["quota_bytes"], Value::Null);
    assert_eq!(view["quota"]["bytes"], QUOTA);

    let listed = app.get_json(&admin, "/api/v1/admin/users").await;
    let ann_listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["username"] == "ann")
        .unwrap();
    assert_eq!(ann_listed["bytes_used"], 160_001);
    assert_eq!(ann_listed["files"], 3);
}

#[tokio::test]
async fn the_cleanup_removes_reservations_of_uploads_a_crash_cut_off() {
    let app = with_quota(QUOTA, 0).await;
    let ann = app.user("ann").await;
    let held = tus_create(&app, &ann, "held.bin", 10_000).await;
    assert_eq!(held.status(), StatusCode::CREATED);
    // What a request cut off by a crash leaves: a reservation past its expiry
    // (ann's next reservation would drop it; the cleanup drops everyone's).
    let db = app.db().await;
    sqlx::query("INSERT INTO quota_reservations (id, user_id, bytes, expires_at) VALUES ($1, $2, $3, $4)")
        .bind("cut-off")
        .bind(ann.id)
        .bind(50_000_i64)
        .bind(1_i64)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(
        usage(&app, &ann).await["reserved_bytes"],
        10_000,
        "an expired one holds nothing"
    );

    let run = crate::jobs::run_job(&app, &ann, "cleanup").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["report"]["reservations_expired"], 1, "{run}");
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM quota_reservations ORDER BY id")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0], "cut-off");
}
