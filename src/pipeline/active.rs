//! The active file of a session (seed 2): the database holds it, the cache serves
//! it. Every change bumps the session's `active_version`, and the cache keeps only
//! the newest version it has seen, so concurrent writers cannot leave it stale.

use crate::cache::ActiveEntry;
use crate::db::files::{self, FileRecord};
use crate::db::sessions::{self, ActiveChange};
use crate::domain::UserId;
use crate::domain::timestamp::now_micros;
use crate::domain::{FileName, SessionId};
use crate::pipeline::Error;
use crate::pipeline::session;
use crate::pipeline::state::AppState;

/// The session's active file: from the cache when it has the session, otherwise
/// from the database (refilling the cache).
pub async fn get(state: &AppState, user: UserId, id: SessionId) -> Result<FileRecord, Error> {
    let now = now_micros();
    if let Some(entry) = state.cache.get(user, id).await
        && entry.session_expires_at > now
    {
        if state.sessions.slide_due(entry.session_expires_at, now) {
            let row = session::find(state, user, id).await?;
            let refreshed = ActiveEntry {
                session_expires_at: row.expires_at,
                ..entry.clone()
            };
            state.cache.put(user, id, &refreshed).await;
        }
        return entry.file.ok_or(Error::NotFound("active file"));
    }

    let row = session::find(state, user, id).await?;
    let file = match row.active_file_id {
        Some(file_id) => files::find_by_id(state.db.pool(), file_id).await?,
        None => None,
    };
    let entry = ActiveEntry {
        version: row.active_version,
        session_expires_at: row.expires_at,
        file: file.clone(),
    };
    state.cache.put(user, id, &entry).await;
    file.ok_or(Error::NotFound("active file"))
}

/// Makes the user's file `name` the active file of session `id` (registering the
/// session if it is new).
pub async fn set(
    state: &AppState,
    user: UserId,
    id: SessionId,
    name: &FileName,
) -> Result<FileRecord, Error> {
    session::open(state, user, id).await?;
    let mut tx = state.db.begin().await?;
    let file = files::lock_owned(&mut tx, user, name.as_str())
        .await?
        .ok_or(Error::NotFound("file"))?;
    let change = sessions::set_active(&mut tx, id, user, file.id)
        .await?
        .ok_or(Error::NotFound("session"))?;
    tx.commit().await?;
    publish(state, &change, Some(file.clone())).await;
    Ok(file)
}

/// Tells the cache about a change the database has committed.
pub async fn publish(state: &AppState, change: &ActiveChange, file: Option<FileRecord>) {
    let Ok(id) = SessionId::parse(&change.id) else {
        tracing::warn!(session = change.id, "stored session id is malformed");
        return;
    };
    let entry = ActiveEntry {
        version: change.active_version,
        session_expires_at: change.expires_at,
        file,
    };
    state.cache.put(change.user_id, id, &entry).await;
}
