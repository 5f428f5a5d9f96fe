//! A body read once, chunk by chunk, into a staged blob: hashed, addressed
//! by CID and, for datasets, profiled on the way.

use bytes::Bytes;

use super::digests::{Digesting, Digests};
use super::profiling::Profiling;
use crate::domain::{UploadId, timestamp};
use crate::ipfs::Dag;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;
use crate::profile::{Format, Profile};
use crate::storage::{BlobKey, BlobWriter};

/// A body being read into a staged blob — hashed, addressed by CID and, for
/// datasets, profiled on the way. Dropping it before [`store`] discards the
/// staged bytes, which is how rejected and interrupted uploads leave nothing
/// behind.
pub struct Ingest {
    writer: Box<dyn BlobWriter>,
    /// When the first byte could arrive (microseconds).
    started_at: i64,
    digests: Digesting,
    profiling: Profiling,
    size: u64,
    limit: u64,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts staging a body; `format` says whether (and how) to profile it.
    pub async fn start(state: &AppState, format: Option<Format>) -> Result<Self, Error> {
        Ok(Self {
            writer: state.blobs.stage().await?,
            started_at: timestamp::now_micros(),
            digests: Digests::default().start(),
            profiling: Profiling::new(format),
            size: 0,
            limit: state.policy.max_upload_bytes,
        })
    }

    /// Takes the next chunk; refuses it (413) before writing if it would pass the
    /// limit, and (422) as soon as the profiler finds the dataset is one pandas
    /// would refuse.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        let size = self.size.saturating_add(chunk.len() as u64);
        if size > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.profiling.push(&chunk).await?;
        self.digests.push(&chunk).await?;
        self.writer.write(chunk).await?;
        self.size = size;
        Ok(())
    }

    /// Refuses a body past `limit` bytes too, if that is less than the
    /// deployment's limit (an upload link's).
    pub fn lower_limit(&mut self, limit: u64) {
        self.limit = self.limit.min(limit);
    }

    /// How many bytes arrived so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Everything the body gave, once every byte has arrived.
    pub async fn finish(mut self) -> Result<Received, Error> {
        let (head, profile) = self.profiling.finish(self.writer.as_mut()).await?;
        let (key, dag) = self.digests.stop().await?.finish();
        Ok(Received {
            writer: self.writer,
            started_at: self.started_at,
            key,
            dag,
            size: self.size,
            head,
            profile,
            upload: None,
            held_as: None,
        })
    }
}

/// A body received whole into a staged blob, hashed, addressed and profiled:
/// what [`store`] records.
pub struct Received {
    pub writer: Box<dyn BlobWriter>,
    /// When the body began to stream in (a resumable upload: its creation).
    pub started_at: i64,
    pub key: BlobKey,
    pub dag: Dag,
    pub size: u64,
    /// The first [`content_type::SNIFF_LEN`] bytes.
    pub head: Vec<u8>,
    pub profile: Option<Profile>,
    /// The resumable upload the body completes, removed in the same transaction.
    pub upload: Option<UploadId>,
    /// The quota reservation that held room for the bytes, given up in the
    /// same transaction.
    pub held_as: Option<String>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("key", &self.key)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
