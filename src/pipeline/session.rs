//! Which session a request works in: the one it names, a made-up id registered on
//! first use (seed 2's external session service), or a new one for a browser.
//! Sessions slide: each use pushes the expiry `session_ttl` ahead.

use std::time::Duration;

use sqlx::AnyConnection;

use crate::db::sessions::{self, SessionRow};
use crate::domain::SessionId;
use crate::domain::UserId;
use crate::domain::timestamp::now_micros;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

/// How long sessions live, and how often they are swept.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub ttl: Duration,
    pub sweep_interval: Duration,
}

impl SessionPolicy {
    fn ttl_micros(&self) -> i64 {
        i64::try_from(self.ttl.as_micros()).unwrap_or(i64::MAX)
    }

    /// A session is written back at most this often, however often it is used:
    /// a hundredth of its lifetime, and at least once a minute.
    fn slide_every_micros(&self) -> i64 {
        (self.ttl_micros() / 100).min(60_000_000)
    }

    /// Whether a session last extended to `expires_at` is due to be extended again.
    pub fn slide_due(&self, expires_at: i64, now: i64) -> bool {
        expires_at.saturating_sub(now) < self.ttl_micros().saturating_sub(self.slide_every_micros())
    }

    pub fn expires_from(&self, now: i64) -> i64 {
        now.saturating_add(self.ttl_micros())
    }
}

/// How a request named its session.
#[derive(Debug, Clone, Copy)]
pub enum Named {
    /// A path segment, form field or `X-Session-Id`: the client chose it, so an
    /// unusable one is answered with 404.
    Explicit(SessionId),
    /// The `depot_session` cookie: depot chose it, so an unusable one is quietly
    /// replaced by a new session.
    Cookie(SessionId),
    /// Nothing: a new session is started.
    Nothing,
}

/// The session a request works in.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub row: SessionRow,
    /// Whether the response should (re)set the `depot_session` cookie.
    pub set_cookie: bool,
}

/// Resolves what the request named to a live session of `user`.
pub async fn resolve(state: &AppState, user: UserId, named: Named) -> Result<Session, Error> {
    let (session, new) = resolve_deferring(state, user, named).await?;
    if let Some(new) = new {
        new.register_now(state).await?;
    }
    Ok(session)
}

/// [`resolve`], except that a new session is not registered yet: the caller
/// registers it ([`NewSession::register`]) in the transaction that first
/// writes something in it — an upload, with its processing record — instead
/// of waiting for a commit of its own first.
pub async fn resolve_deferring(
    state: &AppState,
    user: UserId,
    named: Named,
) -> Result<(Session, Option<NewSession>), Error> {
    match named {
        Named::Explicit(id) => {
            let session = Session {
                id,
                row: open(state, user, id).await?,
                set_cookie: false,
            };
            Ok((session, None))
        }
        Named::Cookie(id) => match open(state, user, id).await {
            Ok(row) => Ok((
                Session {
                    id,
                    row,
                    set_cookie: true,
                },
                None,
            )),
            Err(Error::NotFound(_) | Error::SessionExpired) => Ok(deferred(fresh(state, user))),
            Err(err) => Err(err),
        },
        Named::Nothing => Ok(deferred(fresh(state, user))),
    }
}

/// A new session with a random id, registered at once.
pub async fn start(state: &AppState, user: UserId) -> Result<Session, Error> {
    let (session, new) = fresh(state, user);
    new.register_now(state).await?;
    Ok(session)
}

fn deferred((session, new): (Session, NewSession)) -> (Session, Option<NewSession>) {
    (session, Some(new))
}

/// A session with a random id — one nobody holds, so registering it needs no
/// read before or after — and its registration, still to be written.
fn fresh(state: &AppState, user: UserId) -> (Session, NewSession) {
    let id = SessionId::new_random();
    let now = now_micros();
    let expires_at = state.sessions.expires_from(now);
    let row = SessionRow {
        id: id.to_string(),
        user_id: user,
        created_at: now,
        last_seen_at: now,
        expires_at,
        active_file_id: None,
        active_version: 0,
    };
    let session = Session {
        id,
        row,
        set_cookie: true,
    };
    let new = NewSession {
        id,
        user,
        now,
        expires_at,
    };
    (session, new)
}

/// A session started by this request and not registered yet.
#[derive(Debug, Clone)]
pub struct NewSession {
    id: SessionId,
    user: UserId,
    now: i64,
    expires_at: i64,
}

impl NewSession {
    /// Registers the session inside the caller's transaction.
    pub async fn register(&self, conn: &mut AnyConnection) -> Result<(), Error> {
        if !sessions::insert_if_absent(conn, self.id, self.user, self.now, self.expires_at).await? {
            return Err(Error::Internal(anyhow::anyhow!(
                "a random session id {} was taken",
                self.id
            )));
        }
        tracing::debug!(user = self.user.get(), session = %self.id, "session started");
        Ok(())
    }

    /// Registers the session in the next group commit.
    pub async fn register_now(self, state: &AppState) -> Result<(), Error> {
        state
            .commits
            .run(move |batch| Box::pin(async move { self.register(batch.conn()).await }))
            .await
    }
}

/// The user's live session `id`, registered for them if nobody holds it yet.
/// Another user's session is as missing as an unknown one.
pub async fn open(state: &AppState, user: UserId, id: SessionId) -> Result<SessionRow, Error> {
    let now = now_micros();
    let row = match sessions::find(state.db.pool(), id).await? {
        Some(row) => row,
        None => {
            let expires_at = state.sessions.expires_from(now);
            let mut conn = state.db.pool().acquire().await?;
            sessions::insert_if_absent(&mut conn, id, user, now, expires_at).await?;
            drop(conn);
            // Read back: a concurrent registration by someone else may have won.
            sessions::find(state.db.pool(), id)
                .await?
                .ok_or(Error::NotFound("session"))?
        }
    };
    live(state, id, row, user, now).await
}

/// The user's live session `id`, which must exist already.
pub async fn find(state: &AppState, user: UserId, id: SessionId) -> Result<SessionRow, Error> {
    let row = sessions::find(state.db.pool(), id)
        .await?
        .ok_or(Error::NotFound("session"))?;
    live(state, id, row, user, now_micros()).await
}

/// Checks owner and expiry, and extends the session when that is due.
async fn live(
    state: &AppState,
    id: SessionId,
    row: SessionRow,
    user: UserId,
    now: i64,
) -> Result<SessionRow, Error> {
    let mut row = usable(row, user, now)?;
    if state.sessions.slide_due(row.expires_at, now) {
        row.last_seen_at = now;
        row.expires_at = state.sessions.expires_from(now);
        sessions::touch(state.db.pool(), id, now, row.expires_at).await?;
    }
    Ok(row)
}

fn usable(row: SessionRow, user: UserId, now: i64) -> Result<SessionRow, Error> {
    if row.user_id != user {
        return Err(Error::NotFound("session"));
    }
    if row.expires_at <= now {
        return Err(Error::SessionExpired);
    }
    Ok(row)
}

/// Removes expired sessions (their processing records stay); returns how many.
pub async fn expire(db: &crate::db::Db) -> Result<u64, sqlx::Error> {
    sessions::delete_expired(db.pool(), now_micros()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_extended_at_most_once_a_minute() {
        let policy = SessionPolicy {
            ttl: Duration::from_secs(30 * 24 * 3600),
            sweep_interval: Duration::from_secs(3600),
        };
        let now = 1_000_000_000_000;
        let fresh = policy.expires_from(now);
        assert!(!policy.slide_due(fresh, now));
        assert!(!policy.slide_due(fresh, now + 59_000_000));
        assert!(policy.slide_due(fresh, now + 61_000_000));
    }
}
