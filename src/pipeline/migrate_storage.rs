//! Copying every blob from one store to another (`depot admin migrate-storage`):
//! each blob is read from the source, hashed as it streams, and committed to
//! the target only if its SHA-256 is its key; then the files that point at it
//! get the target's `storage_uri`. A blob the target already holds is not
//! copied again, so an interrupted migration goes on where it stopped, and a
//! second run copies only what arrived since the first.

use std::time::Instant;

use crate::db::{Db, blobs, files};
use crate::storage::{BlobStore, Copied, copy};

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
