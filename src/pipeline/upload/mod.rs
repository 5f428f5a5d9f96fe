//! One upload from its first byte to its answer, whichever way its bytes come:
//! the session it works in, its processing record, the body's ingest (size
//! limit, SHA-256, CID, profiling, the blob writer) and the transaction that
//! records it with its audit event. A multipart form, a raw `PUT` and every
//! request of a resumable upload drive an [`Upload`]: a resumable upload's
//! creation checks it and suspends it at a [`Checkpoint`], and its last
//! request resumes it there to store what the requests between received.
//! The rules every upload obeys before its bytes are read are one function,
//! [`precheck`], which [`Upload::check`] calls.
//!
//! The pieces: [`ingest`] reads a body into a staged blob, hashing it through
//! [`digests`] and profiling it through [`profiling`] on the way, and
//! [`record`] stores it as a file in one transaction.

mod digests;
mod ingest;
mod profiling;
mod record;

use bytes::Bytes;

pub use self::digests::{Digesting, Digests};
pub use self::ingest::{Ingest, Received};
pub use self::profiling::{PausedProfiling, Profiling, profile_staged, worth_profiling};
pub use self::record::{UploadMeta, precheck, store};
use crate::db::files::FileRecord;
use crate::domain::{SessionId, UserId};
use crate::pipeline::Error;
use crate::pipeline::attempt::{Announcement, Attempt};
use crate::pipeline::audit::Audit;
use crate::pipeline::quota::{self, Quota, RESERVE_FROM, Reservation};
use crate::pipeline::session::{self, Named, Session};
use crate::pipeline::state::AppState;
use crate::profile::Format;

/// An upload under way. Dropped unfinished — the client went away — its staged
/// bytes are discarded and its record says it was interrupted.
#[derive(Debug)]
pub struct Upload<'a> {
    state: &'a AppState,
    attempt: Attempt,
    audit: Audit,
    /// The body, once its bytes flow.
    ingest: Option<Ingest>,
    /// The name and client name [`Upload::check`] last passed.
    checked: Option<(String, Option<String>)>,
    /// How many bytes the request brings, when it says.
    request_bytes: Option<u64>,
    /// How many bytes the file has, when the request says.
    file_bytes: Option<u64>,
    /// Room held in the user's quota while the bytes arrive.
    reservation: Option<Reservation>,
    /// The most bytes this upload may have, below the deployment's limit.
    most_bytes: Option<u64>,
}

/// A request of at least this many bytes — or of a length it does not tell —
/// has its processing record written as its body begins, so that the history
/// shows it under way; a smaller one, over in a moment, has it written once,
/// with its outcome.
const RECORD_FROM_BYTES: u64 = 1024 * 1024;

/// Where a resumable upload's workflow stands between its requests: the
/// processing record its creation began, in the session it began in.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub user: UserId,
    pub session: SessionId,
    pub record: String,
}

impl<'a> Upload<'a> {
    /// Resolves the session the request named and begins the upload's
    /// attempt in it; its processing record is written when it is worth
    /// reading (see [`Attempt`]), a new session with it.
    pub async fn begin(
        state: &'a AppState,
        user: UserId,
        named: Named,
        announced: Announcement,
        audit: Audit,
    ) -> Result<(Self, Session), Error> {
        let (session, new_session) = session::resolve_deferring(state, user, named).await?;
        let attempt = Attempt::begin(&state.db, user, (session.id, new_session), announced);
        Ok((Self::with(state, attempt, audit), session))
    }

    /// The upload a resumable upload's [`Upload::suspend`] left, taken up by
    /// a later request.
    pub fn resume(state: &'a AppState, checkpoint: Checkpoint, audit: Audit) -> Self {
        let Checkpoint {
            user,
            session,
            record,
        } = checkpoint;
        Self::with(state, Attempt::resume(&state.db, record, user, session), audit)
    }

    fn with(state: &'a AppState, attempt: Attempt, audit: Audit) -> Self {
        Self {
            state,
            attempt,
            audit,
            ingest: None,
            checked: None,
            request_bytes: None,
            file_bytes: None,
            reservation: None,
            most_bytes: None,
        }
    }

    pub fn user(&self) -> UserId {
        self.attempt.user()
    }

    /// What a later request needs to go on with the upload: see [`Upload::suspend`].
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            user: self.user(),
            session: self.attempt.session(),
            record: self.attempt.id().to_owned(),
        }
    }

    /// What can be refused before any byte is read: the extension, the name
    /// being free and the file fitting in the user's quota, as far as its
    /// size is known. [`Upload::finish`] checks again if the name changed
    /// since.
    pub async fn check(&mut self, meta: &UploadMeta) -> Result<(), Error> {
        precheck(self.state, meta).await?;
        let quota = Quota::of(self.state, self.user()).await?;
        quota::precheck(self.state, self.user(), quota, self.file_bytes.unwrap_or(0)).await?;
        self.checked = Some(Self::checked_as(meta));
        Ok(())
    }

    /// Bytes flow: the record turns `processing`. (`&mut`: an upload is
    /// `Send` but not `Sync`, as its blob writer is not.)
    pub async fn processing(&mut self) -> Result<(), Error> {
        self.attempt.processing().await
    }

    /// The request says how many bytes it brings (`Content-Length`).
    pub fn expect_request_bytes(&mut self, bytes: Option<u64>) {
        self.request_bytes = bytes;
    }

    /// The request's body is the file, and says how many bytes it has.
    pub fn expect_file_bytes(&mut self, bytes: Option<u64>) {
        self.request_bytes = bytes;
        self.file_bytes = bytes;
    }

    /// Refuses the file (413) past `most` bytes, whatever the deployment
    /// allows: an upload link's limit.
    pub fn limit_bytes(&mut self, most: u64) {
        self.most_bytes = Some(most);
    }

    /// The body begins: the record turns `processing` (written now if the
    /// request is a large one), a large body or one of a length not told
    /// holds room in the user's quota, and its bytes are staged and profiled
    /// as `format` says.
    pub async fn open_body(&mut self, format: Option<Format>) -> Result<(), Error> {
        self.processing().await?;
        if self.request_bytes.is_none_or(|bytes| bytes >= RECORD_FROM_BYTES) {
            self.attempt.record().await?;
        }
        if self.reservation.is_none() && self.request_bytes.is_none_or(|bytes| bytes >= RESERVE_FROM) {
            let quota = Quota::of(self.state, self.user()).await?;
            let needed = self.file_bytes.unwrap_or(0);
            self.reservation =
                Reservation::make(&self.state.db, self.user(), quota, needed, self.request_bytes).await?;
        }
        let mut ingest = Ingest::start(self.state, format).await?;
        if let Some(most) = self.most_bytes {
            ingest.lower_limit(most);
        }
        self.ingest = Some(ingest);
        Ok(())
    }

    /// Takes the body's next chunk (413 past the size limit or the room the
    /// quota leaves, 422 as soon as a dataset is one pandas would refuse).
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        let ingest = self.ingest.as_mut().ok_or_else(not_open)?;
        if let Some(reservation) = &mut self.reservation {
            reservation.cover(ingest.size() + chunk.len() as u64).await?;
        }
        ingest.push(chunk).await
    }

    /// A session the request named after the body began moves the upload
    /// there: the session it is in now.
    pub async fn move_to(&mut self, id: SessionId) -> Result<Option<Session>, Error> {
        if id == self.attempt.session() {
            return Ok(None);
        }
        let session = session::resolve(self.state, self.user(), Named::Explicit(id)).await?;
        self.attempt.move_to(id).await?;
        Ok(Some(session))
    }

    /// Writes the processing record now, before anything refers to it.
    pub async fn record_now(&mut self) -> Result<(), Error> {
        self.attempt.record().await
    }

    /// Leaves the upload for a later request to go on with from its
    /// [`Upload::checkpoint`]: its record, written by [`Upload::record_now`],
    /// stays `pending`.
    pub fn suspend(self) {
        self.attempt.suspend();
    }

    /// Stores the received body as `meta` says and records the outcome: the
    /// file, or why it was refused.
    pub async fn finish(mut self, meta: UploadMeta) -> Result<FileRecord, Error> {
        let stored = self.store(meta).await;
        if stored.is_err() {
            self.give_up_room().await;
        }
        self.attempt.finish(stored).await
    }

    /// Stores a body received before this request — a resumable upload's,
    /// checked when it was created — and records the outcome.
    pub async fn finish_received(self, meta: UploadMeta, received: Received) -> Result<FileRecord, Error> {
        let stored = store(self.state, &self.attempt, meta, received, &self.audit).await;
        self.attempt.finish(stored).await
    }

    /// Ends the upload refused or failed with `err`: its staged bytes are
    /// discarded and its record says why.
    pub async fn abort(mut self, err: Error) -> Error {
        drop(self.ingest.take());
        self.give_up_room().await;
        self.attempt.fail(&err).await;
        err
    }

    /// Gives up the room the upload held in the user's quota before it is
    /// answered, so that the room is there for the client's next request.
    async fn give_up_room(&mut self) {
        if let Some(held) = self.reservation.take() {
            held.release().await;
        }
    }

    /// [`Upload::finish`] with what the request asked to store, or
    /// [`Upload::abort`] with why reading it failed.
    pub async fn end(self, received: Result<UploadMeta, Error>) -> Result<FileRecord, Error> {
        match received {
            Ok(meta) => self.finish(meta).await,
            Err(err) => Err(self.abort(err).await),
        }
    }

    async fn store(&mut self, meta: UploadMeta) -> Result<FileRecord, Error> {
        if self.checked != Some(Self::checked_as(&meta)) {
            self.check(&meta).await?;
        }
        let mut received = match self.ingest.take() {
            Some(ingest) => ingest.finish().await?,
            None => return Err(not_open()),
        };
        received.held_as = self.reservation.as_ref().map(|held| held.id().to_owned());
        let stored = store(self.state, &self.attempt, meta, received, &self.audit).await?;
        if let Some(held) = self.reservation.take() {
            held.settle();
        }
        Ok(stored)
    }

    fn checked_as(meta: &UploadMeta) -> (String, Option<String>) {
        (meta.file_name.to_string(), meta.original_name.clone())
    }
}

fn not_open() -> Error {
    Error::Internal(anyhow::anyhow!("the upload's body was not opened"))
}
