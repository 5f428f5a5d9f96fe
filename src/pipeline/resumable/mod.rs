//! Resumable uploads (tus 1.0): an upload created by one request and filled by
//! later ones, on any node, until its last byte arrives and it is stored like
//! any other upload.
//!
//! The upload's row ([`uploads`]) is its durable state: how many bytes are
//! durable, and the SHA-256 and CID builder states of exactly those bytes (a
//! [`checkpoint`]), so completing never reads the bytes again to hash them. Each
//! request that writes holds the row's lock ([`lock::UploadLock`]): a second
//! writer gets 423, and bytes never interleave. The bytes are staged in the
//! blob store under the upload's id. A request answers once its bytes are
//! written; they are synced and the offset committed behind it ([`open`]), so
//! the offset in the row is always durable bytes, and whatever a crash leaves
//! past it is dropped on resume.
//!
//! Its creation begins an [`Upload`], like any other upload, and suspends it
//! at a checkpoint in the row. A request's write goes through the steps of
//! [`writing`]; its [`body`] is hashed and checked on the way, and the last
//! request resumes the [`Upload`] in [`complete`] to store the file.

mod body;
mod checkpoint;
mod complete;
mod lock;
mod open;
mod warm;
mod writing;

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

use self::lock::lease_end;
use self::open::Found;
pub use self::open::OpenUploads;
pub use self::warm::WarmProfiles;
use self::writing::Taken;
use crate::db::files::FileRecord;
use crate::db::uploads::{self, NewUpload, UploadRow};
use crate::db::{links, quotas};
use crate::domain::timestamp::now_micros;
use crate::domain::{FileMetadata, FileName, SessionId, UploadId, UserId, content_type};
use crate::pipeline::Error;
use crate::pipeline::attempt::{Announcement, Attempt};
use crate::pipeline::audit::Audit;
use crate::pipeline::quota;
use crate::pipeline::session::{Named, Session};
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{Checkpoint, Digests, Upload, UploadMeta};

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
    /// The upload link it comes through, whose file it holds until it is
    /// stored or removed.
    pub link: Option<String>,
    /// Take the place of a file of the same name (`replace` in `Upload-Metadata`).
    pub replace: bool,
    /// The file's metadata as JSON text (`metadata` in `Upload-Metadata`);
    /// empty for none.
    pub file_metadata: String,
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

/// Creates an upload in the session the request named: begins its
/// [`Upload`] — its processing record `pending` — checks what can be checked
/// before any byte (name, extension, size; a refusal fails the record),
/// records the upload's row and suspends the upload at its checkpoint there.
/// An empty upload is complete at once.
pub async fn create(
    state: &AppState,
    named: Named,
    creation: Creation,
    audit: &Audit,
) -> Result<(Status, Session), Error> {
    let Creation {
        user,
        file_name,
        original_name,
        description,
        length,
        metadata,
        link,
        replace,
        file_metadata,
    } = creation;
    let client_name = original_name
        .as_deref()
        .or(file_name.as_deref())
        .unwrap_or_default();
    let announced = Announcement {
        client_name: client_name.to_owned(),
        stored_name: file_name.clone().unwrap_or_default(),
        declared_size: length,
        content_type: content_type::detect(&[], client_name),
    };
    let (mut upload, session) = Upload::begin(state, user, named, announced, audit.clone()).await?;
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
            metadata: FileMetadata::parse(&file_metadata)?,
            replace,
        };
        upload.expect_file_bytes(Some(length));
        upload.check(&meta).await?;
        let limit = state.policy.max_upload_bytes;
        let length = i64::try_from(length)
            .ok()
            .filter(|_| length <= limit)
            .ok_or(Error::TooLarge { limit })?;
        upload.record_now().await?;
        quota::hold_for_resumable(state, &id.to_string(), user, length.unsigned_abs(), expires_at).await?;
        let checkpoint = upload.checkpoint();
        let row = NewUpload {
            id,
            user_id: user,
            session_id: checkpoint.session.to_string(),
            record_id: &checkpoint.record,
            file_name: meta.file_name.as_str(),
            filename: meta.original_name.as_deref().unwrap_or_default(),
            description: &meta.description,
            metadata: &metadata,
            length,
            hash_state: checkpoint::save(&Digests::default()),
            created_at: now,
            expires_at,
            link_id: link.as_deref(),
            replace_existing: meta.replace,
            file_metadata: meta.metadata.as_json(),
        };
        Ok::<_, Error>(uploads::insert(state.db.pool(), &row).await?)
    }
    .await;
    if let Err(err) = recorded {
        if let Err(release) = quota::release(&state.db, &id.to_string()).await {
            tracing::warn!(upload = %id, error = %release, "could not give up a refused upload's quota reservation");
        }
        return Err(upload.abort(err).await);
    }
    upload.suspend();
    if length > 0 {
        let status = Status {
            id,
            offset: 0,
            length,
            metadata,
            expires_at,
            file: None,
        };
        return Ok((status, session));
    }
    let empty = futures_util::stream::empty::<Result<Bytes, Error>>();
    let status = append(state, user, id, Patch::default(), empty, audit).await?;
    Ok((status, session))
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
    let taken = Taken::take(state, user, id).await?;
    let refusal = match taken.refusal_before_bytes(&patch) {
        Some(err) => Some(err),
        None => taken.hold_quota().await.err(),
    };
    if let Some(err) = refusal {
        // Nothing was written: the upload stays as it was.
        taken.put_back();
        return Err(err);
    }
    let appended = taken
        .ready_for_bytes(patch.offset)
        .await?
        .receive(patch, body)
        .await?;
    if appended.completes() {
        appended.store(audit).await
    } else {
        appended.keep_open().await
    }
}

/// Removes the user's upload and its bytes; its record says it was terminated.
pub async fn terminate(state: &AppState, user: UserId, id: UploadId) -> Result<(), Error> {
    let (claim, open) = Taken::take(state, user, id).await?.into_parts();
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

/// Removes an upload that will not complete, failing its record with `reason`.
async fn remove(state: &AppState, row: &UploadRow, id: UploadId, reason: Error) -> Result<(), Error> {
    discard(state, id, row).await?;
    let Checkpoint {
        user,
        session,
        record,
    } = checkpoint_of(row)?;
    Attempt::resume(&state.db, record, user, session)
        .fail(&reason)
        .await;
    Ok(())
}

/// Where the upload's creation suspended its [`Upload`].
fn checkpoint_of(row: &UploadRow) -> Result<Checkpoint, Error> {
    Ok(Checkpoint {
        user: row.user_id,
        session: SessionId::parse(&row.session_id).map_err(|err| Error::Internal(err.into()))?,
        record: row.record_id.clone(),
    })
}

/// Removes an upload's bytes, then its row; the room it held in the quota
/// and the file it held of an upload link are given back.
async fn discard(state: &AppState, id: UploadId, row: &UploadRow) -> Result<(), Error> {
    state.warm_profiles.forget(id);
    state.blobs.discard(&id, &row.store_state).await?;
    let mut conn = state.db.pool().acquire().await?;
    if uploads::delete(&mut conn, id).await?
        && let Some(link) = &row.link_id
    {
        links::give_back_file(&mut *conn, link).await?;
    }
    quotas::release(&mut conn, &id.to_string()).await?;
    Ok(())
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
