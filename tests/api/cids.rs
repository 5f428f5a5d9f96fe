//! Content addressing: every upload path gives the file the CID
//! `ipfs add --cid-version=1` gives its bytes, shown wherever the file is.

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

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

    let meta: Value = app
        .get(&ann, "/api/v1/files/pattern.bin")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["cid"], expected_cid(size));
    let active = app.active_file(&ann, &session).await.unwrap();
    assert_eq!(
        active["cid"],
        expected_cid(size),
        "the active file (cache) carries it too"
    );
}
