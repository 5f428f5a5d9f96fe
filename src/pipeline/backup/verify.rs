//! `depot backup verify DIR`: a snapshot checked without restoring it — its
//! files against the manifest's checksums, the SQLite metadata's own
//! integrity check, and every content on its list present, of its size,
//! and (unless quick) hashing to its key.

use std::path::Path;
use std::time::Instant;

use futures_util::TryStreamExt;

use super::{
    BackupDir, CONCURRENT_BLOBS, CONTENT, Destination, Manifest, PROGRESS_EVERY, Progress, content_lines,
};
use crate::storage::{BlobKey, BlobStore, digest};

/// What a verification found.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
    pub blobs: u64,
    pub bytes: u64,
    /// Each thing wrong, in words; none when the snapshot is whole.
    pub problems: Vec<String>,
}

/// Checks snapshot `snapshot` (or the newest) of the backup in `from`;
/// `deep` reads every content's bytes back.
pub async fn verify(
    from: &Destination,
    snapshot: Option<&str>,
    deep: bool,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Verified> {
    let started = Instant::now();
    let backup = BackupDir::open(from).await?;
    let manifest = backup.manifest(snapshot).await?;
    let dir = backup.snapshot_dir(&manifest.id);
    let mut problems = backup.check_parts(&manifest).await;
    let mut verified = Verified {
        manifest,
        blobs: 0,
        bytes: 0,
        problems: Vec::new(),
    };
    if verified.manifest.database == "sqlite" && problems.is_empty() {
        problems.extend(sqlite_integrity(&dir.join(&verified.manifest.metadata.file)).await);
    }
    if !problems.iter().any(|problem| problem.starts_with(CONTENT)) {
        let store = backup.blobs.as_ref();
        let mut checks = content_lines(&dir.join(CONTENT))
            .await?
            .map_ok(|(key, size)| async move { anyhow::Ok((check(store, &key, size, deep).await?, size)) })
            .try_buffer_unordered(CONCURRENT_BLOBS);
        let mut shown = Instant::now();
        while let Some((problem, size)) = checks.try_next().await? {
            verified.blobs += 1;
            verified.bytes += size;
            problems.extend(problem);
            if shown.elapsed() >= PROGRESS_EVERY {
                shown = Instant::now();
                progress(Progress {
                    done: verified.blobs,
                    total: verified.manifest.content.blobs,
                    bytes: verified.bytes,
                    elapsed: started.elapsed(),
                });
            }
        }
        if verified.blobs != verified.manifest.content.blobs {
            problems.push(format!(
                "{CONTENT} lists {} content, the manifest says {}",
                verified.blobs, verified.manifest.content.blobs
            ));
        }
    }
    verified.problems = problems;
    Ok(verified)
}

/// What is wrong with one content of the backup, if anything.
async fn check(
    store: &dyn BlobStore,
    key: &BlobKey,
    size: u64,
    deep: bool,
) -> anyhow::Result<Option<String>> {
    match store.size(key).await? {
        None => return Ok(Some(format!("content {key}: missing"))),
        Some(held) if held != size => {
            return Ok(Some(format!("content {key}: {held} bytes, the list says {size}")));
        }
        Some(_) => {}
    }
    if !deep {
        return Ok(None);
    }
    Ok(match digest(store, key).await? {
        None => Some(format!("content {key}: missing")),
        Some(found) if found != *key => Some(format!("content {key}: its bytes do not match their SHA-256")),
        Some(_) => None,
    })
}

/// SQLite's own check of a metadata snapshot.
async fn sqlite_integrity(path: &Path) -> Vec<String> {
    let checked = async {
        let mut conn = crate::db::open_read_only(path).await?;
        let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await?;
        anyhow::Ok(lines)
    };
    match checked.await {
        Ok(lines) if lines == ["ok"] => Vec::new(),
        Ok(lines) => lines
            .into_iter()
            .map(|line| format!("metadata: {line}"))
            .collect(),
        Err(err) => vec![format!("metadata: {err:#}")],
    }
}
