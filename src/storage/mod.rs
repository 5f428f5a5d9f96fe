//! Content-addressed blob stores. A blob's key is the SHA-256 of its bytes, so
//! identical content is stored once; reference counts live in the metadata store.
//!
//! A write is staged first ([`BlobStore::stage`]) and becomes visible only on
//! [`BlobWriter::commit`]; a writer dropped before that leaves nothing behind.
//!
//! A resumable upload stages its bytes over several requests: each one
//! [`BlobStore::resume`]s it where the last [`ResumableWriter::persist`] left
//! it, and the last one commits it like any other write.

pub mod breaker;
mod guarded;
mod local;
mod memory;
mod ranged;
pub mod remote;
mod s3;

use std::fmt;
use std::io;
use std::ops::RangeInclusive;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::domain::UploadId;

pub use local::LocalBlobStore;
pub use memory::MemoryBlobStore;
pub use remote::RemoteBlobStore;
pub use s3::{MAX_OBJECT_COPY, S3BlobStore, S3Settings};

/// A stream of blob bytes, as served to clients.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The SHA-256 of a blob's content, as 64 lower-case hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self(hex::encode(digest))
    }

    /// Accepts only 64 lower-case hex digits, so a key is always a safe path segment.
    pub fn parse(hex_digest: &str) -> Option<Self> {
        let valid = hex_digest.len() == 64
            && hex_digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(hex_digest.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("blob not found")]
    NotFound,
    #[error("storage is full")]
    Full,
    /// The store could not be reached (a storage node down, after retries).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Io(io::Error),
}

impl StorageError {
    /// The kind of failure, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Full => "full",
            Self::Unavailable(_) => "unavailable",
            Self::Io(_) => "io",
        }
    }
}

impl From<io::Error> for StorageError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => Self::NotFound,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::Full,
            _ => Self::Io(err),
        }
    }
}

/// Whether `key` belongs in a [`BlobStore::list`] page for `prefix` and `after`.
fn listed(key: &BlobKey, prefix: &str, after: Option<&BlobKey>) -> bool {
    key.as_str().starts_with(prefix) && after.is_none_or(|after| key.as_str() > after.as_str())
}

#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// Starts a staged write that no reader can see until it is committed.
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError>;

    /// Continues the resumable upload `upload` at byte `offset` (0 starts it),
    /// with the `state` its last [`ResumableWriter::persist`] returned (empty
    /// at first). Bytes staged past `offset` — a write that a crash cut short
    /// — are dropped; fewer than `offset` staged bytes is
    /// [`StorageError::NotFound`].
    async fn resume(
        &self,
        upload: &UploadId,
        offset: u64,
        state: &str,
    ) -> Result<Box<dyn ResumableWriter>, StorageError>;

    /// Removes a resumable upload's staged bytes; removing none is not an error.
    async fn discard(&self, upload: &UploadId, state: &str) -> Result<(), StorageError>;

    /// Streams a blob, or the inclusive byte `range` of it.
    async fn read(
        &self,
        key: &BlobKey,
        range: Option<RangeInclusive<u64>>,
    ) -> Result<ByteStream, StorageError>;

    /// The size of a committed blob; `None` when the store does not hold it.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, StorageError>;

    /// Removes a blob; removing a missing blob is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError>;

    /// Committed blobs in key order, with their sizes: those whose key starts
    /// with `prefix` (lower-case hex) and comes after `after`, `limit` at most.
    async fn list(
        &self,
        prefix: &str,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, StorageError>;

    /// Whether the store is reachable and writable (for `/readyz`).
    async fn check(&self) -> Result<(), StorageError>;

    /// Removes one-request staged writes last touched before `older_than`:
    /// what uploads a crash cut off left behind (resumable uploads' bytes stay,
    /// their expiry removes them). Returns how many went. A store whose
    /// staged writes cannot outlive their request removes none.
    async fn remove_stale_stages(&self, _older_than: std::time::SystemTime) -> Result<u64, StorageError> {
        Ok(0)
    }

    /// Whether a staged write can be read back ([`BlobWriter::staged_reader`])
    /// without ending it, so that a storage node can serve such reads while
    /// the write goes on. S3 cannot: it completes the multipart upload first.
    fn reads_staged_in_place(&self) -> bool {
        false
    }

    /// Where a blob lives, as reported in `storage_uri`.
    fn uri(&self, key: &BlobKey) -> String;
}

/// A staged blob read back from its start.
pub trait StagedReader: io::Read + io::Seek + Send {}

impl<T: io::Read + io::Seek + Send> StagedReader for T {}

#[async_trait]
pub trait BlobWriter: Send {
    /// Takes the next chunk; a store may keep it (by reference) until later.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;

    /// Everything written, to read with random access (an Excel workbook's
    /// ZIP directory is at its end), once the body is complete: a store may
    /// take no more bytes after. `None` where the store cannot read a staged
    /// write back.
    async fn staged_reader(&mut self) -> Result<Option<Box<dyn StagedReader>>, StorageError> {
        Ok(None)
    }

    /// Makes the staged bytes durable and visible under `key`. Committing content
    /// that is already stored is allowed and leaves one copy.
    async fn commit(self: Box<Self>, key: &BlobKey) -> Result<(), StorageError>;
}

/// A writer that continues a resumable upload.
#[async_trait]
pub trait ResumableWriter: BlobWriter {
    /// Makes everything written so far durable and leaves it staged, to be
    /// resumed by a later request (on any node that shares the store). Returns
    /// what the store needs to resume it (kept with the upload).
    async fn persist(self: Box<Self>) -> Result<String, StorageError>;

    /// Writes out what is buffered, so that a writer resumed at the offset
    /// reached finds every byte, before [`persist`](Self::persist) has made
    /// them durable. Returns the state to resume with, for a store that keeps
    /// none beyond the staged bytes; `None` when only `persist` can tell it
    /// (the next request then waits for it). Once it has returned a state,
    /// the bytes written stay staged whatever happens to this writer.
    async fn write_out(&mut self) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    /// Like [`persist`](Self::persist), for bytes that need not survive a
    /// crash: a storage node's one-request stage, discarded if the node
    /// restarts, made durable only when committed. A store may skip the sync.
    async fn keep(self: Box<Self>) -> Result<String, StorageError> {
        self.persist().await
    }
}

#[cfg(test)]
mod contract_tests {
    //! The same behaviour asked of every backend.

    use std::sync::Arc;

    use futures_util::TryStreamExt;
    use sha2::{Digest, Sha256};

    use super::*;

    fn key_of(content: &[u8]) -> BlobKey {
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
        let mut first = store.resume(&upload, 0, "").await.unwrap();
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
        let mut writer = store.resume(&upload, 0, "").await.unwrap();
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
        let mut state = String::new();
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

    async fn run_all(store: &dyn BlobStore) {
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

    /// A storage node on a local store, served on a loopback port, and a
    /// remote store speaking to it with `key`.
    async fn node_on_loopback(root: &std::path::Path, key: &str) -> (RemoteBlobStore, LocalBlobStore) {
        let local = LocalBlobStore::open(&root.join("blobs")).await.unwrap();
        let node = crate::pipeline::storage_node::StorageNode::open(Arc::new(local.clone()), root)
            .await
            .unwrap();
        let secret = crate::config::Secret::new(key);
        let state = crate::http::NodeState::new(node, &secret);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let limits = crate::server::Limits::node(&crate::config::Config::default());
        tokio::spawn(crate::server::run_node(
            listener,
            state,
            limits,
            std::future::pending(),
        ));
        (
            RemoteBlobStore::new(&url, &secret, breaker::DEFAULT_MIN_RATE).unwrap(),
            local,
        )
    }

    #[tokio::test]
    async fn remote_store_meets_the_contract_and_leaves_nothing_staged_on_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, local) = node_on_loopback(dir.path(), "a-key-of-at-least-thirty-two-bytes!").await;
        run_all(&remote).await;

        // A write cut off after some chunks went to the node is discarded there.
        let mut writer = remote.stage().await.unwrap();
        for _ in 0..3 {
            writer.write(Bytes::from(vec![7u8; remote::CHUNK])).await.unwrap();
        }
        drop(writer);
        let emptied = async {
            while local.staged_count().unwrap() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), emptied)
            .await
            .expect("the node discards a dropped write's chunks");
        let transient = dir.path().join(crate::pipeline::storage_node::TRANSIENT_DIR);
        assert_eq!(std::fs::read_dir(transient).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_remote_store_with_the_wrong_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _) = node_on_loopback(dir.path(), "a-key-of-at-least-thirty-two-bytes!").await;
        let (right, _) = node_on_loopback(dir.path(), "the-right-key-of-thirty-two-bytes!!").await;
        right.check().await.unwrap();
        let url = right
            .uri(&key_of(b""))
            .split("/internal/")
            .next()
            .unwrap()
            .to_owned();
        let wrong = RemoteBlobStore::new(
            &url,
            &crate::config::Secret::new("not-the-key-but-also-thirty-two-b"),
            breaker::DEFAULT_MIN_RATE,
        )
        .unwrap();
        assert!(matches!(wrong.check().await, Err(StorageError::Unavailable(_))));
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

    #[test]
    fn blob_keys_are_only_lowercase_sha256_hex() {
        assert!(BlobKey::parse(&"a".repeat(64)).is_some());
        assert!(BlobKey::parse(&"A".repeat(64)).is_none());
        assert!(BlobKey::parse("../etc/passwd").is_none());
    }
}
