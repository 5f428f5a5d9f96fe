//! Resumable uploads over tus 1.0 (`/api/v1/uploads/`): the protocol, owner
//! checks, concurrency, interruptions, expiry, and an upload that outlives the
//! node (and the process) it began on.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::clients::{CuttingProxy, js_clients, python_module, run};
use crate::helpers::{TestApp, TestUser, error_code, hex_sha256, new_session, sample_bytes};
use crate::process::ServerProcess;

const TUS: &str = "1.0.0";

/// tus requests of one user against one server.
pub(crate) struct Tus<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
}

impl<'a> Tus<'a> {
    pub(crate) fn new(app: &'a TestApp, user: &'a TestUser) -> Self {
        Self {
            client: &app.client,
            base: &app.address,
            token: &user.token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn create(&self, length: u64, metadata: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url("/api/v1/uploads/"))
            .bearer_auth(self.token)
            .header("tus-resumable", TUS)
            .header("upload-length", length.to_string())
            .header("upload-metadata", encode_metadata(metadata))
            .send()
            .await
            .unwrap()
    }

    /// Creates an upload named `name` and returns its URL's path.
    async fn created(&self, length: u64, name: &str) -> String {
        let response = self.create(length, &[("filename", name)]).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        location(&response)
    }

    async fn head(&self, upload: &str) -> Response {
        self.client
            .head(self.url(upload))
            .bearer_auth(self.token)
            .header("tus-resumable", TUS)
            .send()
            .await
            .unwrap()
    }

    async fn offset(&self, upload: &str) -> u64 {
        let response = self.head(upload).await;
        assert_eq!(response.status(), StatusCode::OK);
        header(&response, "upload-offset").parse().unwrap()
    }

    pub(crate) async fn patch(&self, upload: &str, offset: u64, body: impl Into<reqwest::Body>) -> Response {
        self.patch_with(upload, offset, body, &[]).await
    }

    async fn patch_with(
        &self,
        upload: &str,
        offset: u64,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.patch_request(upload, offset);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(body).send().await.unwrap()
    }

    /// A PATCH at `offset` sent in the background, its body fed by the test
    /// chunk by chunk (an `Err` cuts it off).
    fn patch_fed(
        &self,
        upload: &str,
        offset: u64,
    ) -> (
        mpsc::Sender<Result<Bytes, std::io::Error>>,
        tokio::task::JoinHandle<reqwest::Result<Response>>,
    ) {
        let (feed, body) = fed_body();
        let sending = tokio::spawn(self.patch_request(upload, offset).body(body).send());
        (feed, sending)
    }

    fn patch_request(&self, upload: &str, offset: u64) -> reqwest::RequestBuilder {
        self.client
            .patch(self.url(upload))
            .bearer_auth(self.token)
            .header("tus-resumable", TUS)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
    }

    pub(crate) async fn delete(&self, upload: &str) -> Response {
        self.client
            .delete(self.url(upload))
            .bearer_auth(self.token)
            .header("tus-resumable", TUS)
            .send()
            .await
            .unwrap()
    }
}

fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key} {}", BASE64.encode(value)))
        .collect::<Vec<_>>()
        .join(",")
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn location(response: &Response) -> String {
    let location = header(response, "location");
    assert!(location.starts_with("/api/v1/uploads/"), "{location}");
    location
}

/// How many bytes of the upload the local store has staged on disk; `None`
/// on S3, where bytes wait in memory until a part is full.
fn staged_len(app: &TestApp, upload: &str) -> Option<u64> {
    let id = upload.rsplit('/').next().unwrap();
    (!app.on_s3()).then(|| {
        let path = app.blob_root().join("uploads").join(id);
        std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
    })
}

/// Whether a request holds the upload's lock (is writing to it).
async fn locked(app: &TestApp, upload: &str) -> bool {
    let id = upload.rsplit('/').next().unwrap();
    let db = app.db().await;
    let until: Option<i64> = sqlx::query_scalar("SELECT locked_until FROM uploads WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    until.is_some()
}

async fn recorded_leaf_rows(app: &TestApp) -> i64 {
    let db = app.db().await;
    sqlx::query_scalar("SELECT COUNT(*) FROM upload_leaves")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// The size of an upload's saved hash state, and of the CID leaf digests
/// recorded beside it.
async fn saved_state(app: &TestApp, upload: &str) -> (i64, i64) {
    let id = upload.rsplit('/').next().unwrap();
    let db = app.db().await;
    let hash_state: i64 =
        sqlx::query_scalar("SELECT CAST(length(hash_state) AS BIGINT) FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let leaves: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(length(digests)), 0) AS BIGINT) FROM upload_leaves WHERE upload_id = $1",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    (hash_state, leaves)
}

fn cid_of(bytes: &[u8]) -> String {
    let mut builder = depot::ipfs::CidBuilder::default();
    builder.push(bytes);
    builder.finish().root.to_string()
}

/// A request body fed by the test, chunk by chunk; an `Err` cuts it off.
pub(crate) fn fed_body() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, reqwest::Body) {
    let (sender, receiver) = mpsc::channel(4);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    (sender, reqwest::Body::wrap_stream(stream))
}

#[tokio::test]
async fn options_tell_the_version_extensions_checksums_and_largest_upload() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 5000).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "tus-resumable"), TUS);
    assert_eq!(header(&response, "tus-version"), TUS);
    assert_eq!(
        header(&response, "tus-extension"),
        "creation,creation-with-upload,expiration,termination,checksum"
    );
    assert_eq!(header(&response, "tus-max-size"), "5000");
    assert_eq!(header(&response, "tus-checksum-algorithm"), "sha1,sha256");
}

#[tokio::test]
async fn an_upload_in_three_parts_is_stored_like_any_upload() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let session = new_session();
    let content = sample_bytes(3 * 1024 * 1024 + 12_345);
    let created = tus
        .create(
            content.len() as u64,
            &[
                ("filename", "survey.bin"),
                ("description", "field survey"),
                ("session_id", &session),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "tus-resumable"), TUS);
    assert_eq!(header(&created, "x-session-id"), session);
    let expires = httpdate::parse_http_date(&header(&created, "upload-expires")).unwrap();
    assert!(expires > std::time::SystemTime::now() + Duration::from_secs(3600));
    let upload = location(&created);

    let head = tus.head(&upload).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "upload-offset"), "0");
    assert_eq!(header(&head, "upload-length"), content.len().to_string());
    assert_eq!(header(&head, "cache-control"), "no-store");
    assert!(header(&head, "upload-metadata").contains("filename "));

    let history = app.history(&ann, &session, "").await;
    assert_eq!(
        history["records"][0]["status"], "pending",
        "pending while parts arrive"
    );
    assert_eq!(history["records"][0]["size"], content.len());

    let cuts = [0, 1024 * 1024 + 7, 2 * 1024 * 1024, content.len()];
    let mut states = Vec::new();
    for part in cuts.windows(2) {
        let response = tus
            .patch(&upload, part[0] as u64, content[part[0]..part[1]].to_vec())
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&response, "upload-offset"), part[1].to_string());
        if part[1] < content.len() {
            assert_eq!(tus.offset(&upload).await, part[1] as u64);
            assert_eq!(
                app.history(&ann, &session, "").await["records"][0]["status"],
                "pending"
            );
            states.push(saved_state(&app, &upload).await);
        }
    }
    // Each request records the leaves it finished once; the rest of the hash
    // state does not grow with the upload.
    assert_eq!(states[0].0, states[1].0, "{states:?}");
    assert_eq!(states[1].1, (2 * 1024 * 1024 / (256 * 1024)) * 32, "{states:?}");

    let file = app.metadata(&ann, "survey.bin").await;
    assert_eq!(file["size"], content.len());
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["cid"], cid_of(&content));
    assert_eq!(file["description"], "field survey");
    let downloaded = app.download(&ann, "survey.bin").await.bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), content.as_slice());
    assert_eq!(app.active_name(&ann, &session).await.unwrap(), "survey.bin");
    let record = &app.history(&ann, &session, "").await["records"][0];
    assert_eq!(record["status"], "completed");
    assert_eq!(record["file_name"], "survey.bin");

    // The upload is done: its URL is gone, and so are its staged bytes and
    // its leaves.
    assert_eq!(tus.head(&upload).await.status(), StatusCode::NOT_FOUND);
    assert!(app.staged_uploads().is_empty());
    assert_eq!(recorded_leaf_rows(&app).await, 0);
    // The same content sent whole is the same blob.
    assert_eq!(
        app.put_file(&ann, "again.bin", content.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.blob_files().len(), 1);
}

#[tokio::test]
async fn a_dataset_sent_resumably_gets_its_summary_and_a_bad_one_is_refused_at_its_last_byte() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let csv = b"city,population\nLyon,522250\nNantes,320732\n";
    let upload = tus.created(csv.len() as u64, "cities.csv").await;
    assert_eq!(
        tus.patch(&upload, 0, &csv[..20]).await.status(),
        StatusCode::NO_CONTENT
    );
    // A refused request between the two must not leave its bytes in the profile.
    let wrong = BASE64.encode(Sha256::digest(b"not these"));
    let refused = tus
        .patch_with(
            &upload,
            20,
            &b"Paris,2102650\n"[..],
            &[("upload-checksum", &format!("sha256 {wrong}"))],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 460);
    assert_eq!(
        tus.patch(&upload, 20, &csv[20..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let file = app.metadata(&ann, "cities.csv").await;
    assert!(file["summary"].as_str().unwrap().contains("**2 rows**"), "{file}");
    assert_eq!(file["content_type"], "text/csv");

    // A larger one, whose profiler stops and goes on between three requests.
    let mut rows = String::from("id,score,label\n");
    for i in 0..3000 {
        rows.push_str(&format!("{i},{}.5,item-{i}\n", i % 97));
    }
    let rows = rows.into_bytes();
    let upload = tus.created(rows.len() as u64, "scores.csv").await;
    for part in [0, 10_000, 30_001, rows.len()].windows(2) {
        let sent = tus
            .patch(&upload, part[0] as u64, rows[part[0]..part[1]].to_vec())
            .await;
        assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    }
    let profile = &app.metadata(&ann, "scores.csv").await["profile"];
    assert_eq!(profile["rows"], 3000);
    let dtypes: Vec<&str> = profile["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["dtype"].as_str().unwrap())
        .collect();
    assert_eq!(dtypes, ["int64", "float64", "object"]);

    let session = new_session();
    let bad = b"a,b\n1,2\n3,4,5\n";
    let created = tus
        .create(
            bad.len() as u64,
            &[("filename", "bad.csv"), ("session_id", &session)],
        )
        .await;
    let upload = location(&created);
    assert_eq!(
        tus.patch(&upload, 0, &bad[..5]).await.status(),
        StatusCode::NO_CONTENT
    );
    let refused = tus.patch(&upload, 5, &bad[5..]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(refused).await, "invalid_dataset");
    assert_eq!(tus.head(&upload).await.status(), StatusCode::NOT_FOUND);
    assert!(app.staged_uploads().is_empty());
    let record = &app.history(&ann, &session, "").await["records"][0];
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error_code"], "invalid_dataset");
}

#[tokio::test]
async fn the_creation_request_may_carry_the_first_bytes_or_all_of_them() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let create_with = |name: &str, length: u64, body: &'static [u8], headers: &[(&str, String)]| {
        let mut request = app
            .client
            .post(app.url("/api/v1/uploads/"))
            .bearer_auth(&ann.token)
            .header("tus-resumable", TUS)
            .header("upload-length", length.to_string())
            .header("upload-metadata", encode_metadata(&[("filename", name)]))
            .header("content-type", "application/offset+octet-stream");
        for (header, value) in headers {
            request = request.header(*header, value);
        }
        request.body(body).send()
    };

    let first = create_with("started.txt", 10, b"hello", &[]).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(header(&first, "upload-offset"), "5");
    let upload = location(&first);
    assert_eq!(tus.offset(&upload).await, 5);
    assert_eq!(
        tus.patch(&upload, 5, &b"world"[..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let started = app.download(&ann, "started.txt").await.bytes().await.unwrap();
    assert_eq!(started.as_ref(), b"helloworld");

    let whole = create_with("whole.txt", 5, b"whole", &[]).await.unwrap();
    assert_eq!(whole.status(), StatusCode::CREATED);
    assert_eq!(header(&whole, "upload-offset"), "5");
    assert_eq!(
        app.metadata(&ann, "whole.txt").await["sha256"],
        hex_sha256(b"whole")
    );

    // Refused bytes: the upload exists, empty, and the answer says where.
    let wrong = BASE64.encode(Sha256::digest(b"other"));
    let refused = create_with(
        "checked.txt",
        10,
        b"hello",
        &[("upload-checksum", format!("sha256 {wrong}"))],
    )
    .await
    .unwrap();
    assert_eq!(refused.status().as_u16(), 460);
    let upload = location(&refused);
    assert_eq!(tus.offset(&upload).await, 0);
}

#[tokio::test]
async fn an_empty_upload_is_complete_when_created() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let created = Tus::new(&app, &ann)
        .create(0, &[("file_name", "empty.txt")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "upload-offset"), "0");
    let file = app.metadata(&ann, "empty.txt").await;
    assert_eq!(file["size"], 0);
    assert_eq!(file["sha256"], hex_sha256(b""));
}

#[tokio::test]
async fn another_users_requests_find_no_upload_and_change_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let ann_tus = Tus::new(&app, &ann);
    let bob_tus = Tus::new(&app, &bob);
    let upload = ann_tus.created(10, "mine.txt").await;
    assert_eq!(
        ann_tus.patch(&upload, 0, &b"hello"[..]).await.status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(bob_tus.head(&upload).await.status(), StatusCode::NOT_FOUND);
    let patched = bob_tus.patch(&upload, 5, &b"WORLD"[..]).await;
    assert_eq!(patched.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&patched, "tus-resumable"), TUS);
    assert_eq!(bob_tus.delete(&upload).await.status(), StatusCode::NOT_FOUND);
    let anonymous = app
        .client
        .head(app.url(&upload))
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(ann_tus.offset(&upload).await, 5);
    assert_eq!(
        ann_tus.patch(&upload, 5, &b"world"[..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let downloaded = app.download(&ann, "mine.txt").await.bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), b"helloworld");
}

#[tokio::test]
async fn bad_requests_get_the_protocols_statuses_and_keep_nothing() {
    let app = TestApp::spawn_with(|config| config.max_upload_bytes = 1000).await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let upload = tus.created(10, "ten.txt").await;
    assert_eq!(
        tus.patch(&upload, 0, &b"12345"[..]).await.status(),
        StatusCode::NO_CONTENT
    );

    let wrong_offset = tus.patch(&upload, 3, &b"45"[..]).await;
    assert_eq!(wrong_offset.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(wrong_offset).await, "offset_mismatch");

    let too_long = tus.patch(&upload, 5, &b"6789012345"[..]).await;
    assert_eq!(too_long.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(too_long).await, "past_upload_length");
    // Sent without a length, the surplus is found as it streams: same answer.
    let (feed, body) = fed_body();
    feed.send(Ok(Bytes::from_static(b"6789"))).await.unwrap();
    feed.send(Ok(Bytes::from_static(b"0XYZ"))).await.unwrap();
    drop(feed);
    assert_eq!(
        tus.patch(&upload, 5, body).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(tus.offset(&upload).await, 5);
    if let Some(staged) = staged_len(&app, &upload) {
        assert_eq!(staged, 5, "nothing past the offset is kept");
    }

    let no_version = app
        .client
        .patch(app.url(&upload))
        .bearer_auth(&ann.token)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "5")
        .body("67890")
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&no_version, "tus-version"), TUS);
    let wrong_type = app
        .client
        .patch(app.url(&upload))
        .bearer_auth(&ann.token)
        .header("tus-resumable", TUS)
        .header("content-type", "text/plain")
        .header("upload-offset", "5")
        .body("67890")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let no_offset = app
        .client
        .patch(app.url(&upload))
        .bearer_auth(&ann.token)
        .header("tus-resumable", TUS)
        .header("content-type", "application/offset+octet-stream")
        .body("67890")
        .send()
        .await
        .unwrap();
    assert_eq!(no_offset.status(), StatusCode::BAD_REQUEST);
    assert_eq!(tus.offset(&upload).await, 5);

    let no_length = app
        .client
        .post(app.url("/api/v1/uploads/"))
        .bearer_auth(&ann.token)
        .header("tus-resumable", TUS)
        .header("upload-metadata", encode_metadata(&[("filename", "x.txt")]))
        .send()
        .await
        .unwrap();
    assert_eq!(no_length.status(), StatusCode::BAD_REQUEST);
    let too_big = tus.create(1001, &[("filename", "big.bin")]).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let unnamed = tus.create(10, &[("description", "no name")]).await;
    assert_eq!(unnamed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(unnamed).await, "missing_field");
    let bad_name = tus.create(10, &[("file_name", "../etc/passwd")]).await;
    assert_eq!(error_code(bad_name).await, "invalid_file_name");
    let dot = tus.create(10, &[("file_name", ".")]).await;
    assert_eq!(error_code(dot).await, "invalid_file_name");
    assert_eq!(
        app.put_file(&ann, "taken.txt", &b"x"[..]).await.status(),
        StatusCode::CREATED
    );
    let taken = tus.create(10, &[("filename", "taken.txt")]).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    // Each refused creation left a failed record; a refused PATCH fails nothing.
    let failed = app
        .history(&ann, &new_session(), "scope=user&status=failed")
        .await;
    let codes: Vec<&str> = failed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "file_exists",
            "invalid_file_name",
            "invalid_file_name",
            "missing_field",
            "payload_too_large"
        ]
    );
    let unknown = tus
        .head(&format!("/api/v1/uploads/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        tus.head("/api/v1/uploads/not-an-id").await.status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        tus.patch(&upload, 5, &b"67890"[..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let downloaded = app.download(&ann, "ten.txt").await.bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), b"1234567890");
}

#[tokio::test]
async fn a_part_whose_checksum_does_not_match_gets_460_and_is_discarded() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let upload = tus.created(10, "checked.txt").await;
    let sha1 = BASE64.encode(sha1::Sha1::digest(b"hello"));
    let matching = tus
        .patch_with(
            &upload,
            0,
            &b"hello"[..],
            &[("upload-checksum", &format!("sha1 {sha1}"))],
        )
        .await;
    assert_eq!(matching.status(), StatusCode::NO_CONTENT);

    let wrong = BASE64.encode(Sha256::digest(b"something else"));
    let mismatch = tus
        .patch_with(
            &upload,
            5,
            &b"world"[..],
            &[("upload-checksum", &format!("sha256 {wrong}"))],
        )
        .await;
    assert_eq!(mismatch.status().as_u16(), 460);
    assert_eq!(error_code(mismatch).await, "checksum_mismatch");
    assert_eq!(tus.offset(&upload).await, 5);
    if let Some(staged) = staged_len(&app, &upload) {
        assert_eq!(staged, 5, "the mismatched body was discarded");
    }
    let unsupported = tus
        .patch_with(
            &upload,
            5,
            &b"world"[..],
            &[("upload-checksum", "md5 XUFAKrxLKna5cZ2REBfFkg==")],
        )
        .await;
    assert_eq!(unsupported.status(), StatusCode::BAD_REQUEST);

    let right = BASE64.encode(Sha256::digest(b"world"));
    let accepted = tus
        .patch_with(
            &upload,
            5,
            &b"world"[..],
            &[("upload-checksum", &format!("sha256 {right}"))],
        )
        .await;
    assert_eq!(accepted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.metadata(&ann, "checked.txt").await["sha256"],
        hex_sha256(b"helloworld")
    );
}

// Several threads: the depot commands it runs block this one, and over a
// gateway they reach the storage node this process serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_gets_423_and_the_bytes_never_interleave() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let content = sample_bytes(4 * 1024 * 1024);
    let upload = tus.created(content.len() as u64, "shared.bin").await;

    let (feed, first) = tus.patch_fed(&upload, 0);
    feed.send(Ok(Bytes::copy_from_slice(&content[..2 * 1024 * 1024])))
        .await
        .unwrap();
    assert!(
        app.eventually_async(|| locked(&app, &upload)).await,
        "the first writer is under way"
    );

    // A command run beside the server leaves the lock alone.
    let beside = crate::cli::depot_for(&app, &["user", "list"]).output().unwrap();
    assert!(
        beside.status.success(),
        "{}",
        String::from_utf8_lossy(&beside.stderr)
    );
    assert!(
        locked(&app, &upload).await,
        "depot user list released a running upload's lock"
    );

    let second = tus.patch(&upload, 0, sample_bytes(1024)).await;
    assert_eq!(second.status(), StatusCode::LOCKED);
    assert_eq!(error_code(second).await, "upload_locked");
    assert_eq!(tus.delete(&upload).await.status(), StatusCode::LOCKED);

    feed.send(Ok(Bytes::copy_from_slice(&content[2 * 1024 * 1024..])))
        .await
        .unwrap();
    drop(feed);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.metadata(&ann, "shared.bin").await["sha256"],
        hex_sha256(&content)
    );
}

#[tokio::test]
async fn a_part_cut_off_keeps_what_arrived_and_the_upload_resumes_from_there() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let content = sample_bytes(6 * 1024 * 1024);
    let upload = tus.created(content.len() as u64, "flaky.bin").await;

    let (feed, cut) = tus.patch_fed(&upload, 0);
    feed.send(Ok(Bytes::copy_from_slice(&content[..3 * 1024 * 1024])))
        .await
        .unwrap();
    assert!(app.eventually_async(|| locked(&app, &upload)).await);
    // Time for the bytes to arrive before the connection fails.
    tokio::time::sleep(Duration::from_millis(300)).await;
    feed.send(Err(std::io::Error::other("the network went away")))
        .await
        .unwrap();
    assert!(cut.await.unwrap().is_err(), "the client saw its request fail");

    assert!(
        app.eventually_async(|| async { tus.offset(&upload).await >= 1024 * 1024 })
            .await,
        "the bytes that arrived are kept"
    );
    let offset = tus.offset(&upload).await;
    assert!(offset <= 3 * 1024 * 1024);
    let rest = tus
        .patch(&upload, offset, content[offset as usize..].to_vec())
        .await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    let file = app.metadata(&ann, "flaky.bin").await;
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["cid"], cid_of(&content));
}

#[tokio::test]
async fn a_part_that_stalls_is_cut_and_the_upload_resumes_from_its_durable_offset() {
    let app = TestApp::spawn_with(|config| {
        config.body_timeout = depot::config::HumanDuration::from_secs(1);
    })
    .await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let content = sample_bytes(3 * 1024 * 1024);
    let upload = tus.created(content.len() as u64, "stalled.bin").await;

    let (feed, stalled) = tus.patch_fed(&upload, 0);
    feed.send(Ok(Bytes::copy_from_slice(&content[..1024 * 1024])))
        .await
        .unwrap();
    // …and then nothing, with the connection open: the server cuts the part.
    let answered = tokio::time::timeout(Duration::from_secs(10), stalled)
        .await
        .expect("the stalled part was never cut");
    drop(feed);
    if let Ok(Ok(response)) = answered {
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert!(
        app.eventually_async(|| async { tus.offset(&upload).await == 1024 * 1024 })
            .await,
        "the durable offset is where the part stalled"
    );
    let rest = tus
        .patch(&upload, 1024 * 1024, content[1024 * 1024..].to_vec())
        .await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.metadata(&ann, "stalled.bin").await["sha256"],
        hex_sha256(&content)
    );
}

/// A part is answered once its bytes are written, and made durable behind the
/// answer. If that fails — here its lock was taken over while it streamed, as
/// by a node that found it stalled — the client's next request hears where
/// the upload durably stands, and goes on from there.
#[tokio::test]
async fn a_part_that_could_not_be_saved_after_its_answer_sends_the_client_back_to_the_durable_offset() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let part = 1024 * 1024;
    let content = sample_bytes(3 * part);
    let upload = tus.created(content.len() as u64, "unlucky.bin").await;
    assert_eq!(
        tus.patch(&upload, 0, content[..part].to_vec()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(tus.offset(&upload).await, part as u64);

    let (feed, second) = tus.patch_fed(&upload, part as u64);
    feed.send(Ok(Bytes::copy_from_slice(&content[part..part + 4096])))
        .await
        .unwrap();
    assert!(app.eventually_async(|| locked(&app, &upload)).await);
    let id = upload.rsplit('/').next().unwrap();
    let db = app.db().await;
    sqlx::query("UPDATE uploads SET lock_token = 'another', locked_until = 0 WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
    feed.send(Ok(Bytes::copy_from_slice(&content[part + 4096..2 * part])))
        .await
        .unwrap();
    drop(feed);
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&second, "upload-offset"), (2 * part).to_string());

    let third = tus
        .patch(&upload, 2 * part as u64, content[2 * part..].to_vec())
        .await;
    assert_eq!(third.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "offset_mismatch");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("at offset {part}")),
        "{body}"
    );
    assert_eq!(
        tus.offset(&upload).await,
        part as u64,
        "only the durable part counts"
    );
    let rest = tus.patch(&upload, part as u64, content[part..].to_vec()).await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    let file = app.metadata(&ann, "unlucky.bin").await;
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["cid"], cid_of(&content));
}

#[tokio::test]
async fn termination_removes_the_upload_and_its_bytes() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let session = new_session();
    let created = tus
        .create(100, &[("filename", "dropped.bin"), ("session_id", &session)])
        .await;
    let upload = location(&created);
    assert_eq!(
        tus.patch(&upload, 0, sample_bytes(40)).await.status(),
        StatusCode::NO_CONTENT
    );
    // Once durable (what HEAD reports), the bytes are staged.
    assert_eq!(tus.offset(&upload).await, 40);
    assert_eq!(app.staged_uploads().len(), 1);

    let deleted = tus.delete(&upload).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&deleted, "tus-resumable"), TUS);
    assert_eq!(tus.head(&upload).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        tus.patch(&upload, 40, sample_bytes(60)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(app.staged_uploads().is_empty());
    let record = &app.history(&ann, &session, "").await["records"][0];
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error_code"], "upload_terminated");
    app.assert_nothing_stored(&ann, "dropped.bin").await;

    // Terminated right after its parts, while they may still be settling on
    // the node that took them: every byte of every part goes.
    let upload = tus.created(100, "hasty.bin").await;
    for offset in [0, 30] {
        assert_eq!(
            tus.patch(&upload, offset, sample_bytes(30)).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(tus.delete(&upload).await.status(), StatusCode::NO_CONTENT);
    assert!(app.staged_uploads().is_empty(), "{:?}", app.staged_uploads());
}

#[tokio::test]
async fn an_expired_upload_answers_410() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let upload = tus.created(100, "late.bin").await;
    let db = app.db().await;
    sqlx::query("UPDATE uploads SET expires_at = 0")
        .execute(db.pool())
        .await
        .unwrap();
    let head = tus.head(&upload).await;
    assert_eq!(head.status(), StatusCode::GONE);
    let patched = tus.patch(&upload, 0, sample_bytes(10)).await;
    assert_eq!(patched.status(), StatusCode::GONE);
    assert_eq!(error_code(patched).await, "upload_expired");
}

#[tokio::test]
async fn abandoned_uploads_are_removed_with_their_bytes_once_expired() {
    let app =
        TestApp::spawn_with(|config| config.upload_expiry = depot::config::HumanDuration::from_secs(1)).await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let tus = Tus::new(&app, &ann);
    let session = new_session();
    let created = tus
        .create(100, &[("filename", "abandoned.bin"), ("session_id", &session)])
        .await;
    let upload = location(&created);
    assert_eq!(
        tus.patch(&upload, 0, sample_bytes(40)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        app.eventually(|| !app.staged_uploads().is_empty()).await,
        "the bytes are staged"
    );
    assert!(
        app.eventually(|| app.staged_uploads().is_empty()).await,
        "the expired upload's bytes are removed"
    );
    assert_eq!(tus.head(&upload).await.status(), StatusCode::NOT_FOUND);
    // The record is failed right after the bytes and the row go.
    let failed = || async { app.history(&ann, &session, "").await["records"][0]["status"] == "failed" };
    assert!(
        app.eventually_async(failed).await,
        "the record says the upload failed"
    );
    let record = &app.history(&ann, &session, "").await["records"][0];
    assert_eq!(record["error_code"], "upload_expired");
}

#[tokio::test]
async fn an_upload_begun_on_one_node_is_finished_on_another() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_with(|config| {
        // The same database and the same blob store: two nodes of one cluster.
        config.data_dir = first.data_dir().to_owned();
        config.database_url = first.config.database_url.clone();
        config.storage = first.config.storage.clone();
        config.storage_url = first.config.storage_url.clone();
    })
    .await;
    let ann = first.user("ann").await;
    let content = sample_bytes(1024 * 1024 + 99);
    let on_first = Tus::new(&first, &ann);
    let upload = on_first.created(content.len() as u64, "travels.bin").await;
    assert_eq!(
        on_first
            .patch(&upload, 0, content[..600_000].to_vec())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let on_second = Tus::new(&second, &ann);
    assert_eq!(on_second.offset(&upload).await, 600_000);
    let rest = on_second
        .patch(&upload, 600_000, content[600_000..].to_vec())
        .await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    let file = first.metadata(&ann, "travels.bin").await;
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["cid"], cid_of(&content));

    // A dataset finished on the node that did not see its first bytes is
    // profiled from the stored bytes, with the same answer.
    let csv = b"day,visits\n2024-01-01,3\n2024-01-02,\n2024-01-03,5\n";
    let upload = on_first.created(csv.len() as u64, "visits.csv").await;
    assert_eq!(
        on_first.patch(&upload, 0, &csv[..15]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        on_second.patch(&upload, 15, &csv[15..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let summary = first.metadata(&ann, "visits.csv").await["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.starts_with("The dataset has **3 rows** and **2 columns**."),
        "{summary}"
    );
    assert!(summary.contains("- **visits**: `float64`"), "{summary}");
}

#[tokio::test]
async fn an_upload_survives_kill_9_mid_request_and_completes_with_the_right_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let content = sample_bytes(5 * 1024 * 1024 + 3);
    let half = content.len() / 2;

    let server = ServerProcess::start(dir.path());
    let token = server.register(&client, "ann", "correct horse battery").await;
    let tus = Tus {
        client: &client,
        base: &server.address,
        token: &token,
    };
    let upload = tus.created(content.len() as u64, "survivor.bin").await;
    assert_eq!(
        tus.patch(&upload, 0, content[..half].to_vec()).await.status(),
        StatusCode::NO_CONTENT
    );
    // What HEAD reports is durable (a 204 alone may still be settling).
    assert_eq!(tus.offset(&upload).await, half as u64);

    // The second half is under way when the process is killed.
    let (feed, doomed) = tus.patch_fed(&upload, half as u64);
    feed.send(Ok(Bytes::copy_from_slice(&content[half..half + 2 * 1024 * 1024])))
        .await
        .unwrap();
    let staged = dir
        .path()
        .join("blobs")
        .join("uploads")
        .join(upload.rsplit('/').next().unwrap());
    for _ in 0..100 {
        if std::fs::metadata(&staged).unwrap().len() > half as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        std::fs::metadata(&staged).unwrap().len() > half as u64,
        "bytes past the offset were written"
    );
    server.stop();
    assert!(doomed.await.unwrap().is_err());

    let server = ServerProcess::start(dir.path());
    let tus = Tus {
        client: &client,
        base: &server.address,
        token: &token,
    };
    assert_eq!(tus.offset(&upload).await, half as u64, "only durable bytes count");
    let rest = tus.patch(&upload, half as u64, content[half..].to_vec()).await;
    assert_eq!(
        rest.status(),
        StatusCode::NO_CONTENT,
        "{}",
        rest.text().await.unwrap()
    );
    let file: serde_json::Value = client
        .get(tus.url("/api/v1/files/survivor.bin"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["cid"], cid_of(&content));
    let downloaded = client
        .get(tus.url("/api/v1/files/survivor.bin/content"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.as_ref(), content.as_slice());
    server.stop();
}

/// A real tus client uploads `SIZE` bytes through a network that cuts its
/// request halfway; it must resume, not start over, and depot must store
/// exactly the file.
async fn a_real_client_resumes_after_the_network_fails_halfway(
    client: impl FnOnce(&str, &str, &Path) -> Command,
) {
    const SIZE: usize = 8 * 1024 * 1024 + 5;
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let content = sample_bytes(SIZE);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("measurements.bin");
    std::fs::write(&path, &content).unwrap();
    let proxy = CuttingProxy::start(&app.address, SIZE as u64 / 2).await;

    let printed = run(client(
        &format!("{}/api/v1/uploads/", proxy.address),
        &ann.token,
        &path,
    ))
    .await;
    let report: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert!(proxy.has_cut(), "the network failed the upload");
    assert!(report["retries"].as_u64().unwrap() >= 1, "{report}");
    assert!(proxy.connections() >= 2);
    assert!(
        proxy.forwarded() < SIZE as u64 * 5 / 4,
        "the client resumed from the stored offset rather than starting over ({} bytes sent for {SIZE})",
        proxy.forwarded()
    );

    let file = app.metadata(&ann, "measurements.bin").await;
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["cid"], cid_of(&content));
    let downloaded = app
        .download(&ann, "measurements.bin")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        downloaded.as_ref() == content.as_slice(),
        "the stored file is byte-identical"
    );
    if app.blobs_on_disk() {
        assert!(app.staged_uploads().is_empty());
    }
}

/// tus-js-client under node (`tests/clients/tus-upload.mjs`).
#[tokio::test]
async fn tus_js_client_resumes_an_upload_the_network_cut_halfway() {
    let Some(clients) = js_clients() else { return };
    a_real_client_resumes_after_the_network_fails_halfway(|endpoint, token, path| {
        let mut node = Command::new("node");
        node.arg(clients.join("tus-upload.mjs"))
            .args([endpoint, token])
            .arg(path)
            .arg("measurements.bin");
        node
    })
    .await;
}

/// tus-js-client in 3 MiB requests, the first sent with the creation request.
#[tokio::test]
async fn tus_js_client_sends_its_first_chunk_with_the_creation_request() {
    let Some(clients) = js_clients() else { return };
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let content = sample_bytes(7 * 1024 * 1024 + 11);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chunked.bin");
    std::fs::write(&path, &content).unwrap();
    let mut node = Command::new("node");
    node.arg(clients.join("tus-upload.mjs"))
        .args([&app.url("/api/v1/uploads/"), &ann.token])
        .arg(&path)
        .arg("chunked.bin")
        .env("TUS_CHUNK_SIZE", (3 * 1024 * 1024).to_string())
        .env("TUS_DATA_DURING_CREATION", "1");
    let report: serde_json::Value = serde_json::from_str(run(node).await.trim()).unwrap();
    assert_eq!(report["retries"], 0);
    let file = app.metadata(&ann, "chunked.bin").await;
    assert_eq!(file["sha256"], hex_sha256(&content));
    assert_eq!(file["description"], "sent by tus-js-client");
}

/// tuspy (`tests/clients/tus_upload.py`).
#[tokio::test]
async fn tuspy_resumes_an_upload_the_network_cut_halfway() {
    if !python_module("tusclient", "tuspy") {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tus_upload.py");
    a_real_client_resumes_after_the_network_fails_halfway(|endpoint, token, path| {
        let mut python = Command::new("python3");
        python
            .arg(script)
            .args([endpoint, token])
            .arg(path)
            .arg("measurements.bin");
        python
    })
    .await;
}
