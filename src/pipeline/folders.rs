//! Moving and deleting in a user's folders. A folder exists while a file's
//! name lies under it (as in S3); moving one renames its files in one
//! transaction (no bytes move: blobs are keyed by content), and deleting one
//! deletes its files one by one, as deleting each would.

use crate::db::audit::hold_head;
use crate::db::files::FileRecord;
use crate::db::{folders, is_unique_violation};
use crate::domain::{FileName, Folder, UserId};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::delete;
use crate::pipeline::state::AppState;

/// Files deleted per query of a folder's names.
const DELETE_BATCH: i64 = 100;

/// Gives the user's file `from` the name `to`; its content, shares, links and
/// history stay with it. A taken `to` is [`Error::FileExists`].
pub async fn rename(
    state: &AppState,
    user: UserId,
    from: &FileName,
    to: &FileName,
    audit: &Audit,
) -> Result<FileRecord, Error> {
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let renamed = match folders::rename(&mut tx, user, from.as_str(), to.as_str()).await {
        Ok(Some(renamed)) => renamed,
        Ok(None) => return Err(Error::NotFound("file")),
        Err(err) if is_unique_violation(&err) => return Err(Error::FileExists(to.to_string())),
        Err(err) => return Err(err.into()),
    };
    audit.note_file(from.as_str(), &renamed.sha256, 0);
    audit.note_detail(format!("to {to}"));
    audit.record(&mut tx, "move").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(user = user.get(), from = %from, to = %to, "file renamed");
    Ok(renamed)
}

/// Moves every file under `from` to the same place under `to`, all or none:
/// when a new name is taken, nothing moves ([`Error::FileExists`] names it).
/// Returns how many files moved.
pub async fn move_folder(
    state: &AppState,
    user: UserId,
    from: &Folder,
    to: &Folder,
    audit: &Audit,
) -> Result<u64, Error> {
    if from.contains(to) {
        return Err(Error::BadRequest(format!(
            "{from} cannot move into itself ({to})"
        )));
    }
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let moved = match folders::move_all(&mut tx, user, from.prefix(), to.prefix()).await? {
        Ok(0) => return Err(Error::NotFound("folder")),
        Ok(moved) => moved,
        Err(taken) => return Err(Error::FileExists(taken)),
    };
    audit.note_name(from.prefix());
    audit.note_detail(format!("to {to}, {moved} files"));
    audit.record(&mut tx, "move").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(user = user.get(), from = %from, to = %to, moved, "folder moved");
    Ok(moved)
}

/// What deleting a folder removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub files: u64,
    pub bytes: i64,
}

/// Deletes every file under `folder`, each as [`delete::delete`] does (its
/// own audit event, its content released). Without `recursive`, a folder
/// that holds files is refused ([`Error::FolderNotEmpty`]): the caller
/// confirms by asking again with it. A failure stops the deletion; what was
/// deleted stays deleted, and asking again finishes it.
pub async fn delete_folder(
    state: &AppState,
    user: UserId,
    folder: &Folder,
    recursive: bool,
    audit: &Audit,
) -> Result<Deleted, Error> {
    let (files, bytes) = folders::totals(state.db.pool(), user, folder.prefix()).await?;
    if files == 0 {
        return Err(Error::NotFound("folder"));
    }
    if !recursive {
        return Err(Error::FolderNotEmpty {
            folder: folder.to_string(),
            files,
            bytes,
        });
    }
    let mut deleted = Deleted::default();
    loop {
        let names = folders::names_under(state.db.pool(), user, folder.prefix(), DELETE_BATCH).await?;
        if names.is_empty() {
            break;
        }
        for name in names {
            let name = FileName::parse(&name)
                .map_err(|err| Error::Internal(anyhow::anyhow!("stored file name is invalid: {err}")))?;
            match delete::delete(state, user, &name, audit).await {
                Ok(record) => {
                    deleted.files += 1;
                    deleted.bytes += record.size;
                }
                // Deleted meanwhile by another request.
                Err(Error::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
    }
    tracing::info!(user = user.get(), folder = %folder, files = deleted.files, "folder deleted");
    Ok(deleted)
}
