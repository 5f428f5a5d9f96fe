//! What a storage node does for its gateways (the internal API's work): it
//! stages what they send into its own blob store, hashing as it goes, and
//! commits a blob only when its SHA-256 is the one the gateway declares.
//!
//! A staged upload's state travels with the gateway (see
//! [`remote`](crate::storage::remote)): the node keeps no table of uploads, so
//! it can restart between two chunks. One-request stages are the exception:
//! while one is open, a file in `<data_dir>/transient-uploads` names it, and
//! whatever a crash leaves of them is discarded when the node starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::domain::UploadId;
use crate::ipfs;
use crate::pipeline::Error;
use crate::storage::remote::Staged;
use crate::storage::{BlobKey, BlobStore, BlobWriter, ResumeState, StorageError};

/// The directory, in the node's data dir, naming its open one-request stages.
pub const TRANSIENT_DIR: &str = "transient-uploads";

#[derive(Debug)]
pub struct StorageNode {
    pub blobs: Arc<dyn BlobStore>,
    transient: PathBuf,
    /// One request at a time per staged upload: a chunk sent again waits for
    /// the first attempt to let go.
    locks: Mutex<HashMap<UploadId, Weak<tokio::sync::Mutex<()>>>>,
}

/// A staged upload as the node hands it to the gateway between requests.
struct StagedState {
    offset: u64,
    sha256: Sha256,
    /// What the node's own store needs to resume the bytes.
    store: ResumeState,
}

impl StagedState {
    const VERSION: u8 = 1;

    fn encode(&self) -> String {
        let mut bytes = vec![Self::VERSION];
        bytes.extend_from_slice(&self.offset.to_le_bytes());
        ipfs::save_sha256(&self.sha256, &mut bytes);
        bytes.extend_from_slice(self.store.encode().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The state a gateway sends back; empty means a new upload.
    fn decode(text: &str) -> Result<Self, Error> {
        if text.is_empty() {
            return Ok(Self {
                offset: 0,
                sha256: Sha256::new(),
                store: ResumeState::InStagedBytes,
            });
        }
        let invalid = || Error::BadRequest("malformed upload state".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let (&version, rest) = bytes.split_first().ok_or_else(invalid)?;
        let (offset, mut rest) = rest.split_at_checked(8).ok_or_else(invalid)?;
        if version != Self::VERSION {
            return Err(invalid());
        }
        let offset = u64::from_le_bytes(offset.try_into().map_err(|_| invalid())?);
        let sha256 = ipfs::restore_sha256(&mut rest).ok_or_else(invalid)?;
        let store = std::str::from_utf8(rest)
            .ok()
            .and_then(|text| ResumeState::decode(text).ok())
            .ok_or_else(invalid)?;
        Ok(Self {
            offset,
            sha256,
            store,
        })
    }
}

impl StorageNode {
    /// A node over `blobs`; discards the one-request stages a crash left.
    pub async fn open(blobs: Arc<dyn BlobStore>, data_dir: &Path) -> anyhow::Result<Self> {
        let transient = data_dir.join(TRANSIENT_DIR);
        tokio::fs::create_dir_all(&transient).await?;
        let node = Self {
            blobs,
            transient,
            locks: Mutex::default(),
        };
        let mut left = tokio::fs::read_dir(&node.transient).await?;
        let mut discarded = 0;
        while let Some(entry) = left.next_entry().await? {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(UploadId::parse) else {
                continue;
            };
            let state = tokio::fs::read_to_string(entry.path()).await.unwrap_or_default();
            let store = StagedState::decode(&state)
                .map(|state| state.store)
                .unwrap_or_default();
            node.blobs.discard(&id, &store).await?;
            tokio::fs::remove_file(entry.path()).await?;
            discarded += 1;
        }
        if discarded > 0 {
            tracing::info!(discarded, "discarded the partial uploads an earlier run left");
        }
        Ok(node)
    }

    /// A whole body with its SHA-256 declared: committed under that key only if
    /// the bytes have it. Returns the size.
    pub async fn upload<S, E>(&self, declared: &BlobKey, body: S) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let mut writer = self.blobs.stage().await?;
        let mut sha256 = Sha256::new();
        let size = write_body(writer.as_mut(), &mut sha256, body).await?;
        check_digest(declared, sha256)?;
        writer.commit(declared).await?;
        Ok(size)
    }

    /// Stages a chunk at `offset` of upload `id`, after the bytes `state`
    /// describes (anything staged past `offset` by an attempt that failed is
    /// dropped). `transient` marks a one-request stage.
    pub async fn append<S, E>(
        &self,
        id: UploadId,
        offset: u64,
        state: &str,
        transient: bool,
        body: S,
    ) -> Result<Staged, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let lock = self.lock(id);
        let _held = lock.lock().await;
        let mut staged = StagedState::decode(state)?;
        if staged.offset != offset {
            return Err(Error::OffsetMismatch {
                expected: staged.offset,
                given: offset,
            });
        }
        if transient && offset == 0 {
            self.mark_transient(id, "").await?;
        }
        let mut writer = self.blobs.resume(&id, offset, &staged.store).await?;
        let written = write_body(writer.as_mut(), &mut staged.sha256, body).await?;
        // A one-request stage is gone if the node restarts: no sync per chunk.
        staged.store = if transient {
            writer.keep().await?
        } else {
            writer.persist().await?
        };
        staged.offset += written;
        let state = staged.encode();
        if transient {
            self.mark_transient(id, &state).await?;
        }
        Ok(Staged {
            offset: staged.offset,
            state,
        })
    }

    /// Commits a staged upload under `declared` if its bytes have that SHA-256
    /// and number `size`. Committing again what is already committed succeeds.
    pub async fn commit(
        &self,
        id: UploadId,
        declared: &BlobKey,
        size: u64,
        state: &str,
    ) -> Result<(), Error> {
        let lock = self.lock(id);
        let _held = lock.lock().await;
        let staged = StagedState::decode(state)?;
        if staged.offset != size {
            return Err(Error::OffsetMismatch {
                expected: staged.offset,
                given: size,
            });
        }
        if let Err(err) = check_digest(declared, staged.sha256) {
            self.forget(id, &staged.store).await?;
            return Err(err);
        }
        let writer = match self.blobs.resume(&id, size, &staged.store).await {
            Ok(writer) => writer,
            // An earlier attempt committed it and its answer was lost.
            Err(StorageError::NotFound) if self.blobs.size(declared).await? == Some(size) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        let writer: Box<dyn BlobWriter> = writer;
        writer.commit(declared).await?;
        self.unmark_transient(id).await
    }

    /// Whether upload `id` holds at least `offset` bytes ([`StorageError::NotFound`]
    /// if not); bytes past `offset` are dropped, as when it resumes there.
    pub async fn check_staged(&self, id: UploadId, offset: u64, state: &str) -> Result<(), Error> {
        let lock = self.lock(id);
        let _held = lock.lock().await;
        let store = StagedState::decode(state)?.store;
        self.blobs.resume(&id, offset, &store).await?;
        Ok(())
    }

    /// `len` bytes from `start` of what upload `id` has staged (the bytes
    /// `state` describes), for a gateway that profiles them before it commits.
    /// [`Error::NotFound`] where the store cannot read staged bytes without
    /// ending the write.
    pub async fn read_staged(&self, id: UploadId, state: &str, start: u64, len: u64) -> Result<Bytes, Error> {
        if !self.blobs.reads_staged_in_place() {
            return Err(Error::NotFound("a readable staged upload"));
        }
        let lock = self.lock(id);
        let _held = lock.lock().await;
        let staged = StagedState::decode(state)?;
        let mut writer = self.blobs.resume(&id, staged.offset, &staged.store).await?;
        let mut reader = writer
            .staged_reader()
            .await?
            .ok_or(Error::NotFound("a readable staged upload"))?;
        let len = len.min(staged.offset.saturating_sub(start));
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Seek};
            reader.seek(std::io::SeekFrom::Start(start))?;
            let mut bytes = Vec::new();
            reader.take(len).read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .await
        .map_err(|err| Error::Internal(err.into()))?;
        let bytes = read.map_err(StorageError::from)?;
        drop(writer);
        Ok(Bytes::from(bytes))
    }

    /// Drops a staged upload and what it staged.
    pub async fn discard(&self, id: UploadId, state: &str) -> Result<(), Error> {
        let lock = self.lock(id);
        let _held = lock.lock().await;
        let store = StagedState::decode(state)?.store;
        self.forget(id, &store).await
    }

    async fn forget(&self, id: UploadId, store: &ResumeState) -> Result<(), Error> {
        self.blobs.discard(&id, store).await?;
        self.unmark_transient(id).await
    }

    fn lock(&self, id: UploadId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id, Arc::downgrade(&lock));
        lock
    }

    /// Notes (or updates) an open one-request stage with its latest state.
    async fn mark_transient(&self, id: UploadId, state: &str) -> Result<(), Error> {
        tokio::fs::write(self.transient.join(id.to_string()), state)
            .await
            .map_err(|err| Error::from(StorageError::from(err)))
    }

    async fn unmark_transient(&self, id: UploadId) -> Result<(), Error> {
        match tokio::fs::remove_file(self.transient.join(id.to_string())).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(StorageError::from(err).into()),
            _ => Ok(()),
        }
    }
}

/// Writes a request body into `writer`, hashing it; returns its length. A body
/// cut short is [`Error::Interrupted`], and the writer, dropped by the
/// caller, keeps none of it.
async fn write_body<S, E>(writer: &mut dyn BlobWriter, sha256: &mut Sha256, mut body: S) -> Result<u64, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut written = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Error::Interrupted)?;
        sha256.update(&chunk);
        written += chunk.len() as u64;
        writer.write(chunk).await?;
    }
    Ok(written)
}

fn check_digest(declared: &BlobKey, sha256: Sha256) -> Result<(), Error> {
    let received = BlobKey::from_digest(&sha256.finalize().into());
    if &received == declared {
        Ok(())
    } else {
        tracing::warn!(%declared, %received, "refused a blob whose bytes do not match its declared SHA-256");
        Err(Error::DigestMismatch {
            declared: declared.to_string(),
        })
    }
}
