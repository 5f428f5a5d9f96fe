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
mod copy;
mod guarded;
mod local;
mod memory;
mod ranged;
pub mod remote;
mod resume;
mod s3;

use std::fmt;
use std::io;
use std::ops::RangeInclusive;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::domain::UploadId;

pub use copy::{Copied, copy, digest};
pub use local::LocalBlobStore;
pub use memory::MemoryBlobStore;
pub use remote::RemoteBlobStore;
pub use resume::{ResumeState, S3Parts};
pub use s3::{MAX_OBJECT_COPY, S3BlobStore, S3Files, S3Settings};

/// Blobs are keyed by the SHA-256 of their content.
pub use crate::domain::BlobKey;

/// A stream of blob bytes, as served to clients.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

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
    /// with the `state` its last [`ResumableWriter::persist`] returned (the
    /// default at first). Bytes staged past `offset` — a write that a crash cut short
    /// — are dropped; fewer than `offset` staged bytes is
    /// [`StorageError::NotFound`].
    async fn resume(
        &self,
        upload: &UploadId,
        offset: u64,
        state: &ResumeState,
    ) -> Result<Box<dyn ResumableWriter>, StorageError>;

    /// Removes a resumable upload's staged bytes; removing none is not an error.
    async fn discard(&self, upload: &UploadId, state: &ResumeState) -> Result<(), StorageError>;

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
    async fn persist(self: Box<Self>) -> Result<ResumeState, StorageError>;

    /// Writes out what is buffered, so that a writer resumed at the offset
    /// reached finds every byte, before [`persist`](Self::persist) has made
    /// them durable. Returns the state to resume with, for a store that keeps
    /// none beyond the staged bytes; `None` when only `persist` can tell it
    /// (the next request then waits for it). Once it has returned a state,
    /// the bytes written stay staged whatever happens to this writer.
    async fn write_out(&mut self) -> Result<Option<ResumeState>, StorageError> {
        Ok(None)
    }

    /// Like [`persist`](Self::persist), for bytes that need not survive a
    /// crash: a storage node's one-request stage, discarded if the node
    /// restarts, made durable only when committed. A store may skip the sync.
    async fn keep(self: Box<Self>) -> Result<ResumeState, StorageError> {
        self.persist().await
    }
}

#[cfg(test)]
pub(crate) mod contract;
