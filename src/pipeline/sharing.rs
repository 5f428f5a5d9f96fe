//! Sharing a file with another user, for reading, and stopping it. Each is a
//! change with its audit event in its transaction; the file's row is locked
//! first, so a share and a deletion of the file happen one after the other
//! (and the share goes with the file).

use crate::auth::password;
use crate::db::audit::hold_head;
use crate::db::files::{self, FileRecord};
use crate::db::{shares, users};
use crate::domain::file_name::recordable;
use crate::domain::timestamp::now_micros;
use crate::domain::{FileName, UserId};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;

/// The account named `username`, if there is one.
async fn account_named(state: &AppState, username: &str) -> Result<Option<UserId>, Error> {
    if !password::could_be_username(username) {
        return Ok(None);
    }
    Ok(users::id_of(state.db.pool(), username).await?)
}

/// A file shared with someone.
#[derive(Debug)]
pub struct Shared {
    pub file: FileRecord,
    /// False when it was shared with them already (nothing changed).
    pub new: bool,
    pub shared_at: i64,
}

/// Shares `owner`'s file with the user named `username`.
pub async fn share(
    state: &AppState,
    audit: &Audit,
    owner: UserId,
    file_name: &FileName,
    username: &str,
) -> Result<Shared, Error> {
    audit.note_name(file_name.as_str());
    audit.note_detail(format!("with {}", recordable(username)));
    let recipient = account_named(state, username)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if recipient == owner {
        return Err(Error::Validation(
            "a file is its owner's already; share it with someone else".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let file = files::lock_owned(&mut tx, owner, file_name.as_str())
        .await?
        .ok_or(Error::NotFound("file"))?;
    audit.note_file(&file.file_name, &file.sha256, 0);
    let new = shares::add(&mut tx, file.id, recipient, now_micros()).await?;
    let shared_at = shares::shared_at(&mut tx, file.id, recipient)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("a share vanished in its own transaction")))?;
    audit.record(&mut tx, "share").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(owner = owner.get(), file = %file.file_name, recipient = recipient.get(), "file shared");
    Ok(Shared { file, new, shared_at })
}

/// Stops sharing `owner`'s file with `username`: 404 if it was not.
pub async fn unshare(
    state: &AppState,
    audit: &Audit,
    owner: UserId,
    file_name: &FileName,
    username: &str,
) -> Result<(), Error> {
    audit.note_name(file_name.as_str());
    audit.note_detail(format!("with {}", recordable(username)));
    let recipient = account_named(state, username)
        .await?
        .ok_or(Error::NotFound("share"))?;
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let file = files::lock_owned(&mut tx, owner, file_name.as_str())
        .await?
        .ok_or(Error::NotFound("file"))?;
    audit.note_file(&file.file_name, &file.sha256, 0);
    if !shares::remove(&mut tx, file.id, recipient).await? {
        return Err(Error::NotFound("share"));
    }
    audit.record(&mut tx, "unshare").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(owner = owner.get(), file = %file.file_name, recipient = recipient.get(), "share revoked");
    Ok(())
}
