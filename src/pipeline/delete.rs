//! Deleting a file: its row, one reference to its blob, the blob itself when that
//! was the last reference, and its place as the active file of any session.

use crate::auth::UserId;
use crate::db::files::{self, FileRecord};
use crate::db::{blobs, sessions};
use crate::domain::FileName;
use crate::error::AppError;
use crate::pipeline::active;
use crate::state::AppState;

pub async fn delete(state: &AppState, user: UserId, file_name: &FileName) -> Result<FileRecord, AppError> {
    let mut tx = state.db.begin().await?;
    // The row lock first: a concurrent "make it active" either finished before
    // (and is cleared here) or waits and then finds the file gone.
    let locked = files::lock_owned(&mut tx, user, file_name.as_str())
        .await?
        .ok_or(AppError::NotFound("file"))?;
    let cleared = sessions::clear_active_file(&mut tx, locked.id).await?;
    let record = files::delete(&mut tx, user, file_name.as_str())
        .await?
        .ok_or(AppError::NotFound("file"))?;
    let key = record.blob_key()?;
    // The blob goes while the row lock is held, so an upload of the same content
    // waiting on that lock re-creates both the row and the blob after us.
    if blobs::release(&mut tx, &key).await? {
        state.blobs.delete(&key).await?;
    }
    tx.commit().await?;
    for change in &cleared {
        active::publish(state, change, None).await;
    }
    tracing::info!(user, file = %record.file_name, sha256 = %key, "file deleted");
    Ok(record)
}
