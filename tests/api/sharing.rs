//! Sharing: files shared with other users (read only, revocable), download
//! links (expiry, password, download limits exact across nodes) and upload
//! links, all through the API as their users would meet them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code, file_part, hex_sha256};

const CSV: &str = "city,population\nOslo,709000\nBergen,291000\n";

/// `method path` as `user`, with a JSON body if there is one.
async fn send(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(&user.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// `user` shares their `file` with `username`.
async fn share(app: &TestApp, user: &TestUser, file: &str, username: &str) -> reqwest::Response {
    let path = format!("/api/v1/files/{file}/shared-with/{username}");
    send(app, user, Method::PUT, &path, None).await
}

/// `user` stops sharing their `file` with `username`.
async fn unshare(app: &TestApp, user: &TestUser, file: &str, username: &str) -> reqwest::Response {
    let path = format!("/api/v1/files/{file}/shared-with/{username}");
    send(app, user, Method::DELETE, &path, None).await
}

/// Makes `user` an upload link with `body`; its JSON.
async fn upload_link(app: &TestApp, user: &TestUser, body: Value) -> Value {
    let made = send(app, user, Method::POST, "/api/v1/upload-links", Some(body)).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    made.json().await.unwrap()
}

/// Sends `bytes` as the file `name` through the upload link at `url`.
async fn send_through(
    app: &TestApp,
    url: &str,
    password: Option<&str>,
    bytes: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(url)
        .multipart(reqwest::multipart::Form::new().part("file", file_part(bytes, name)));
    if let Some(password) = password {
        request = request.header("X-Link-Password", password);
    }
    request.send().await.unwrap()
}

/// `GET url` as someone without an account who gives `password`.
async fn get_with_password(app: &TestApp, url: &str, password: &str) -> reqwest::Response {
    app.client
        .get(url)
        .header("X-Link-Password", password)
        .send()
        .await
        .unwrap()
}

/// Makes a download link to `user`'s `file` with `body`; its JSON.
async fn link(app: &TestApp, user: &TestUser, file: &str, body: Value) -> Value {
    let made = send(
        app,
        user,
        Method::POST,
        &format!("/api/v1/files/{file}/links"),
        Some(body),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    made.json().await.unwrap()
}

#[tokio::test]
async fn a_shared_file_is_read_by_its_recipient_and_stays_invisible_to_others() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    app.put_file(&ann, "cities.csv", CSV).await;
    let cid = app.metadata(&ann, "cities.csv").await["cid"]
        .as_str()
        .unwrap()
        .to_owned();

    let shared = share(&app, &ann, "cities.csv", "bob").await;
    assert_eq!(shared.status(), StatusCode::CREATED);
    let first: Value = shared.json().await.unwrap();
    let again = share(&app, &ann, "cities.csv", "bob").await;
    assert_eq!(again.status(), StatusCode::OK, "sharing twice changes nothing");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["shared_at"], first["shared_at"], "still shared since then");
    let recipients = app.get_json(&ann, "/api/v1/files/cities.csv/shared-with").await;
    assert_eq!(recipients[0]["username"], "bob", "{recipients}");

    // bob sees it under "shared with me", reads it whole, in ranges, and its preview.
    let list = app.get_json(&bob, "/api/v1/shared").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["owner"], "ann");
    assert_eq!(list[0]["file_name"], "cities.csv");
    let metadata = app.get_json(&bob, "/api/v1/shared/ann/cities.csv").await;
    assert!(
        metadata["summary"].as_str().unwrap().contains("population"),
        "{metadata}"
    );
    let content = app.get(&bob, "/api/v1/shared/ann/cities.csv/content").await;
    assert_eq!(content.status(), StatusCode::OK);
    assert_eq!(
        content.headers()["etag"],
        format!("\"{}\"", hex_sha256(CSV.as_bytes())).as_str()
    );
    assert_eq!(content.text().await.unwrap(), CSV);
    let range = app
        .get_with(
            &bob,
            "/api/v1/shared/ann/cities.csv/content",
            &[("Range", "bytes=0-3")],
        )
        .await;
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.text().await.unwrap(), "city");
    let preview = app.get_json(&bob, "/api/v1/shared/ann/cities.csv/preview").await;
    assert_eq!(preview["kind"], "table", "{preview}");
    assert_eq!(
        app.get(&bob, &format!("/ipfs/{cid}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_json(&bob, "/api/v1/usage").await["files"],
        0,
        "not on bob's quota"
    );

    // bob may not rename, delete or share it on: to him it is not his.
    assert_eq!(
        app.delete_file(&bob, "cities.csv").await.status(),
        StatusCode::NOT_FOUND
    );
    let reshare = share(&app, &bob, "cities.csv", "carol").await;
    assert_eq!(reshare.status(), StatusCode::NOT_FOUND);
    let by_path = send(&app, &bob, Method::DELETE, "/api/v1/shared/ann/cities.csv", None).await;
    assert_eq!(by_path.status(), StatusCode::METHOD_NOT_ALLOWED);

    // carol: the same bytes as for a file that does not exist, by name and by CID.
    let hidden = app.get(&carol, "/api/v1/shared/ann/cities.csv").await;
    let missing = app.get(&carol, "/api/v1/shared/ann/nothing.csv").await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(hidden.bytes().await.unwrap(), missing.bytes().await.unwrap());
    let hidden = app.get(&carol, "/api/v1/shared/ann/cities.csv/content").await;
    let missing = app.get(&carol, "/api/v1/shared/ann/nothing.csv/content").await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(hidden.bytes().await.unwrap(), missing.bytes().await.unwrap());
    let other_cid = app.metadata(&ann, "cities.csv").await; // ann's own read, for contrast below
    assert_eq!(other_cid["cid"], cid.as_str());
    let hidden = app.get(&carol, &format!("/ipfs/{cid}")).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_json(&carol, "/api/v1/shared").await, json!([]));

    // The trail names the share and the reads through it.
    let trail = app.get_json(&ann, "/api/v1/admin/audit?action=share").await;
    assert_eq!(trail["events"][0]["detail"], "with bob", "{trail}");
    let reads = app.get_json(&ann, "/api/v1/admin/audit?action=download").await;
    let by_bob = reads["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["actor"] == bob.id)
        .unwrap_or_else(|| panic!("bob's download is on the trail: {reads}"));
    assert_eq!(by_bob["detail"], "shared by ann");
}

#[tokio::test]
async fn a_revoked_share_stops_at_once_and_shares_go_with_their_file() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    app.put_file(&ann, "notes.txt", "private").await;

    let nobody = share(&app, &ann, "notes.txt", "nobody").await;
    assert_eq!(nobody.status(), StatusCode::NOT_FOUND);
    let herself = share(&app, &ann, "notes.txt", "ann").await;
    assert_eq!(herself.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let not_hers = share(&app, &bob, "notes.txt", "ann").await;
    assert_eq!(not_hers.status(), StatusCode::NOT_FOUND);

    share(&app, &ann, "notes.txt", "bob").await;
    assert_eq!(
        app.get(&bob, "/api/v1/shared/ann/notes.txt/content")
            .await
            .status(),
        StatusCode::OK
    );
    let revoked = unshare(&app, &ann, "notes.txt", "bob").await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&bob, "/api/v1/shared/ann/notes.txt/content")
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "revoked at once"
    );
    let twice = unshare(&app, &ann, "notes.txt", "bob").await;
    assert_eq!(twice.status(), StatusCode::NOT_FOUND);

    share(&app, &ann, "notes.txt", "bob").await;
    assert_eq!(app.delete_file(&ann, "notes.txt").await.status(), StatusCode::OK);
    app.put_file(&ann, "notes.txt", "a new file of the same name")
        .await;
    assert_eq!(
        app.get_json(&bob, "/api/v1/shared").await,
        json!([]),
        "a share goes with its file, not its name"
    );
}

#[tokio::test]
async fn a_download_link_serves_anyone_until_its_downloads_are_used_up() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bytes = crate::helpers::sample_bytes(100_000);
    app.put_file(&ann, "data.bin", bytes.clone()).await;

    let made = link(&app, &ann, "data.bin", json!({ "max_downloads": 2 })).await;
    assert_eq!(made["max_downloads"], 2, "{made}");
    assert_eq!(made["downloads"], 0);
    assert_eq!(made["expires_at"], Value::Null);
    let url = made["url"].as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 32, "at least 128 bits: {token}");

    let whole = app.client.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["x-content-type-options"], "nosniff");
    assert!(whole.bytes().await.unwrap() == bytes);
    // A later range (a resumed download), a HEAD and a 304 are not downloads.
    let resumed = app
        .client
        .get(&url)
        .header("Range", "bytes=50000-")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
    assert!(resumed.bytes().await.unwrap() == bytes[50_000..]);
    assert_eq!(
        app.client.head(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let etag = format!("\"{}\"", hex_sha256(&bytes));
    let cached = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let listed = app.get_json(&ann, "/api/v1/links").await;
    assert_eq!(listed[0]["downloads"], 1, "{listed}");

    let page = app
        .client
        .get(&url)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let second = app
        .client
        .get(format!("{url}?download"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert!(second.bytes().await.unwrap() == bytes);
    let third = app.client.get(&url).send().await.unwrap();
    assert_eq!(third.status(), StatusCode::GONE);
    assert_eq!(error_code(third).await, "link_expired");
    let listed = app.get_json(&ann, "/api/v1/links").await;
    assert_eq!(listed[0]["state"], "ended", "{listed}");

    // The owner lifts the limit, then revokes the link.
    let id = made["id"].as_str().unwrap();
    let lifted = send(
        &app,
        &ann,
        Method::PATCH,
        &format!("/api/v1/links/{id}"),
        Some(json!({ "max_downloads": null })),
    )
    .await;
    assert_eq!(lifted.status(), StatusCode::OK);
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let revoked = send(&app, &ann, Method::DELETE, &format!("/api/v1/links/{id}"), None).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::GONE
    );
    assert_eq!(app.get_json(&ann, "/api/v1/links").await, json!([]));

    // A token that was never made is no link at all.
    let mut forged = token.clone().into_bytes();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let forged = app.url(&format!("/s/{}", String::from_utf8(forged).unwrap()));
    assert_eq!(
        app.client.get(&forged).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // A link goes with its file.
    let other = link(&app, &ann, "data.bin", json!({})).await;
    app.delete_file(&ann, "data.bin").await;
    let gone = app
        .client
        .get(other["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
}

#[tokio::test]
async fn an_expired_link_and_a_wrong_password_are_refused() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "secret.csv", CSV).await;
    let made = link(
        &app,
        &ann,
        "secret.csv",
        json!({ "password": "open sesame", "expires_in": "1h" }),
    )
    .await;
    assert!(made["expires_at"].is_string(), "{made}");
    assert_eq!(made["password"], true);
    let url = made["url"].as_str().unwrap().to_owned();

    let without = app.client.get(&url).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(without).await, "link_password_required");
    let wrong = get_with_password(&app, &url, "guess").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body = wrong.text().await.unwrap();
    assert!(body.contains("link_password_wrong"), "{body}");
    assert!(!body.contains("secret"), "nothing of the file: {body}");
    let info = app.client.get(format!("{url}/info")).send().await.unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED, "not even its name");

    let by_header = get_with_password(&app, &url, "open sesame").await;
    assert_eq!(by_header.status(), StatusCode::OK);
    assert_eq!(by_header.text().await.unwrap(), CSV);
    let by_query = app
        .client
        .get(format!("{url}?password=open%20sesame"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::OK);
    let by_form = app
        .client
        .post(&url)
        .form(&[("password", "open sesame")])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), StatusCode::OK);
    assert!(
        by_form.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
        "a browser saves it"
    );
    let info: Value = get_with_password(&app, &format!("{url}/info"), "open sesame")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["file_name"], "secret.csv");
    assert!(info["summary"].as_str().unwrap().contains("population"), "{info}");

    // The owner shortens it to a second; past that it is refused.
    let id = made["id"].as_str().unwrap();
    let shortened = send(
        &app,
        &ann,
        Method::PATCH,
        &format!("/api/v1/links/{id}"),
        Some(json!({ "expires_in": "1s" })),
    )
    .await;
    assert_eq!(shortened.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let expired = get_with_password(&app, &url, "open sesame").await;
    assert_eq!(expired.status(), StatusCode::GONE);
    assert_eq!(error_code(expired).await, "link_expired");

    let renewed = send(
        &app,
        &ann,
        Method::PATCH,
        &format!("/api/v1/links/{id}"),
        Some(json!({ "expires_in": "1h" })),
    )
    .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let again = get_with_password(&app, &url, "open sesame").await;
    assert_eq!(again.status(), StatusCode::OK, "a new expiry opens it again");

    // Failed passwords are on the trail, as refusals of the owner's link.
    let trail = app.get_json(&ann, "/api/v1/admin/audit?outcome=401").await;
    let refusal = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["reason"] == "link_password_wrong")
        .unwrap_or_else(|| panic!("the wrong password is on the trail: {trail}"));
    assert_eq!(refusal["actor"], ann.id);
    assert!(refusal["detail"].as_str().unwrap().starts_with("via link "));
}

#[tokio::test]
async fn guessing_a_links_password_is_held_up_like_a_sign_in() {
    let app = TestApp::spawn_with(|config| {
        config.rate_login_failures = depot::domain::rate::Rate::parse("3/15min").unwrap();
    })
    .await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "secret.csv", CSV).await;
    let made = link(&app, &ann, "secret.csv", json!({ "password": "open sesame" })).await;
    let url = made["url"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let wrong = get_with_password(&app, &url, "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let held = get_with_password(&app, &url, "open sesame").await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS, "not even checked");
    assert!(held.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_links_download_limit_holds_under_concurrent_downloads_on_two_nodes() {
    let app = TestApp::spawn().await;
    let other = app.second_node().await;
    let ann = app.user("ann").await;
    let bytes = crate::helpers::sample_bytes(200_000);
    app.put_file(&ann, "popular.bin", bytes.clone()).await;
    let made = link(&app, &ann, "popular.bin", json!({ "max_downloads": 3 })).await;
    let path = made["url"]
        .as_str()
        .unwrap()
        .rsplit_once("/s/")
        .unwrap()
        .1
        .to_owned();

    let downloads = (0..20).map(|i| {
        let node = if i % 2 == 0 { &app } else { &other };
        let url = node.url(&format!("/s/{path}"));
        let client = node.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status();
            let body = response.bytes().await.unwrap();
            (status, body)
        }
    });
    let answers = futures_util::future::join_all(downloads).await;
    let served: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .collect();
    assert_eq!(
        served.len(),
        3,
        "exactly three: {:?}",
        answers.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    assert!(served.iter().all(|(_, body)| *body == bytes), "each whole");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::OK || *status == StatusCode::GONE),
        "the rest are told it is used up"
    );
    assert_eq!(app.get_json(&ann, "/api/v1/links").await[0]["downloads"], 3);
}

#[tokio::test]
async fn an_upload_link_takes_files_into_its_owners_space_until_its_limit() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "cities.csv", "a name the link must not take\n")
        .await;
    let made = upload_link(
        &app,
        &ann,
        json!({ "max_files": 2, "max_bytes": 1000, "password": "drop box" }),
    )
    .await;
    assert_eq!(made["kind"], "upload", "{made}");
    let url = made["url"].as_str().unwrap().to_owned();
    assert!(url.contains("/u/"), "{url}");
    let upload = |bytes: Vec<u8>, name: &'static str, password: Option<&'static str>| {
        send_through(&app, &url, password, bytes, name)
    };

    let refused = upload(CSV.into(), "cities.csv", None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let too_big = upload(vec![b'x'; 2000], "big.txt", Some("drop box")).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let stored = upload(CSV.into(), "cities.csv", Some("drop box")).await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    let stored: Value = stored.json().await.unwrap();
    let name = stored["file_name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("cities [") && name.ends_with("].csv"), "{name}");
    assert!(
        stored["summary"].as_str().unwrap().contains("population"),
        "profiled: {stored}"
    );
    let owned = app.metadata(&ann, &name).await;
    assert_eq!(owned["sha256"], hex_sha256(CSV.as_bytes()));
    assert_eq!(
        app.download(&ann, "cities.csv").await.text().await.unwrap(),
        "a name the link must not take\n"
    );

    let second = upload(b"hello".to_vec(), "hello.txt", Some("drop box")).await;
    assert_eq!(
        second.status(),
        StatusCode::CREATED,
        "the refused ones did not count"
    );
    let third = upload(b"again".to_vec(), "again.txt", Some("drop box")).await;
    assert_eq!(third.status(), StatusCode::GONE);
    assert_eq!(error_code(third).await, "link_expired");
    assert_eq!(app.get_json(&ann, "/api/v1/links").await[0]["files"], 2);
    assert_eq!(
        app.get_json(&ann, "/api/v1/usage").await["files"],
        3,
        "on ann's quota"
    );

    let trail = app
        .get_json(&ann, "/api/v1/admin/audit?action=upload&outcome=201")
        .await;
    let via_link = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| {
            event["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("via link ")
        })
        .count();
    assert_eq!(via_link, 2, "{trail}");
}

/// A tus request through an upload link: its password, no bearer token.
fn tus(app: &TestApp, method: Method, url: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, url)
        .header("tus-resumable", "1.0.0")
        .header("x-link-password", "drop box")
}

#[tokio::test]
async fn an_upload_link_takes_a_large_file_resumably_with_the_link_as_its_credential() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let made = upload_link(
        &app,
        &ann,
        json!({ "max_files": 1, "max_bytes": 2_000_000, "password": "drop box" }),
    )
    .await;
    let url = made["url"].as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let name = base64::engine::general_purpose::STANDARD.encode("survey.bin");
    let create = |length: u64| {
        tus(&app, Method::POST, &format!("{url}/uploads/"))
            .header("upload-length", length.to_string())
            .header("upload-metadata", format!("filename {name}"))
            .send()
    };

    let too_big = create(3_000_000).await.unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let no_password = app
        .client
        .post(format!("{url}/uploads/"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(no_password.status(), StatusCode::UNAUTHORIZED);

    let bytes = crate::helpers::sample_bytes(1_500_000);
    let created = create(bytes.len() as u64).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/u/{token}/uploads/")),
        "{location}"
    );
    let upload = app.url(&location);
    // The upload holds the link's one file: nothing else comes through it meanwhile.
    let meanwhile = send_through(&app, &url, Some("drop box"), b"x".to_vec(), "x.txt").await;
    assert_eq!(meanwhile.status(), StatusCode::GONE);

    let patch = |offset: usize, end: usize| {
        tus(&app, Method::PATCH, &upload)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes[offset..end].to_vec())
            .send()
    };
    assert_eq!(patch(0, 700_000).await.unwrap().status(), StatusCode::NO_CONTENT);
    let head = tus(&app, Method::HEAD, &upload).send().await.unwrap();
    assert_eq!(
        head.headers()["upload-offset"],
        "700000",
        "resumed where it stands"
    );
    assert_eq!(
        patch(700_000, bytes.len()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    let files = app.get_json(&ann, "/api/v1/files/").await;
    let stored = files
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["file_name"].as_str().unwrap().starts_with("survey ["))
        .unwrap_or_else(|| panic!("stored in ann's space: {files}"));
    assert_eq!(stored["sha256"], hex_sha256(&bytes));
    assert_eq!(app.get_json(&ann, "/api/v1/links").await[0]["files"], 1);

    // Another link: a terminated upload gives its file back; an upload made
    // some other way is not the link's to reach.
    let other = upload_link(&app, &ann, json!({ "max_files": 1, "password": "drop box" })).await;
    let other_url = other["url"].as_str().unwrap().to_owned();
    let made = tus(&app, Method::POST, &format!("{other_url}/uploads/"))
        .header("upload-length", "100")
        .send()
        .await
        .unwrap();
    let upload = app.url(made.headers()["location"].to_str().unwrap());
    assert_eq!(
        tus(&app, Method::DELETE, &upload).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let again = send_through(&app, &other_url, Some("drop box"), b"x".to_vec(), "x.txt").await;
    assert_eq!(
        again.status(),
        StatusCode::CREATED,
        "the file came back to the link"
    );

    let own = crate::resumable::Tus::new(&app, &ann)
        .create(10, &[("filename", "own.bin")])
        .await;
    let own_id = own.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let reached = tus(&app, Method::HEAD, &format!("{other_url}/uploads/{own_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reached.status(),
        StatusCode::NOT_FOUND,
        "ann's own upload is not the link's"
    );
}

#[tokio::test]
async fn links_follow_the_public_url_the_download_rules_and_the_owners_quota() {
    let app = TestApp::spawn_with(|config| {
        config.public_url = Some(depot::config::PublicUrl::parse("https://files.example.org/").unwrap());
        config.quota_bytes = 1000;
    })
    .await;
    let ann = app.user("ann").await;
    app.put_file(&ann, "page.html", "<script>alert(1)</script>").await;
    let made = link(&app, &ann, "page.html", json!({})).await;
    let url = made["url"].as_str().unwrap();
    let path = url
        .strip_prefix("https://files.example.org/s/")
        .unwrap_or_else(|| panic!("the configured public URL: {url}"));
    // Served here all the same: active content only ever as an attachment.
    let page = app
        .client
        .get(app.url(&format!("/s/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // An upload link's files count against its owner's quota.
    let upload = upload_link(&app, &ann, json!({})).await;
    let path = upload["url"]
        .as_str()
        .unwrap()
        .strip_prefix("https://files.example.org")
        .unwrap()
        .to_owned();
    let over = send_through(&app, &app.url(&path), None, vec![b'x'; 2000], "big.txt").await;
    assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(over).await, "quota_exceeded");
    assert_eq!(
        app.get_json(&ann, "/api/v1/links").await[0]["files"],
        0,
        "the refused file went back"
    );
}

#[tokio::test]
async fn a_disabled_owners_links_end_and_come_back_with_the_account() {
    let app = TestApp::spawn().await;
    let admin = app.user("ann").await;
    let bob = app.user("bob").await;
    app.put_file(&bob, "notes.txt", "bob's").await;
    let url = link(&app, &bob, "notes.txt", json!({})).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let disabled = app
        .admin_change(&admin, bob.id, json!({ "disabled": true }))
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let ended = app.client.get(&url).send().await.unwrap();
    assert_eq!(ended.status(), StatusCode::GONE);
    app.admin_change(&admin, bob.id, json!({ "disabled": false }))
        .await;
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
}
