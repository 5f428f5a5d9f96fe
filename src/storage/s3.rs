//! Blobs in an S3-compatible object store (AWS S3, Garage, MinIO, Ceph, …)
//! through `object_store`, under `s3://bucket/prefix`:
//!
//! - `prefix/sha256/ab/<sha256>`: committed blobs, by content;
//! - `prefix/tmp/<uuid>`: a one-shot upload too large for one request, sent
//!   as a multipart upload part by part as its bytes arrive, completed only
//!   when the whole body is in and hashed, then copied (server-side) to its
//!   content address; a write dropped before that is aborted;
//! - `prefix/uploads/<id>/`: a resumable upload's multipart upload (`data`)
//!   and the bytes since its last full part (`tail-<uuid>`), so that nothing
//!   of it is kept on a node's disk and any node can go on with it.
//!
//! Nothing is staged on local disk. A body that fits in one part is sent with
//! one `PUT` to its content address at commit.

use std::collections::VecDeque;
use std::io;
use std::ops::RangeInclusive;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, MultipartId, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::guarded::{self, Guarded};
use super::ranged::RangedReader;
use super::{
    BlobKey, BlobStore, BlobWriter, ByteStream, ResumableWriter, ResumeState, StagedReader, StorageError,
};
use crate::domain::UploadId;

/// The size of every part but the last: above S3's 5 MiB minimum, and equal
/// sizes suit the stores (R2) that ask for them.
pub(super) const PART_SIZE: usize = 8 << 20;
/// Parts sent at once by one upload; with the part being filled, an upload
/// holds at most three parts in memory.
const PARTS_IN_FLIGHT: usize = 2;
/// The largest object S3 copies in one request; an upload larger than this
/// could not reach its content address.
pub const MAX_OBJECT_COPY: u64 = 5 << 30;

/// Where and how to reach the store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub prefix: String,
    /// For stores other than AWS, e.g. `http://127.0.0.1:3900`.
    pub endpoint: Option<String>,
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`), which most self-hosted stores need.
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// The slowest a body is expected to go to the store, in bytes per second
    /// (what each call's deadline allows for its bytes).
    pub min_rate: u64,
}

impl S3Settings {
    /// A client of the bucket; credentials not given come from the usual
    /// `AWS_*` environment variables.
    fn client(&self) -> Result<AmazonS3, StorageError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(!self.path_style);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        builder.build().map_err(io_error)
    }

    /// Reads `s3://bucket/prefix`; the other settings start as AWS's defaults.
    pub fn from_url(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            path_style: false,
            access_key_id: None,
            secret_access_key: None,
            min_rate: super::breaker::DEFAULT_MIN_RATE,
        })
    }
}

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<Guarded>,
    root: Path,
    /// `s3://bucket/prefix`, for `storage_uri`.
    shown: String,
}

impl S3BlobStore {
    /// A store over the settings.
    pub fn open(settings: &S3Settings) -> Result<Self, StorageError> {
        let root = Path::from(settings.prefix.as_str());
        let store = Guarded::new(settings.client()?, root.clone().join(".probe"), settings.min_rate);
        let shown = match settings.prefix.as_str() {
            "" => format!("s3://{}", settings.bucket),
            prefix => format!("s3://{}/{prefix}", settings.bucket),
        };
        Ok(Self {
            store: Arc::new(store),
            root,
            shown,
        })
    }

    /// How many staged objects (one-shot or resumable) exist right now.
    pub async fn staged_count(&self) -> Result<usize, StorageError> {
        let mut count = 0;
        for dir in ["tmp", "uploads"] {
            let under = self.root.clone().join(dir);
            count += self
                .store
                .list(Some(&under))
                .try_collect::<Vec<_>>()
                .await
                .map_err(io_error)?
                .len();
        }
        Ok(count)
    }

    fn blob(&self, key: &BlobKey) -> Path {
        self.root
            .clone()
            .join("sha256")
            .join(&key.as_str()[..2])
            .join(key.as_str())
    }

    fn upload_dir(&self, upload: &UploadId) -> Path {
        self.root.clone().join("uploads").join(upload.to_string())
    }

    fn writer(&self, staging: Path, abort_on_drop: bool) -> S3Writer {
        S3Writer {
            store: Arc::clone(&self.store),
            parts: Parts::new(Arc::clone(&self.store), staging, abort_on_drop),
            buffer: Buffer::default(),
            completed: false,
            committed: false,
            resumable: None,
            blob_of: self.clone(),
        }
    }

    /// Removes every object of a resumable upload but `keep`.
    async fn clear_upload(&self, upload: &UploadId, keep: Option<&str>) -> Result<(), StorageError> {
        let dir = self.upload_dir(upload);
        let objects: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(io_error)?;
        for object in objects {
            if keep.is_none_or(|keep| object.location.filename() != Some(keep)) {
                delete_quietly(&self.store, &object.location).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        let staging = self
            .root
            .clone()
            .join("tmp")
            .join(uuid::Uuid::new_v4().to_string());
        Ok(Box::new(self.writer(staging, true)))
    }

    async fn resume(
        &self,
        upload: &UploadId,
        offset: u64,
        state: &ResumeState,
    ) -> Result<Box<dyn ResumableWriter>, StorageError> {
        let saved = match state {
            ResumeState::InStagedBytes => S3Parts::default(),
            ResumeState::S3(parts) => parts.clone(),
            ResumeState::Node(_) => return Err(io_error("a storage node's state is no S3 upload's")),
        };
        let tail_len = offset
            .checked_sub(saved.part_bytes)
            .ok_or(StorageError::NotFound)?;
        // What a request that failed after writing left behind.
        self.clear_upload(upload, saved.tail.as_deref()).await?;
        let mut writer = self.writer(self.upload_dir(upload).join("data"), false);
        if let Some(tail) = &saved.tail {
            let bytes = self
                .store
                .get(&self.upload_dir(upload).join(tail.as_str()))
                .await
                .map_err(io_error)?
                .bytes()
                .await
                .map_err(io_error)?;
            let tail_len = usize::try_from(tail_len).map_err(io_error)?;
            if bytes.len() < tail_len {
                return Err(StorageError::NotFound);
            }
            writer.buffer.push(bytes.slice(..tail_len));
        } else if tail_len > 0 {
            return Err(StorageError::NotFound);
        }
        writer.parts.id = saved.multipart;
        if saved.part_bytes != saved.parts.len() as u64 * PART_SIZE as u64 {
            return Err(io_error("a resumable upload's saved parts do not add up"));
        }
        writer.parts.done = saved
            .parts
            .into_iter()
            .map(|content_id| PartId { content_id })
            .collect();
        writer.resumable = Some(*upload);
        Ok(Box::new(writer))
    }

    async fn discard(&self, upload: &UploadId, state: &ResumeState) -> Result<(), StorageError> {
        if let ResumeState::S3(S3Parts {
            multipart: Some(id), ..
        }) = state
        {
            let data = self.upload_dir(upload).join("data");
            if let Err(err) = self.store.abort_multipart(&data, id).await {
                tracing::warn!(%upload, error = %err, "could not abort a resumable upload's multipart upload");
            }
        }
        self.clear_upload(upload, None).await
    }

    async fn read(
        &self,
        key: &BlobKey,
        range: Option<RangeInclusive<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let options = GetOptions {
            range: range.map(|range| GetRange::Bounded(*range.start()..range.end().saturating_add(1))),
            ..GetOptions::default()
        };
        let got = self
            .store
            .get_opts(&self.blob(key), options)
            .await
            .map_err(io_error)?;
        Ok(Box::pin(
            got.into_stream().map(|chunk| chunk.map_err(io::Error::from)),
        ))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, StorageError> {
        match self.store.head(&self.blob(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(io_error(err)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        delete_quietly(&self.store, &self.blob(key)).await
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, StorageError> {
        let mut under = self.root.clone().join("sha256");
        if prefix.len() >= 2 {
            under = under.join(&prefix[..2]);
        }
        let mut listing = match after {
            Some(after) => self.store.list_with_offset(Some(&under), &self.blob(after)),
            None => self.store.list(Some(&under)),
        };
        let mut page = Vec::new();
        while let Some(object) = listing.try_next().await.map_err(io_error)? {
            let key = object.location.filename().and_then(BlobKey::parse);
            if let Some(key) = key.filter(|key| super::listed(key, prefix, after)) {
                page.push((key, object.size));
                if page.len() == limit {
                    break;
                }
            }
        }
        Ok(page)
    }

    async fn check(&self) -> Result<(), StorageError> {
        let probe = self
            .root
            .clone()
            .join("tmp")
            .join(format!(".ready-{}", uuid::Uuid::new_v4()));
        self.store
            .put(&probe, PutPayload::from_static(b"ok"))
            .await
            .map_err(io_error)?;
        delete_quietly(&self.store, &probe).await
    }

    fn uri(&self, key: &BlobKey) -> String {
        format!("{}/sha256/{}/{key}", self.shown, &key.as_str()[..2])
    }
}

/// What a resumable upload on S3 needs kept between requests
/// ([`ResumeState::S3`](super::ResumeState::S3)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Parts {
    multipart: Option<MultipartId>,
    /// The ETag of each part sent, in order.
    parts: Vec<String>,
    /// Bytes in those parts; the rest up to the offset are in `tail`.
    part_bytes: u64,
    tail: Option<String>,
}

/// Chunks waiting to become a part, kept by reference.
#[derive(Default)]
struct Buffer {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Buffer {
    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// The first `len` bytes (or all), as a payload, without copying.
    fn take(&mut self, len: usize) -> PutPayload {
        let mut taken = Vec::new();
        let mut wanted = len.min(self.len);
        self.len -= wanted;
        while wanted > 0 {
            let Some(mut chunk) = self.chunks.pop_front() else {
                break;
            };
            if chunk.len() > wanted {
                self.chunks.push_front(chunk.split_off(wanted));
            }
            wanted -= chunk.len();
            taken.push(chunk);
        }
        taken.into_iter().collect()
    }

    fn to_vec(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.iter().copied())
            .collect()
    }
}

/// A multipart upload's parts: sent as they fill, a few at a time.
struct Parts {
    store: Arc<Guarded>,
    path: Path,
    id: Option<MultipartId>,
    done: Vec<PartId>,
    in_flight: VecDeque<tokio::task::JoinHandle<object_store::Result<PartId>>>,
    /// Whether to abort the upload when dropped unfinished: a one-shot
    /// write's always; a resumable one's only if this request began it and
    /// did not persist it (otherwise it lives on between requests).
    abort_on_drop: bool,
    finished: bool,
}

impl Parts {
    fn new(store: Arc<Guarded>, path: Path, abort_on_drop: bool) -> Self {
        Self {
            store,
            path,
            id: None,
            done: Vec::new(),
            in_flight: VecDeque::new(),
            abort_on_drop,
            finished: false,
        }
    }

    fn started(&self) -> bool {
        self.id.is_some()
    }

    async fn send(&mut self, payload: PutPayload) -> Result<(), StorageError> {
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.create_multipart(&self.path).await.map_err(io_error)?;
                self.id = Some(id.clone());
                self.abort_on_drop = true;
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.settle_one().await?;
        }
        let index = self.done.len() + self.in_flight.len();
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        self.in_flight.push_back(tokio::spawn(async move {
            store.put_part(&path, &id, index, payload).await
        }));
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<(), StorageError> {
        if let Some(part) = self.in_flight.pop_front() {
            let part = part.await.map_err(io_error)?.map_err(io_error)?;
            self.done.push(part);
        }
        Ok(())
    }

    /// Waits for every part in flight.
    async fn settle(&mut self) -> Result<(), StorageError> {
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Completes the upload: its object now exists.
    async fn complete(&mut self) -> Result<(), StorageError> {
        self.settle().await?;
        let id = self
            .id
            .clone()
            .ok_or_else(|| io_error("no multipart upload to complete"))?;
        self.store
            .complete_multipart(&self.path, &id, std::mem::take(&mut self.done))
            .await
            .map_err(io_error)?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        for part in &self.in_flight {
            part.abort();
        }
        let (Some(id), true, false) = (self.id.take(), self.abort_on_drop, self.finished) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        runtime.spawn(async move {
            if let Err(err) = store.abort_multipart(&path, &id).await {
                tracing::warn!(path = %path, error = %err, "could not abort a multipart upload");
            }
        });
    }
}

struct S3Writer {
    store: Arc<Guarded>,
    parts: Parts,
    buffer: Buffer,
    /// Whether the multipart upload was completed (to read it back).
    completed: bool,
    committed: bool,
    /// The resumable upload this continues.
    resumable: Option<UploadId>,
    blob_of: S3BlobStore,
}

impl S3Writer {
    /// Completes the staged object so it can be read: every byte as parts.
    async fn complete_staging(&mut self) -> Result<(), StorageError> {
        if !self.completed {
            // The last part, unless the body ended on a part boundary.
            if self.buffer.len > 0 || !self.parts.started() {
                let rest = self.buffer.take(self.buffer.len);
                self.parts.send(rest).await?;
            }
            self.parts.complete().await?;
            self.completed = true;
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        if self.completed {
            return Err(io_error("write after the staged object was completed"));
        }
        self.buffer.push(chunk);
        while self.buffer.len >= PART_SIZE {
            let part = self.buffer.take(PART_SIZE);
            self.parts.send(part).await?;
        }
        Ok(())
    }

    /// A body that fits in one part is read from memory; a larger one's
    /// multipart upload is completed and read back with ranged requests. No
    /// more bytes can be written after.
    async fn staged_reader(&mut self) -> Result<Option<Box<dyn StagedReader>>, StorageError> {
        if !self.parts.started() && !self.completed {
            return Ok(Some(Box::new(io::Cursor::new(self.buffer.to_vec()))));
        }
        self.complete_staging().await?;
        let size = self.store.head(&self.parts.path).await.map_err(io_error)?.size;
        let (store, path) = (Arc::clone(&self.store), self.parts.path.clone());
        let runtime = tokio::runtime::Handle::current();
        Ok(Some(Box::new(RangedReader::new(size, move |start, end| {
            let (store, path) = (Arc::clone(&store), path.clone());
            runtime
                .block_on(async move { store.get_range(&path, start..end).await })
                .map_err(io::Error::from)
        }))))
    }

    async fn commit(mut self: Box<Self>, key: &BlobKey) -> Result<(), StorageError> {
        let target = self.blob_of.blob(key);
        if !self.parts.started() && !self.completed {
            let body = self.buffer.take(self.buffer.len);
            self.store.put(&target, body).await.map_err(io_error)?;
        } else {
            self.complete_staging().await?;
            let staging = self.parts.path.clone();
            self.store.copy(&staging, &target).await.map_err(io_error)?;
            delete_quietly(&self.store, &staging).await?;
        }
        self.committed = true;
        if let Some(upload) = self.resumable {
            self.blob_of.clear_upload(&upload, None).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResumableWriter for S3Writer {
    /// Sends every full part, and keeps the rest as the upload's new tail
    /// object; the old tail goes when the next request finds it unused.
    async fn persist(mut self: Box<Self>) -> Result<ResumeState, StorageError> {
        let upload = self.resumable.ok_or_else(|| io_error("not a resumable upload"))?;
        self.parts.settle().await?;
        self.parts.abort_on_drop = false;
        // Every part but a completed upload's last is PART_SIZE long.
        let part_bytes = self.parts.done.len() as u64 * PART_SIZE as u64;
        let tail = match self.buffer.len {
            0 => None,
            _ => {
                let name = format!("tail-{}", uuid::Uuid::new_v4());
                let body = self.buffer.take(self.buffer.len);
                self.store
                    .put(&self.blob_of.upload_dir(&upload).join(name.as_str()), body)
                    .await
                    .map_err(io_error)?;
                Some(name)
            }
        };
        Ok(ResumeState::S3(S3Parts {
            multipart: self.parts.id.clone(),
            parts: self
                .parts
                .done
                .iter()
                .map(|part| part.content_id.clone())
                .collect(),
            part_bytes,
            tail,
        }))
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // A one-shot write completed to be read back, then dropped.
        if self.completed && !self.committed && self.resumable.is_none() {
            let (store, path) = (Arc::clone(&self.store), self.parts.path.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { delete_quietly(&store, &path).await });
            }
        }
    }
}

async fn delete_quietly(store: &Guarded, path: &Path) -> Result<(), StorageError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(err) => Err(io_error(err)),
    }
}

/// Files by name under an S3 prefix, beside a store's content-addressed
/// blobs: what a backup keeps in a bucket (its snapshots' metadata, content
/// lists and manifests), moved whole between the bucket and local files.
#[derive(Debug, Clone)]
pub struct S3Files {
    store: Arc<AmazonS3>,
    root: String,
}

impl S3Files {
    pub fn open(settings: &S3Settings) -> Result<Self, StorageError> {
        Ok(Self {
            store: Arc::new(settings.client()?),
            root: settings.prefix.clone(),
        })
    }

    fn path(&self, name: &str) -> Path {
        match self.root.as_str() {
            "" => Path::from(name),
            root => Path::from(format!("{root}/{name}")),
        }
    }

    /// Writes the local file `from` as `name`, in parts as large files need.
    pub async fn upload(&self, name: &str, from: &std::path::Path) -> Result<(), StorageError> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(from).await?;
        let upload = self
            .store
            .put_multipart(&self.path(name))
            .await
            .map_err(io_error)?;
        let mut writer = object_store::WriteMultipart::new(upload);
        let mut buffer = vec![0; 1 << 20];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            writer.write(&buffer[..read]);
            writer
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(io_error)?;
        }
        writer.finish().await.map_err(io_error)?;
        Ok(())
    }

    /// Reads `name` into the local file `to`, durably.
    pub async fn download(&self, name: &str, to: &std::path::Path) -> Result<(), StorageError> {
        use tokio::io::AsyncWriteExt;
        let got = self.store.get(&self.path(name)).await.map_err(io_error)?;
        let mut stream = got.into_stream();
        let mut file = tokio::fs::File::create(to).await?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(io_error)?).await?;
        }
        file.sync_all().await?;
        Ok(())
    }

    /// The names of every object under `under/`, relative to it.
    pub async fn list(&self, under: &str) -> Result<Vec<String>, StorageError> {
        let dir = self.path(under);
        let start = format!("{dir}/");
        self.store
            .list(Some(&dir))
            .map_err(io_error)
            .map_ok(|meta| {
                meta.location
                    .as_ref()
                    .strip_prefix(&start)
                    .unwrap_or_default()
                    .to_owned()
            })
            .try_collect()
            .await
    }
}

fn io_error(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    let err: Box<dyn std::error::Error + Send + Sync> = err.into();
    match err.downcast::<object_store::Error>() {
        Ok(store_err) => match guarded::unavailable_in(&store_err) {
            Some(reason) => StorageError::Unavailable(reason),
            None => StorageError::from(io::Error::from(*store_err)),
        },
        Err(other) => StorageError::Io(io::Error::other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_name_a_bucket_and_an_optional_prefix() {
        let settings = S3Settings::from_url("s3://depot/prod/blobs/").unwrap();
        assert_eq!(
            (settings.bucket.as_str(), settings.prefix.as_str()),
            ("depot", "prod/blobs")
        );
        let bare = S3Settings::from_url("s3://depot").unwrap();
        assert_eq!((bare.bucket.as_str(), bare.prefix.as_str()), ("depot", ""));
        assert!(S3Settings::from_url("s3://").is_none());
        assert!(S3Settings::from_url("/var/lib/depot").is_none());
        assert!(S3Settings::from_url("gs://bucket").is_none());
    }

    #[test]
    fn a_buffer_gives_parts_of_the_size_asked_without_losing_a_byte() {
        let mut buffer = Buffer::default();
        for piece in [&b"abc"[..], b"defgh", b"ij"] {
            buffer.push(Bytes::copy_from_slice(piece));
        }
        let first: Vec<u8> = buffer.take(4).iter().flat_map(|chunk| chunk.to_vec()).collect();
        assert_eq!(first, b"abcd");
        assert_eq!(buffer.to_vec(), b"efghij");
        let rest: Vec<u8> = buffer.take(100).iter().flat_map(|chunk| chunk.to_vec()).collect();
        assert_eq!(rest, b"efghij");
        assert_eq!(buffer.len, 0);
    }
}
