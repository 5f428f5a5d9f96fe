//! Content addressing: every upload path gives the file the CID
//! `ipfs add --cid-version=1` gives its bytes, shown wherever the file is.

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::clients::{js_clients, run};
use crate::helpers::{TestApp, file_part, new_session};

/// Byte i is `i % 251`, as in `tests/data/cid/expected.txt`.
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

fn expected_cid(size: usize) -> String {
    include_str!("../data/cid/expected.txt")
        .lines()
        .find_map(|line| {
            let (bytes, cid) = line.split_once(' ')?;
            (bytes.parse::<usize>().ok()? == size).then(|| cid.to_owned())
        })
        .expect("a size listed in expected.txt")
}

#[tokio::test]
async fn uploads_get_kubos_cid_by_put_and_by_form_and_show_it_everywhere() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();

    // Two chunks and a byte: a dag-pb root over raw leaves.
    let size = 262_145;
    let response = app
        .put_file_in(&ann, &session, "pattern.bin", pattern(size))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["cid"], expected_cid(size));

    let form = Form::new()
        .text("file_name", "hello")
        .part("file", file_part(b"hello\n".to_vec(), "hello.txt"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["cid"],
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );

    let meta = app.metadata(&ann, "pattern.bin").await;
    assert_eq!(meta["cid"], expected_cid(size));
    let active = app.active_file(&ann, &session).await.unwrap();
    assert_eq!(
        active["cid"],
        expected_cid(size),
        "the active file (cache) carries it too"
    );
}

/// Three chunks and a byte: a dag-pb root over four raw leaves.
const MULTI: usize = 3 * 262_144 + 1;

async fn cid_of_upload(app: &TestApp, user: &crate::helpers::TestUser, name: &str, bytes: Vec<u8>) -> String {
    let response = app.put_file(user, name, bytes).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["cid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn content_is_read_by_cid_with_ranges_and_only_by_its_owner() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let bytes = pattern(MULTI);
    let cid = cid_of_upload(&app, &ann, "pattern.bin", bytes.clone()).await;

    let response = app.get(&ann, &format!("/ipfs/{cid}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], format!("\"{cid}\"").as_str());
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(response.bytes().await.unwrap(), bytes);

    let range = app
        .get_with(&ann, &format!("/ipfs/{cid}"), &[("range", "bytes=262140-262149")])
        .await;
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.unwrap(), bytes[262_140..262_150]);

    // Someone else's content, unknown content and a malformed CID.
    assert_eq!(
        app.get(&bob, &format!("/ipfs/{cid}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&bob, &format!("/api/v1/cids/{cid}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let unknown = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
    assert_eq!(
        app.get(&ann, &format!("/ipfs/{unknown}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let malformed = app.get(&ann, "/ipfs/not-a-cid").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(crate::helpers::error_code(malformed).await, "invalid_cid");
}

#[tokio::test]
async fn raw_blocks_and_car_exports_hold_the_whole_dag_checked_by_hash() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bytes = pattern(MULTI);
    let cid = cid_of_upload(&app, &ann, "pattern.bin", bytes.clone()).await;

    let car = app.get(&ann, &format!("/ipfs/{cid}?format=car")).await;
    assert_eq!(car.status(), StatusCode::OK);
    assert!(
        car.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/vnd.ipld.car")
    );
    let car = car.bytes().await.unwrap();
    let mut reader = iroh_car::CarReader::new(&car[..]).await.unwrap();
    assert_eq!(reader.header().roots(), [cid.parse().unwrap()]);
    let mut blocks = Vec::new();
    while let Some((block_cid, data)) = reader.next_block().await.unwrap() {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&data);
        assert_eq!(
            block_cid.hash().digest(),
            digest.as_slice(),
            "block {block_cid} matches its hash"
        );
        blocks.push((block_cid, data));
    }
    // The root, then its four leaves in file order.
    assert_eq!(blocks.len(), 5);
    assert_eq!(blocks[0].0.to_string(), cid);
    let leaves: Vec<u8> = blocks[1..].iter().flat_map(|(_, data)| data.clone()).collect();
    assert_eq!(leaves, bytes);

    // The same by Accept header; any single block by ?format=raw.
    let by_accept = app
        .get_with(
            &ann,
            &format!("/ipfs/{cid}"),
            &[("accept", "application/vnd.ipld.car")],
        )
        .await;
    assert_eq!(by_accept.bytes().await.unwrap(), car);
    for (block_cid, data) in &blocks {
        let raw = app.get(&ann, &format!("/ipfs/{block_cid}?format=raw")).await;
        assert_eq!(raw.status(), StatusCode::OK, "{block_cid}");
        assert_eq!(raw.headers()["content-type"], "application/vnd.ipld.raw");
        assert_eq!(&raw.bytes().await.unwrap()[..], &data[..], "{block_cid}");
    }
}

#[tokio::test]
async fn identical_content_is_stored_once_and_info_and_delete_by_cid_cover_all_its_names() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let first = cid_of_upload(&app, &ann, "a.txt", b"same bytes".to_vec()).await;
    let second = cid_of_upload(&app, &ann, "b.txt", b"same bytes".to_vec()).await;
    assert_eq!(first, second);
    assert_eq!(app.blob_files().len(), 1, "identical content is stored once");
    let usage: Value = app.get(&ann, "/api/v1/usage").await.json().await.unwrap();
    assert_eq!(
        (
            &usage["files"],
            &usage["logical_bytes"],
            &usage["contents"],
            &usage["physical_bytes"]
        ),
        (
            &Value::from(2),
            &Value::from(20),
            &Value::from(1),
            &Value::from(10)
        )
    );
    assert_eq!(usage["dedup_ratio"], 2.0);
    let bob = app.user("bob").await;
    let bobs = cid_of_upload(&app, &bob, "mine.txt", b"same bytes".to_vec()).await;
    assert_eq!(bobs, first, "another user's copy has the same CID");
    assert_eq!(app.blob_files().len(), 1, "and the same blob");

    let info: Value = app
        .get(&ann, &format!("/api/v1/cids/{first}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["file_names"], serde_json::json!(["a.txt", "b.txt"]));
    assert_eq!(info["size"], 10);

    let response = app
        .client
        .delete(app.url(&format!("/api/v1/cids/{first}")))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get(&ann, &format!("/ipfs/{first}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&bob, &format!("/ipfs/{first}")).await.status(),
        StatusCode::OK,
        "bob's copy stays"
    );
    assert_eq!(app.blob_files().len(), 1);
    app.delete_file(&bob, "mine.txt").await;
    assert!(app.blob_files().is_empty(), "the last reference takes the blob");
}

#[tokio::test]
async fn a_corrupted_chunk_cuts_the_download_short_and_flags_the_file() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let bytes = pattern(MULTI);
    let cid = cid_of_upload(&app, &ann, "pattern.bin", bytes.clone()).await;
    let [blob] = app.blob_files().try_into().unwrap();
    let mut stored = std::fs::read(&blob).unwrap();
    stored[2 * 262_144 + 10] ^= 0xff;
    std::fs::write(&blob, stored).unwrap();

    let response = app.get(&ann, "/api/v1/files/pattern.bin/content").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await;
    // The body ends early with an error: never all the bytes, never the flipped one.
    if let Ok(body) = body {
        assert!(body.len() <= 2 * 262_144, "{} bytes came through", body.len());
    }
    let corrupt = app
        .eventually_async(|| async {
            let meta = app.metadata(&ann, "pattern.bin").await;
            meta["corrupt"] == true
        })
        .await;
    assert!(corrupt, "the file is flagged corrupt");
    let car = app
        .get(&ann, &format!("/ipfs/{cid}?format=car"))
        .await
        .bytes()
        .await;
    if let Ok(car) = car {
        assert!(car.len() < bytes.len(), "the CAR stops before the bad chunk");
    }
}

/// A range is read as the chunks that cover it, each checked against its
/// leaf: a range over a flipped byte is cut before it, from every route that
/// serves ranges, and the file is flagged; a range over intact chunks of the
/// same file is served whole.
#[tokio::test]
async fn a_range_over_a_corrupted_chunk_is_cut_and_flags_the_file() {
    let app = TestApp::spawn().await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    let bytes = pattern(MULTI);
    let cid = cid_of_upload(&app, &ann, "pattern.bin", bytes.clone()).await;
    let [blob] = app.blob_files().try_into().unwrap();
    let flipped_at = 2 * 262_144 + 10;
    let mut stored = std::fs::read(&blob).unwrap();
    stored[flipped_at] ^= 0xff;
    std::fs::write(&blob, stored).unwrap();

    // Intact chunks: the exact bytes, and no flag.
    let intact = app
        .get_with(
            &ann,
            "/api/v1/files/pattern.bin/content",
            &[("Range", "bytes=262000-524287")],
        )
        .await;
    assert_eq!(intact.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(intact.bytes().await.unwrap(), bytes[262_000..524_288]);
    assert_eq!(app.metadata(&ann, "pattern.bin").await["corrupt"], false);

    let made: Value = app
        .client
        .post(app.url("/api/v1/files/pattern.bin/link"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = made["url"].as_str().unwrap().to_owned();
    let ipfs = app.url(&format!("/ipfs/{cid}"));
    let content = app.url("/api/v1/files/pattern.bin/content");
    // What a client gets of a range: its bytes, or none if the connection is
    // cut before (or while) they come — hyper may not have sent the head yet.
    let received = |url: &String, range: String| {
        let request = app.client.get(url).bearer_auth(&ann.token).header("Range", range);
        let url = url.clone();
        async move {
            match request.send().await {
                Ok(response) => {
                    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{url}");
                    response.bytes().await.map(|body| body.len()).unwrap_or(0)
                }
                Err(_) => 0,
            }
        }
    };
    for url in [&content, &link, &ipfs] {
        // From the chunk before the damaged one to the end: the body stops short.
        let got = received(url, "bytes=400000-".to_owned()).await;
        assert!(got <= flipped_at - 400_000, "{url}: {got} bytes came through");
        // Within the damaged chunk only: nothing of it.
        let got = received(url, format!("bytes={}-{}", flipped_at - 5, flipped_at + 5)).await;
        assert_eq!(got, 0, "{url}: {got} bytes of the damaged chunk came through");
    }
    let corrupt = app
        .eventually_async(|| async { app.metadata(&ann, "pattern.bin").await["corrupt"] == true })
        .await;
    assert!(corrupt, "the file is flagged corrupt");
}

/// js-ipfs libraries (`tests/clients/verify-car.mjs`) read depot's CAR of a
/// file of two levels (174 chunks and a byte), check every block against its
/// CID, export the file and compute its CID themselves.
#[tokio::test]
async fn a_real_ipfs_client_verifies_the_car_of_a_two_level_file() {
    let Some(clients) = js_clients() else { return };
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let size = 45_613_057;
    let cid = cid_of_upload(&app, &ann, "two-levels.bin", pattern(size)).await;
    assert_eq!(cid, expected_cid(size));

    let base = app.url("");
    let token = ann.token.clone();
    let mut node = std::process::Command::new("node");
    node.arg("verify-car.mjs")
        .args([base.trim_end_matches('/'), &token, &cid, &size.to_string()])
        .current_dir(clients);
    let stdout = run(node).await;
    assert!(stdout.contains("blocks verified"), "{stdout}");
}

/// Helia's verified-fetch (`tests/clients/helia-fetch.mjs`) with depot as its
/// only trustless gateway: it asks for the root and each leaf as raw blocks,
/// checks every one against its CID and assembles the file.
#[tokio::test]
async fn helia_reads_a_multi_block_file_through_depots_trustless_gateway() {
    let Some(clients) = js_clients() else { return };
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    // Four different leaves (a pattern of period 251 shifts from chunk to chunk).
    let bytes = pattern(1_000_000);
    let cid = cid_of_upload(&app, &ann, "four-leaves.bin", bytes.clone()).await;

    let out = tempfile::NamedTempFile::new().unwrap();
    let mut node = std::process::Command::new("node");
    node.arg("helia-fetch.mjs")
        .args([app.url("").trim_end_matches('/'), &ann.token, &cid])
        .arg(out.path())
        .env("NODE_OPTIONS", crate::clients::node_options())
        .current_dir(clients);
    let report: Value = serde_json::from_str(run(node).await.trim()).unwrap();
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(
        report["blocks"], 5,
        "the root and four leaves, one by one: {report}"
    );
    assert_eq!(std::fs::read(out.path()).unwrap(), bytes);
}
