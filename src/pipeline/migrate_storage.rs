//! Copying every blob from one store to another (`depot admin migrate-storage`):
//! each blob is read from the source, hashed as it streams, and committed to
//! the target only if its SHA-256 is its key; then the files that point at it
//! get the target's `storage_uri`. A blob the target already holds is not
//! copied again, so an interrupted migration goes on where it stopped, and a
//! second run copies only what arrived since the first.

use std::time::Instant;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::db::{Db, blobs, files};
use crate::storage::{BlobKey, BlobStore, StorageError};

/// Blobs read from the database at a time.
const PAGE: i64 = 500;

/// What a migration did.
#[derive(Debug, Default)]
pub struct Report {
    pub blobs: u64,
    pub copied: u64,
    pub copied_bytes: u64,
    /// Already in the target, left as they were.
    pub present: u64,
    /// Whose bytes in the source no longer match their key: not copied.
    pub corrupt: Vec<String>,
    /// Recorded in the database but not in the source: not copied.
    pub missing: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> bool {
        !self.corrupt.is_empty() || !self.missing.is_empty()
    }
}

/// Copies every blob the database records from `from` to `to`, calling
/// `progress` after each (with the time since the start).
pub async fn migrate(
    db: &Db,
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    mut progress: impl FnMut(&Report, std::time::Duration),
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::default();
    let mut after = String::new();
    loop {
        let page = blobs::page(db.pool(), &after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            return Ok(report);
        };
        after = last.clone();
        for (sha256, size) in page {
            let key = blobs::stored_key(&sha256)?;
            report.blobs += 1;
            match to.size(&key).await? {
                Some(stored) if i64::try_from(stored).is_ok_and(|stored| stored == size) => {
                    report.present += 1
                }
                _ => match copy(from, to, &key).await? {
                    Copied::Whole(bytes) => {
                        report.copied += 1;
                        report.copied_bytes += bytes;
                    }
                    Copied::Corrupt => {
                        report.corrupt.push(sha256);
                        continue;
                    }
                    Copied::Missing => {
                        report.missing.push(sha256);
                        continue;
                    }
                },
            }
            files::relocate(db.pool(), key.as_str(), &to.uri(&key)).await?;
            progress(&report, started.elapsed());
        }
    }
}

enum Copied {
    Whole(u64),
    Corrupt,
    Missing,
}

async fn copy(from: &dyn BlobStore, to: &dyn BlobStore, key: &BlobKey) -> Result<Copied, StorageError> {
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
