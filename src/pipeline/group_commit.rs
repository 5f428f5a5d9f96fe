//! Changes that commit together. Each change runs in a savepoint of one
//! shared transaction, and the transaction commits — one sync of the
//! database's log — once for every change queued while the last commit ran.
//! Each caller hears of its own change only once that commit is durable, so
//! the durability promise is the one a transaction of its own gives; but
//! concurrent uploads no longer queue one commit and one sync each behind
//! the database's write lock.
//!
//! A change that fails is rolled back to its savepoint and answered with its
//! error; the others commit. A failed commit fails every change of the batch.
//!
//! A batch takes the audit chain's head before anything else, since its
//! changes append events ([`audit::hold_head`] says why first). A change
//! hands its event to the [`Batch`] rather than writing it: the events of
//! the changes that succeeded are appended together, in order, just before
//! the commit — one read and one move of the head, and one insert, for the
//! batch instead of for each change.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use sqlx::{Acquire, AnyConnection};
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::db::audit::{self, ChainKey, NewEvent};
use crate::pipeline::Error;

/// Most changes one commit takes.
const MAX_BATCH: usize = 128;

/// What a change works with: the batch's transaction, inside the change's
/// own savepoint, and the audit events it appends if it succeeds.
pub struct Batch<'b> {
    conn: &'b mut AnyConnection,
    events: Vec<NewEvent>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// The batch's connection, inside this change's savepoint.
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.conn
    }

    /// Appends `event` to the audit chain with this change: in the batch's
    /// transaction, if the change succeeds; not at all if it fails.
    pub fn audit(&mut self, event: NewEvent) {
        self.events.push(event);
    }
}

/// A change, run inside its savepoint.
type Change = Box<dyn for<'c> FnOnce(&'c mut Batch<'_>) -> BoxFuture<'c, Result<(), Error>> + Send>;

type Queued = (Change, oneshot::Sender<Result<(), Error>>);

/// The queue of changes waiting for the next commit.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts committing on the runtime, with audit events keyed with
    /// `key`; it stops when every clone is gone.
    pub fn start(db: Db, key: ChainKey) -> Self {
        let (queue, mut waiting) = mpsc::channel::<Queued>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
                commit_batch(&db, &key, &mut batch).await;
            }
        });
        Self { queue }
    }

    /// Runs `change` in the next batch and returns what it returned once the
    /// batch has committed.
    pub async fn run<T, F>(&self, change: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Batch<'_>) -> BoxFuture<'c, Result<T, Error>> + Send + 'static,
    {
        let output = Arc::new(Mutex::new(None));
        let slot = output.clone();
        let change: Change = Box::new(move |batch| {
            Box::pin(async move {
                let value = change(batch).await?;
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
                Ok(())
            })
        });
        let (done, committed) = oneshot::channel();
        let stopped = || Error::Unavailable("database");
        self.queue.send((change, done)).await.map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())??;
        let value = output.lock().unwrap_or_else(PoisonError::into_inner).take();
        value.ok_or_else(|| Error::Internal(anyhow::anyhow!("a committed change gave nothing back")))
    }
}

/// Runs every change of `batch` in one transaction, each in a savepoint,
/// appends the audit events of those that succeeded, commits, and answers
/// each.
async fn commit_batch(db: &Db, key: &ChainKey, batch: &mut Vec<Queued>) {
    let mut queued = std::mem::take(batch).into_iter();
    let held = async {
        let mut tx = db.begin().await?;
        audit::hold_head(&mut tx).await?;
        Ok::<_, sqlx::Error>(tx)
    };
    let mut tx = match held.await {
        Ok(tx) => tx,
        Err(err) => return answer_all(queued, &err),
    };
    let mut ran = Vec::with_capacity(queued.len());
    let mut events = Vec::new();
    while let Some((change, done)) = queued.next() {
        let outcome = match run_change(&mut tx, change).await {
            Ran::Done(appended) => {
                events.extend(appended);
                Ok(())
            }
            Ran::Failed(err) => Err(err),
            Ran::Broken(err, rollback) => {
                // The transaction is in no state to go on with: the change
                // hears its own error, every other one this.
                tracing::error!(error = %rollback, "a savepoint could not be rolled back; the batch is abandoned");
                let _ = done.send(Err(err));
                return answer_all(
                    ran.into_iter()
                        .map(|(_, done)| ((), done))
                        .chain(queued.map(|(_, done)| ((), done))),
                    &rollback,
                );
            }
        };
        ran.push((outcome, done));
    }
    let committed = async {
        if !events.is_empty() {
            audit::append_all(&mut tx, key, &events).await?;
        }
        tx.commit().await
    };
    let committed = committed.await;
    if committed.is_err() {
        // The batch's events go with it: counted, as its requests fail.
        crate::metrics::audit_write_failed(events.len());
    }
    match committed {
        Ok(()) => {
            for (outcome, done) in ran {
                let _ = done.send(outcome);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, changes = ran.len(), "a group commit failed");
            for (outcome, done) in ran {
                let _ = done.send(outcome.and_then(|()| Err(commit_failed(&err))));
            }
        }
    }
}

/// How one change of a batch went.
enum Ran {
    /// Its savepoint was released; the audit events it appends.
    Done(Vec<NewEvent>),
    /// It failed and was rolled back to its savepoint.
    Failed(Error),
    /// It failed and its savepoint could not be rolled back: the
    /// transaction cannot go on.
    Broken(Error, sqlx::Error),
}

/// Runs `change` in a savepoint of the batch's transaction.
async fn run_change(tx: &mut AnyConnection, change: Change) -> Ran {
    let mut savepoint = match tx.begin().await {
        Ok(savepoint) => savepoint,
        Err(err) => return Ran::Failed(err.into()),
    };
    let mut batch = Batch {
        conn: &mut savepoint,
        events: Vec::new(),
    };
    let changed = change(&mut batch).await;
    let events = batch.events;
    match changed {
        Ok(()) => match savepoint.commit().await {
            Ok(()) => Ran::Done(events),
            Err(err) => Ran::Failed(err.into()),
        },
        Err(err) => match savepoint.rollback().await {
            Ok(()) => Ran::Failed(err),
            Err(rollback) => Ran::Broken(err, rollback),
        },
    }
}

/// Tells every change of a batch that did not commit why.
fn answer_all<T>(
    changes: impl IntoIterator<Item = (T, oneshot::Sender<Result<(), Error>>)>,
    err: &sqlx::Error,
) {
    for (_, done) in changes {
        let _ = done.send(Err(commit_failed(err)));
    }
}

/// The error each change of a batch hears when the batch did not commit.
fn commit_failed(err: &sqlx::Error) -> Error {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable("database")
        }
        other => Error::Internal(anyhow::anyhow!("the commit failed: {other}")),
    }
}
