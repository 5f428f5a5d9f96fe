//! Uploads this node is in the middle of. A request that appends answers once
//! its bytes are written; syncing them and committing the new offset — its
//! settling — runs behind the answer, while the client sends its next request.
//! Until its last request has settled, the upload stays open here: its lock
//! held, its hashes in memory, and a next request on this node goes on from
//! it without a round trip to the database. Once settled with no request
//! writing to it, it closes and its lock is let go.
//!
//! Settlings commit in the order of their requests, each only after the one
//! before it, so the offset in the database — the one `HEAD` reports — is
//! always bytes that are durable. If one fails, so do the ones after it; the
//! next request hears where the upload durably stands (409) and the client
//! goes on from there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use super::lock::UploadLock;
use crate::db::uploads::UploadRow;
use crate::domain::UploadId;
use crate::domain::UserId;
use crate::pipeline::Error;
use crate::pipeline::upload::Digests;
use crate::storage::ResumeState;

/// How long a stopping server waits for the uploads open on it to settle and
/// let go of their locks.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The settling of an upload's requests so far: the store's state to resume
/// with once every byte written is durable and its offset committed.
pub(super) type Settled = Shared<BoxFuture<'static, Result<ResumeState, Arc<Error>>>>;

/// An upload between two of its requests on this node.
pub(super) struct Open {
    pub lock: UploadLock,
    /// The upload as its last request left it: `upload_offset` is every byte
    /// written, settled or not.
    pub row: UploadRow,
    /// The hashes of those bytes.
    pub digests: Digests,
    pub settled: Settled,
    /// The state to resume the store's writer with, when known before
    /// `settled` (see [`ResumableWriter::write_out`](crate::storage::ResumableWriter::write_out)).
    pub store_state: Option<ResumeState>,
}

impl Open {
    /// An upload as the database has it, all of it settled.
    pub fn recorded(lock: UploadLock, row: UploadRow, digests: Digests) -> Self {
        let store_state = row.store_state.clone();
        Self {
            lock,
            row,
            digests,
            settled: futures_util::future::ready(Ok(store_state.clone()))
                .boxed()
                .shared(),
            store_state: Some(store_state),
        }
    }

    /// Waits for its requests to settle, then lets go of its lock.
    pub async fn close(self) {
        let _ = self.settled.await;
        self.lock.let_go().await;
    }
}

/// The uploads open on this node, and those a request is writing to.
#[derive(Default)]
pub struct OpenUploads {
    slots: Mutex<HashMap<UploadId, Slot>>,
    /// The settling of requests and the closing of uploads, which a stopping
    /// server lets finish.
    behind: TaskTracker,
}

enum Slot {
    /// Between requests.
    Idle(Box<Open>),
    /// A request of this user's is writing to it, or taking its lock.
    Taken(UserId),
    /// Its lock is being let go; the receiver hears when it has been.
    Closing(Shared<oneshot::Receiver<()>>),
}

/// What a request finds of an upload on this node.
pub(super) enum Found {
    /// A request is writing to it.
    Taken,
    /// It is open: this settles when its last request has.
    Open(Settled),
    /// Nothing here.
    Absent,
}

/// A request's hold on an upload's slot: the open upload it took, or none (the
/// request then takes the upload's lock from the database). Dropped, it frees
/// the slot; [`OpenUploads::put`] leaves the upload open instead.
pub(super) struct Claim {
    uploads: Arc<OpenUploads>,
    id: UploadId,
    pub open: Option<Box<Open>>,
    held: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.held {
            self.uploads.slots().remove(&self.id);
        }
    }
}

impl OpenUploads {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims the upload for a request of `user`'s: 423 while another request
    /// writes to it, 404 if it is someone else's. Waits while it closes.
    pub(super) async fn claim(self: &Arc<Self>, id: UploadId, user: UserId) -> Result<Claim, Error> {
        loop {
            let closing = {
                let mut slots = self.slots();
                match slots.get(&id) {
                    Some(Slot::Closing(closed)) => closed.clone(),
                    Some(Slot::Taken(owner)) if *owner == user => return Err(Error::UploadLocked),
                    Some(Slot::Idle(open)) if open.row.user_id == user => {
                        let Some(Slot::Idle(open)) = slots.insert(id, Slot::Taken(user)) else {
                            unreachable!("the slot was idle")
                        };
                        return Ok(self.hold(id, Some(open)));
                    }
                    Some(_) => return Err(Error::NotFound("upload")),
                    None => {
                        slots.insert(id, Slot::Taken(user));
                        return Ok(self.hold(id, None));
                    }
                }
            };
            let _ = closing.await;
        }
    }

    fn hold(self: &Arc<Self>, id: UploadId, open: Option<Box<Open>>) -> Claim {
        Claim {
            uploads: Arc::clone(self),
            id,
            open,
            held: true,
        }
    }

    /// Leaves the upload open for its next request; it closes once settled
    /// unless one has taken it by then.
    pub(super) fn put(self: &Arc<Self>, mut claim: Claim, open: Open) {
        claim.held = false;
        let settled = open.settled.clone();
        let offset = open.row.upload_offset;
        self.slots().insert(claim.id, Slot::Idle(Box::new(open)));
        let (uploads, id) = (Arc::clone(self), claim.id);
        self.behind.spawn(async move {
            let _ = settled.await;
            uploads.close_if_idle(id, offset).await;
        });
    }

    /// Runs a request's settling, which a stopping server lets finish.
    pub(super) fn settle<F>(&self, settling: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.behind.spawn(settling)
    }

    /// Waits up to [`STOP_DEADLINE`] for the uploads open here to settle and
    /// close; an upload that does not stays at its last durable offset.
    pub async fn shut_down(&self) {
        self.behind.close();
        if tokio::time::timeout(STOP_DEADLINE, self.behind.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "resumable uploads did not settle in time; they go on from their last durable offset"
            );
        }
    }

    /// Closes the upload if it is still as its request at `offset` left it.
    async fn close_if_idle(&self, id: UploadId, offset: i64) {
        let (closed, open) = {
            let mut slots = self.slots();
            match slots.get(&id) {
                Some(Slot::Idle(open)) if open.row.upload_offset == offset => {}
                _ => return,
            }
            let (closed, closing) = oneshot::channel();
            let Some(Slot::Idle(open)) = slots.insert(id, Slot::Closing(closing.shared())) else {
                unreachable!("the slot was idle")
            };
            (closed, open)
        };
        open.close().await;
        self.slots().remove(&id);
        let _ = closed.send(());
    }

    /// What is here of the upload, for a request that only reads it; waits
    /// while it closes.
    pub(super) async fn find(&self, id: UploadId) -> Found {
        loop {
            let closing = match self.slots().get(&id) {
                Some(Slot::Closing(closed)) => closed.clone(),
                Some(Slot::Taken(_)) => return Found::Taken,
                Some(Slot::Idle(open)) => return Found::Open(open.settled.clone()),
                None => return Found::Absent,
            };
            let _ = closing.await;
        }
    }
}

impl std::fmt::Debug for OpenUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenUploads")
            .field("uploads", &self.slots().len())
            .finish()
    }
}
