//! Listing files: pagination (cursor and numbered) and filters.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, error_code};

async fn names(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    let response = app.get(user, &format!("/api/v1/files/?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let body: Vec<Value> = response.json().await.unwrap();
    body.iter()
        .map(|file| file["file_name"].as_str().unwrap().to_owned())
        .collect()
}

/// Five files, oldest first: a.csv (1 B) … e.json (5 B).
async fn five_files(app: &TestApp, user: &TestUser) {
    for (i, name) in ["a.csv", "b.csv", "Report-c.csv", "d.txt", "e.json"]
        .iter()
        .enumerate()
    {
        let status = app.put_file(user, name, vec![b'x'; i + 1]).await.status();
        assert_eq!(status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn listing_shows_only_the_callers_files_newest_first() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    five_files(&app, &ann).await;
    assert_eq!(
        names(&app, &ann, "").await,
        ["e.json", "d.txt", "Report-c.csv", "b.csv", "a.csv"]
    );
    assert!(names(&app, &bob, "").await.is_empty());
    let bare = app.get(&ann, "/api/v1/files").await;
    assert_eq!(bare.status(), StatusCode::OK);
}

#[tokio::test]
async fn cursor_pages_follow_the_link_header_to_the_end() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    five_files(&app, &ann).await;
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/files/?limit=2".to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let response = app.get(&ann, &path).await;
        assert_eq!(response.status(), StatusCode::OK);
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with("rel=\"next\""));
            link[1..link.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = response.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(
            page.iter()
                .map(|file| file["file_name"].as_str().unwrap().to_owned()),
        );
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["e.json", "d.txt", "Report-c.csv", "b.csv", "a.csv"]);
}

#[tokio::test]
async fn numbered_pages_report_the_total_count() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    five_files(&app, &ann).await;
    let response = app.get(&ann, "/api/v1/files/?page=2&page_size=2").await;
    assert_eq!(response.headers()["x-total-count"], "5");
    let page: Vec<Value> = response.json().await.unwrap();
    let names: Vec<_> = page.iter().map(|f| f["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Report-c.csv", "b.csv"]);
    assert!(self::names(&app, &ann, "page=4&page_size=2").await.is_empty());
}

#[tokio::test]
async fn filters_narrow_the_listing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    five_files(&app, &ann).await;
    assert_eq!(names(&app, &ann, "name=REPORT").await, ["Report-c.csv"]);
    assert_eq!(
        names(&app, &ann, "content_type=text/csv").await,
        ["Report-c.csv", "b.csv", "a.csv"]
    );
    assert_eq!(
        names(&app, &ann, "min_size=2&max_size=4").await,
        ["d.txt", "Report-c.csv", "b.csv"]
    );
    assert_eq!(
        names(&app, &ann, "name=%25").await,
        Vec::<String>::new(),
        "% is matched literally"
    );
    assert!(
        names(&app, &ann, "created_after=2999-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(
        names(
            &app,
            &ann,
            "created_before=2999-01-01T00:00:00Z&content_type=application/json"
        )
        .await,
        ["e.json"]
    );
    assert!(
        names(&app, &ann, "created_before=2000-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(
        names(&app, &ann, "content_type=text/*").await,
        ["d.txt", "Report-c.csv", "b.csv", "a.csv"],
        "a type ending in /* matches its top-level type"
    );
    assert!(names(&app, &ann, "content_type=image/*").await.is_empty());
}

#[tokio::test]
async fn numbered_pages_sort_by_name_size_or_age() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    five_files(&app, &ann).await;
    let oldest_first = ["a.csv", "b.csv", "Report-c.csv", "d.txt", "e.json"];
    assert_eq!(names(&app, &ann, "sort=created_at").await, oldest_first);
    assert_eq!(names(&app, &ann, "sort=size").await, oldest_first);
    assert_eq!(
        names(&app, &ann, "sort=-size&page=2&page_size=2").await,
        ["Report-c.csv", "b.csv"]
    );
    assert_eq!(
        names(&app, &ann, "sort=name").await,
        ["a.csv", "b.csv", "d.txt", "e.json", "Report-c.csv"],
        "names sort without regard to case"
    );
    assert_eq!(
        names(&app, &ann, "sort=-name&name=csv").await,
        ["Report-c.csv", "b.csv", "a.csv"]
    );
    assert_eq!(
        names(&app, &ann, "sort=-created_at").await,
        ["e.json", "d.txt", "Report-c.csv", "b.csv", "a.csv"]
    );
}

#[tokio::test]
async fn malformed_listing_parameters_return_400() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    for query in [
        "limit=0",
        "limit=100000",
        "cursor=abc",
        "page=0",
        "page=1&limit=5",
        "sort=newest",
        "sort=name&limit=5",
        "created_after=yesterday",
        "min_size=big",
        "colour=blue",
    ] {
        let response = app.get(&ann, &format!("/api/v1/files/?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(response).await, "bad_request", "{query}");
    }
}
