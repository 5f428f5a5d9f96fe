//! An upload's lock: one writer at a time, on any node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::db::Db;
use crate::db::uploads::{self, Progress, UploadRow};
use crate::domain::UploadId;
use crate::domain::UserId;
use crate::domain::timestamp::now_micros;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

/// How long a writer's lock lasts unless renewed; a writer that died lets go
/// after this long.
const LOCK_LEASE: Duration = Duration::from_secs(20);
/// How often a writer renews its lock while it holds it.
const LOCK_RENEWAL: Duration = Duration::from_secs(5);
/// How long a request waits for another to let go of the lock, and how often
/// it looks.
const HOLDER_PATIENCE: Duration = Duration::from_millis(500);
const HOLDER_POLL: Duration = Duration::from_millis(10);

pub(super) fn lease_end(now: i64) -> i64 {
    now.saturating_add(LOCK_LEASE.as_micros() as i64)
}

/// The lock of one upload, held by the request writing to it (and between
/// requests by its [`Open`](super::open::Open) upload): renewed in the
/// background while held, and let go when dropped.
pub(super) struct UploadLock {
    pub id: UploadId,
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
    /// expired, 423 while another request holds it. A holder may be another
    /// node's upload settling its last request, which takes milliseconds, so
    /// a held lock is tried again for a little while before the 423.
    pub async fn take(state: &AppState, user: UserId, id: UploadId) -> Result<(Self, UploadRow), Error> {
        let token = uuid::Uuid::new_v4().to_string();
        let patience = tokio::time::Instant::now() + HOLDER_PATIENCE;
        let row = loop {
            let now = now_micros();
            if let Some(row) = uploads::lock(state.db.pool(), id, user, &token, now, lease_end(now)).await? {
                break row;
            }
            let row = uploads::find(state.db.pool(), id, user)
                .await?
                .ok_or(Error::NotFound("upload"))?;
            if row.expires_at < now {
                return Err(Error::UploadExpired);
            }
            if tokio::time::Instant::now() >= patience {
                return Err(Error::UploadLocked);
            }
            tokio::time::sleep(HOLDER_POLL).await;
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

    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// What records progress under this lock, wherever the lock goes next.
    pub fn handle(&self) -> LockHandle {
        LockHandle {
            id: self.id,
            token: self.token.clone(),
            db: self.state.db.clone(),
        }
    }

    /// Lets go.
    pub async fn let_go(mut self) {
        self.renewal.abort();
        self.held = false;
        if let Err(err) = uploads::unlock(self.state.db.pool(), self.id, &self.token).await {
            tracing::warn!(upload = %self.id, error = %err, "could not let go of an upload's lock");
        }
    }

    /// Lets go before the refusal `err` is answered.
    pub async fn release(self, err: Error) -> Error {
        self.let_go().await;
        err
    }

    /// The upload is gone; there is nothing to let go of.
    pub fn forget(mut self) {
        self.held = false;
    }
}

/// Records an upload's durable progress under a lock that stays held.
pub(super) struct LockHandle {
    id: UploadId,
    token: String,
    db: Db,
}

impl LockHandle {
    /// Fails with 423 when the lock is no longer this one.
    pub async fn record(&self, progress: Progress) -> Result<(), Error> {
        if uploads::record(self.db.pool(), self.id, &self.token, progress).await? {
            Ok(())
        } else {
            Err(Error::UploadLocked)
        }
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
