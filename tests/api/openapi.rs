//! The OpenAPI description at `/openapi.json` and Swagger UI at `/docs`.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Every (method, path) the public router registers, read from its source:
/// each `.route("path", get(…).post(…))` call in `src/http/mod.rs`.
fn routes_in_the_router() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/http/mod.rs");
    let mut routes = BTreeSet::new();
    for (start, _) in source.match_indices(".route(") {
        let call = &source[start + ".route(".len()..];
        let mut depth = 1;
        let end = call
            .char_indices()
            .find_map(|(at, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                (depth == 0).then_some(at)
            })
            .unwrap();
        let call = &call[..end];
        let path = call.split('"').nth(1).unwrap().to_owned();
        for method in METHODS {
            let opened = format!("{method}(");
            let called = call.match_indices(&opened).any(|(at, _)| {
                at == 0 || !call[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                // OpenAPI has no catch-all: `{*path}` is described as `{path}`.
                routes.insert((method.to_owned(), path.replace("{*", "{")));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_route_in_the_router_is_in_the_spec() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));

    let routes = routes_in_the_router();
    assert!(routes.len() > 30, "the router's routes were read: {routes:?}");
    let mut missing = Vec::new();
    for (method, path) in &routes {
        // `/api/v1/files` and `/api/v1/files/` are one route, described once.
        let described = [
            path.clone(),
            format!("{path}/"),
            path.trim_end_matches('/').to_owned(),
        ]
        .iter()
        .any(|path| spec["paths"][path][method].is_object());
        if !described {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from /openapi.json: {missing:?}"
    );
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let routed = routes
                .iter()
                .any(|(m, p)| m == method && p.trim_end_matches('/') == path.trim_end_matches('/'));
            assert!(routed, "{method} {path} is described but not routed");
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("/openapi.json"),
        "the UI loads depot's spec: {initializer}"
    );
}
