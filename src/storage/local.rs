//! Blobs as files under `<data_dir>/blobs`, written crash-safely: a temp file in
//! `blobs/tmp` (same filesystem) → fsync → atomic rename to `blobs/sha256/ab/<key>`
//! → fsync of the directory. After `commit` returns, the bytes survive a power cut.
//! A resumable upload stages into `blobs/uploads/<id>`, fsynced on each
//! `persist`, and commits by the same rename.

use std::io::SeekFrom;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{
    BlobKey, BlobStore, BlobWriter, ByteStream, ResumableWriter, ResumeState, StagedReader, StorageError,
};
use crate::domain::UploadId;

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
    /// `<root>/uploads`: resumable uploads' bytes, kept between requests.
    uploads: PathBuf,
}

impl Paths {
    fn blob(&self, key: &BlobKey) -> PathBuf {
        self.blobs.join(&key.as_str()[..2]).join(key.as_str())
    }

    fn upload(&self, upload: &UploadId) -> PathBuf {
        self.uploads.join(upload.to_string())
    }
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        let blobs = root.join("sha256");
        let staging = root.join("tmp");
        let uploads = root.join("uploads");
        for dir in [&blobs, &staging, &uploads] {
            fs::create_dir_all(dir).await?;
        }
        Ok(Self {
            paths: Arc::new(Paths {
                blobs: fs::canonicalize(&blobs).await?,
                staging: fs::canonicalize(&staging).await?,
                uploads: fs::canonicalize(&uploads).await?,
            }),
        })
    }

    /// How many staged (uncommitted) writes, one-shot or resumable, exist right now.
    pub fn staged_count(&self) -> std::io::Result<usize> {
        Ok(std::fs::read_dir(&self.paths.staging)?.count() + std::fs::read_dir(&self.paths.uploads)?.count())
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    /// The temp file is created with the first bytes written out: a small
    /// upload's whole life on disk — create, write, sync, rename, sync the
    /// directory — is one trip to the blocking pool, at its commit.
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        let temp_path = self.paths.staging.join(format!("{}.part", uuid::Uuid::new_v4()));
        Ok(Box::new(LocalWriter {
            file: None,
            unopened: true,
            pending: Vec::new(),
            pending_bytes: 0,
            staged: StagedFile::temporary(temp_path),
            paths: Arc::clone(&self.paths),
            write_back: None,
        }))
    }

    /// Keeps no state beyond the file: `state` is always [`ResumeState::InStagedBytes`].
    async fn resume(
        &self,
        upload: &UploadId,
        offset: u64,
        _state: &ResumeState,
    ) -> Result<Box<dyn ResumableWriter>, StorageError> {
        let path = self.paths.upload(upload);
        let file = if offset == 0 {
            let file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .await?;
            sync_dir(&self.paths.uploads).await?;
            file
        } else {
            let file = fs::OpenOptions::new().write(true).open(&path).await?;
            if file.metadata().await?.len() < offset {
                tracing::error!(%upload, offset, "a resumable upload's staged bytes are shorter than its offset");
                return Err(StorageError::NotFound);
            }
            file.set_len(offset).await?;
            file
        };
        let mut file = file.into_std().await;
        blocking(move || std::io::Seek::seek(&mut file, SeekFrom::Start(offset)).map(|_| file))
            .await
            .map(|file| {
                Box::new(LocalWriter {
                    file: Some(Arc::new(file)),
                    unopened: false,
                    pending: Vec::new(),
                    pending_bytes: 0,
                    staged: StagedFile::resumed(path, offset),
                    paths: Arc::clone(&self.paths),
                    write_back: None,
                }) as Box<dyn ResumableWriter>
            })
    }

    async fn discard(&self, upload: &UploadId, _state: &ResumeState) -> Result<(), StorageError> {
        match fs::remove_file(self.paths.upload(upload)).await {
            Ok(()) => sync_dir(&self.paths.uploads).await,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err.into()),
        }
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

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, StorageError> {
        match fs::metadata(self.paths.blob(key)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        let path = self.paths.blob(key);
        match fs::remove_file(&path).await {
            Ok(()) => sync_dir(parent_of(&path)).await,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, StorageError> {
        let (blobs, prefix, after) = (self.paths.blobs.clone(), prefix.to_owned(), after.cloned());
        blocking(move || list_blobs(&blobs, &prefix, after.as_ref(), limit)).await
    }

    fn reads_staged_in_place(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), StorageError> {
        let probe = self
            .paths
            .staging
            .join(format!(".ready-{}", uuid::Uuid::new_v4()));
        // Synced, so that a disk whose fsync fails is not ready.
        blocking(move || {
            let written =
                std::fs::write(&probe, b"ok").and_then(|()| std::fs::File::open(&probe)?.sync_all());
            let removed = std::fs::remove_file(&probe);
            written.and(removed)
        })
        .await
    }

    async fn remove_stale_stages(&self, older_than: std::time::SystemTime) -> Result<u64, StorageError> {
        let staging = self.paths.staging.clone();
        blocking(move || {
            let mut removed = 0;
            for entry in std::fs::read_dir(&staging)? {
                let entry = entry?;
                let modified = entry.metadata()?.modified()?;
                if modified < older_than {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            Ok(removed)
        })
        .await
    }

    fn uri(&self, key: &BlobKey) -> String {
        // Relative to the store, so answers do not show the host's layout.
        format!("local://sha256/{}/{key}", &key.as_str()[..2])
    }
}

struct LocalWriter {
    /// `None` until a fresh stage is first written out, and once committed.
    file: Option<Arc<std::fs::File>>,
    /// A fresh stage whose file is not created yet.
    unopened: bool,
    /// Chunks not written yet, and their total size.
    pending: Vec<Bytes>,
    pending_bytes: usize,
    staged: StagedFile,
    paths: Arc<Paths>,
    /// A write-back of the bytes written so far, started after a batch and
    /// running while the next ones arrive, so the sync that makes the write
    /// durable at the end has little left to do.
    write_back: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl LocalWriter {
    /// Writes the pending chunks straight from their buffers (creating a
    /// fresh stage's file first).
    async fn flush(&mut self) -> Result<(), StorageError> {
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if std::mem::take(&mut self.unopened) {
            let path = self.staged.path().to_owned();
            let file = blocking(move || {
                let file = create_staged(&path)?;
                write_all(&file, &batch)?;
                Ok(file)
            })
            .await?;
            self.file = Some(Arc::new(file));
            return Ok(());
        }
        let file = Arc::clone(self.file.as_ref().ok_or_else(closed_writer)?);
        blocking(move || write_all(&file, &batch)).await
    }

    /// A fresh stage that never reached [`WRITE_BUFFER`]: created, written,
    /// synced and renamed to `target` in one go.
    async fn commit_unopened(&mut self, target: PathBuf) -> Result<(), StorageError> {
        let staged = self.staged.path().to_owned();
        let blobs = self.paths.blobs.clone();
        let batch = std::mem::take(&mut self.pending);
        blocking(move || {
            let file = create_staged(&staged)?;
            write_all(&file, &batch)?;
            file.sync_all()?;
            let fan_out_dir = parent_of(&target);
            if std::fs::metadata(fan_out_dir).is_err() {
                std::fs::create_dir_all(fan_out_dir)?;
                std::fs::File::open(&blobs)?.sync_all()?;
            }
            std::fs::rename(&staged, &target)?;
            std::fs::File::open(fan_out_dir)?.sync_all()
        })
        .await?;
        self.staged.disarm();
        Ok(())
    }

    /// Starts writing back what is written, unless a write-back still runs.
    async fn start_write_back(&mut self) -> Result<(), StorageError> {
        if self
            .write_back
            .as_ref()
            .is_some_and(|running| !running.is_finished())
        {
            return Ok(());
        }
        // The last one has finished: this takes its result without waiting.
        self.finish_write_back().await?;
        let file = Arc::clone(self.file.as_ref().ok_or_else(closed_writer)?);
        self.write_back = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        Ok(())
    }

    /// Waits for the write-back in progress, if any; its error is the write's.
    async fn finish_write_back(&mut self) -> Result<(), StorageError> {
        if let Some(running) = self.write_back.take() {
            running.await.map_err(join_error)??;
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= WRITE_BUFFER {
            self.flush().await?;
            self.start_write_back().await?;
        }
        Ok(())
    }

    async fn staged_reader(&mut self) -> Result<Option<Box<dyn StagedReader>>, StorageError> {
        self.flush().await?;
        let reader = fs::File::open(self.staged.path()).await?.into_std().await;
        Ok(Some(Box::new(reader)))
    }

    async fn commit(mut self: Box<Self>, key: &BlobKey) -> Result<(), StorageError> {
        if std::mem::take(&mut self.unopened) {
            return self.commit_unopened(self.paths.blob(key)).await;
        }
        self.flush().await?;
        self.finish_write_back().await?;
        let file = self.file.take().ok_or_else(closed_writer)?;
        blocking(move || file.sync_all()).await?;

        let target = self.paths.blob(key);
        let fan_out_dir = parent_of(&target);
        if fs::metadata(fan_out_dir).await.is_err() {
            fs::create_dir_all(fan_out_dir).await?;
            sync_dir(&self.paths.blobs).await?;
        }
        fs::rename(self.staged.path(), &target).await?;
        self.staged.disarm();
        sync_dir(fan_out_dir).await
    }
}

#[async_trait]
impl ResumableWriter for LocalWriter {
    async fn persist(mut self: Box<Self>) -> Result<ResumeState, StorageError> {
        self.flush().await?;
        self.finish_write_back().await?;
        let file = self.file.take().ok_or_else(closed_writer)?;
        blocking(move || file.sync_data()).await?;
        self.staged.disarm();
        Ok(ResumeState::InStagedBytes)
    }

    /// The staged file is all there is: it is resumed with [`ResumeState::InStagedBytes`].
    async fn write_out(&mut self) -> Result<Option<ResumeState>, StorageError> {
        self.flush().await?;
        self.staged.disarm();
        Ok(Some(ResumeState::InStagedBytes))
    }

    /// Written, not synced: the commit's sync of the file covers these bytes.
    async fn keep(mut self: Box<Self>) -> Result<ResumeState, StorageError> {
        self.flush().await?;
        self.finish_write_back().await?;
        self.file.take().ok_or_else(closed_writer)?;
        self.staged.disarm();
        Ok(ResumeState::InStagedBytes)
    }
}

/// Where a writer stages its bytes. A one-shot write's temp file is removed on
/// drop unless committed, so a failed, rejected or cancelled upload leaves none
/// behind. A resumable upload's file is kept for the next request, but cut
/// back to where this request found it unless persisted: a failed request
/// leaves the staged bytes as they were.
struct StagedFile {
    path: PathBuf,
    /// What to do on drop: nothing (committed or persisted), remove the
    /// file, or cut it back to this length.
    undo: Option<Undo>,
}

enum Undo {
    Remove,
    TruncateTo(u64),
}

impl StagedFile {
    fn temporary(path: PathBuf) -> Self {
        Self {
            path,
            undo: Some(Undo::Remove),
        }
    }

    fn resumed(path: PathBuf, offset: u64) -> Self {
        Self {
            path,
            undo: Some(Undo::TruncateTo(offset)),
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn disarm(&mut self) {
        self.undo = None;
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let undone = match self.undo {
            None => return,
            Some(Undo::Remove) => std::fs::remove_file(&self.path),
            Some(Undo::TruncateTo(offset)) => std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .and_then(|file| file.set_len(offset)),
        };
        if let Err(err) = undone
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %err, "could not undo a staged write");
        }
    }
}

/// A page of [`BlobStore::list`]: the fan-out directories, then the blobs in
/// each, in name order — which is key order.
fn list_blobs(
    blobs: &Path,
    prefix: &str,
    after: Option<&BlobKey>,
    limit: usize,
) -> std::io::Result<Vec<(BlobKey, u64)>> {
    let fan_out = &prefix[..prefix.len().min(2)];
    let first_dir = after.map_or("", |after| &after.as_str()[..2]);
    let mut page = Vec::new();
    for dir in sorted_names(blobs)? {
        if !dir.starts_with(fan_out) || dir.as_str() < first_dir {
            continue;
        }
        for name in sorted_names(&blobs.join(&dir))? {
            let Some(key) = BlobKey::parse(&name).filter(|key| super::listed(key, prefix, after)) else {
                continue;
            };
            if page.len() == limit {
                return Ok(page);
            }
            let size = std::fs::metadata(blobs.join(&dir).join(&name))?.len();
            page.push((key, size));
        }
    }
    Ok(page)
}

fn sorted_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort_unstable();
    Ok(names)
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

fn create_staged(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn write_all(mut file: &std::fs::File, chunks: &[Bytes]) -> std::io::Result<()> {
    for chunk in chunks {
        std::io::Write::write_all(&mut file, chunk)?;
    }
    Ok(())
}

/// fsync of a directory, so a rename or unlink inside it is durable.
async fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    let dir = dir.to_owned();
    blocking(move || std::fs::File::open(&dir)?.sync_all()).await
}

/// Runs file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    Ok(tokio::task::spawn_blocking(work).await.map_err(join_error)??)
}

fn join_error(err: tokio::task::JoinError) -> StorageError {
    StorageError::Io(std::io::Error::other(err))
}

fn closed_writer() -> StorageError {
    StorageError::Io(std::io::Error::other("blob writer already committed"))
}
