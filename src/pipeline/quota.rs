//! Storage quotas: how many bytes and files a user may keep, each file
//! counted in full (deduplicated content too, so that what one user stores
//! never depends on what others do).
//!
//! Three checks keep a user within their quota, whichever way bytes come:
//! - before any byte, an upload that cannot fit is refused ([`precheck`]);
//! - while bytes arrive, an upload that is large or of a length it does not
//!   tell holds room for them ([`Reservation`]), growing it as they come: a
//!   body past the room it can get is refused before the excess is written,
//!   and uploads on any node together cannot hold more than the quota;
//! - the transaction that stores a file counts it ([`count_stored`]) and
//!   refuses it if it no longer fits, which keeps the quota exact whatever
//!   happened meanwhile (an admin lowering it, a reservation run out).

use std::time::Duration;

use serde::Serialize;

use crate::db::Db;
use crate::db::quotas::{self, Held, Usage};
use crate::domain::timestamp::now_micros;
use crate::domain::{UserId, size};
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

/// An upload of a length it does not tell, or of at least this many bytes,
/// holds room in its user's quota while its bytes arrive; a smaller one is
/// checked before and when it is stored.
pub const RESERVE_FROM: u64 = 1024 * 1024;

/// Room an upload that does not tell its length holds at first. Each time
/// its bytes pass what it holds, it asks for twice what it has brought (at
/// least this much more, at most [`MOST_AHEAD`] more): few reservations for
/// a large body, and never much room kept from the user's other uploads.
const FIRST_HOLD: u64 = 64 * 1024;

/// The most room an upload holds beyond the bytes it has brought.
const MOST_AHEAD: u64 = 64 * 1024 * 1024;

/// How long a one-request upload's room is held after it last grew; an
/// upload cut off by a crash holds it no longer.
const HELD_FOR: Duration = Duration::from_secs(3600);

/// A user's storage quota; 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quota {
    pub bytes: u64,
    pub files: u64,
}

impl Quota {
    /// The quota `user` has: their own, where an admin set one, else the
    /// deployment's (as this node knows the account: for at most a few
    /// seconds after a change on another node, the one before).
    pub async fn of(state: &AppState, user: UserId) -> Result<Self, Error> {
        let standing = state
            .credentials
            .account(user)
            .await
            .map_err(|err| Error::Internal(anyhow::anyhow!("reading the account's quota: {err}")))?;
        let (bytes, files) = standing.map_or((None, None), |standing| {
            (standing.quota_bytes, standing.quota_files)
        });
        Ok(Self::own_or(bytes, files, state.policy.quota))
    }

    /// An account's own quota as its columns keep it (`None`: not set),
    /// each limit not set taken from `default`.
    pub fn own_or(bytes: Option<i64>, files: Option<i64>, default: Self) -> Self {
        let own = |limit: Option<i64>| limit.map(|limit| u64::try_from(limit).unwrap_or_default());
        Self {
            bytes: own(bytes).unwrap_or(default.bytes),
            files: own(files).unwrap_or(default.files),
        }
    }

    pub fn is_unlimited(self) -> bool {
        self.bytes == 0 && self.files == 0
    }

    /// The most bytes one more file may have beside `used` and `held`;
    /// `None` when not even an empty one fits.
    fn room(self, used: Usage, held: Held) -> Option<u64> {
        let taken = |used: i64, held: i64| u64::try_from(used.saturating_add(held)).unwrap_or_default();
        if self.files > 0 && taken(used.files, held.files) >= self.files {
            return None;
        }
        if self.bytes == 0 {
            return Some(u64::MAX);
        }
        self.bytes.checked_sub(taken(used.bytes, held.bytes))
    }

    /// [`Quota::room`], refused if it is less than `needed` bytes.
    fn room_for(self, used: Usage, held: Held, needed: u64) -> Result<u64, Error> {
        match self.room(used, held) {
            Some(room) if room >= needed => Ok(room),
            _ => Err(Error::QuotaExceeded(Exceeded {
                quota: self,
                used,
                held,
                needed,
            })),
        }
    }
}

/// Why an upload does not fit: the quota, what the user's files take, what
/// their other uploads under way hold, and what this one needs.
#[derive(Debug, Clone, Copy)]
pub struct Exceeded {
    pub quota: Quota,
    pub used: Usage,
    pub held: Held,
    pub needed: u64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            quota,
            used,
            held,
            needed,
        } = self;
        let bytes = |bytes: i64| size::human(u64::try_from(bytes).unwrap_or_default());
        write!(f, "the upload does not fit in the storage quota of {quota}: ")?;
        write!(f, "{} in {} files are stored", bytes(used.bytes), used.files)?;
        if held.files > 0 {
            write!(
                f,
                ", {} held by {} uploads under way",
                bytes(held.bytes),
                held.files
            )?;
        }
        write!(
            f,
            ", and it needs at least {} more and one file",
            size::human(*needed)
        )
    }
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.bytes, self.files) {
            (0, 0) => write!(f, "no limit"),
            (bytes, 0) => write!(f, "{}", size::human(bytes)),
            (0, files) => write!(f, "{files} files"),
            (bytes, files) => write!(f, "{} in {files} files", size::human(bytes)),
        }
    }
}

/// Refuses at once an upload that cannot fit, as far as a read without a
/// lock can tell: of `needed` bytes, or any if it has none to spare.
pub async fn precheck(state: &AppState, user: UserId, quota: Quota, needed: u64) -> Result<(), Error> {
    if quota.is_unlimited() {
        return Ok(());
    }
    let used = quotas::usage(state.db.pool(), user).await?;
    let held = held(state, user).await?;
    quota.room_for(used, held, needed).map(drop)
}

/// The room `user`'s uploads under way hold now.
pub async fn held(state: &AppState, user: UserId) -> Result<Held, Error> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(quotas::held(&mut conn, user, "", now_micros()).await?)
}

/// Counts a file of `bytes` in `user`'s usage, in the transaction that
/// stores it, and gives up the room the reservation `held_as` held for it;
/// refuses the file if, with the room other uploads hold, it passes `quota`.
pub async fn count_stored(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    quota: Quota,
    bytes: i64,
    held_as: Option<&str>,
) -> Result<(), Error> {
    if let Some(id) = held_as {
        quotas::release(conn, id).await?;
    }
    let after = quotas::add(conn, user, bytes, 1).await?;
    if quota.is_unlimited() {
        return Ok(());
    }
    let held = quotas::held(conn, user, "", now_micros()).await?;
    let before = Usage {
        bytes: after.bytes - bytes,
        files: after.files - 1,
    };
    quota
        .room_for(before, held, u64::try_from(bytes).unwrap_or_default())
        .map(drop)
}

/// Takes a deleted file of `bytes` out of `user`'s usage.
pub async fn count_deleted(conn: &mut sqlx::AnyConnection, user: UserId, bytes: i64) -> Result<(), Error> {
    quotas::add(conn, user, -bytes, -1).await?;
    Ok(())
}

/// Holds room for the upload `id` in `user`'s quota until `expires_at`: at
/// least `needed` bytes, as many as `wanted` if there is room; returns how
/// many it holds. Decided under the lock of the user's usage, so that
/// reservations made at once, on any node, are decided one after another.
async fn hold(
    db: &Db,
    id: &str,
    user: UserId,
    quota: Quota,
    (needed, wanted): (u64, u64),
    expires_at: i64,
) -> Result<u64, Error> {
    let now = now_micros();
    let mut tx = db.begin().await?;
    let used = quotas::hold(&mut tx, user).await?;
    quotas::drop_expired(&mut tx, user, now).await?;
    let held = quotas::held(&mut tx, user, id, now).await?;
    let bytes = quota.room_for(used, held, needed)?.min(wanted.max(needed));
    quotas::reserve(
        &mut tx,
        id,
        user,
        i64::try_from(bytes).unwrap_or(i64::MAX),
        expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok(bytes)
}

/// Holds room for a resumable upload of `length` bytes (all of it, as its
/// bytes count only once it completes) until `expires_at`: at its creation,
/// and again at each request that brings bytes.
pub async fn hold_for_resumable(
    state: &AppState,
    id: &str,
    user: UserId,
    length: u64,
    expires_at: i64,
) -> Result<(), Error> {
    let quota = Quota::of(state, user).await?;
    if quota.is_unlimited() {
        return Ok(());
    }
    hold(&state.db, id, user, quota, (length, length), expires_at).await?;
    Ok(())
}

/// Removes the reservations that expired: those of one-request uploads a
/// crash cut off (they hold nothing once expired, and a user's next
/// reservation drops that user's; this drops everyone's). Returns how many.
pub async fn drop_expired(db: &Db) -> Result<u64, Error> {
    Ok(quotas::drop_all_expired(db.pool(), now_micros()).await?)
}

/// Gives up the room an upload that will not complete held.
pub async fn release(db: &Db, id: &str) -> Result<(), Error> {
    let mut conn = db.pool().acquire().await?;
    quotas::release(&mut conn, id).await?;
    Ok(())
}

/// Room held in a user's quota for one request's upload while its bytes
/// arrive. Dropped before the file is stored, it gives the room up.
#[derive(Debug)]
pub struct Reservation {
    id: String,
    user: UserId,
    quota: Quota,
    bytes: u64,
    db: Db,
    /// The room was given up: by the transaction that stored the file, or
    /// by [`Reservation::release`].
    settled: bool,
}

impl Reservation {
    /// Holds room for an upload of at least `needed` bytes, and as many as
    /// `expected` (or — when the request does not say — the first
    /// `FIRST_HOLD` of them) if there is room; `None` if `quota` sets no
    /// limit.
    pub async fn make(
        db: &Db,
        user: UserId,
        quota: Quota,
        needed: u64,
        expected: Option<u64>,
    ) -> Result<Option<Self>, Error> {
        if quota.is_unlimited() {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let wanted = (needed, expected.unwrap_or(FIRST_HOLD));
        let bytes = hold(db, &id, user, quota, wanted, held_until()).await?;
        Ok(Some(Self {
            id,
            user,
            quota,
            bytes,
            db: db.clone(),
            settled: false,
        }))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Makes sure the room held takes `bytes` in all, growing it past them
    /// if there is room; refused (and nothing more held) if there is not.
    pub async fn cover(&mut self, bytes: u64) -> Result<(), Error> {
        if bytes <= self.bytes {
            return Ok(());
        }
        let wanted = bytes.saturating_add(bytes.clamp(FIRST_HOLD, MOST_AHEAD));
        self.bytes = hold(
            &self.db,
            &self.id,
            self.user,
            self.quota,
            (bytes, wanted),
            held_until(),
        )
        .await?;
        Ok(())
    }

    /// The file was stored, and its transaction gave the room up.
    pub fn settle(mut self) {
        self.settled = true;
    }

    /// Gives the room up now: the upload will not be stored. (Dropped
    /// instead, the reservation gives it up in the background.)
    pub async fn release(mut self) {
        self.settled = true;
        if let Err(err) = release(&self.db, &self.id).await {
            // It holds nothing once it expires.
            tracing::warn!(reservation = self.id, error = %err, "could not give up an upload's quota reservation");
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (db, id) = (self.db.clone(), std::mem::take(&mut self.id));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(err) = release(&db, &id).await {
                // It holds nothing once it expires.
                tracing::warn!(reservation = id, error = %err, "could not give up an upload's quota reservation");
            }
        });
    }
}

fn held_until() -> i64 {
    now_micros().saturating_add(i64::try_from(HELD_FOR.as_micros()).unwrap_or(i64::MAX))
}
