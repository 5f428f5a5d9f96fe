//! One request's write to a resumable upload, step by step as types:
//! [`Taken`] (the upload claimed on this node and its lock held) →
//! [`Ready`] (the store's writer can resume where the upload stands) →
//! [`Appended`] (the request's body read in), which either stores the
//! completed upload or answers and keeps the upload open, its bytes made
//! durable behind the answer (see [`super::open`]). Every refusal lets go of
//! the upload before it is answered, so the client's next request finds it
//! free.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{FutureExt, Stream};

use super::body::{Appending, receive};
use super::complete::{Hashed, complete};
use super::lock::{LockHandle, UploadLock};
use super::open::{Claim, Open, Settled};
use super::{Patch, Status, checkpoint, expires_from};
use crate::db::uploads::{self, Progress, UploadRow};
use crate::domain::timestamp::now_micros;
use crate::domain::{UploadId, UserId};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::quota;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::Digests;
use crate::storage::{ResumableWriter, ResumeState};

/// An upload a request has taken for writing: open on this node already, or
/// opened now by taking its lock.
pub(super) struct Taken<'a> {
    state: &'a AppState,
    claim: Claim,
    open: Open,
}

impl<'a> Taken<'a> {
    pub async fn take(state: &'a AppState, user: UserId, id: UploadId) -> Result<Self, Error> {
        let mut claim = state.open_uploads.claim(id, user).await?;
        if let Some(open) = claim.open.take() {
            return Ok(Self {
                state,
                claim,
                open: *open,
            });
        }
        let (lock, row) = UploadLock::take(state, user, id).await?;
        let Some(digests) = checkpoint::restore(&row.hash_state) else {
            return Err(lock
                .release(Error::Internal(anyhow::anyhow!(
                    "upload {id} has a damaged hash state"
                )))
                .await);
        };
        Ok(Self {
            state,
            claim,
            open: Open::recorded(lock, row, digests),
        })
    }

    /// Why the request cannot append to the upload as it stands, before any byte.
    pub fn refusal_before_bytes(&self, patch: &Patch) -> Option<Error> {
        let at = u64::try_from(self.open.row.upload_offset).unwrap_or_default();
        let length = u64::try_from(self.open.row.length).unwrap_or_default();
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

    /// Holds the upload's room in its user's quota again, for as long as the
    /// upload now lives: a quota lowered (or a reservation run out) since
    /// its last request refuses this one's bytes, and the upload stays.
    pub async fn hold_quota(&self) -> Result<(), Error> {
        let row = &self.open.row;
        let length = u64::try_from(row.length).unwrap_or_default();
        let until = expires_from(self.state, now_micros());
        quota::hold_for_resumable(self.state, &row.id, row.user_id, length, until).await
    }

    /// Leaves the upload as it was, open for the next request.
    pub fn put_back(self) {
        self.state.open_uploads.put(self.claim, self.open);
    }

    /// Gives the upload up for this request without a claim on this node
    /// (a termination): its lock, row and settling.
    pub fn into_parts(self) -> (Claim, Open) {
        (self.claim, self.open)
    }

    /// The upload ready for the request's bytes, its row holding the state
    /// to resume the store's writer from; a 409 naming the durable offset if
    /// an earlier request did not settle.
    pub async fn ready_for_bytes(self, given: u64) -> Result<Ready<'a>, Error> {
        let Self {
            state,
            claim,
            mut open,
        } = self;
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
        Ok(Ready { state, claim, open })
    }
}

/// An upload whose store can take the request's bytes where it stands: its
/// row holds the state the store's writer resumes from.
pub(super) struct Ready<'a> {
    state: &'a AppState,
    claim: Claim,
    open: Open,
}

impl<'a> Ready<'a> {
    /// Reads the request's body into the upload under its lock, and checks
    /// it against its checksum.
    pub async fn receive<S, E>(self, patch: Patch, body: S) -> Result<Appended<'a>, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Self { state, claim, open } = self;
        let Open {
            lock,
            row,
            digests,
            settled,
            ..
        } = open;
        match receive(state, &lock, &row, digests, patch, body).await {
            Ok(body) => Ok(Appended {
                state,
                claim,
                lock,
                row,
                body,
                settled,
            }),
            Err(err) => {
                let _ = settled.await;
                Err(lock.release(err).await)
            }
        }
    }
}

/// An upload with the request's body read in.
pub(super) struct Appended<'a> {
    state: &'a AppState,
    claim: Claim,
    lock: UploadLock,
    row: UploadRow,
    body: Appending,
    settled: Settled,
}

impl Appended<'_> {
    /// Whether the body brought the upload's last byte, whole.
    pub fn completes(&self) -> bool {
        self.body.offset == u64::try_from(self.row.length).unwrap_or_default() && !self.body.cut
    }

    /// Stores the completed upload, once the requests before have settled.
    pub async fn store(self, audit: &Audit) -> Result<Status, Error> {
        let Self {
            state,
            claim,
            lock,
            row,
            body,
            settled,
        } = self;
        let id = lock.id;
        let finished = match settled.await {
            Ok(_) => match body.digests.stop().await {
                Ok(digests) => with_recorded_leaves(state, id, digests).await,
                Err(err) => Err(err),
            },
            Err(err) => {
                drop(body.writer);
                let given = u64::try_from(row.upload_offset).unwrap_or_default();
                return Err(unsettled(state, lock, row.user_id, &err, given).await);
            }
        };
        let digests = match finished {
            Ok(digests) => digests,
            Err(err) => {
                // Undone (the staged bytes cut back) before the lock is free.
                drop(body.writer);
                return Err(lock.release(err).await);
            }
        };
        let hashed = Hashed {
            digests,
            profiling: body.profiling,
        };
        let stored = complete(state, lock, row, body.writer, hashed, audit).await;
        drop(claim);
        stored
    }

    /// Answers once the bytes are written, leaving the upload open for the
    /// next request and the bytes to become durable behind the answer.
    pub async fn keep_open(self) -> Result<Status, Error> {
        let Self {
            state,
            claim,
            lock,
            mut row,
            body,
            settled,
        } = self;
        if body.cut {
            tracing::info!(upload = %lock.id, offset = body.offset, "PATCH cut short; the bytes that arrived are kept");
        }
        let Appending {
            mut writer,
            digests,
            offset,
            profiling,
            ..
        } = body;
        // The CID thread's last chunks and the last write, side by side.
        let (digests, written) = tokio::join!(digests.stop(), writer.write_out());
        let (mut digests, known_state) = match digests.and_then(|digests| Ok((digests, written?))) {
            Ok(written) => written,
            Err(err) => {
                drop(writer);
                let _ = settled.await;
                return Err(lock.release(err).await);
            }
        };
        let expires_at = expires_from(state, now_micros());
        let (first_leaf, leaves) = digests.cid.take_leaves();
        let progress = Progress {
            offset: i64::try_from(offset).unwrap_or(i64::MAX),
            // Set once the bytes are durable (persist_behind_answer).
            store_state: ResumeState::default(),
            hash_state: checkpoint::save(&digests),
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
                digests,
                settled,
                store_state: known_state,
            },
        );
        Ok(status)
    }
}

/// The digests with the CID leaves that earlier requests recorded put back,
/// ready to finish.
async fn with_recorded_leaves(
    state: &AppState,
    id: UploadId,
    mut digests: Digests,
) -> Result<Digests, Error> {
    if digests.cid.leaves_elsewhere() > 0 {
        let recorded = uploads::leaves(state.db.pool(), id).await?;
        if !recorded.is_some_and(|leaves| digests.cid.put_back_leaves(leaves)) {
            return Err(Error::Internal(anyhow::anyhow!(
                "upload {id}'s recorded CID leaves do not match its hash state"
            )));
        }
    }
    Ok(digests)
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
