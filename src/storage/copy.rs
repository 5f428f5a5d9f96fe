//! Copying one blob between stores, checked: the bytes are hashed as they
//! stream and committed to the target only if their SHA-256 is their key;
//! and reading one back to hash it.

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{BlobKey, BlobStore, StorageError};

/// What became of one blob's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// Committed to the target, this many bytes.
    Whole(u64),
    /// The source's bytes do not match their key: nothing committed.
    Corrupt,
    /// The source does not hold it.
    Missing,
}

/// Copies the blob `key` from `from` to `to`.
pub async fn copy(from: &dyn BlobStore, to: &dyn BlobStore, key: &BlobKey) -> Result<Copied, StorageError> {
    let mut stream = match from.read(key, None).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound) => return Ok(Copied::Missing),
        Err(err) => return Err(err),
    };
    let mut writer = to.stage().await?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        writer.write(chunk).await?;
    }
    if BlobKey::from_digest(&hasher.finalize().into()) != *key {
        tracing::error!(sha256 = %key, "the source's bytes do not match their key; not copied");
        return Ok(Copied::Corrupt);
    }
    writer.commit(key).await?;
    Ok(Copied::Whole(bytes))
}

/// The SHA-256 of a stored blob's bytes, read back whole; `None` when the
/// store does not hold it.
pub async fn digest(store: &dyn BlobStore, key: &BlobKey) -> Result<Option<BlobKey>, StorageError> {
    let mut stream = match store.read(key, None).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound) => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(Some(BlobKey::from_digest(&hasher.finalize().into())))
}
