//! Resumable uploads (tus 1.0): an upload created by one request and filled by
//! later ones, on any node, until its last byte arrives and it goes through
//! [`upload::store`] like any other upload.
//!
//! The upload's row ([`uploads`]) is its whole state: how many bytes are
//! durable, and the SHA-256 and CID builder states of exactly those bytes (a
//! [`Checkpoint`]), so completing never reads the bytes again to hash them. Each
//! request that writes holds the row's lock ([`UploadLock`]), renewed while its
//! body streams: a second writer gets 423, and bytes never interleave. The
//! bytes are staged in the blob store under the upload's id; a request first
//! writes and persists them, then advances the offset, so the offset is always
//! durable bytes, and whatever a crash leaves past it is dropped on resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::auth::UserId;
use crate::db::files::FileRecord;
use crate::db::uploads::{self, NewUpload, Progress, UploadRow};
use crate::domain::timestamp::now_micros;
use crate::domain::{FileName, SessionId, UploadId, content_type};
use crate::error::AppError;
use crate::ipfs::{self, CidBuilder};
use crate::pipeline::attempt::{Attempt, Intent};
use crate::pipeline::audit::Audit;
use crate::pipeline::session::Session;
use crate::pipeline::side_thread::SideThread;
use crate::pipeline::upload::{self, PausedProfiling, Profiling, Received, UploadMeta};
use crate::profile::Format;
use crate::state::AppState;
use crate::storage::{BlobWriter, ResumableWriter};

/// How long a writer's lock lasts unless renewed; a writer that died lets go
/// after this long.
const LOCK_LEASE: Duration = Duration::from_secs(20);
/// How often a writer renews its lock while its body streams.
const LOCK_RENEWAL: Duration = Duration::from_secs(5);
/// How long a status request waits for a writing request to end, and how
/// often it looks.
const WRITER_PATIENCE: Duration = Duration::from_secs(2);
const WRITER_POLL: Duration = Duration::from_millis(25);
/// Expired uploads removed per database round trip.
const EXPIRY_BATCH: i64 = 100;

/// What an upload is, told when it is created.
#[derive(Debug)]
pub struct Creation {
    pub user: UserId,
    /// The name to store the file under, as the client gave it (or not).
    pub file_name: Option<String>,
    /// The client's own name for the bytes (tus' `filename`).
    pub original_name: Option<String>,
    pub description: String,
    pub length: u64,
    /// `Upload-Metadata` as the client sent it, echoed back by `HEAD`.
    pub metadata: String,
}

/// Where an upload stands.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: UploadId,
    pub offset: u64,
    pub length: u64,
    pub metadata: String,
    /// When it will be removed unless a request goes on with it (µs since the epoch).
    pub expires_at: i64,
    /// The stored file, once the last byte has arrived.
    pub file: Option<FileRecord>,
}

/// What a request that appends says about its body.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    /// Where the client believes the upload stands (`Upload-Offset`).
    pub offset: u64,
    /// The body's length, when declared (`Content-Length`).
    pub declared_len: Option<u64>,
    /// The checksum the body must have (`Upload-Checksum`).
    pub checksum: Option<ExpectedChecksum>,
}

/// The `Upload-Checksum` a request's body must have.
#[derive(Debug, Clone)]
pub struct ExpectedChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [Self; 2] = [Self::Sha1, Self::Sha256];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|algorithm| algorithm.name() == name)
    }
}

/// Creates an upload in `session`: begins its processing record (`pending`),
/// checks what can be checked before any byte (name, extension, size — a
/// refusal fails the record) and records the upload's row. An empty upload is
/// complete at once.
pub async fn create(
    state: &AppState,
    session: &Session,
    creation: Creation,
    audit: &Audit,
) -> Result<Status, AppError> {
    let Creation {
        user,
        file_name,
        original_name,
        description,
        length,
        metadata,
    } = creation;
    let named = original_name
        .as_deref()
        .or(file_name.as_deref())
        .unwrap_or_default();
    let intent = Intent {
        filename: named.to_owned(),
        file_name: file_name.clone().unwrap_or_default(),
        size: length,
        content_type: content_type::detect(&[], named),
    };
    let attempt = Attempt::begin(&state.db, user, session.id, intent).await?;
    let id = UploadId::new_random();
    let now = now_micros();
    let expires_at = expires_from(state, now);
    let recorded = async {
        let file_name = file_name.ok_or_else(|| {
            AppError::MissingField("Upload-Metadata must name the file: `file_name` or `filename`".into())
        })?;
        let meta = UploadMeta {
            user,
            file_name: FileName::parse(&file_name)?,
            original_name,
            description,
        };
        upload::precheck(state, &meta).await?;
        let limit = state.policy.max_upload_bytes;
        let length = i64::try_from(length)
            .ok()
            .filter(|_| length <= limit)
            .ok_or(AppError::TooLarge { limit })?;
        let row = NewUpload {
            id,
            user_id: user,
            session_id: session.id.to_string(),
            record_id: attempt.id(),
            file_name: meta.file_name.as_str(),
            filename: meta.original_name.as_deref().unwrap_or_default(),
            description: &meta.description,
            metadata: &metadata,
            length,
            hash_state: Checkpoint::default().save(),
            created_at: now,
            expires_at,
        };
        Ok::<_, AppError>(uploads::insert(state.db.pool(), &row).await?)
    }
    .await;
    if let Err(err) = recorded {
        return attempt.finish(Err(err)).await;
    }
    attempt.suspend();
    if length > 0 {
        return Ok(Status {
            id,
            offset: 0,
            length,
            metadata,
            expires_at,
            file: None,
        });
    }
    let empty = futures_util::stream::empty::<Result<Bytes, AppError>>();
    append(state, user, id, Patch::default(), empty, audit).await
}

/// Where the user's upload stands: 404 for anyone else's, 410 once expired.
/// While a request is writing to it, waits a little for that request to end
/// — a client resuming right after its connection failed asks while the
/// server is still saving what the failed request brought, and should hear
/// the offset that leaves, not the one before it.
pub async fn status(state: &AppState, user: UserId, id: UploadId) -> Result<Status, AppError> {
    let patience = tokio::time::Instant::now() + WRITER_PATIENCE;
    let row = loop {
        let row = uploads::find(state.db.pool(), id, user)
            .await?
            .ok_or(AppError::NotFound("upload"))?;
        let writing = row.locked_until.is_some_and(|until| until >= now_micros());
        if !writing || tokio::time::Instant::now() >= patience {
            break row;
        }
        tokio::time::sleep(WRITER_POLL).await;
    };
    if row.expires_at < now_micros() {
        return Err(AppError::UploadExpired);
    }
    Ok(Status {
        id,
        offset: u64::try_from(row.upload_offset).unwrap_or_default(),
        length: u64::try_from(row.length).unwrap_or_default(),
        metadata: row.metadata,
        expires_at: row.expires_at,
        file: None,
    })
}

/// Appends a request's body at the patch's offset, which must be where the
/// upload stands (409 otherwise). The body may not pass the upload's length
/// (413, and none of it is kept). With a checksum, a body that does not match
/// it is discarded (460); so is one cut short, which cannot be checked. Without
/// one, a body cut short keeps what arrived. The last byte stores the file.
pub async fn append<S, E>(
    state: &AppState,
    user: UserId,
    id: UploadId,
    patch: Patch,
    body: S,
    audit: &Audit,
) -> Result<Status, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (lock, row) = UploadLock::take(state, user, id).await?;
    // Every refusal lets go of the lock before it answers, so the client's
    // next request finds the upload free.
    let body = match receive(state, &lock, &row, patch, body).await {
        Ok(body) => body,
        Err(err) => return Err(lock.release(err).await),
    };
    let length = u64::try_from(row.length).unwrap_or_default();
    if body.offset == length && !body.cut {
        let cid = match body.cid.finish().await {
            Ok(cid) => cid,
            Err(err) => {
                // Undone (the staged bytes cut back) before the lock is free.
                drop(body.writer);
                return Err(lock.release(err).await);
            }
        };
        let hashed = Hashed {
            sha256: body.sha256,
            cid,
            profiling: body.profiling,
        };
        return complete(state, lock, row, body.writer, hashed, audit).await;
    }
    if body.cut {
        tracing::info!(upload = %id, offset = body.offset, "PATCH cut short; the bytes that arrived are kept");
    }
    // The CID thread's last chunks and the sync of the bytes, side by side.
    let (cid, persisted) = tokio::join!(body.cid.finish(), body.writer.persist());
    let (cid, store_state) = match cid.and_then(|cid| Ok((cid, persisted?))) {
        Ok(done) => done,
        Err(err) => return Err(lock.release(err).await),
    };
    let expires_at = expires_from(state, now_micros());
    let progress = Progress {
        offset: i64::try_from(body.offset).unwrap_or(i64::MAX),
        store_state,
        hash_state: Checkpoint {
            sha256: body.sha256,
            cid,
        }
        .save(),
        expires_at,
    };
    lock.advance(progress).await?;
    if let Some(profiling) = body.profiling
        && let Ok(paused) = profiling.pause().await
    {
        state.warm_profiles.keep(id, body.offset, paused);
    }
    Ok(Status {
        id,
        offset: body.offset,
        length,
        metadata: row.metadata,
        expires_at,
        file: None,
    })
}

/// Reads a request's body into the upload under its lock: the offset and
/// length checks, the body, and its checksum.
async fn receive<S, E>(
    state: &AppState,
    lock: &UploadLock,
    row: &UploadRow,
    patch: Patch,
    body: S,
) -> Result<Appending, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let at = u64::try_from(row.upload_offset).unwrap_or_default();
    let length = u64::try_from(row.length).unwrap_or_default();
    if patch.offset != at {
        return Err(AppError::OffsetMismatch {
            expected: at,
            given: patch.offset,
        });
    }
    if patch
        .declared_len
        .is_some_and(|len| at.saturating_add(len) > length)
    {
        return Err(AppError::PastUploadLength { length });
    }
    let checksum = patch.checksum;
    let checkpoint = Checkpoint::restore(&row.hash_state)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("upload {} has a damaged hash state", lock.id)))?;
    let profiling = match state.warm_profiles.take(lock.id, at) {
        Some(paused) => Some(Profiling::resume(paused)),
        None if at == 0 => Some(Profiling::new(Format::detect(client_name(row), ""))),
        None => None,
    };
    let mut body = Appending {
        writer: state.blobs.resume(&lock.id, at, &row.store_state).await?,
        sha256: checkpoint.sha256,
        cid: SideThread::start(checkpoint.cid),
        checksum: checksum
            .as_ref()
            .map(|expected| RunningChecksum::new(expected.algorithm)),
        offset: at,
        length,
        cut: false,
        profiling,
    }
    .read(body, lock)
    .await?;
    if let (Some(expected), Some(running)) = (&checksum, body.checksum.take()) {
        if body.cut {
            tracing::warn!(upload = %lock.id, "a checksummed PATCH was cut short; its bytes were discarded");
            return Err(AppError::Interrupted);
        }
        if running.finish() != expected.digest {
            return Err(AppError::ChecksumMismatch {
                algorithm: expected.algorithm.name(),
            });
        }
    }
    Ok(body)
}

/// Removes the user's upload and its bytes; its record says it was terminated.
pub async fn terminate(state: &AppState, user: UserId, id: UploadId) -> Result<(), AppError> {
    let (lock, row) = UploadLock::take(state, user, id).await?;
    if let Err(err) = remove(state, &row, id, AppError::UploadTerminated).await {
        return Err(lock.release(err).await);
    }
    lock.forget();
    Ok(())
}

/// Removes every expired upload nobody is writing to, with its bytes; their
/// records say they expired. Returns how many were removed.
pub async fn expire(state: &AppState) -> Result<u64, AppError> {
    let mut removed = 0;
    loop {
        let now = now_micros();
        let batch = uploads::expired(state.db.pool(), now, EXPIRY_BATCH).await?;
        let full = batch.len() as i64 == EXPIRY_BATCH;
        for row in batch {
            let Some(id) = UploadId::parse(&row.id) else {
                continue;
            };
            let token = uuid::Uuid::new_v4().to_string();
            if uploads::claim_expired(state.db.pool(), id, &token, now, lease_end(now)).await? {
                remove(state, &row, id, AppError::UploadExpired).await?;
                removed += 1;
            }
        }
        if !full {
            return Ok(removed);
        }
    }
}

/// Startup on a single-node backend: whoever held upload locks is gone.
pub async fn release_all_locks(state: &AppState) -> Result<(), AppError> {
    let released = uploads::unlock_all(state.db.pool()).await?;
    if released > 0 {
        tracing::info!(
            released,
            "released the locks of uploads cut off by the last shutdown"
        );
    }
    Ok(())
}

/// One request's body on its way into the upload.
struct Appending {
    writer: Box<dyn ResumableWriter>,
    sha256: Sha256,
    cid: SideThread<CidBuilder>,
    checksum: Option<RunningChecksum>,
    /// Where the upload stands with this body's bytes so far.
    offset: u64,
    length: u64,
    /// Whether the body stopped before its end (the client went away).
    cut: bool,
    /// The dataset profiler, when it has seen every byte from the first
    /// (see [`WarmProfiles`]).
    profiling: Option<Profiling>,
}

impl Appending {
    async fn read<S, E>(mut self, mut body: S, lock: &UploadLock) -> Result<Self, AppError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    tracing::debug!(error = %err, "upload body cut short");
                    self.cut = true;
                    break;
                }
            };
            if lock.lost() {
                return Err(AppError::UploadLocked);
            }
            let offset = self.offset + chunk.len() as u64;
            if offset > self.length {
                return Err(AppError::PastUploadLength { length: self.length });
            }
            if let Some(checksum) = &mut self.checksum {
                checksum.update(&chunk);
            }
            if let Some(profiling) = &mut self.profiling
                && profiling.push(&chunk).await.is_err()
            {
                // Not a dataset pandas would read: the last request finds
                // that out again, from the staged bytes, and says so.
                self.profiling = None;
            }
            self.sha256.update(&chunk);
            self.cid.push(chunk.clone()).await?;
            self.writer.write(chunk).await?;
            self.offset = offset;
        }
        Ok(self)
    }
}

/// Stores the completed upload as a file; if that fails, the upload is removed
/// and its record says why.
async fn complete(
    state: &AppState,
    lock: UploadLock,
    row: UploadRow,
    mut writer: Box<dyn ResumableWriter>,
    hashed: Hashed,
    audit: &Audit,
) -> Result<Status, AppError> {
    let id = lock.id;
    let user = row.user_id;
    let session = SessionId::parse(&row.session_id).map_err(|err| AppError::Internal(err.into()))?;
    let attempt = Attempt::resume(&state.db, row.record_id.clone(), user, session);
    let stored = async {
        attempt.processing().await?;
        let meta = UploadMeta {
            user,
            file_name: FileName::parse(&row.file_name).map_err(|err| AppError::Internal(err.into()))?,
            original_name: Some(row.filename.clone()).filter(|name| !name.is_empty()),
            description: row.description.clone(),
        };
        let (head, profile) = match hashed.profiling {
            Some(profiling) => profiling.finish(writer.as_mut()).await?,
            None => profile_from_staged(writer.as_mut(), client_name(&row)).await?,
        };
        let received = Received {
            writer,
            started_at: row.created_at,
            key: crate::storage::BlobKey::from_digest(&hashed.sha256.finalize().into()),
            dag: hashed.cid.finish(),
            size: u64::try_from(row.length).unwrap_or_default(),
            head,
            profile,
            upload: Some(id),
        };
        upload::store(state, &attempt, meta, received, audit).await
    }
    .await;
    match attempt.finish(stored).await {
        Ok(file) => {
            lock.forget();
            Ok(Status {
                id,
                offset: u64::try_from(file.size).unwrap_or_default(),
                length: u64::try_from(file.size).unwrap_or_default(),
                metadata: row.metadata,
                expires_at: row.expires_at,
                file: Some(file),
            })
        }
        Err(err) => {
            if let Err(remove_err) = discard(state, id, &row.store_state).await {
                tracing::warn!(upload = %id, error = %remove_err, "could not remove a failed upload");
            }
            lock.forget();
            Err(err)
        }
    }
}

/// Removes an upload that will not complete, failing its record with `reason`.
async fn remove(state: &AppState, row: &UploadRow, id: UploadId, reason: AppError) -> Result<(), AppError> {
    discard(state, id, &row.store_state).await?;
    let session = SessionId::parse(&row.session_id).map_err(|err| AppError::Internal(err.into()))?;
    let attempt = Attempt::resume(&state.db, row.record_id.clone(), row.user_id, session);
    match attempt.finish::<()>(Err(reason)).await {
        Err(AppError::UploadExpired | AppError::UploadTerminated) => Ok(()),
        other => other,
    }
}

/// Removes an upload's bytes, then its row.
async fn discard(state: &AppState, id: UploadId, store_state: &str) -> Result<(), AppError> {
    state.warm_profiles.forget(id);
    state.blobs.discard(&id, store_state).await?;
    let mut conn = state.db.pool().acquire().await?;
    uploads::delete(&mut conn, id).await?;
    Ok(())
}

/// The head and profile of what a writer staged, read back from the store: for
/// an upload whose profiler did not see every byte (a request on another node,
/// a restart, a request that was refused).
async fn profile_from_staged(
    writer: &mut dyn BlobWriter,
    named: &str,
) -> Result<(Vec<u8>, Option<crate::profile::Profile>), AppError> {
    let head = match writer.staged_reader().await? {
        Some(reader) => {
            let head = tokio::task::spawn_blocking(move || {
                let mut head = Vec::with_capacity(content_type::SNIFF_LEN);
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(reader, content_type::SNIFF_LEN as u64),
                    &mut head,
                )
                .map(|_| head)
            })
            .await
            .map_err(|err| AppError::Internal(err.into()))?;
            head.map_err(crate::storage::StorageError::from)?
        }
        None => Vec::new(),
    };
    let profile = match Format::detect(named, "").filter(|format| upload::worth_profiling(*format, &head)) {
        Some(format) => upload::profile_staged(writer, format).await?,
        None => None,
    };
    Ok((head, profile))
}

/// The client's name for an upload's bytes, which tells its format.
fn client_name(row: &UploadRow) -> &str {
    if row.filename.is_empty() {
        &row.file_name
    } else {
        &row.filename
    }
}

fn expires_from(state: &AppState, now: i64) -> i64 {
    now.saturating_add(i64::try_from(state.policy.upload_expiry.as_micros()).unwrap_or(i64::MAX))
}

fn lease_end(now: i64) -> i64 {
    now.saturating_add(LOCK_LEASE.as_micros() as i64)
}

/// What the last request of an upload computed on the way: the hashes of
/// every byte, and the profiler if it saw them all.
struct Hashed {
    sha256: Sha256,
    cid: CidBuilder,
    profiling: Option<Profiling>,
}

/// Dataset profilers of resumable uploads between requests, kept on the node
/// that served the last one, so that the next request there goes on where it
/// stopped and the last one does not read the file again. Any other node —
/// or this one after a restart, after a refused request, or for an upload
/// pushed out by [`WARM_PROFILES`] newer ones — profiles the staged bytes when
/// the upload completes instead.
#[derive(Debug, Default)]
pub struct WarmProfiles(std::sync::Mutex<std::collections::HashMap<UploadId, WarmProfile>>);

#[derive(Debug)]
struct WarmProfile {
    /// Where the upload stood when the profiler paused.
    offset: u64,
    paused: PausedProfiling,
    /// When, so the oldest (likely an upload another node finished or
    /// removed) makes room first.
    kept_at: std::time::Instant,
}

/// Uploads whose profilers a node keeps at once; the oldest goes first.
const WARM_PROFILES: usize = 256;

impl WarmProfiles {
    /// The upload's profiler, if it stopped at `offset`.
    fn take(&self, id: UploadId, offset: u64) -> Option<PausedProfiling> {
        let mut warm = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        warm.remove(&id)
            .filter(|profile| profile.offset == offset)
            .map(|profile| profile.paused)
    }

    fn keep(&self, id: UploadId, offset: u64, paused: PausedProfiling) {
        let mut warm = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if warm.len() >= WARM_PROFILES
            && let Some(oldest) = warm
                .iter()
                .min_by_key(|(_, profile)| profile.kept_at)
                .map(|(id, _)| *id)
        {
            warm.remove(&oldest);
        }
        let kept_at = std::time::Instant::now();
        warm.insert(
            id,
            WarmProfile {
                offset,
                paused,
                kept_at,
            },
        );
    }

    fn forget(&self, id: UploadId) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }
}

/// The hash state of an upload's durable bytes: the SHA-256 of the whole
/// content so far and the CID builder, kept in the upload's row.
#[derive(Debug, Default)]
struct Checkpoint {
    sha256: Sha256,
    cid: CidBuilder,
}

impl Checkpoint {
    /// The encoding's version, its first byte.
    const VERSION: u8 = 1;

    fn save(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        ipfs::save_sha256(&self.sha256, &mut out);
        self.cid.save(&mut out);
        out
    }

    fn restore(bytes: &[u8]) -> Option<Self> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != Self::VERSION {
            return None;
        }
        let sha256 = ipfs::restore_sha256(&mut rest)?;
        let cid = CidBuilder::restore(&mut rest)?;
        rest.is_empty().then_some(Self { sha256, cid })
    }
}

enum RunningChecksum {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl RunningChecksum {
    fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(hasher) => hasher.finalize().to_vec(),
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }
}

/// The lock of one upload, held by one request: renewed in the background
/// while held, and let go when dropped.
struct UploadLock {
    id: UploadId,
    token: String,
    state: AppState,
    /// Set when a renewal found the lock taken over (this holder stalled past
    /// its lease); the request then stops writing.
    lost: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
    held: bool,
}

impl UploadLock {
    /// Takes the lock of the user's upload, and reads it as it stands: 404
    /// when there is no such upload (or it is someone else's), 410 when it
    /// expired, 423 while another request holds it.
    async fn take(state: &AppState, user: UserId, id: UploadId) -> Result<(Self, UploadRow), AppError> {
        let token = uuid::Uuid::new_v4().to_string();
        let now = now_micros();
        let Some(row) = uploads::lock(state.db.pool(), id, user, &token, now, lease_end(now)).await? else {
            let row = uploads::find(state.db.pool(), id, user)
                .await?
                .ok_or(AppError::NotFound("upload"))?;
            return Err(if row.expires_at < now {
                AppError::UploadExpired
            } else {
                AppError::UploadLocked
            });
        };
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(state.clone(), id, token.clone(), Arc::clone(&lost)));
        let lock = Self {
            id,
            token,
            state: state.clone(),
            lost,
            renewal,
            held: true,
        };
        Ok((lock, row))
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Records durable progress and lets go, in one statement.
    async fn advance(mut self, progress: Progress) -> Result<(), AppError> {
        self.renewal.abort();
        self.held = false;
        if uploads::advance(self.state.db.pool(), self.id, &self.token, progress).await? {
            Ok(())
        } else {
            Err(AppError::UploadLocked)
        }
    }

    /// Lets go without progress, before the refusal `err` is answered.
    async fn release(mut self, err: AppError) -> AppError {
        self.renewal.abort();
        self.held = false;
        if let Err(unlock_err) = uploads::unlock(self.state.db.pool(), self.id, &self.token).await {
            tracing::warn!(upload = %self.id, error = %unlock_err, "could not let go of an upload's lock");
        }
        err
    }

    /// The upload is gone; there is nothing to let go of.
    fn forget(mut self) {
        self.held = false;
    }
}

async fn renew(state: AppState, id: UploadId, token: String, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(LOCK_RENEWAL).await;
        match uploads::renew(state.db.pool(), id, &token, lease_end(now_micros())).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(upload = %id, "lost an upload's lock to another request");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(err) => tracing::warn!(upload = %id, error = %err, "could not renew an upload's lock"),
        }
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        self.renewal.abort();
        if !self.held {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (db, id, token) = (self.state.db.clone(), self.id, std::mem::take(&mut self.token));
        runtime.spawn(async move {
            if let Err(err) = uploads::unlock(db.pool(), id, &token).await {
                tracing::warn!(upload = %id, error = %err, "could not let go of an upload's lock");
            }
        });
    }
}

impl std::fmt::Debug for UploadLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadLock")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_restores_to_the_same_hashes() {
        let mut checkpoint = Checkpoint::default();
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        checkpoint.sha256.update(&bytes[..300_001]);
        checkpoint.cid.push(&bytes[..300_001]);
        let mut restored = Checkpoint::restore(&checkpoint.save()).expect("restores");
        restored.sha256.update(&bytes[300_001..]);
        restored.cid.push(&bytes[300_001..]);
        assert_eq!(restored.sha256.finalize(), Sha256::digest(&bytes));
        let mut whole = CidBuilder::default();
        whole.push(&bytes);
        assert_eq!(restored.cid.finish().root, whole.finish().root);
    }

    #[test]
    fn a_checkpoint_of_another_version_or_with_trailing_bytes_is_refused() {
        let saved = Checkpoint::default().save();
        let mut other_version = saved.clone();
        other_version[0] = 2;
        assert!(Checkpoint::restore(&other_version).is_none());
        let mut trailing = saved;
        trailing.push(0);
        assert!(Checkpoint::restore(&trailing).is_none());
        assert!(Checkpoint::restore(&[]).is_none());
    }
}
