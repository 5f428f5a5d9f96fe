//! Work on an upload's bytes that runs on a thread of its own — the dataset
//! profiler and the CID builder. The upload hands each chunk through a short
//! queue and goes on writing and hashing, so the work runs beside it (on the
//! other core) and the runtime's threads never wait on it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ipfs::CidBuilder;
use crate::pipeline::Error;
use crate::profile::{DatasetError, Profile, Profiler};

/// Chunks queued for the thread; when it falls behind, the upload waits.
const QUEUE_CHUNKS: usize = 16;

/// What a side thread does with the chunks, and what it gives at the end.
pub trait ChunkConsumer: Send + 'static {
    type Output: Send + 'static;
    type Error: Into<Error> + Send + 'static;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Self::Error>;
    fn finish(self) -> Result<Self::Output, Self::Error>;
}

impl ChunkConsumer for Profiler {
    type Output = Option<Profile>;
    type Error = DatasetError;

    fn push(&mut self, chunk: &[u8]) -> Result<(), DatasetError> {
        Profiler::push(self, chunk)
    }

    fn finish(self) -> Result<Option<Profile>, DatasetError> {
        Profiler::finish(self)
    }
}

/// Gives the builder back at the end: a resumable upload saves it between
/// requests, and the last one builds the DAG from it.
impl ChunkConsumer for CidBuilder {
    type Output = Self;
    type Error = Infallible;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Infallible> {
        CidBuilder::push(self, chunk);
        Ok(())
    }

    fn finish(self) -> Result<Self, Infallible> {
        Ok(self)
    }
}

/// How a side thread ended.
enum Ended<C: ChunkConsumer> {
    Finished(C::Output),
    /// Stopped between two requests, to go on later: the consumer as it stands.
    Paused(C),
    /// The upload was abandoned before the end.
    Abandoned,
}

type Outcome<C> = Result<Ended<C>, <C as ChunkConsumer>::Error>;

pub struct SideThread<C: ChunkConsumer> {
    chunks: Option<mpsc::Sender<Bytes>>,
    done: Option<JoinHandle<Outcome<C>>>,
    /// Set when the upload is abandoned, so the thread stops at the next chunk.
    abandoned: Arc<AtomicBool>,
    /// Set to have the thread give the consumer back instead of finishing it.
    pausing: Arc<AtomicBool>,
}

impl<C: ChunkConsumer> std::fmt::Debug for SideThread<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideThread")
            .field("running", &self.done.is_some())
            .finish_non_exhaustive()
    }
}

impl<C: ChunkConsumer> SideThread<C> {
    pub fn start(mut consumer: C) -> Self {
        let (chunks, mut queue) = mpsc::channel::<Bytes>(QUEUE_CHUNKS);
        let abandoned = Arc::new(AtomicBool::new(false));
        let pausing = Arc::new(AtomicBool::new(false));
        let (stop, pause) = (abandoned.clone(), pausing.clone());
        let done = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = queue.blocking_recv() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(Ended::Abandoned);
                }
                consumer.push(&chunk)?;
            }
            if pause.load(Ordering::Relaxed) {
                return Ok(Ended::Paused(consumer));
            }
            consumer.finish().map(Ended::Finished)
        });
        Self {
            chunks: Some(chunks),
            done: Some(done),
            abandoned,
            pausing,
        }
    }

    /// Queues a chunk; fails once the thread has stopped on an error (a
    /// dataset pandas would refuse: 422).
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        let Some(chunks) = &self.chunks else {
            return Ok(());
        };
        if chunks.send(chunk).await.is_err() {
            // The thread stopped early: only an error does that.
            self.chunks = None;
            self.outcome().await?;
        }
        Ok(())
    }

    /// The output of everything pushed.
    pub async fn finish(mut self) -> Result<C::Output, Error> {
        self.chunks = None;
        match self.outcome().await? {
            Ended::Finished(output) => Ok(output),
            Ended::Paused(_) | Ended::Abandoned => Err(Error::Internal(anyhow::anyhow!(
                "a side thread stopped before the end"
            ))),
        }
    }

    /// The consumer once it has taken everything pushed, to go on with later
    /// (a resumable upload's next request).
    pub async fn pause(mut self) -> Result<C, Error> {
        self.pausing.store(true, Ordering::Relaxed);
        self.chunks = None;
        match self.outcome().await? {
            Ended::Paused(consumer) => Ok(consumer),
            Ended::Finished(_) | Ended::Abandoned => {
                Err(Error::Internal(anyhow::anyhow!("a side thread did not pause")))
            }
        }
    }

    async fn outcome(&mut self) -> Result<Ended<C>, Error> {
        let Some(done) = self.done.take() else {
            return Ok(Ended::Abandoned);
        };
        match done.await {
            Ok(result) => result.map_err(Into::into),
            Err(err) => Err(Error::Internal(anyhow::anyhow!("a side thread failed: {err}"))),
        }
    }
}

impl<C: ChunkConsumer> Drop for SideThread<C> {
    fn drop(&mut self) {
        if self.done.is_some() {
            self.abandoned.store(true, Ordering::Relaxed);
        }
    }
}
