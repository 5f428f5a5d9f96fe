//! An S3 client whose every call has a deadline that fits its bytes and goes
//! through a [`Breaker`]: an endpoint that stops answering fails uploads and
//! downloads within seconds, not after `object_store`'s own retries (up to
//! three minutes), and `/readyz` knows at once.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartId, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use super::StorageError;
use super::breaker::Breaker;
use super::s3::PART_SIZE;

/// The longest a server-side copy may take: S3 copies up to 5 GiB in one
/// request, and says it may take minutes.
const COPY_WITHIN: Duration = Duration::from_secs(300);

/// [`AmazonS3`] behind deadlines and a breaker.
pub struct Guarded {
    inner: Arc<AmazonS3>,
    breaker: Arc<Breaker>,
}

impl Guarded {
    /// `inner`, whose breaker probes by asking for `probe` (an answer, even
    /// "not found", means the endpoint is back) and expects bodies to go at
    /// `min_rate` bytes per second at least.
    pub fn new(inner: AmazonS3, probe: Path, min_rate: u64) -> Self {
        let inner = Arc::new(inner);
        let prober = Arc::clone(&inner);
        let breaker = Breaker::new(
            "the S3 store",
            Arc::new(move || {
                let (store, probe) = (Arc::clone(&prober), probe.clone());
                Box::pin(async move {
                    matches!(
                        store.head(&probe).await,
                        Ok(_) | Err(object_store::Error::NotFound { .. })
                    )
                })
            }),
            min_rate,
        );
        Self { inner, breaker }
    }

    async fn call<T>(&self, bytes: u64, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.within(self.breaker.deadline_for(bytes), call).await
    }

    async fn within<T>(&self, deadline: Duration, call: impl Future<Output = Result<T>>) -> Result<T> {
        let guarded = self.breaker.call(deadline, async {
            call.await.map_err(|err| StorageError::from(Passed(err)))
        });
        match guarded.await {
            Ok(value) => Ok(value),
            Err(StorageError::Io(err)) => match err.downcast::<Passed>() {
                Ok(Passed(err)) => Err(err),
                Err(err) => Err(unavailable(StorageError::Io(err))),
            },
            Err(err) => Err(unavailable(err)),
        }
    }

    /// `stream`, failing (and opening the breaker) when it stays silent too long.
    fn watched<T: Send + 'static>(
        &self,
        stream: BoxStream<'static, Result<T>>,
    ) -> BoxStream<'static, Result<T>> {
        self.breaker.watch_stream(stream, unavailable).boxed()
    }

    /// [`Self::watched`] `stream`, once the breaker admits it.
    fn admitted<T: Send + 'static>(
        &self,
        stream: BoxStream<'static, Result<T>>,
    ) -> BoxStream<'static, Result<T>> {
        let breaker = Arc::clone(&self.breaker);
        let mut watched = Some(self.watched(stream));
        futures_util::stream::once(async move { breaker.admit().await })
            .flat_map(move |admitted| match (admitted, watched.take()) {
                (Ok(()), Some(watched)) => watched,
                (Err(err), _) => futures_util::stream::once(async move { Err(unavailable(err)) }).boxed(),
                (Ok(()), None) => futures_util::stream::empty().boxed(),
            })
            .boxed()
    }
}

/// An error of the inner store, passed through the breaker untouched.
#[derive(Debug)]
struct Passed(object_store::Error);

impl fmt::Display for Passed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Passed {}

impl From<Passed> for StorageError {
    fn from(passed: Passed) -> Self {
        StorageError::Io(std::io::Error::other(passed))
    }
}

/// The breaker's refusal as the store's error; [`unavailable_in`] finds it again.
fn unavailable(err: StorageError) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: Box::new(err),
    }
}

/// The breaker's refusal inside an `object_store` error, if that is what it is.
pub fn unavailable_in(err: &object_store::Error) -> Option<String> {
    let object_store::Error::Generic { source, .. } = err else {
        return None;
    };
    match source.downcast_ref::<StorageError>() {
        Some(StorageError::Unavailable(reason)) => Some(reason.clone()),
        _ => None,
    }
}

impl fmt::Debug for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for Guarded {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let bytes = payload.content_length() as u64;
        self.call(bytes, self.inner.put_opts(location, payload, opts))
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.call(0, self.inner.put_multipart_opts(location, opts)).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut got = self.call(0, self.inner.get_opts(location, options)).await?;
        let GetResultPayload::Stream(stream) = got.payload;
        got.payload = GetResultPayload::Stream(self.watched(stream));
        Ok(got)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let bytes = ranges.iter().map(|range| range.end - range.start).sum();
        self.call(bytes, self.inner.get_ranges(location, ranges)).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.admitted(self.inner.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.admitted(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.admitted(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.call(0, self.inner.list_with_delimiter(prefix)).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.within(COPY_WITHIN, self.inner.copy_opts(from, to, options))
            .await
    }
}

#[async_trait]
impl MultipartStore for Guarded {
    async fn create_multipart(&self, path: &Path) -> Result<MultipartId> {
        self.call(0, self.inner.create_multipart(path)).await
    }

    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> Result<PartId> {
        let bytes = data.content_length() as u64;
        self.call(bytes, self.inner.put_part(path, id, part_idx, data))
            .await
    }

    /// S3 may take a while to assemble many parts, so the deadline grows with them.
    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> Result<PutResult> {
        let bytes = (parts.len() * PART_SIZE) as u64;
        self.call(bytes, self.inner.complete_multipart(path, id, parts))
            .await
    }

    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> Result<()> {
        self.call(0, self.inner.abort_multipart(path, id)).await
    }
}
