//! An upload that replaces the file of the same name (`?replace=true`): in the
//! transaction that records the new file, the old one's row goes as a
//! deletion's would — its sessions' active file cleared, its quota given
//! back, one reference to its content released — and its shares and links
//! end with it (they were given for the old bytes). Content left unused is
//! not removed inside the shared transaction: its removal is scheduled, and
//! the next round of scheduled removals takes it unless an upload uses it
//! again first.

use sqlx::AnyConnection;

use crate::db::files::{self, FileRecord};
use crate::db::sessions::{self, ActiveChange};
use crate::db::{blobs, transfers};
use crate::domain::{UserId, timestamp};
use crate::pipeline::Error;
use crate::pipeline::quota;

/// The file a new one replaced, and the sessions that had it active.
pub(super) struct Replaced {
    pub(super) old: FileRecord,
    pub(super) cleared: Vec<ActiveChange>,
}

/// Removes `user`'s file `file_name`, if there is one, for a new file of
/// that name; the caller holds the audit chain's head.
pub(super) async fn remove_replaced(
    conn: &mut AnyConnection,
    user: UserId,
    file_name: &str,
) -> Result<Option<Replaced>, Error> {
    let Some(old) = files::lock_owned(conn, user, file_name).await? else {
        return Ok(None);
    };
    let cleared = sessions::clear_active_file(conn, old.id).await?;
    let key = old.blob_key()?;
    if blobs::release(conn, &key).await? {
        let now = timestamp::now_micros();
        blobs::schedule_cleanup(conn, &key, now).await?;
        transfers::schedule_cleanup(conn, old.id, now).await?;
    }
    files::delete(conn, user, file_name).await?;
    quota::count_deleted(conn, user, old.size).await?;
    Ok(Some(Replaced { old, cleared }))
}
