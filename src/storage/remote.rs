//! Blobs on a depot storage node, over its internal API (`/internal/storage/…`):
//! what a gateway uses, so that no file byte touches the gateway's disk.
//!
//! A write is sent to the node in chunks of [`CHUNK`] bytes, each one a `PUT`
//! at its offset that the node stages before it answers (durably, for a
//! resumable upload), so a chunk that fails is sent again — not the whole file. The node hashes what it
//! stages and hands back an opaque state (its store's resume state and the
//! SHA-256 so far); the next chunk carries it, and the commit declares the
//! content's SHA-256, which the node checks against its own before the blob
//! becomes visible: a cut stream never becomes a stored blob. A body that fits
//! in one chunk goes in one `POST` with its SHA-256 declared up front.
//!
//! Idempotent calls (every chunk, commit, read, delete) are retried with
//! backoff over a pooled connection when the node refuses them or answers
//! that it is unavailable; a node that stays unreachable, or that does not
//! answer a call within its deadline, opens the store's [`Breaker`], and
//! every call fails at once with [`StorageError::Unavailable`] (503
//! `storage_unavailable`) until the node answers a probe again.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::breaker::{self, Breaker};
use super::ranged::{FIRST_READ, RangedReader};
use super::{
    BlobKey, BlobStore, BlobWriter, ByteStream, ResumableWriter, ResumeState, StagedReader, StorageError,
};
use crate::config::Secret;
use crate::domain::UploadId;

/// The shared key, on every internal request.
pub const KEY_HEADER: &str = "x-internal-api-key";
/// The SHA-256 a one-request upload declares.
pub const SHA256_HEADER: &str = "x-content-sha256";
/// The node's state of a staged upload, as it handed it back last.
pub const STATE_HEADER: &str = "x-upload-state";
/// Marks a staged upload that lives only as long as one gateway request: the
/// node discards it when it starts, should it be left behind.
pub const TRANSIENT_HEADER: &str = "x-upload-transient";

/// Bytes sent per chunk; two are held at most (one filling, one on its way).
pub const CHUNK: usize = 8 << 20;

/// Attempts per idempotent call, and the first wait between two (doubling).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// A node on the same network accepts a connection in milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often, and how far apart, a staged write is offered for discarding to
/// a node that does not answer: for ten minutes.
const DISCARD_ATTEMPTS: u32 = 120;
const DISCARD_RETRY: Duration = Duration::from_secs(5);
/// Idle pooled connections are dropped well before the node's keep-alive
/// timeout (75 s) closes them, so a request never goes out on one being closed.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// What the node answers for a staged chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Staged {
    pub offset: u64,
    pub state: String,
}

/// What a gateway asks of the node to commit a staged upload.
#[derive(Debug, Serialize, Deserialize)]
pub struct Commit {
    pub sha256: String,
    pub size: u64,
    pub state: String,
}

/// One page of `GET /internal/storage/list`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListPage {
    pub blobs: Vec<ListedBlob>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ListedBlob {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct RemoteBlobStore {
    remote: Arc<Remote>,
}

#[derive(Debug)]
struct Remote {
    client: reqwest::Client,
    /// The node's base URL, without a trailing slash.
    base: String,
    key: header::HeaderValue,
    breaker: Arc<Breaker>,
}

impl RemoteBlobStore {
    /// A store on the node at `url` (`http://host:port`), speaking with `key`,
    /// whose calls expect bodies to go at `min_rate` bytes per second at least.
    pub fn new(url: &str, key: &Secret, min_rate: u64) -> Result<Self, StorageError> {
        let invalid = |what: String| StorageError::Io(std::io::Error::other(what));
        let parsed = url::Url::parse(url).map_err(|err| invalid(format!("storage URL {url:?}: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(invalid(format!(
                "storage URL {url:?} must be http(s)://host:port"
            )));
        }
        let mut key = header::HeaderValue::from_str(key.expose())
            .map_err(|_| invalid("the internal API key must be visible ASCII".to_owned()))?;
        key.set_sensitive(true);
        // No read timeout on the client: each call has a deadline for its
        // answer, and a body is timed while it is read (`read_body`, `watch_stream`).
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .tcp_nodelay(true)
            .build()
            .map_err(|err| invalid(format!("cannot build the HTTP client: {err}")))?;
        let base = url.trim_end_matches('/').to_owned();
        let probe: breaker::Probe = {
            let ready = client
                .get(format!("{base}/internal/storage/ready"))
                .header(KEY_HEADER, key.clone());
            Arc::new(move || {
                let ready = ready.try_clone();
                Box::pin(async move {
                    match ready {
                        Some(ready) => ready
                            .send()
                            .await
                            .is_ok_and(|answer| answer.status().is_success()),
                        None => false,
                    }
                })
            })
        };
        Ok(Self {
            remote: Arc::new(Remote {
                client,
                base,
                key,
                breaker: Breaker::new("the storage node", probe, min_rate),
            }),
        })
    }
}

impl Remote {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/internal/storage/{path}", self.base))
            .header(KEY_HEADER, self.key.clone())
    }

    /// [`Self::send_with`] for a request without a body.
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response, StorageError> {
        self.send_with(0, build).await
    }

    /// Sends a request of `bytes` built by `build` until the node answers
    /// with anything but a gateway or availability error, [`ATTEMPTS`] times
    /// at most, each attempt within the deadline its bytes allow (the answer's
    /// head; a streamed answer's body then goes on as long as it keeps coming).
    async fn send_with(
        &self,
        bytes: u64,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, StorageError> {
        let deadline = self.breaker.deadline_for(bytes);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        self.breaker
            .call(deadline * ATTEMPTS + backoff * 2u32.pow(ATTEMPTS), async {
                loop {
                    let failure = match tokio::time::timeout(deadline, build().send()).await {
                        Err(_) => return Err(self.breaker.trip(format!("no answer within {deadline:?}"))),
                        Ok(Err(err)) if err.is_timeout() => {
                            return Err(self.breaker.trip(format!("no answer: {}", error_chain(&err))));
                        }
                        Ok(Ok(response)) if !retryable(response.status()) => return checked(response).await,
                        Ok(Ok(response)) => format!("the storage node answered {}", response.status()),
                        Ok(Err(err)) => format!("cannot reach the storage node: {}", error_chain(&err)),
                    };
                    if attempt == ATTEMPTS {
                        return Err(self.breaker.trip(failure));
                    }
                    tracing::debug!(attempt, %failure, "retrying a storage node call");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
            })
            .await
    }

    /// An answer's body of about `bytes`, read within the deadline that size
    /// allows; a node that stops sending it opens the breaker.
    async fn read_body<T>(
        &self,
        bytes: u64,
        read: impl Future<Output = reqwest::Result<T>>,
    ) -> Result<T, StorageError> {
        let read = async { read.await.map_err(protocol_error) };
        self.breaker.call(self.breaker.deadline_for(bytes), read).await
    }

    /// Stages `chunks` at `offset` of upload `id`; returns the node's new offset and state.
    async fn put_chunk(
        &self,
        id: UploadId,
        offset: u64,
        state: &str,
        chunks: &[Bytes],
        transient: bool,
    ) -> Result<Staged, StorageError> {
        let bytes = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        let response = self
            .send_with(bytes, || {
                let mut request = self
                    .request(Method::PUT, &format!("upload/{id}?offset={offset}"))
                    .header(STATE_HEADER, state)
                    .body(body_of(chunks));
                if transient {
                    request = request.header(TRANSIENT_HEADER, "1");
                }
                request
            })
            .await?;
        self.read_body(0, response.json()).await
    }
}

/// A request body of chunks, sent from their buffers (a retry sends them again).
fn body_of(chunks: &[Bytes]) -> reqwest::Body {
    let chunks = Vec::from(chunks);
    reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ))
}

/// Statuses worth a retry: the node restarting, or a proxy before it failing.
fn retryable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// The node's answer as a store error, if it is one.
async fn checked(response: Response) -> Result<Response, StorageError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(match status {
        StatusCode::NOT_FOUND => StorageError::NotFound,
        StatusCode::INSUFFICIENT_STORAGE => StorageError::Full,
        StatusCode::UNAUTHORIZED => {
            StorageError::Unavailable("the storage node refused the internal API key".to_owned())
        }
        _ => StorageError::Io(std::io::Error::other(format!(
            "the storage node answered {status}: {body}"
        ))),
    })
}

fn protocol_error(err: reqwest::Error) -> StorageError {
    StorageError::Io(std::io::Error::other(format!(
        "unexpected answer from the storage node: {}",
        error_chain(&err)
    )))
}

/// An error with its causes, which reqwest keeps apart (`connection refused`).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl BlobStore for RemoteBlobStore {
    async fn stage(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        Ok(Box::new(RemoteWriter::new(
            Arc::clone(&self.remote),
            UploadId::new_random(),
            0,
            String::new(),
            true,
        )))
    }

    /// Asks the node first whether it holds `offset` bytes of the upload.
    async fn resume(
        &self,
        upload: &UploadId,
        offset: u64,
        state: &ResumeState,
    ) -> Result<Box<dyn ResumableWriter>, StorageError> {
        // The node's state, as it handed it back.
        let state = node_state(state);
        if offset > 0 {
            self.remote
                .send(|| {
                    self.remote
                        .request(Method::HEAD, &format!("upload/{upload}?offset={offset}"))
                        .header(STATE_HEADER, &state)
                })
                .await?;
        }
        Ok(Box::new(RemoteWriter::new(
            Arc::clone(&self.remote),
            *upload,
            offset,
            state,
            false,
        )))
    }

    async fn discard(&self, upload: &UploadId, state: &ResumeState) -> Result<(), StorageError> {
        let state = node_state(state);
        self.remote
            .send(|| {
                self.remote
                    .request(Method::DELETE, &format!("upload/{upload}"))
                    .header(STATE_HEADER, &state)
            })
            .await
            .map(drop)
    }

    async fn read(
        &self,
        key: &BlobKey,
        range: Option<RangeInclusive<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let response = self
            .remote
            .send(|| {
                let request = self.remote.request(Method::GET, &format!("download?key={key}"));
                match &range {
                    Some(range) => {
                        request.header(header::RANGE, format!("bytes={}-{}", range.start(), range.end()))
                    }
                    None => request,
                }
            })
            .await?;
        let stream = response.bytes_stream().map_err(|err| {
            std::io::Error::other(format!("the storage node's stream broke: {}", error_chain(&err)))
        });
        Ok(Box::pin(
            self.remote.breaker.watch_stream(stream, std::io::Error::other),
        ))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, StorageError> {
        let answer = self
            .remote
            .send(|| self.remote.request(Method::HEAD, &format!("download?key={key}")))
            .await;
        match answer {
            // The header itself: a HEAD response's body (and so its size hint) is empty.
            Ok(response) => response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    StorageError::Io(std::io::Error::other("the storage node sent no Content-Length"))
                }),
            Err(StorageError::NotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        self.remote
            .send(|| {
                self.remote
                    .request(Method::POST, "delete")
                    .json(&serde_json::json!({ "key": key.as_str() }))
            })
            .await
            .map(drop)
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, StorageError> {
        let after = after.map_or("", BlobKey::as_str);
        let limit = limit.to_string();
        let response = self
            .remote
            .send(|| {
                self.remote.request(Method::GET, "list").query(&[
                    ("prefix", prefix),
                    ("after", after),
                    ("limit", &limit),
                ])
            })
            .await?;
        let page: ListPage = self.remote.read_body(0, response.json()).await?;
        page.blobs
            .into_iter()
            .map(|blob| {
                BlobKey::parse(&blob.key)
                    .map(|key| (key, blob.size))
                    .ok_or_else(|| {
                        StorageError::Io(std::io::Error::other("the storage node listed a malformed key"))
                    })
            })
            .collect()
    }

    /// The node answers, takes the key, and its own store takes writes.
    async fn check(&self) -> Result<(), StorageError> {
        self.remote
            .send(|| self.remote.request(Method::GET, "ready"))
            .await
            .map(drop)
    }

    fn uri(&self, key: &BlobKey) -> String {
        // The node's address is the deployment's business, not the caller's.
        format!("node://sha256/{}/{key}", &key.as_str()[..2])
    }
}

/// Chunks on their way to the node: one filling here, one being staged there.
struct RemoteWriter {
    remote: Arc<Remote>,
    id: UploadId,
    /// A one-request stage (discarded if dropped) rather than a resumable upload.
    transient: bool,
    /// What the node holds durably, and the state it handed back for it.
    staged: Staged,
    pending: Vec<Bytes>,
    pending_bytes: usize,
    sending: Option<tokio::task::JoinHandle<Result<Staged, StorageError>>>,
    /// Whether any chunk went to the node (so there may be something to discard).
    sent: bool,
    /// Committed or persisted: nothing to clean up on drop.
    done: bool,
}

impl RemoteWriter {
    fn new(remote: Arc<Remote>, id: UploadId, offset: u64, state: String, transient: bool) -> Self {
        Self {
            remote,
            id,
            transient,
            staged: Staged { offset, state },
            pending: Vec::new(),
            pending_bytes: 0,
            sending: None,
            sent: false,
            done: false,
        }
    }

    /// Waits for the chunk on its way, if any.
    async fn settle(&mut self) -> Result<(), StorageError> {
        if let Some(sending) = self.sending.take() {
            self.staged = sending
                .await
                .map_err(|err| StorageError::Io(std::io::Error::other(err)))??;
        }
        Ok(())
    }

    /// Sends what is pending as the next chunk, once the one before is staged
    /// (its answer carries the state this one needs).
    async fn send_pending(&mut self) -> Result<(), StorageError> {
        self.settle().await?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let (remote, id, transient) = (Arc::clone(&self.remote), self.id, self.transient);
        let Staged { offset, state } = self.staged.clone();
        self.sent = true;
        self.sending = Some(tokio::spawn(async move {
            remote.put_chunk(id, offset, &state, &chunks, transient).await
        }));
        Ok(())
    }

    /// Everything written so far, staged on the node.
    async fn stage_all(&mut self) -> Result<(), StorageError> {
        self.send_pending().await?;
        self.settle().await
    }

    /// A whole body that fits in one chunk, in one request with its SHA-256.
    async fn upload_whole(&mut self, key: &BlobKey) -> Result<(), StorageError> {
        let chunks = std::mem::take(&mut self.pending);
        let bytes = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        self.remote
            .send_with(bytes, || {
                self.remote
                    .request(Method::POST, "upload")
                    .header(SHA256_HEADER, key.as_str())
                    .body(body_of(&chunks))
            })
            .await
            .map(drop)
    }
}

#[async_trait]
impl BlobWriter for RemoteWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= CHUNK {
            self.send_pending().await?;
        }
        Ok(())
    }

    /// A body still in one chunk is read from memory; a larger one is staged
    /// on the node and read from there, in growing ranges — unless the node's
    /// store cannot read staged bytes in place (S3), which gives `None`.
    async fn staged_reader(&mut self) -> Result<Option<Box<dyn StagedReader>>, StorageError> {
        if self.staged.offset == 0 && self.sending.is_none() {
            return Ok(Some(Box::new(std::io::Cursor::new(self.pending.concat()))));
        }
        self.stage_all().await?;
        let staged = StagedOnNode {
            remote: Arc::clone(&self.remote),
            id: self.id,
            state: self.staged.state.clone(),
        };
        let size = self.staged.offset;
        let first = match staged.fetch(0, FIRST_READ.min(size)).await {
            Ok(first) => first,
            Err(StorageError::NotFound) => return Ok(None),
            Err(err) => return Err(err),
        };
        let runtime = tokio::runtime::Handle::current();
        let reader = RangedReader::new(size, move |start, end| {
            runtime
                .block_on(staged.fetch(start, end - start))
                .map_err(std::io::Error::other)
        });
        Ok(Some(Box::new(reader.starting_with(first))))
    }

    async fn commit(mut self: Box<Self>, key: &BlobKey) -> Result<(), StorageError> {
        if self.transient && self.staged.offset == 0 && self.sending.is_none() {
            self.upload_whole(key).await?;
            self.done = true;
            return Ok(());
        }
        self.stage_all().await?;
        let body = Commit {
            sha256: key.to_string(),
            size: self.staged.offset,
            state: self.staged.state.clone(),
        };
        let path = format!("upload/{}/commit", self.id);
        // The node's side of a commit grows with the upload (a node over S3
        // copies it to its content address), so its deadline does too.
        self.remote
            .send_with(body.size, || self.remote.request(Method::POST, &path).json(&body))
            .await?;
        self.done = true;
        Ok(())
    }
}

#[async_trait]
impl ResumableWriter for RemoteWriter {
    async fn persist(mut self: Box<Self>) -> Result<ResumeState, StorageError> {
        self.stage_all().await?;
        self.done = true;
        Ok(ResumeState::Node(std::mem::take(&mut self.staged.state)))
    }
}

/// What a node has staged of one upload.
struct StagedOnNode {
    remote: Arc<Remote>,
    id: UploadId,
    state: String,
}

impl StagedOnNode {
    async fn fetch(&self, start: u64, len: u64) -> Result<Bytes, StorageError> {
        let path = format!("upload/{}?start={start}&len={len}", self.id);
        let response = self
            .remote
            .send(|| {
                self.remote
                    .request(Method::GET, &path)
                    .header(STATE_HEADER, &self.state)
            })
            .await?;
        self.remote.read_body(len, response.bytes()).await
    }
}

impl Drop for RemoteWriter {
    /// A one-request stage that was not committed is discarded on the node (a
    /// resumable upload keeps what its last persist staged; the node cuts
    /// anything after it when the upload resumes).
    fn drop(&mut self) {
        if let Some(sending) = self.sending.take() {
            sending.abort();
        }
        if self.done || !self.transient || !self.sent {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = RemoteBlobStore {
            remote: Arc::clone(&self.remote),
        };
        let (id, state) = (self.id, ResumeState::Node(std::mem::take(&mut self.staged.state)));
        runtime.spawn(async move {
            // A node that does not answer now gets the discard once it does.
            for _ in 0..DISCARD_ATTEMPTS {
                match store.discard(&id, &state).await {
                    Err(StorageError::Unavailable(_)) => tokio::time::sleep(DISCARD_RETRY).await,
                    Err(err) => {
                        tracing::warn!(upload = %id, error = %err, "could not discard a staged write on the storage node; it goes when the node restarts");
                        return;
                    }
                    Ok(()) => return,
                }
            }
            tracing::warn!(upload = %id, "the storage node did not come back to discard a staged write; it goes when the node restarts");
        });
    }
}

/// The node's state in a resume state; a new upload has none yet.
fn node_state(state: &ResumeState) -> String {
    match state {
        ResumeState::Node(state) => state.clone(),
        ResumeState::InStagedBytes | ResumeState::S3(_) => String::new(),
    }
}
