//! Deleting a file: its row, one reference to its blob, the blob itself when that
//! was the last reference, and its place as the active file of any session.
//!
//! When the store cannot remove the blob's bytes (a storage node down), the
//! file is deleted all the same and the removal is scheduled: the blob's row
//! stays, unused, with `cleanup_scheduled_for`, and [`retry_cleanups`] tries
//! again with growing pauses until the store takes it. While a backup holds
//! unused bytes ([`backups::holding`]), their removal waits the same way.

use std::time::Duration;

use crate::db::audit::hold_head;
use crate::db::files::{self, FileRecord};
use crate::db::{backups, blobs, ipfs_pins, sessions, transfers};
use crate::domain::UserId;
use crate::domain::{FileName, timestamp};
use crate::pipeline::Error;
use crate::pipeline::active;
use crate::pipeline::audit::Audit;
use crate::pipeline::quota;
use crate::pipeline::state::AppState;
use crate::storage::BlobKey;

/// The longest pause between two tries of a removal; the first is
/// `cleanup_retry`, and each failure doubles it.
const LONGEST_PAUSE: Duration = Duration::from_secs(3600);
/// Removals tried per round of [`retry_cleanups`].
const CLEANUPS_PER_ROUND: i64 = 100;

pub async fn delete(
    state: &AppState,
    user: UserId,
    file_name: &FileName,
    audit: &Audit,
) -> Result<FileRecord, Error> {
    let mut tx = state.db.begin().await?;
    // The chain's head before any other lock, as every audited change takes it.
    hold_head(&mut tx).await?;
    // The row lock next: a concurrent "make it active" either finished before
    // (and is cleared here) or waits and then finds the file gone.
    let locked = files::lock_owned(&mut tx, user, file_name.as_str())
        .await?
        .ok_or(Error::NotFound("file"))?;
    let cleared = sessions::clear_active_file(&mut tx, locked.id).await?;
    // The event first: if it cannot be written, nothing irreversible has happened.
    audit.note_file(&locked.file_name, &locked.sha256, 0);
    audit.record(&mut tx, "delete").await?;
    take_out(&mut tx, &locked, Unused::RemoveNow(state)).await?;
    tx.commit().await?;
    audit.committed();
    for change in &cleared {
        active::publish(state, change, None).await;
    }
    tracing::info!(user = user.get(), file = %locked.file_name, sha256 = %locked.sha256, "file deleted");
    Ok(locked)
}

/// Deletes every file of `user` with content `cid`, one by one; `NotFound`
/// when they have none.
pub async fn delete_by_cid(
    state: &AppState,
    user: UserId,
    cid: &str,
    audit: &Audit,
) -> Result<Vec<FileRecord>, Error> {
    let records = files::find_by_cid(state.db.pool(), user, cid).await?;
    if records.is_empty() {
        return Err(Error::NotFound("content"));
    }
    let mut deleted = Vec::with_capacity(records.len());
    for record in records {
        let name = FileName::parse(&record.file_name)
            .map_err(|err| Error::Internal(anyhow::anyhow!("stored file name is invalid: {err}")))?;
        match delete(state, user, &name, audit).await {
            Ok(record) => deleted.push(record),
            // Deleted meanwhile by another request: not ours to report.
            Err(Error::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(deleted)
}

/// What becomes of content whose last file goes.
pub(crate) enum Unused<'a> {
    /// Its bytes are removed now (or, if the store refuses, again later).
    RemoveNow(&'a AppState),
    /// Its removal is scheduled for now, for the sweep of scheduled removals:
    /// in a transaction others share (a group commit) bytes must not go
    /// before it commits.
    Schedule,
}

/// Takes a locked file out of its owner's files in the caller's transaction:
/// one reference to its content (and, for the last, what `unused` says),
/// its row and its count in the quota.
pub(crate) async fn take_out(
    conn: &mut sqlx::AnyConnection,
    file: &FileRecord,
    unused: Unused<'_>,
) -> Result<(), Error> {
    let key = file.blob_key()?;
    if let Some(at) = release_content(conn, &key, unused).await? {
        // Before the row goes: the transfers lose their file id with it.
        transfers::schedule_cleanup(conn, file.id, at).await?;
    }
    files::delete(conn, file.user_id, &file.file_name)
        .await?
        .ok_or(Error::NotFound("file"))?;
    quota::count_deleted(conn, file.user_id, file.size).await
}

/// Lets go of one reference to content `key` (a file's, or an upload
/// part's) in the caller's transaction; when it was the last, the content is
/// unpinned and its bytes go as `unused` says. Returns when they went (or
/// are due to), if they do.
pub(crate) async fn release_content(
    conn: &mut sqlx::AnyConnection,
    key: &BlobKey,
    unused: Unused<'_>,
) -> Result<Option<i64>, Error> {
    // The blob goes while its row's lock is held, so an upload of the same
    // content waiting on that lock re-creates both the row and the blob after us.
    if !blobs::release(conn, key).await? {
        return Ok(None);
    }
    // Published content is unpinned from the IPFS node, behind the deletion.
    ipfs_pins::want_unpinned(conn, key.as_str()).await?;
    let at = match unused {
        Unused::RemoveNow(state) => remove_bytes(state, conn, key, 0).await?.at(),
        Unused::Schedule => {
            let now = timestamp::now_micros();
            blobs::schedule_cleanup(conn, key, now).await?;
            now
        }
    };
    Ok(Some(at))
}

/// What became of unused content's bytes.
#[derive(Debug, Clone, Copy)]
enum Removal {
    /// Removed, at this time.
    Done(i64),
    /// The store could not; the next try is due then.
    Scheduled(i64),
}

impl Removal {
    fn at(self) -> i64 {
        match self {
            Self::Done(at) | Self::Scheduled(at) => at,
        }
    }
}

/// Removes unused content's bytes and row, or — when the store cannot remove
/// them now — schedules the next try after `failures` earlier ones.
async fn remove_bytes(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    key: &BlobKey,
    failures: u32,
) -> Result<Removal, Error> {
    let now = timestamp::now_micros();
    if backups::holding(conn, now).await? {
        // A backup's snapshot may still have a file with these bytes.
        let due = now.saturating_add(micros(state.policy.cleanup_retry));
        blobs::defer_cleanup(conn, key, due).await?;
        return Ok(Removal::Scheduled(due));
    }
    match state.blobs.delete(key).await {
        Ok(()) => {
            blobs::forget(conn, key).await?;
            Ok(Removal::Done(now))
        }
        Err(err) => {
            let pause = state
                .policy
                .cleanup_retry
                .saturating_mul(2_u32.saturating_pow(failures))
                .min(LONGEST_PAUSE);
            let due = now.saturating_add(micros(pause));
            let attempts = blobs::schedule_cleanup(conn, key, due).await?;
            tracing::warn!(sha256 = %key, error = %err, attempts, retry_in = ?pause, "could not remove a deleted file's bytes; retrying later");
            Ok(Removal::Scheduled(due))
        }
    }
}

fn micros(pause: Duration) -> i64 {
    i64::try_from(pause.as_micros()).unwrap_or(i64::MAX)
}

/// One round of scheduled removals that are due; returns how many went.
pub async fn retry_cleanups(state: &AppState) -> Result<u64, Error> {
    let due = blobs::due_cleanups(state.db.pool(), timestamp::now_micros(), CLEANUPS_PER_ROUND).await?;
    let mut removed = 0;
    for sha256 in due {
        let key = blobs::stored_key(&sha256)?;
        let mut tx = state.db.begin().await?;
        // Locked, and still unused: an upload of the same content waits on the
        // lock, then finds no row and stores the bytes again.
        let Some(attempts) = blobs::claim_cleanup(&mut tx, &key).await? else {
            continue;
        };
        let failures = u32::try_from(attempts).unwrap_or(u32::MAX);
        let removal = remove_bytes(state, &mut tx, &key, failures).await?;
        tx.commit().await?;
        if let Removal::Done(_) = removal {
            removed += 1;
        }
    }
    Ok(removed)
}
