//! Resumable uploads (tus 1.0): an upload created by one request and filled by
//! later ones, on any node, until its last byte arrives and it goes through
//! [`upload::store`] like any other upload.
//!
//! The upload's row ([`uploads`]) is its durable state: how many bytes are
//! durable, and the SHA-256 and CID builder states of exactly those bytes (a
//! [`checkpoint`]), so completing never reads the bytes again to hash them. Each
//! request that writes holds the row's lock ([`UploadLock`]): a second writer
//! gets 423, and bytes never interleave. The bytes are staged in the blob store
//! under the upload's id. A request answers once its bytes are written; they
//! are synced and the offset committed behind it ([`open`]), so the offset in
//! the row is always durable bytes, and whatever a crash leaves past it is
//! dropped on resume.

mod checkpoint;
mod lock;
mod open;
mod warm;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use self::lock::{LockHandle, UploadLock, lease_end};
pub use self::open::OpenUploads;
use self::open::{Claim, Found, Open, Settled};
pub use self::warm::WarmProfiles;
use crate::db::files::FileRecord;
use crate::db::uploads::{self, NewUpload, Progress, UploadRow};
use crate::domain::UserId;
use crate::domain::timestamp::now_micros;
use crate::domain::{FileName, SessionId, UploadId, content_type};
use crate::ipfs::CidBuilder;
use crate::pipeline::Error;
use crate::pipeline::attempt::{Announcement, Attempt};
use crate::pipeline::audit::Audit;
use crate::pipeline::session::Session;
use crate::pipeline::side_thread::SideThread;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{self, Profiling, Received, UploadMeta};
use crate::profile::Format;
use crate::storage::{BlobWriter, ResumableWriter, ResumeState};

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
) -> Result<Status, Error> {
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
    let announced = Announcement {
        client_name: named.to_owned(),
        stored_name: file_name.clone().unwrap_or_default(),
        declared_size: length,
        content_type: content_type::detect(&[], named),
    };
    let attempt = Attempt::begin(&state.db, user, session.id, announced).await?;
    let id = UploadId::new_random();
    let now = now_micros();
    let expires_at = expires_from(state, now);
    let recorded = async {
        let file_name = file_name.ok_or_else(|| {
            Error::MissingField("Upload-Metadata must name the file: `file_name` or `filename`".into())
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
            .ok_or(Error::TooLarge { limit })?;
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
            hash_state: checkpoint::save(&Sha256::default(), &CidBuilder::default()),
            created_at: now,
            expires_at,
        };
        Ok::<_, Error>(uploads::insert(state.db.pool(), &row).await?)
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
    let empty = futures_util::stream::empty::<Result<Bytes, Error>>();
    append(state, user, id, Patch::default(), empty, audit).await
}

/// Where the user's upload stands, durably: 404 for anyone else's, 410 once
/// expired. While a request is writing to it, waits a little for that request
/// to end — a client resuming right after its connection failed asks while the
/// server is still saving what the failed request brought, and should hear the
/// offset that leaves, not the one before it. While its last requests settle
/// here, waits for them.
pub async fn status(state: &AppState, user: UserId, id: UploadId) -> Result<Status, Error> {
    let patience = tokio::time::Instant::now() + WRITER_PATIENCE;
    let row = loop {
        let found = state.open_uploads.find(id).await;
        if let Found::Open(settled) = &found {
            let _ = settled.clone().await;
        }
        let row = uploads::find(state.db.pool(), id, user)
            .await?
            .ok_or(Error::NotFound("upload"))?;
        let writing = match found {
            Found::Taken => true,
            // The lock is this node's, held between requests.
            Found::Open(_) => false,
            Found::Absent => row.locked_until.is_some_and(|until| until >= now_micros()),
        };
        if !writing || tokio::time::Instant::now() >= patience {
            break row;
        }
        tokio::time::sleep(WRITER_POLL).await;
    };
    if row.expires_at < now_micros() {
        return Err(Error::UploadExpired);
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
/// one, a body cut short keeps what arrived. The last byte stores the file;
/// any other request answers once its bytes are written, and they settle
/// behind it (see [`open`]).
pub async fn append<S, E>(
    state: &AppState,
    user: UserId,
    id: UploadId,
    patch: Patch,
    body: S,
    audit: &Audit,
) -> Result<Status, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (claim, open) = take_for_writing(state, user, id).await?;
    if let Some(err) = refusal_before_bytes(&open, &patch) {
        // Nothing was written: the upload stays as it was.
        state.open_uploads.put(claim, open);
        return Err(err);
    }
    let open = ready_for_bytes(state, open, patch.offset).await?;
    let Open {
        lock,
        row,
        sha256,
        cid,
        settled,
        ..
    } = open;
    // Every refusal closes the upload before it answers, so the client's
    // next request finds it free.
    let body = match receive(state, &lock, &row, sha256, cid, patch, body).await {
        Ok(body) => body,
        Err(err) => {
            let _ = settled.await;
            return Err(lock.release(err).await);
        }
    };
    if body.offset == u64::try_from(row.length).unwrap_or_default() && !body.cut {
        let stored = store_completed(state, lock, row, body, settled, audit).await;
        drop(claim);
        return stored;
    }
    if body.cut {
        tracing::info!(upload = %id, offset = body.offset, "PATCH cut short; the bytes that arrived are kept");
    }
    answer_and_keep_open(state, claim, lock, row, body, settled).await
}

/// Why a request cannot append to the upload as it stands, before any byte.
fn refusal_before_bytes(open: &Open, patch: &Patch) -> Option<Error> {
    let at = u64::try_from(open.row.upload_offset).unwrap_or_default();
    let length = u64::try_from(open.row.length).unwrap_or_default();
    if patch.offset != at {
        Some(Error::OffsetMismatch {
            expected: at,
            given: patch.offset,
        })
    } else if patch
        .declared_len
        .is_some_and(|len| at.saturating_add(len) > length)
    {
        Some(Error::PastUploadLength { length })
    } else {
        None
    }
}

/// The upload ready for a request's bytes, its row holding the state to resume
/// the store's writer from; a 409 naming the durable offset if an earlier
/// request did not settle.
async fn ready_for_bytes(state: &AppState, mut open: Open, given: u64) -> Result<Open, Error> {
    if let Some(Err(err)) = open.settled.clone().now_or_never() {
        return Err(unsettled(state, open.lock, open.row.user_id, &err, given).await);
    }
    let store_state = match open.store_state.clone() {
        Some(known) => known,
        None => match open.settled.clone().await {
            Ok(settled) => settled,
            Err(err) => return Err(unsettled(state, open.lock, open.row.user_id, &err, given).await),
        },
    };
    open.row.store_state = store_state;
    Ok(open)
}

/// Stores the upload whose last byte `body` brought, once the requests before
/// it have settled.
async fn store_completed(
    state: &AppState,
    lock: UploadLock,
    row: UploadRow,
    body: Appending,
    settled: Settled,
    audit: &Audit,
) -> Result<Status, Error> {
    let id = lock.id;
    let finished = match settled.await {
        Ok(_) => match body.cid.finish().await {
            Ok(cid) => with_recorded_leaves(state, id, cid).await,
            Err(err) => Err(err),
        },
        Err(err) => {
            drop(body.writer);
            let given = u64::try_from(row.upload_offset).unwrap_or_default();
            return Err(unsettled(state, lock, row.user_id, &err, given).await);
        }
    };
    let cid = match finished {
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
    complete(state, lock, row, body.writer, hashed, audit).await
}

/// Answers a request that did not complete the upload once its bytes are
/// written, leaving the upload open for the next one and the bytes to settle
/// behind the answer.
async fn answer_and_keep_open(
    state: &AppState,
    claim: Claim,
    lock: UploadLock,
    mut row: UploadRow,
    body: Appending,
    settled: Settled,
) -> Result<Status, Error> {
    let Appending {
        mut writer,
        sha256,
        cid,
        offset,
        profiling,
        ..
    } = body;
    // The CID thread's last chunks and the last write, side by side.
    let (cid, written) = tokio::join!(cid.finish(), writer.write_out());
    let (mut cid, known_state) = match cid.and_then(|cid| Ok((cid, written?))) {
        Ok(written) => written,
        Err(err) => {
            drop(writer);
            let _ = settled.await;
            return Err(lock.release(err).await);
        }
    };
    let expires_at = expires_from(state, now_micros());
    let (first_leaf, leaves) = cid.take_leaves();
    let progress = Progress {
        offset: i64::try_from(offset).unwrap_or(i64::MAX),
        // Set once the bytes are durable (persist_behind_answer).
        store_state: ResumeState::default(),
        hash_state: checkpoint::save(&sha256, &cid),
        expires_at,
        first_leaf: i64::try_from(first_leaf).unwrap_or(i64::MAX),
        leaves: leaves.concat(),
    };
    row.upload_offset = progress.offset;
    row.expires_at = expires_at;
    let settled = persist_behind_answer(state, lock.handle(), writer, settled, progress);
    if let Some(profiling) = profiling
        && let Ok(paused) = profiling.pause().await
    {
        state.warm_profiles.keep(lock.id, offset, paused);
    }
    let status = Status {
        id: lock.id,
        offset,
        length: u64::try_from(row.length).unwrap_or_default(),
        metadata: row.metadata.clone(),
        expires_at,
        file: None,
    };
    state.open_uploads.put(
        claim,
        Open {
            lock,
            row,
            sha256,
            cid,
            settled,
            store_state: known_state,
        },
    );
    Ok(status)
}

/// The user's upload, taken for a request that writes to it: open on this node
/// already, or opened now by taking its lock.
async fn take_for_writing(state: &AppState, user: UserId, id: UploadId) -> Result<(Claim, Open), Error> {
    let mut claim = state.open_uploads.claim(id, user).await?;
    if let Some(open) = claim.open.take() {
        return Ok((claim, *open));
    }
    let (lock, row) = UploadLock::take(state, user, id).await?;
    let Some((sha256, cid)) = checkpoint::restore(&row.hash_state) else {
        return Err(lock
            .release(Error::Internal(anyhow::anyhow!(
                "upload {id} has a damaged hash state"
            )))
            .await);
    };
    Ok((claim, Open::recorded(lock, row, sha256, cid)))
}

/// The builder with the leaves that earlier requests recorded put back, ready
/// to finish.
async fn with_recorded_leaves(
    state: &AppState,
    id: UploadId,
    mut cid: CidBuilder,
) -> Result<CidBuilder, Error> {
    if cid.leaves_elsewhere() > 0 {
        let recorded = uploads::leaves(state.db.pool(), id).await?;
        if !recorded.is_some_and(|leaves| cid.put_back_leaves(leaves)) {
            return Err(Error::Internal(anyhow::anyhow!(
                "upload {id}'s recorded CID leaves do not match its hash state"
            )));
        }
    }
    Ok(cid)
}

/// Makes a request's bytes durable behind its answer: syncs them, waits for
/// the requests before it to settle, then records the new offset.
fn persist_behind_answer(
    state: &AppState,
    lock: LockHandle,
    writer: Box<dyn ResumableWriter>,
    before: Settled,
    mut progress: Progress,
) -> Settled {
    let settling = state.open_uploads.settle(async move {
        let store_state = writer.persist().await.map_err(Error::from)?;
        before
            .await
            .map_err(|err| Error::Internal(anyhow::anyhow!("an earlier request did not settle: {err}")))?;
        progress.store_state = store_state.clone();
        lock.record(progress).await?;
        Ok::<_, Error>(store_state)
    });
    async move {
        match settling.await {
            Ok(settled) => settled.map_err(Arc::new),
            Err(err) => Err(Arc::new(Error::Internal(err.into()))),
        }
    }
    .boxed()
    .shared()
}

/// Lets go of an upload whose earlier requests did not settle, and tells the
/// request where it durably stands: the client goes on from there.
async fn unsettled(state: &AppState, lock: UploadLock, user: UserId, err: &Error, given: u64) -> Error {
    let id = lock.id;
    tracing::error!(upload = %id, error = %err, "an upload's bytes could not be saved; its client goes back to the durable offset");
    lock.let_go().await;
    match uploads::find(state.db.pool(), id, user).await {
        Ok(Some(row)) => Error::OffsetMismatch {
            expected: u64::try_from(row.upload_offset).unwrap_or_default(),
            given,
        },
        Ok(None) => Error::NotFound("upload"),
        Err(err) => err.into(),
    }
}

/// Reads a request's body into the upload, from where it stands, under its
/// lock: the body and its checksum.
async fn receive<S, E>(
    state: &AppState,
    lock: &UploadLock,
    row: &UploadRow,
    sha256: Sha256,
    cid: CidBuilder,
    patch: Patch,
    body: S,
) -> Result<Appending, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let at = u64::try_from(row.upload_offset).unwrap_or_default();
    let length = u64::try_from(row.length).unwrap_or_default();
    let checksum = patch.checksum;
    let profiling = match state.warm_profiles.take(lock.id, at) {
        Some(paused) => Some(Profiling::resume(paused)),
        None if at == 0 => Some(Profiling::new(Format::detect(client_name(row), ""))),
        None => None,
    };
    let mut body = Appending {
        writer: state.blobs.resume(&lock.id, at, &row.store_state).await?,
        sha256,
        cid: SideThread::start(cid),
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
            return Err(Error::Interrupted);
        }
        if running.finish() != expected.digest {
            return Err(Error::ChecksumMismatch {
                algorithm: expected.algorithm.name(),
            });
        }
    }
    Ok(body)
}

/// Removes the user's upload and its bytes; its record says it was terminated.
pub async fn terminate(state: &AppState, user: UserId, id: UploadId) -> Result<(), Error> {
    let (claim, open) = take_for_writing(state, user, id).await?;
    let (lock, mut row) = (open.lock, open.row);
    // The store's state once the requests before have settled; if they did
    // not, the last state known.
    if let Ok(store_state) = open.settled.await {
        row.store_state = store_state;
    }
    if let Err(err) = remove(state, &row, id, Error::UploadTerminated).await {
        return Err(lock.release(err).await);
    }
    lock.forget();
    drop(claim);
    Ok(())
}

/// Removes every expired upload nobody is writing to, with its bytes; their
/// records say they expired. Returns how many were removed.
pub async fn expire(state: &AppState) -> Result<u64, Error> {
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
                remove(state, &row, id, Error::UploadExpired).await?;
                removed += 1;
            }
        }
        if !full {
            return Ok(removed);
        }
    }
}

/// Startup on a single-node backend: whoever held upload locks is gone.
pub async fn release_all_locks(state: &AppState) -> Result<(), Error> {
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
    async fn read<S, E>(mut self, mut body: S, lock: &UploadLock) -> Result<Self, Error>
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
                return Err(Error::UploadLocked);
            }
            let offset = self.offset + chunk.len() as u64;
            if offset > self.length {
                return Err(Error::PastUploadLength { length: self.length });
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
) -> Result<Status, Error> {
    let id = lock.id;
    let user = row.user_id;
    let session = SessionId::parse(&row.session_id).map_err(|err| Error::Internal(err.into()))?;
    let attempt = Attempt::resume(&state.db, row.record_id.clone(), user, session);
    let stored = async {
        attempt.processing().await?;
        let meta = UploadMeta {
            user,
            file_name: FileName::parse(&row.file_name).map_err(|err| Error::Internal(err.into()))?,
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
async fn remove(state: &AppState, row: &UploadRow, id: UploadId, reason: Error) -> Result<(), Error> {
    discard(state, id, &row.store_state).await?;
    let session = SessionId::parse(&row.session_id).map_err(|err| Error::Internal(err.into()))?;
    let attempt = Attempt::resume(&state.db, row.record_id.clone(), row.user_id, session);
    match attempt.finish::<()>(Err(reason)).await {
        Err(Error::UploadExpired | Error::UploadTerminated) => Ok(()),
        other => other,
    }
}

/// Removes an upload's bytes, then its row.
async fn discard(state: &AppState, id: UploadId, store_state: &ResumeState) -> Result<(), Error> {
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
) -> Result<(Vec<u8>, Option<crate::profile::Profile>), Error> {
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
            .map_err(|err| Error::Internal(err.into()))?;
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

/// What the last request of an upload computed on the way: the hashes of
/// every byte, and the profiler if it saw them all.
struct Hashed {
    sha256: Sha256,
    cid: CidBuilder,
    profiling: Option<Profiling>,
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
