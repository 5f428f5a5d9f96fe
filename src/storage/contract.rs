//! The same behaviour asked of every backend; the remote store's run, which
//! needs a storage node served over HTTP, is the server's (`server::node_tests`).

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

use super::*;

pub(crate) fn key_of(content: &[u8]) -> BlobKey {
    BlobKey::from_digest(&Sha256::digest(content).into())
}

async fn read_all(store: &dyn BlobStore, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Vec<u8> {
    let chunks: Vec<Bytes> = store.read(key, range).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

/// A staged reader blocks: it is read off the runtime, as the pipeline does.
async fn read_staged(mut reader: Box<dyn StagedReader>) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut back).unwrap();
        back
    })
    .await
    .unwrap()
}

async fn committed_blob_reads_back_whole_and_in_ranges(store: &dyn BlobStore) {
    let content = b"hello, depot".to_vec();
    let key = key_of(&content);
    let mut writer = store.stage().await.unwrap();
    writer.write(Bytes::copy_from_slice(&content[..5])).await.unwrap();
    writer.write(Bytes::copy_from_slice(&content[5..])).await.unwrap();
    if let Some(staged) = writer.staged_reader().await.unwrap() {
        assert_eq!(
            read_staged(staged).await,
            content,
            "a staged write reads back whole"
        );
    }
    writer.commit(&key).await.unwrap();
    assert_eq!(read_all(store, &key, None).await, content);
    assert_eq!(read_all(store, &key, Some(7..=11)).await, b"depot");
}

async fn dropped_writer_leaves_nothing(store: &dyn BlobStore) {
    let key = key_of(b"never committed");
    let mut writer = store.stage().await.unwrap();
    writer
        .write(Bytes::from_static(b"never committed"))
        .await
        .unwrap();
    drop(writer);
    assert!(matches!(
        store.read(&key, None).await,
        Err(StorageError::NotFound)
    ));
}

async fn deleting_removes_and_is_idempotent(store: &dyn BlobStore) {
    let key = key_of(b"bye");
    let mut writer = store.stage().await.unwrap();
    writer.write(Bytes::from_static(b"bye")).await.unwrap();
    writer.commit(&key).await.unwrap();
    assert_eq!(store.size(&key).await.unwrap(), Some(3));
    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert_eq!(store.size(&key).await.unwrap(), None);
    assert!(matches!(
        store.read(&key, None).await,
        Err(StorageError::NotFound)
    ));
}

async fn resumable_upload_continues_where_it_was_persisted(store: &dyn BlobStore) {
    let upload = UploadId::new_random();
    let mut first = store.resume(&upload, 0, &ResumeState::default()).await.unwrap();
    first.write(Bytes::from_static(b"resum")).await.unwrap();
    let state = first.persist().await.unwrap();

    // A request that failed: written, never persisted. Its bytes are gone.
    let mut cut = store.resume(&upload, 5, &state).await.unwrap();
    cut.write(Bytes::from_static(b"XXXXXXXX")).await.unwrap();
    drop(cut);

    let mut last = store.resume(&upload, 5, &state).await.unwrap();
    last.write(Bytes::from_static(b"able")).await.unwrap();
    let staged = last
        .staged_reader()
        .await
        .unwrap()
        .expect("resumable writes read back");
    assert_eq!(read_staged(staged).await, b"resumable");
    let key = key_of(b"resumable");
    let last: Box<dyn BlobWriter> = last;
    last.commit(&key).await.unwrap();
    assert_eq!(read_all(store, &key, None).await, b"resumable");
    assert!(
        matches!(
            store.resume(&upload, 9, &state).await,
            Err(StorageError::NotFound)
        ),
        "a committed upload is no longer staged"
    );
}

async fn discarded_upload_leaves_nothing(store: &dyn BlobStore) {
    let upload = UploadId::new_random();
    let mut writer = store.resume(&upload, 0, &ResumeState::default()).await.unwrap();
    writer.write(Bytes::from_static(b"abandoned")).await.unwrap();
    let state = writer.persist().await.unwrap();
    store.discard(&upload, &state).await.unwrap();
    store.discard(&upload, &state).await.unwrap();
    assert!(matches!(
        store.resume(&upload, 9, &state).await,
        Err(StorageError::NotFound)
    ));
}

/// Bodies of several parts (S3 sends 8 MiB parts), one-shot and resumed
/// at offsets that fall inside parts, read back whole and in ranges.
async fn large_bodies_cross_part_boundaries(store: &dyn BlobStore) {
    let content: Vec<u8> = (0..21_000_000u32).map(|i| (i % 251) as u8).collect();
    let key = key_of(&content);
    let mut writer = store.stage().await.unwrap();
    for piece in content.chunks(1_000_003) {
        writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    writer.commit(&key).await.unwrap();
    assert!(read_all(store, &key, None).await == content);
    store.delete(&key).await.unwrap();

    // A body that ends on a part boundary (16 MiB: S3 sends two full parts).
    let even = &content[..16 << 20];
    let even_key = key_of(even);
    let mut writer = store.stage().await.unwrap();
    writer.write(Bytes::copy_from_slice(even)).await.unwrap();
    writer.commit(&even_key).await.unwrap();
    assert_eq!(store.size(&even_key).await.unwrap(), Some(16 << 20));
    store.delete(&even_key).await.unwrap();

    let upload = UploadId::new_random();
    let mut state = ResumeState::default();
    let cuts = [0, 3_000_000, 12_500_000, 12_500_001, content.len()];
    for (index, part) in cuts.windows(2).enumerate() {
        let mut writer = store.resume(&upload, part[0] as u64, &state).await.unwrap();
        for piece in content[part[0]..part[1]].chunks(700_001) {
            writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        if index + 2 < cuts.len() {
            state = writer.persist().await.unwrap();
        } else {
            let reader = writer.staged_reader().await.unwrap().expect("reads back");
            assert!(
                read_staged(reader).await == content,
                "the staged upload reads back whole"
            );
            let writer: Box<dyn BlobWriter> = writer;
            writer.commit(&key).await.unwrap();
        }
    }
    assert!(read_all(store, &key, Some(8_388_600..=8_388_700)).await == content[8_388_600..=8_388_700]);
    assert!(read_all(store, &key, None).await == content);
    store.delete(&key).await.unwrap();
}

async fn listing_pages_through_blobs_in_key_order(store: &dyn BlobStore) {
    let mut keys = Vec::new();
    for n in 0..5u8 {
        let content = vec![n; usize::from(n) + 1];
        let key = key_of(&content);
        let mut writer = store.stage().await.unwrap();
        writer.write(Bytes::from(content)).await.unwrap();
        writer.commit(&key).await.unwrap();
        keys.push((key, u64::from(n) + 1));
    }
    keys.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let first = store.list("", None, 3).await.unwrap();
    assert_eq!(first, keys[..3]);
    let rest = store.list("", Some(&first[2].0), 3).await.unwrap();
    assert_eq!(rest, keys[3..]);
    let prefix = &keys[4].0.as_str()[..3];
    assert_eq!(store.list(prefix, None, 10).await.unwrap(), keys[4..]);
    for (key, _) in &keys {
        store.delete(key).await.unwrap();
    }
    assert!(store.list("", None, 10).await.unwrap().is_empty());
}

pub(crate) async fn run_all(store: &dyn BlobStore) {
    listing_pages_through_blobs_in_key_order(store).await;
    committed_blob_reads_back_whole_and_in_ranges(store).await;
    resumable_upload_continues_where_it_was_persisted(store).await;
    discarded_upload_leaves_nothing(store).await;
    large_bodies_cross_part_boundaries(store).await;
    dropped_writer_leaves_nothing(store).await;
    deleting_removes_and_is_idempotent(store).await;
    store.check().await.unwrap();
}

#[tokio::test]
async fn memory_store_meets_the_contract() {
    run_all(&MemoryBlobStore::default()).await;
}

#[tokio::test]
async fn local_store_meets_the_contract_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    run_all(&store).await;
    assert_eq!(
        store.staged_count().unwrap(),
        0,
        "one-shot and resumable staging are empty"
    );
}

/// Needs an S3-compatible server: `DEPOT_TEST_S3_ENDPOINT` (with
/// `DEPOT_TEST_S3_BUCKET`, `DEPOT_TEST_S3_ACCESS_KEY`,
/// `DEPOT_TEST_S3_SECRET_KEY`); `.ci/test` starts one.
#[tokio::test]
async fn s3_store_meets_the_contract_and_leaves_no_staged_objects() {
    let Some(url) = std::env::var("DEPOT_TEST_S3_ENDPOINT")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "set DEPOT_TEST_S3_ENDPOINT to an S3-compatible server (.ci/test starts one)"
        );
        eprintln!("skipped: set DEPOT_TEST_S3_ENDPOINT to test the S3 store");
        return;
    };
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let prefix = format!("contract-{}", uuid::Uuid::new_v4().simple());
    let settings = S3Settings {
        endpoint: Some(url),
        path_style: true,
        access_key_id: Some(env("DEPOT_TEST_S3_ACCESS_KEY", "depot-test")),
        secret_access_key: Some(env("DEPOT_TEST_S3_SECRET_KEY", "depot-test-secret-key")),
        ..S3Settings::from_url(&format!(
            "s3://{}/{prefix}",
            env("DEPOT_TEST_S3_BUCKET", "depot-test")
        ))
        .unwrap()
    };
    let store = S3BlobStore::open(&settings).unwrap();
    run_all(&store).await;
    // Aborting a dropped write's multipart upload runs in the background.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(store.staged_count().await.unwrap(), 0, "no staged object is left");
}
