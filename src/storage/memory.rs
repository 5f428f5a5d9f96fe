//! A blob store in memory, for tests of code that needs a store but not a disk.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobKey, BlobStore, BlobWriter, ByteStream, StagedReader, StorageError};

#[derive(Debug, Default, Clone)]
pub struct MemoryBlobStore {
    blobs: Arc<Mutex<HashMap<BlobKey, Bytes>>>,
}

struct MemoryWriter {
    blobs: Arc<Mutex<HashMap<BlobKey, Bytes>>>,
    buffer: Vec<u8>,
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        Ok(Box::new(MemoryWriter {
            blobs: Arc::clone(&self.blobs),
            buffer: Vec::new(),
        }))
    }

    async fn read(
        &self,
        key: &BlobKey,
        range: Option<RangeInclusive<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let blob = self
            .blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(())
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
        this.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), Bytes::from(this.buffer));
        Ok(())
    }
}
