//! The audit trail's view of one request: who asks (user, session, address,
//! request id, server role) and, as the work goes on, what it touches. A
//! change appends its event in the transaction that makes it: a deletion
//! through [`Audit::record`], an upload through its group commit's batch
//! ([`Audit::change_event`]). Anything else — reads, refusals, failures —
//! gets its event from the HTTP layer once the answer is known, through the
//! [`AuditWriter`], which commits the events of concurrent requests together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::db::audit::{self, ChainKey, NewEvent};
use crate::domain::UserId;
use crate::domain::file_name::recordable;
use crate::domain::timestamp;

#[derive(Debug, Clone)]
pub struct Audit(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    who: Who,
    key: ChainKey,
    note: Mutex<Note>,
    /// An event for this request was appended in a transaction that committed.
    recorded: AtomicBool,
}

/// Who asks, as the request tells before any work is done.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// The user a valid bearer token names, if any.
    pub actor: Option<UserId>,
    pub session: String,
    pub client_ip: String,
    pub request_id: String,
    pub server_role: &'static str,
    /// The status the request answers if its change succeeds (201 for a
    /// `POST` or `PUT` that stores a file, 204 for the `PATCH` that completes
    /// one, 200 for a `DELETE`): a change's event is written before the
    /// answer is.
    pub success: u16,
}

/// What the work found out about its subject.
#[derive(Debug, Clone, Default)]
struct Note {
    actor: Option<UserId>,
    session: Option<String>,
    file_name: Option<String>,
    content_key: String,
    bytes: i64,
    detail: String,
}

impl Audit {
    /// The view of a request by `who`, whose change's event is keyed with `key`.
    pub fn new(who: Who, key: ChainKey) -> Self {
        Self(Arc::new(Inner {
            who,
            key,
            note: Mutex::default(),
            recorded: AtomicBool::new(false),
        }))
    }

    /// The view of an operator's command (`depot user …`, `depot backup`),
    /// whose events are keyed with `key`.
    pub fn from_cli(key: ChainKey) -> Self {
        Self::new(
            Who {
                server_role: "cli",
                success: 200,
                ..Who::default()
            },
            key,
        )
    }

    fn note(&self) -> std::sync::MutexGuard<'_, Note> {
        self.0.note.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file acted on, its content key and the bytes that moved.
    pub fn note_file(&self, file_name: &str, content_key: &str, bytes: i64) {
        let mut note = self.note();
        note.file_name = Some(file_name.to_owned());
        note.content_key = content_key.to_owned();
        note.bytes = bytes;
    }

    /// The subject's name alone (a file not found, a username).
    pub fn note_name(&self, name: &str) {
        self.note().file_name = Some(name.to_owned());
    }

    /// What the actor acts through or on besides the file ("via link …").
    pub fn note_detail(&self, detail: String) {
        self.note().detail = detail;
    }

    /// The user the work proved (a login), or acts for.
    pub fn note_actor(&self, user: UserId) {
        self.note().actor = Some(user);
    }

    /// The session the work resolved.
    pub fn note_session(&self, session: &str) {
        self.note().session = Some(session.to_owned());
    }

    /// Whether a change recorded this request's event in its transaction.
    pub fn recorded(&self) -> bool {
        self.0.recorded.load(Ordering::Acquire)
    }

    /// The event for `action` with `outcome` (an HTTP status); `name` stands
    /// for the subject when the work noted none.
    pub fn event(&self, action: &str, outcome: u16, name: Option<&str>) -> NewEvent {
        let note = self.note().clone();
        let who = &self.0.who;
        NewEvent {
            at: timestamp::now_micros(),
            actor: note.actor.or(who.actor).map(UserId::get),
            session_id: recordable(note.session.as_deref().unwrap_or(&who.session)),
            action: action.to_owned(),
            // As the client named it, which may be a name refused for being unsafe.
            file_name: recordable(note.file_name.as_deref().or(name).unwrap_or_default()),
            content_key: note.content_key,
            bytes: note.bytes,
            outcome: i32::from(outcome),
            reason: String::new(),
            detail: recordable(&note.detail),
            client_ip: who.client_ip.clone(),
            request_id: who.request_id.clone(),
            server_role: who.server_role.to_owned(),
        }
    }

    /// The event of this request's change, as the change succeeding writes it.
    pub fn change_event(&self, action: &str) -> NewEvent {
        self.event(action, self.0.who.success, None)
    }

    /// Appends the event of a change inside the transaction that makes it,
    /// so that one is there only with the other. The caller marks it
    /// [`committed`](Self::committed) once the transaction is.
    pub async fn record(&self, conn: &mut AnyConnection, action: &str) -> Result<(), sqlx::Error> {
        audit::append(conn, &self.0.key, &self.change_event(action))
            .await
            .inspect_err(|_| crate::metrics::audit_write_failed(1))
            .map(drop)
    }

    /// The transaction that [`record`](Self::record)ed this request's event committed.
    pub fn committed(&self) {
        self.0.recorded.store(true, Ordering::Release);
    }
}

/// Events appended outside a change's transaction, many to a commit: each
/// request waits until its event is committed (so a request whose event
/// cannot be written fails), but concurrent requests share the commit and
/// its sync, instead of queueing for one each on the chain's head.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Pending>,
    key: ChainKey,
}

type Pending = (NewEvent, oneshot::Sender<Result<(), Arc<sqlx::Error>>>);

/// Most events one commit takes.
const MAX_BATCH: usize = 256;

impl AuditWriter {
    /// Starts the writer on the runtime; it stops when every clone is gone.
    pub fn start(db: Db, key: ChainKey) -> Self {
        let (queue, mut waiting) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        let chain_key = key.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let written = append_all(&db, &chain_key, &batch).await.map_err(Arc::new);
                if written.is_err() {
                    crate::metrics::audit_write_failed(batch.len());
                }
                for (_, done) in batch.drain(..) {
                    let _ = done.send(written.clone());
                }
            }
        });
        Self { queue, key }
    }

    /// The key the chain's events are hashed with.
    pub fn key(&self) -> &ChainKey {
        &self.key
    }

    /// Appends `event` and waits until it is committed.
    pub async fn write(&self, event: NewEvent) -> Result<(), Arc<sqlx::Error>> {
        let (done, committed) = oneshot::channel();
        let gone = || Arc::new(sqlx::Error::PoolClosed);
        self.queue.send((event, done)).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?
    }
}

async fn append_all(db: &Db, key: &ChainKey, batch: &[Pending]) -> Result<(), sqlx::Error> {
    let events: Vec<NewEvent> = batch.iter().map(|(event, _)| event.clone()).collect();
    let mut tx = db.begin().await?;
    audit::append_all(&mut tx, key, &events).await?;
    tx.commit().await
}
