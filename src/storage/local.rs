//! Blobs as files under `<data_dir>/blobs`, written crash-safely: a temp file in
//! `blobs/tmp` (same filesystem) → fsync → atomic rename to `blobs/sha256/ab/<key>`
//! → fsync of the directory. After `commit` returns, the bytes survive a power cut.

use std::io::SeekFrom;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{BlobKey, BlobStore, BlobWriter, ByteStream, StagedReader, StorageError};

/// Chunks are gathered (by reference, not copied) until this many bytes wait,
/// then written in one trip to the blocking pool.
const WRITE_BUFFER: usize = 1 << 20;
/// Reads are served in chunks of this size.
const READ_CHUNK: usize = 256 << 10;

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    paths: Arc<Paths>,
}

#[derive(Debug)]
struct Paths {
    /// `<root>/sha256`: committed blobs, fanned out by the key's first two digits.
    blobs: PathBuf,
    /// `<root>/tmp`: staged writes, on the same filesystem so rename is atomic.
    staging: PathBuf,
}

impl Paths {
    fn blob(&self, key: &BlobKey) -> PathBuf {
        self.blobs.join(&key.as_str()[..2]).join(key.as_str())
    }
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        let blobs = root.join("sha256");
        let staging = root.join("tmp");
        fs::create_dir_all(&blobs).await?;
        fs::create_dir_all(&staging).await?;
        Ok(Self {
            paths: Arc::new(Paths {
                blobs: fs::canonicalize(&blobs).await?,
                staging: fs::canonicalize(&staging).await?,
            }),
        })
    }

    /// How many staged (uncommitted) writes exist right now.
    pub fn staged_count(&self) -> std::io::Result<usize> {
        Ok(std::fs::read_dir(&self.paths.staging)?.count())
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        let temp_path = self.paths.staging.join(format!("{}.part", uuid::Uuid::new_v4()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .await?;
        Ok(Box::new(LocalWriter {
            file: Some(Arc::new(file.into_std().await)),
            pending: Vec::new(),
            pending_bytes: 0,
            temp: TempFile(Some(temp_path)),
            paths: Arc::clone(&self.paths),
        }))
    }

    async fn read(
        &self,
        key: &BlobKey,
        range: Option<RangeInclusive<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let mut file = fs::File::open(self.paths.blob(key)).await?;
        let stream: ByteStream = match range {
            Some(range) => {
                file.seek(SeekFrom::Start(*range.start())).await?;
                let len = range.end().saturating_sub(*range.start()).saturating_add(1);
                Box::pin(ReaderStream::with_capacity(file.take(len), READ_CHUNK))
            }
            None => Box::pin(ReaderStream::with_capacity(file, READ_CHUNK)),
        };
        Ok(stream)
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        let path = self.paths.blob(key);
        match fs::remove_file(&path).await {
            Ok(()) => sync_dir(parent_of(&path)).await,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn check(&self) -> Result<(), StorageError> {
        let probe = self
            .paths
            .staging
            .join(format!(".ready-{}", uuid::Uuid::new_v4()));
        fs::write(&probe, b"ok").await?;
        fs::remove_file(&probe).await?;
        Ok(())
    }

    fn uri(&self, key: &BlobKey) -> String {
        format!("local://{}", self.paths.blob(key).display())
    }
}

struct LocalWriter {
    file: Option<Arc<std::fs::File>>,
    /// Chunks not written yet, and their total size.
    pending: Vec<Bytes>,
    pending_bytes: usize,
    temp: TempFile,
    paths: Arc<Paths>,
}

impl LocalWriter {
    /// Writes the pending chunks straight from their buffers.
    async fn flush(&mut self) -> Result<(), StorageError> {
        let file = Arc::clone(self.file.as_ref().ok_or_else(closed_writer)?);
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        blocking(move || {
            for chunk in &batch {
                std::io::Write::write_all(&mut &*file, chunk)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= WRITE_BUFFER {
            self.flush().await?;
        }
        Ok(())
    }

    async fn staged_reader(&mut self) -> Result<Option<Box<dyn StagedReader>>, StorageError> {
        self.flush().await?;
        let path = self.temp.path().ok_or_else(closed_writer)?;
        let reader = fs::File::open(path).await?.into_std().await;
        Ok(Some(Box::new(reader)))
    }

    async fn commit(mut self: Box<Self>, key: &BlobKey) -> Result<(), StorageError> {
        self.flush().await?;
        let file = self.file.take().ok_or_else(closed_writer)?;
        blocking(move || file.sync_all()).await?;

        let target = self.paths.blob(key);
        let fan_out_dir = parent_of(&target);
        if fs::metadata(fan_out_dir).await.is_err() {
            fs::create_dir_all(fan_out_dir).await?;
            sync_dir(&self.paths.blobs).await?;
        }
        let temp_path = self.temp.path().ok_or_else(closed_writer)?.to_owned();
        fs::rename(&temp_path, &target).await?;
        self.temp.disarm();
        sync_dir(fan_out_dir).await
    }
}

/// A staged file that is removed on drop unless disarmed: a failed, rejected or
/// cancelled upload leaves no temp file behind.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> Option<&Path> {
        self.0.as_deref()
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(err) = std::fs::remove_file(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %err, "could not remove a staged blob");
        }
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

/// fsync of a directory, so a rename or unlink inside it is durable.
async fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    let dir = dir.to_owned();
    blocking(move || std::fs::File::open(&dir)?.sync_all()).await
}

/// Runs file I/O on the blocking pool.
async fn blocking(work: impl FnOnce() -> std::io::Result<()> + Send + 'static) -> Result<(), StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StorageError::Io(std::io::Error::other(err)))??;
    Ok(())
}

fn closed_writer() -> StorageError {
    StorageError::Io(std::io::Error::other("blob writer already committed"))
}
