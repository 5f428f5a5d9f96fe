//! The upload pipeline: stream → staged blob + SHA-256 → one transaction.

use sha2::{Digest, Sha256};

use crate::auth::UserId;
use crate::db::files::{self, FileRecord, NewFile};
use crate::db::history::Completion;
use crate::db::{blobs, sessions};
use crate::domain::{FileName, content_type, timestamp};
use crate::error::{AppError, is_unique_violation};
use crate::pipeline::active;
use crate::pipeline::attempt::Attempt;
use crate::state::AppState;
use crate::storage::{BlobKey, BlobWriter};

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
pub async fn precheck(state: &AppState, meta: &UploadMeta) -> Result<(), AppError> {
    let named = meta.original_name.as_deref().unwrap_or(meta.file_name.as_str());
    if !state.policy.allowed_extensions.allows(named) {
        return Err(AppError::ExtensionNotAllowed {
            allowed: state.policy.allowed_extensions.as_slice().join(", "),
        });
    }
    if files::exists(state.db.pool(), meta.user, meta.file_name.as_str()).await? {
        return Err(AppError::FileExists(meta.file_name.to_string()));
    }
    Ok(())
}

/// A body being read into a staged blob. Dropping it before [`store`] discards the
/// staged bytes, which is how rejected and interrupted uploads leave nothing behind.
pub struct Ingest {
    writer: Box<dyn BlobWriter>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    pub async fn start(state: &AppState) -> Result<Self, AppError> {
        Ok(Self {
            writer: state.blobs.stage().await?,
            hasher: Sha256::new(),
            size: 0,
            limit: state.policy.max_upload_bytes,
            head: Vec::with_capacity(content_type::SNIFF_LEN),
        })
    }

    /// Takes the next chunk; refuses it (413) before writing if it would pass the limit.
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        let size = self.size.saturating_add(chunk.len() as u64);
        if size > self.limit {
            return Err(AppError::TooLarge { limit: self.limit });
        }
        self.writer.write(chunk).await?;
        self.hasher.update(chunk);
        let room = content_type::SNIFF_LEN.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.size = size;
        Ok(())
    }
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
    ingest: Ingest,
) -> Result<FileRecord, AppError> {
    let Ingest {
        writer,
        hasher,
        size,
        head,
        ..
    } = ingest;
    let key = BlobKey::from_digest(&hasher.finalize().into());
    let named = meta.original_name.as_deref().unwrap_or(meta.file_name.as_str());
    let size = i64::try_from(size).map_err(|_| AppError::TooLarge {
        limit: state.policy.max_upload_bytes,
    })?;
    let new_file = NewFile {
        user_id: meta.user,
        file_name: meta.file_name.to_string(),
        storage_uri: state.blobs.uri(&key),
        description: meta.description,
        summary: String::new(),
        size,
        content_type: content_type::detect(&head, named),
        sha256: key.to_string(),
        created_at: timestamp::now_micros(),
    };

    let mut tx = state.db.begin().await?;
    let record = files::insert(&mut tx, &new_file).await.map_err(|err| {
        if is_unique_violation(&err) {
            AppError::FileExists(new_file.file_name.clone())
        } else {
            err.into()
        }
    })?;
    blobs::add_ref(&mut tx, &key, size).await?;
    let done = Completion {
        file_id: record.id,
        file_name: &record.file_name,
        size,
        content_type: &record.content_type,
        completed_at: timestamp::now_micros(),
    };
    attempt.complete(&mut tx, &done).await?;
    let activated = sessions::set_active(&mut tx, attempt.session(), meta.user, record.id).await?;
    writer.commit(&key).await?;
    tx.commit().await?;
    tracing::info!(user = meta.user, file = %record.file_name, size, sha256 = %key, "file stored");
    match activated {
        Some(change) => active::publish(state, &change, Some(record.clone())).await,
        None => tracing::warn!(session = %attempt.session(), "session gone before its upload completed"),
    }
    Ok(record)
}
