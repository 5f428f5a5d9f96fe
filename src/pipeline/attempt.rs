//! One upload attempt and its processing record (seed 1): `pending` when it
//! begins, `processing` once bytes flow, then `completed` (in the transaction that
//! stores the file) or `failed` with the error's code and message. An attempt
//! dropped unfinished — the client went away mid-request — is marked failed by
//! its guard.
//!
//! The record is written when it is first worth reading: an attempt that
//! ends quickly — an upload of a small file — writes it once, with its
//! outcome (in the transaction that stores the file, or as `failed`), instead
//! of three times; one that goes on is recorded when its upload asks
//! ([`Attempt::record`]: a resumable upload's creation, a large body).

use sqlx::AnyConnection;

use crate::db::Db;
use crate::db::history::{self, Completion, NewRecord};
use crate::domain::SessionId;
use crate::domain::UserId;
use crate::domain::file_name::recordable;
use crate::domain::processing::Status;
use crate::domain::timestamp::now_micros;
use crate::pipeline::Error;
use crate::pipeline::session::NewSession;

#[derive(Debug)]
pub struct Attempt {
    id: String,
    session: SessionId,
    user: UserId,
    db: Db,
    /// The record as it is to be inserted, until it is.
    unwritten: Option<Unwritten>,
    /// Whether bytes flow.
    processing: bool,
    finished: bool,
}

/// What is known about an upload when it begins.
#[derive(Debug, Clone, Default)]
pub struct Announcement {
    /// The client's own name for the bytes (a part's or tus' `filename`).
    pub client_name: String,
    /// The name the file is to be stored under, when already known.
    pub stored_name: String,
    /// The size the client declared, or 0.
    pub declared_size: u64,
    /// Declared or guessed content type.
    pub content_type: String,
}

/// A record not yet written, and the session the request started, which is
/// registered in the same transaction, before the record that refers to it.
#[derive(Debug, Clone)]
struct Unwritten {
    record: NewRecord,
    new_session: Option<NewSession>,
}

impl Unwritten {
    async fn register_session(&self, conn: &mut AnyConnection) -> Result<(), Error> {
        match &self.new_session {
            Some(session) => session.register(conn).await,
            None => Ok(()),
        }
    }
}

/// How an attempt's record is completed inside the transaction that stores
/// its file: by the update of a record already written, or by the insert of
/// the whole record.
#[derive(Debug)]
pub struct Completing {
    id: String,
    unwritten: Option<Unwritten>,
}

impl Completing {
    pub async fn write(&self, conn: &mut AnyConnection, done: &Completion<'_>) -> Result<(), Error> {
        match &self.unwritten {
            Some(unwritten) => {
                unwritten.register_session(conn).await?;
                history::insert_completed(conn, &unwritten.record, done).await?;
            }
            None => history::complete(conn, &self.id, done).await?,
        }
        Ok(())
    }
}

impl Attempt {
    /// An attempt begins; its record is written when [`Attempt::record`]
    /// asks, or with its outcome — and a session the request started
    /// (`new_session`), with the record.
    pub fn begin(
        db: &Db,
        user: UserId,
        (session, new_session): (SessionId, Option<NewSession>),
        announced: Announcement,
    ) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let record = NewRecord {
            id: id.clone(),
            session_id: session,
            user_id: user,
            filename: recordable(&announced.client_name),
            file_name: recordable(&announced.stored_name),
            size: i64::try_from(announced.declared_size).unwrap_or(i64::MAX),
            content_type: announced.content_type,
            started_at: now_micros(),
        };
        Self {
            id,
            session,
            user,
            db: db.clone(),
            unwritten: Some(Unwritten { record, new_session }),
            processing: false,
            finished: false,
        }
    }

    /// The attempt of a resumable upload, begun (and recorded) by an earlier request.
    pub fn resume(db: &Db, id: String, user: UserId, session: SessionId) -> Self {
        Self {
            id,
            session,
            user,
            db: db.clone(),
            unwritten: None,
            processing: false,
            finished: false,
        }
    }

    /// Writes the record now, as it stands, if it is not yet written.
    pub async fn record(&mut self) -> Result<(), Error> {
        if let Some(unwritten) = &self.unwritten {
            let status = if self.processing {
                Status::Processing
            } else {
                Status::Pending
            };
            let mut tx = self.db.begin().await?;
            unwritten.register_session(&mut tx).await?;
            history::insert(&mut tx, &unwritten.record, status).await?;
            tx.commit().await?;
            self.unwritten = None;
        }
        Ok(())
    }

    /// Whether the record is written yet.
    pub fn recorded(&self) -> bool {
        self.unwritten.is_none()
    }

    /// Leaves the record as it is — `pending` — for a later request of the same
    /// resumable upload to go on with; see [`Attempt::record`].
    pub fn suspend(mut self) {
        self.finished = true;
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn session(&self) -> SessionId {
        self.session
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    /// Bytes start to flow.
    pub async fn processing(&mut self) -> Result<(), Error> {
        self.processing = true;
        if self.recorded() {
            history::mark_processing(self.db.pool(), &self.id).await?;
        }
        Ok(())
    }

    /// The upload named another session than the one it began in.
    pub async fn move_to(&mut self, session: SessionId) -> Result<(), Error> {
        if session == self.session {
            return Ok(());
        }
        match &mut self.unwritten {
            Some(unwritten) => unwritten.record.session_id = session,
            None => history::move_to_session(self.db.pool(), &self.id, self.session, session).await?,
        }
        self.session = session;
        Ok(())
    }

    /// Records the outcome; a failure keeps the error's code and message.
    pub async fn finish<T>(mut self, outcome: Result<T, Error>) -> Result<T, Error> {
        match &outcome {
            Ok(_) => self.finished = true,
            Err(err) => self.fail(err).await,
        }
        outcome
    }

    /// Records that the upload failed with `err`.
    pub async fn fail(mut self, err: &Error) {
        self.finished = true;
        if let Err(record_err) = write_failure(&self.db, &self.id, self.unwritten.take(), err).await {
            tracing::warn!(record = self.id, error = %record_err, "could not record a failed upload");
        }
    }

    /// How the transaction that stores the file completes the record.
    pub fn completing(&self) -> Completing {
        Completing {
            id: self.id.clone(),
            unwritten: self.unwritten.clone(),
        }
    }
}

async fn write_failure(db: &Db, id: &str, unwritten: Option<Unwritten>, err: &Error) -> Result<(), Error> {
    let (code, message, now) = (err.code(), err.to_string(), now_micros());
    let Some(unwritten) = unwritten else {
        return Ok(history::fail(db.pool(), id, code, &message, now).await?);
    };
    let mut tx = db.begin().await?;
    unwritten.register_session(&mut tx).await?;
    history::insert_failed(&mut tx, &unwritten.record, code, &message, now).await?;
    Ok(tx.commit().await?)
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (db, id) = (self.db.clone(), std::mem::take(&mut self.id));
        let unwritten = self.unwritten.take();
        runtime.spawn(async move {
            if let Err(record_err) = write_failure(&db, &id, unwritten, &Error::Interrupted).await {
                tracing::warn!(record = id, error = %record_err, "could not record an interrupted upload");
            }
        });
    }
}
