//! One upload attempt and its processing record (seed 1): `pending` when it
//! begins, `processing` once bytes flow, then `completed` (in the transaction that
//! stores the file) or `failed` with the error's code and message. An attempt
//! dropped unfinished — the client went away mid-request — is marked failed by
//! its guard.

use crate::db::history::{self, NewRecord};
use crate::db::{Db, Tx};
use crate::domain::SessionId;
use crate::domain::UserId;
use crate::domain::file_name::recordable;
use crate::domain::timestamp::now_micros;
use crate::pipeline::Error;

#[derive(Debug)]
pub struct Attempt {
    id: String,
    session: SessionId,
    user: UserId,
    db: Db,
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

impl Attempt {
    pub async fn begin(
        db: &Db,
        user: UserId,
        session: SessionId,
        announced: Announcement,
    ) -> Result<Self, Error> {
        let id = uuid::Uuid::new_v4().to_string();
        history::insert(
            db.pool(),
            &NewRecord {
                id: id.clone(),
                session_id: session,
                user_id: user,
                filename: recordable(&announced.client_name),
                file_name: recordable(&announced.stored_name),
                size: i64::try_from(announced.declared_size).unwrap_or(i64::MAX),
                content_type: announced.content_type,
                started_at: now_micros(),
            },
        )
        .await?;
        Ok(Self {
            id,
            session,
            user,
            db: db.clone(),
            finished: false,
        })
    }

    /// The attempt of a resumable upload, begun by an earlier request.
    pub fn resume(db: &Db, id: String, user: UserId, session: SessionId) -> Self {
        Self {
            id,
            session,
            user,
            db: db.clone(),
            finished: false,
        }
    }

    /// Leaves the record as it is — `pending` — for a later request of the same
    /// resumable upload to go on with.
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
    pub async fn processing(&self) -> Result<(), Error> {
        history::mark_processing(self.db.pool(), &self.id).await?;
        Ok(())
    }

    /// The upload named another session than the one it began in.
    pub async fn move_to(&mut self, session: SessionId) -> Result<(), Error> {
        if session != self.session {
            history::move_to_session(self.db.pool(), &self.id, self.session, session).await?;
            self.session = session;
        }
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
        if let Err(record_err) = history::fail(
            self.db.pool(),
            &self.id,
            err.code(),
            &err.to_string(),
            now_micros(),
        )
        .await
        {
            tracing::warn!(record = self.id, error = %record_err, "could not record a failed upload");
        }
    }

    /// Completes the record inside the transaction that stores the file.
    pub async fn complete(&self, tx: &mut Tx, done: &history::Completion<'_>) -> Result<(), Error> {
        history::complete(tx, &self.id, done).await?;
        Ok(())
    }
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
        let err = Error::Interrupted;
        runtime.spawn(async move {
            if let Err(record_err) =
                history::fail(db.pool(), &id, err.code(), &err.to_string(), now_micros()).await
            {
                tracing::warn!(record = id, error = %record_err, "could not record an interrupted upload");
            }
        });
    }
}
