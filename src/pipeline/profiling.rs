//! The dataset profiler of one upload, on a thread of its own: the upload hands
//! it each chunk through a short queue and goes on writing and hashing, so the
//! two run side by side and the runtime's threads never wait on the profiler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::AppError;
use crate::profile::{DatasetError, Profile, Profiler};

/// Chunks queued for the profiler; when it falls behind, the upload waits.
const QUEUE_CHUNKS: usize = 16;

#[derive(Debug)]
pub struct ProfilingTask {
    chunks: Option<mpsc::Sender<Bytes>>,
    done: Option<JoinHandle<Result<Option<Profile>, DatasetError>>>,
    /// Set when the upload is abandoned, so the thread stops at the next chunk.
    abandoned: Arc<AtomicBool>,
}

impl ProfilingTask {
    pub fn start(mut profiler: Profiler) -> Self {
        let (chunks, mut queue) = mpsc::channel::<Bytes>(QUEUE_CHUNKS);
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = abandoned.clone();
        let done = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = queue.blocking_recv() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                profiler.push(&chunk)?;
            }
            profiler.finish()
        });
        Self {
            chunks: Some(chunks),
            done: Some(done),
            abandoned,
        }
    }

    /// Queues a chunk; fails (422) once the profiler has found the data to be
    /// a dataset pandas would refuse.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), AppError> {
        let Some(chunks) = &self.chunks else {
            return Ok(());
        };
        if chunks.send(chunk).await.is_err() {
            // The profiler stopped early: only an error does that.
            self.chunks = None;
            self.outcome().await?;
        }
        Ok(())
    }

    /// The profile of everything pushed.
    pub async fn finish(mut self) -> Result<Option<Profile>, AppError> {
        self.chunks = None;
        self.outcome().await
    }

    async fn outcome(&mut self) -> Result<Option<Profile>, AppError> {
        let Some(done) = self.done.take() else {
            return Ok(None);
        };
        match done.await {
            Ok(result) => Ok(result?),
            Err(err) => Err(AppError::Internal(anyhow::anyhow!("the profiler failed: {err}"))),
        }
    }
}

impl Drop for ProfilingTask {
    fn drop(&mut self) {
        if self.done.is_some() {
            self.abandoned.store(true, Ordering::Relaxed);
        }
    }
}
