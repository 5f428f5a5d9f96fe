//! Seed 1's processing history: every upload attempt leaves a record, read back
//! newest first by `GET /api/ingestion/history`, paginated and filtered.

use std::io::Write;

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::helpers::{TestApp, error_code, file_part, new_session, sample_bytes};

fn statuses(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_upload_attempt_leaves_a_record_and_failures_leave_nothing_else() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 1000).await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let session = new_session();
    let form = Form::new()
        .text("session_id", session.clone())
        .text("file_name", "sales")
        .part("file", file_part(b"a,b\n1,2\n".to_vec(), "sales.csv"));
    assert_eq!(app.post_form(&ann, form).await.status(), StatusCode::CREATED);
    let refused = [
        app.put_file_in(&ann, &session, "sales", &b"dup"[..]).await,
        app.put_file_in(&ann, &session, "big.bin", vec![0u8; 2000]).await,
        app.put_file_in(&ann, &session, "a..b", &b"x"[..]).await,
    ];
    let codes: Vec<StatusCode> = refused.iter().map(reqwest::Response::status).collect();
    assert_eq!(
        codes,
        [
            StatusCode::CONFLICT,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNPROCESSABLE_ENTITY
        ]
    );

    let page = app.history(&ann, &session, "").await;
    assert_eq!(page["total"], 4);
    assert_eq!(statuses(&page), ["failed", "failed", "failed", "completed"]);
    let records = page["records"].as_array().unwrap();
    let failures: Vec<&str> = records[..3]
        .iter()
        .map(|record| record["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        failures,
        ["invalid_file_name", "payload_too_large", "file_exists"]
    );
    assert!(!records[0]["error_message"].as_str().unwrap().is_empty());
    assert!(records[0]["completed_at"].as_str().unwrap().ends_with('Z'));

    let done = &records[3];
    assert_eq!(done["filename"], "sales.csv");
    assert_eq!(done["file_name"], "sales");
    assert_eq!(done["size"], 8);
    assert_eq!(done["size_human"], "8 B");
    assert_eq!(done["content_type"], "text/csv");
    assert_eq!(done["error_code"], "", "no null where a default exists");
    assert_eq!(done["session_id"], session.as_str());
    assert!(done["started_at"].as_str().unwrap() <= done["completed_at"].as_str().unwrap());
    // The refused uploads stored nothing: one blob (sales), no temp file.
    assert_eq!(app.blob_files().len(), 1);
    assert!(app.eventually(|| app.staged_files().is_empty()).await);
}

#[tokio::test]
async fn a_client_that_disconnects_leaves_a_failed_record() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "PUT /api/v1/files/cut.bin/content HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         X-Session-Id: {session}\r\nContent-Length: 10000000\r\n\r\n",
        ann.token
    )
    .unwrap();
    stream.write_all(&sample_bytes(1024 * 1024)).unwrap();
    stream.flush().unwrap();
    assert!(app.upload_under_way(&ann).await);
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);

    let mut last = Value::Null;
    for _ in 0..50 {
        last = app.history(&ann, &session, "").await;
        if statuses(&last) == ["failed"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(statuses(&last), ["failed"], "{last}");
    assert_eq!(last["records"][0]["error_code"], "upload_interrupted");
    assert_eq!(last["records"][0]["size"], 10_000_000, "the declared size");
    app.assert_nothing_stored(&ann, "cut.bin").await;
}

#[tokio::test]
async fn history_is_the_sessions_own_unless_scope_is_user() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let (first, second) = (new_session(), new_session());
    app.put_file_in(&ann, &first, "one.txt", &b"1"[..]).await;
    app.put_file_in(&ann, &second, "two.txt", &b"2"[..]).await;
    app.put_file_in(&bob, &new_session(), "bobs.txt", &b"3"[..]).await;

    let names = |page: &Value| -> Vec<String> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["file_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&app.history(&ann, &first, "").await), ["one.txt"]);
    assert_eq!(names(&app.history(&ann, &second, "").await), ["two.txt"]);
    let all = app.history(&ann, &first, "scope=user").await;
    assert_eq!(names(&all), ["two.txt", "one.txt"]);
    assert_eq!(all["scope"], "user");
    // The session may also be named in the query, as a form field would.
    let by_query = app
        .get(&ann, &format!("/api/ingestion/history?session_id={second}"))
        .await;
    let by_query: Value = by_query.json().await.unwrap();
    assert_eq!(names(&by_query), ["two.txt"]);
}

#[tokio::test]
async fn history_paginates_and_filters() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    for i in 0..7 {
        let name = if i % 2 == 0 {
            format!("report-{i}.csv")
        } else {
            format!("image-{i}.png")
        };
        app.put_file_in(&ann, &session, &name, format!("{i}\n").into_bytes())
            .await;
    }
    app.put_file_in(&ann, &session, "report-0.csv", &b"dup"[..]).await;

    let first = app.history(&ann, &session, "page=1&page_size=3").await;
    assert_eq!(
        (first["total"].as_i64(), first["total_pages"].as_i64()),
        (Some(8), Some(3))
    );
    assert_eq!(first["records"].as_array().unwrap().len(), 3);
    let last = app.history(&ann, &session, "page=3&page_size=3").await;
    assert_eq!(last["records"].as_array().unwrap().len(), 2);
    assert_eq!(last["records"][1]["file_name"], "report-0.csv", "oldest last");

    let failed = app.history(&ann, &session, "status=failed").await;
    assert_eq!(failed["total"], 1);
    let both = app.history(&ann, &session, "status=failed,completed").await;
    assert_eq!(both["total"], 8);
    let reports = app.history(&ann, &session, "filename=REPORT").await;
    assert_eq!(reports["total"], 5);

    let today = first["records"][0]["started_at"].as_str().unwrap()[..10].to_owned();
    let dated = app
        .history(&ann, &session, &format!("from={today}&to={today}"))
        .await;
    assert_eq!(dated["total"], 8);
    let future = app.history(&ann, &session, "from=2999-01-01").await;
    assert_eq!(future["total"], 0);
    assert_eq!(future["records"], Value::Array(vec![]));
}

#[tokio::test]
async fn bad_history_parameters_return_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    for (query, named) in [
        ("status=done", "status"),
        ("from=yesterday", "from"),
        ("to=2026-13-45", "to"),
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("page=two", "page"),
        ("scope=everyone", "scope"),
        ("colour=red", "colour"),
    ] {
        let response = app
            .get_with(
                &ann,
                &format!("/api/ingestion/history?{query}"),
                &[("x-session-id", &session)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{query}: {message}");
    }
}

#[tokio::test]
async fn a_malformed_record_is_skipped_not_fatal() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    app.put_file_in(&ann, &session, "good.txt", &b"ok"[..]).await;
    let db = app.db().await;
    for (id, status, size) in [("bad-status", "exploded", 1_i64), ("bad-size", "completed", -5)] {
        sqlx::query(
            "INSERT INTO processing_records (id, session_id, user_id, filename, status, size, started_at) \
             VALUES ($1, $2, $3, 'x', $4, $5, $6)",
        )
        .bind(id)
        .bind(&session)
        .bind(ann.id)
        .bind(status)
        .bind(size)
        .bind(4_102_444_800_000_000_i64) // 2100: newest, so first on the page
        .execute(db.pool())
        .await
        .unwrap();
    }
    let page = app.history(&ann, &session, "").await;
    assert_eq!(statuses(&page), ["completed"]);
    assert_eq!(page["records"][0]["file_name"], "good.txt");
}

#[tokio::test]
async fn the_history_of_an_unnamed_session_starts_a_new_one() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = app.get(&ann, "/api/ingestion/history").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], 0);
    assert_eq!(body["page_size"], 50);
    assert!(!body["session_id"].as_str().unwrap().is_empty());
    let unauthenticated = app
        .client
        .get(app.url("/api/ingestion/history"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unauthenticated).await, "unauthorized");
}

/// `total` comes from per-status counts when only `status` filters, and from
/// counting the records otherwise (`from=1970-01-01` matches every record): the two
/// must agree after every kind of attempt.
#[tokio::test]
async fn the_kept_counts_agree_with_the_records() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 100).await;
    let ann = app.user("ann").await;
    let (first, second) = (new_session(), new_session());
    app.put_file_in(&ann, &first, "a.txt", &b"a"[..]).await;
    app.put_file_in(&ann, &first, "a.txt", &b"dup"[..]).await;
    app.put_file_in(&ann, &first, "big.bin", vec![0u8; 200]).await;
    // A session named after the file part moves the attempt there.
    let late = Form::new()
        .part("file", file_part(b"late".to_vec(), "late.txt"))
        .text("file_name", "late.txt")
        .text("session_id", second.clone());
    let response = app
        .client
        .post(app.url("/api/v1/files/"))
        .bearer_auth(&ann.token)
        .header("x-session-id", &first)
        .multipart(late)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-session-id"], second.as_str());

    for session in [&first, &second] {
        for status in ["", "completed", "failed", "pending,processing"] {
            for scope in ["session", "user"] {
                let query = format!("scope={scope}&status={status}");
                let kept = app.history(&ann, session, &query).await["total"].clone();
                let counted = app
                    .history(&ann, session, &format!("{query}&from=1970-01-01"))
                    .await["total"]
                    .clone();
                assert_eq!(kept, counted, "{query} in {session}");
            }
        }
    }
    let in_second = app.history(&ann, &second, "").await;
    assert_eq!(in_second["total"], 1);
    assert_eq!(in_second["records"][0]["file_name"], "late.txt");
    assert_eq!(app.history(&ann, &first, "").await["total"], 3);
    assert_eq!(app.history(&ann, &first, "status=failed").await["total"], 2);
}

#[tokio::test]
async fn concurrent_uploads_in_one_session_are_all_recorded() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    // Twelve at once: eight distinct names, four repeats that must lose with 409.
    let uploads = (0..12).map(|i| {
        let name = format!("f{}.bin", i % 8);
        let (app, ann, session) = (&app, &ann, &session);
        async move {
            app.put_file_in(ann, session, &name, vec![i as u8; 50_000])
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(uploads).await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (8, 4), "{statuses:?}");

    let page = app.history(&ann, &session, "page_size=100").await;
    assert_eq!(page["total"], 12);
    let counted = app.history(&ann, &session, "from=1970-01-01").await;
    assert_eq!(counted["total"], 12);
    assert_eq!(app.history(&ann, &session, "status=completed").await["total"], 8);
    assert_eq!(app.history(&ann, &session, "status=failed").await["total"], 4);
}
