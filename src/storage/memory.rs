//! A blob store in memory, for tests of code that needs a store but not a disk.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    BlobKey, BlobStore, BlobWriter, ByteStream, ResumableWriter, ResumeState, StagedReader, StorageError,
};
use crate::domain::UploadId;

type Shared<K, V> = Arc<Mutex<HashMap<K, V>>>;

#[derive(Debug, Default, Clone)]
pub struct MemoryBlobStore {
    blobs: Shared<BlobKey, Bytes>,
    /// Resumable uploads' persisted bytes.
    uploads: Shared<UploadId, Vec<u8>>,
}

struct MemoryWriter {
    blobs: Shared<BlobKey, Bytes>,
    buffer: Vec<u8>,
    /// The resumable upload this writer continues, if any.
    upload: Option<(UploadId, Shared<UploadId, Vec<u8>>)>,
}

fn lock<K, V>(map: &Shared<K, V>) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        Ok(Box::new(MemoryWriter {
            blobs: Arc::clone(&self.blobs),
            buffer: Vec::new(),
            upload: None,
        }))
    }

    async fn resume(
        &self,
        upload: &UploadId,
        offset: u64,
        _state: &ResumeState,
    ) -> Result<Box<dyn ResumableWriter>, StorageError> {
        let mut buffer = match lock(&self.uploads).get(upload) {
            Some(staged) => staged.clone(),
            None if offset == 0 => Vec::new(),
            None => return Err(StorageError::NotFound),
        };
        let offset = usize::try_from(offset).map_err(|_| StorageError::NotFound)?;
        if buffer.len() < offset {
            return Err(StorageError::NotFound);
        }
        buffer.truncate(offset);
        Ok(Box::new(MemoryWriter {
            blobs: Arc::clone(&self.blobs),
            buffer,
            upload: Some((*upload, Arc::clone(&self.uploads))),
        }))
    }

    async fn discard(&self, upload: &UploadId, _state: &ResumeState) -> Result<(), StorageError> {
        lock(&self.uploads).remove(upload);
        Ok(())
    }

    async fn read(
        &self,
        key: &BlobKey,
        range: Option<RangeInclusive<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let blob = lock(&self.blobs)
            .get(key)
            .cloned()
            .ok_or(StorageError::NotFound)?;
        let bytes = match range {
            Some(range) => {
                let start = usize::try_from(*range.start())
                    .unwrap_or(usize::MAX)
                    .min(blob.len());
                let end = usize::try_from(*range.end())
                    .unwrap_or(usize::MAX)
                    .saturating_add(1)
                    .min(blob.len());
                blob.slice(start..end.max(start))
            }
            None => blob,
        };
        Ok(Box::pin(futures_util::stream::once(async move { Ok(bytes) })))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, StorageError> {
        Ok(lock(&self.blobs).get(key).map(|blob| blob.len() as u64))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        lock(&self.blobs).remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, StorageError> {
        let mut page: Vec<(BlobKey, u64)> = lock(&self.blobs)
            .iter()
            .filter(|(key, _)| super::listed(key, prefix, after))
            .map(|(key, blob)| (key.clone(), blob.len() as u64))
            .collect();
        page.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        page.truncate(limit);
        Ok(page)
    }

    fn reads_staged_in_place(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn uri(&self, key: &BlobKey) -> String {
        format!("memory://sha256/{key}")
    }
}

#[async_trait]
impl BlobWriter for MemoryWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.buffer.extend_from_slice(&chunk);
        Ok(())
    }

    async fn staged_reader(&mut self) -> Result<Option<Box<dyn StagedReader>>, StorageError> {
        Ok(Some(Box::new(std::io::Cursor::new(self.buffer.clone()))))
    }

    async fn commit(self: Box<Self>, key: &BlobKey) -> Result<(), StorageError> {
        let this = *self;
        if let Some((upload, uploads)) = &this.upload {
            lock(uploads).remove(upload);
        }
        lock(&this.blobs).insert(key.clone(), Bytes::from(this.buffer));
        Ok(())
    }
}

#[async_trait]
impl ResumableWriter for MemoryWriter {
    async fn persist(self: Box<Self>) -> Result<ResumeState, StorageError> {
        let this = *self;
        if let Some((upload, uploads)) = this.upload {
            lock(&uploads).insert(upload, this.buffer);
        }
        Ok(ResumeState::InStagedBytes)
    }
}
