//! Backups of a deployment into a directory (or an S3 prefix laid out the
//! same way, [`dir`]), taken while it serves, restored into an empty one, and
//! verified without restoring.
//!
//! A backup directory holds any number of snapshots and one content store
//! they share:
//!
//! ```text
//! DIR/blobs/sha256/ab/<sha256>          content, as in a data dir; a blob is copied once
//! DIR/snapshots/<id>/metadata.sqlite3   the database (or metadata.pgdump, pg_dump's custom format)
//! DIR/snapshots/<id>/content.txt        "<sha256> <size>" of every content its files use
//! DIR/snapshots/<id>/secret.key         the data dir's signing secret, when it has one
//! DIR/snapshots/<id>/manifest.json      written last: a snapshot without one is incomplete
//! ```
//!
//! The metadata is one consistent snapshot (SQLite's `VACUUM INTO`,
//! PostgreSQL's exported snapshot shared with `pg_dump`), and the content
//! list is read from that same snapshot. A backup holds removals of unused
//! bytes from before its snapshot until its copy is done ([`db::backups`]),
//! so every file the snapshot has finds its bytes: a file acknowledged
//! before the backup started is in it, whole; one stored during it is
//! either in it, whole, or not at all.
//!
//! [`db::backups`]: crate::db::backups

mod dir;
mod restore;
mod take;
mod verify;

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Backend;
use crate::storage::{BlobKey, BlobStore, Copied, copy};

pub use dir::{BackupDir, Destination};
pub use restore::{Restore, Restored};
pub use take::{Taken, take};
pub use verify::{Verified, verify};

/// The job name backups are recorded under among the maintenance jobs' runs
/// (`GET /api/v1/admin/jobs`, and the job gauges of `/metrics`).
pub const BACKUP_JOB: &str = "backup";
/// What a manifest's `format` says; a reader refuses any other.
pub const FORMAT: &str = "depot-backup/1";
const MANIFEST: &str = "manifest.json";
const CONTENT: &str = "content.txt";
const SECRET: &str = "secret.key";
/// Blobs copied (or checked) at a time.
const CONCURRENT_BLOBS: usize = 8;
/// How often long work reports how far it is.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What a snapshot holds, with a checksum of each of its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
    pub depot_version: String,
    /// `sqlite` or `postgres`: what the metadata restores into.
    pub database: String,
    pub metadata: Part,
    pub content: Content,
    /// The data dir's signing secret; absent when the deployment's secret
    /// comes from `SECRET_KEY`, which the operator keeps.
    pub secret: Option<Part>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The list of content a snapshot's files use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Content {
    #[serde(flatten)]
    pub list: Part,
    pub blobs: u64,
    pub blob_bytes: u64,
}

impl Manifest {
    fn backend(&self) -> anyhow::Result<Backend> {
        match self.database.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => anyhow::bail!("the manifest names an unknown database {other:?}"),
        }
    }
}

fn database_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// What the copy of a snapshot's content did.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Content copied by this run, and its bytes.
    pub copied: u64,
    pub copied_bytes: u64,
    /// Content the directory held already (from an earlier backup).
    pub present: u64,
    /// Content the snapshot's files use that the store no longer holds.
    pub missing: Vec<String>,
    /// Content whose stored bytes do not match their SHA-256.
    pub corrupt: Vec<String>,
    /// All content on the list, and its bytes.
    pub blobs: u64,
    pub blob_bytes: u64,
}

impl CopyReport {
    /// Whether content the snapshot's files use could not be copied.
    pub fn incomplete(&self) -> bool {
        !self.missing.is_empty() || !self.corrupt.is_empty()
    }

    fn note(&mut self, key: &BlobKey, size: u64, outcome: Option<Copied>) {
        self.blobs += 1;
        self.blob_bytes += size;
        match outcome {
            None => self.present += 1,
            Some(Copied::Whole(bytes)) => {
                self.copied += 1;
                self.copied_bytes += bytes;
            }
            Some(Copied::Missing) => self.missing.push(key.to_string()),
            Some(Copied::Corrupt) => self.corrupt.push(key.to_string()),
        }
    }
}

/// How far long work is: items done of all, bytes moved, time taken.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
    pub elapsed: std::time::Duration,
}

/// Copies each content on the list at `list` that `to` lacks from `from`,
/// telling `progress` how far it is every [`PROGRESS_EVERY`].
async fn copy_listed(
    list: &Path,
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    total: u64,
    started: std::time::Instant,
    progress: &mut impl FnMut(Progress),
) -> anyhow::Result<CopyReport> {
    use futures_util::TryStreamExt;
    let mut copies = content_lines(list)
        .await?
        .map_ok(|(key, size)| async move {
            let outcome = match to.size(&key).await? {
                Some(held) if held == size => None,
                _ => Some(copy(from, to, &key).await?),
            };
            anyhow::Ok((key, size, outcome))
        })
        .try_buffer_unordered(CONCURRENT_BLOBS);
    let mut report = CopyReport::default();
    let mut shown = std::time::Instant::now();
    while let Some((key, size, outcome)) = copies.try_next().await? {
        report.note(&key, size, outcome);
        if shown.elapsed() >= PROGRESS_EVERY {
            shown = std::time::Instant::now();
            progress(Progress {
                done: report.blobs,
                total,
                bytes: report.copied_bytes,
                elapsed: started.elapsed(),
            });
        }
    }
    Ok(report)
}

/// A snapshot's content list, a line at a time.
async fn content_lines(
    path: &Path,
) -> anyhow::Result<futures_util::stream::BoxStream<'static, anyhow::Result<(BlobKey, u64)>>> {
    use tokio::io::AsyncBufReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let lines = tokio::io::BufReader::new(file).lines();
    let lines = futures_util::stream::try_unfold(lines, |mut lines| async move {
        let Some(line) = lines.next_line().await? else {
            return Ok(None);
        };
        Ok(Some((parse_content_line(&line)?, lines)))
    });
    Ok(Box::pin(lines))
}

fn parse_content_line(line: &str) -> anyhow::Result<(BlobKey, u64)> {
    let parsed = line
        .split_once(' ')
        .and_then(|(sha256, size)| Some((BlobKey::parse(sha256)?, size.parse().ok()?)));
    parsed.with_context(|| format!("a damaged content line: {line:?}"))
}

/// `file` in `dir` with its SHA-256 and size.
async fn part_of(dir: &Path, file: &str) -> anyhow::Result<Part> {
    let path = dir.join(file);
    let (sha256, bytes) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        let mut bytes = 0;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                return Ok((hex::encode(hasher.finalize()), bytes));
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
    })
    .await??;
    Ok(Part {
        file: file.to_owned(),
        sha256,
        bytes,
    })
}

fn make_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(path) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        done => done,
    }
}

/// Makes a file's bytes and its name in its directory durable.
fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::parse_content_line;

    #[test]
    fn a_content_line_is_a_key_and_a_size() {
        let key = "a".repeat(64);
        let (parsed, size) = parse_content_line(&format!("{key} 42")).unwrap();
        assert_eq!((parsed.as_str(), size), (key.as_str(), 42));
        for damaged in [
            "",
            "42",
            &key,
            &format!("{key} -1"),
            &format!("{} 1", "g".repeat(64)),
        ] {
            assert!(parse_content_line(damaged).is_err(), "{damaged:?}");
        }
    }
}
