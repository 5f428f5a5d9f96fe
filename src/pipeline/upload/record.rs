//! What an upload must satisfy before its bytes are read, and the one
//! transaction that records a received body as a file.

use crate::db::files::{self, FileRecord, NewFile};
use crate::db::history::Completion;
use crate::db::is_unique_violation;
use crate::db::transfers::{self, Direction, NewTransfer};
use crate::db::{blobs, dag, sessions, uploads};
use crate::domain::{FileName, UserId, content_type, timestamp};
use crate::pipeline::Error;
use crate::pipeline::active;
use crate::pipeline::attempt::Attempt;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;

use super::ingest::Received;

/// Who stores what under which name: everything about an upload but its bytes.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub user: UserId,
    pub file_name: FileName,
    /// The client's own name for the bytes (a multipart part's filename), used with
    /// `file_name` to detect the content type.
    pub original_name: Option<String>,
    pub description: String,
}

/// Checks that can be made before any byte is read, so a doomed upload is refused
/// at once: the extension allow-list and the name being free.
pub async fn precheck(state: &AppState, meta: &UploadMeta) -> Result<(), Error> {
    let named = meta.original_name.as_deref().unwrap_or(meta.file_name.as_str());
    if !state.policy.allowed_extensions.allows(named) {
        return Err(Error::ExtensionNotAllowed {
            allowed: state.policy.allowed_extensions.as_slice().join(", "),
        });
    }
    if files::exists(state.db.pool(), meta.user, meta.file_name.as_str()).await? {
        return Err(Error::FileExists(meta.file_name.to_string()));
    }
    Ok(())
}

/// Records the file, completes the attempt's processing record, makes the file its
/// session's active file and commits the blob, all in one transaction: either all
/// of it happened afterwards or none of it did. The blob row lock (see [`blobs`])
/// orders this against a concurrent deletion of the same content. The cache hears
/// of the new active file after the commit.
pub async fn store(
    state: &AppState,
    attempt: &Attempt,
    meta: UploadMeta,
    received: Received,
    audit: &Audit,
) -> Result<FileRecord, Error> {
    let Received {
        writer,
        started_at,
        key,
        dag: tree,
        size,
        head,
        profile,
        upload,
    } = received;
    let (summary, profile) = match profile {
        Some(profile) => (
            profile.summary(),
            serde_json::to_string(&profile).map_err(|err| Error::Internal(err.into()))?,
        ),
        None => (String::new(), String::new()),
    };
    let named = meta.original_name.as_deref().unwrap_or(meta.file_name.as_str());
    let size = i64::try_from(size).map_err(|_| Error::TooLarge {
        limit: state.policy.max_upload_bytes,
    })?;
    let new_file = NewFile {
        user_id: meta.user,
        file_name: meta.file_name.to_string(),
        storage_uri: state.blobs.uri(&key),
        description: meta.description,
        summary,
        profile,
        size,
        content_type: content_type::detect(&head, named),
        sha256: key.to_string(),
        cid: tree.root.to_string(),
        created_at: timestamp::now_micros(),
    };

    let mut tx = state.db.begin().await?;
    let record = files::insert(&mut tx, &new_file).await.map_err(|err| {
        if is_unique_violation(&err) {
            Error::FileExists(new_file.file_name.clone())
        } else {
            err.into()
        }
    })?;
    blobs::add_ref(&mut tx, &key, size).await?;
    if !dag::stored(&mut tx, &key).await? {
        dag::insert(&mut tx, &key, &tree).await?;
    }
    let done = Completion {
        file_id: record.id,
        file_name: &record.file_name,
        size,
        content_type: &record.content_type,
        completed_at: timestamp::now_micros(),
    };
    attempt.complete(&mut tx, &done).await?;
    let streamed = NewTransfer {
        file_id: record.id,
        user_id: meta.user,
        file_name: &record.file_name,
        sha256: &record.sha256,
        direction: Direction::Upload,
        server_role: state.role.as_str(),
        stream_start: started_at,
        stream_complete: Some(done.completed_at),
        bytes_transferred: size,
    };
    transfers::insert(&mut tx, &streamed).await?;
    crate::metrics::uploaded(u64::try_from(size).unwrap_or_default());
    audit.note_file(&record.file_name, &record.sha256, size);
    audit.note_session(&attempt.session().to_string());
    audit.record(&mut tx, "upload").await?;
    if let Some(upload) = upload {
        uploads::delete(&mut tx, upload).await?;
    }
    let activated = sessions::set_active(&mut tx, attempt.session(), meta.user, record.id).await?;
    writer.commit(&key).await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(user = meta.user.get(), file = %record.file_name, size, sha256 = %key, "file stored");
    match activated {
        Some(change) => active::publish(state, &change, Some(record.clone())).await,
        None => tracing::warn!(session = %attempt.session(), "session gone before its upload completed"),
    }
    Ok(record)
}
