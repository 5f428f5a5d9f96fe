//! One request's body on its way into a resumable upload: hashed, checked
//! against its `Upload-Checksum`, profiled and written, chunk by chunk.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::lock::UploadLock;
use super::{ChecksumAlgorithm, Patch, client_name};
use crate::db::uploads::UploadRow;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{Digesting, Digests, Profiling};
use crate::profile::Format;
use crate::storage::ResumableWriter;

/// One request's body on its way into the upload.
pub(super) struct Appending {
    pub writer: Box<dyn ResumableWriter>,
    pub digests: Digesting,
    pub checksum: Option<RunningChecksum>,
    /// Where the upload stands with this body's bytes so far.
    pub offset: u64,
    pub length: u64,
    /// Whether the body stopped before its end (the client went away).
    pub cut: bool,
    /// The dataset profiler, when it has seen every byte from the first
    /// (see [`super::WarmProfiles`]).
    pub profiling: Option<Profiling>,
}

impl Appending {
    pub async fn read<S, E>(mut self, mut body: S, lock: &UploadLock) -> Result<Self, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    tracing::debug!(error = %err, "upload body cut short");
                    self.cut = true;
                    break;
                }
            };
            if lock.lost() {
                return Err(Error::UploadLocked);
            }
            let offset = self.offset + chunk.len() as u64;
            if offset > self.length {
                return Err(Error::PastUploadLength { length: self.length });
            }
            if let Some(checksum) = &mut self.checksum {
                checksum.update(&chunk);
            }
            if let Some(profiling) = &mut self.profiling
                && profiling.push(&chunk).await.is_err()
            {
                // Not a dataset pandas would read: the last request finds
                // that out again, from the staged bytes, and says so.
                self.profiling = None;
            }
            self.digests.push(&chunk).await?;
            self.writer.write(chunk).await?;
            self.offset = offset;
        }
        Ok(self)
    }
}

pub(super) enum RunningChecksum {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl RunningChecksum {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(hasher) => hasher.finalize().to_vec(),
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }
}

/// Reads a request's body into the upload, from where it stands, under its
/// lock: the body and its checksum.
pub(super) async fn receive<S, E>(
    state: &AppState,
    lock: &UploadLock,
    row: &UploadRow,
    digests: Digests,
    patch: Patch,
    body: S,
) -> Result<Appending, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let at = u64::try_from(row.upload_offset).unwrap_or_default();
    let length = u64::try_from(row.length).unwrap_or_default();
    let checksum = patch.checksum;
    let profiling = match state.warm_profiles.take(lock.id, at) {
        Some(paused) => Some(Profiling::resume(paused)),
        None if at == 0 => Some(Profiling::new(Format::detect(client_name(row), ""))),
        None => None,
    };
    let mut body = Appending {
        writer: state.blobs.resume(&lock.id, at, &row.store_state).await?,
        digests: digests.start(),
        checksum: checksum
            .as_ref()
            .map(|expected| RunningChecksum::new(expected.algorithm)),
        offset: at,
        length,
        cut: false,
        profiling,
    }
    .read(body, lock)
    .await?;
    if let (Some(expected), Some(running)) = (&checksum, body.checksum.take()) {
        if body.cut {
            tracing::warn!(upload = %lock.id, "a checksummed PATCH was cut short; its bytes were discarded");
            return Err(Error::Interrupted);
        }
        if running.finish() != expected.digest {
            return Err(Error::ChecksumMismatch {
                algorithm: expected.algorithm.name(),
            });
        }
    }
    Ok(body)
}
