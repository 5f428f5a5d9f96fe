//! What an upload must satisfy before its bytes are read, and the one
//! transaction that records a received body as a file.

use std::sync::Arc;

use crate::db::files::{self, FileRecord, NewFile};
use crate::db::history::Completion;
use crate::db::is_unique_violation;
use crate::db::sessions::ActiveChange;
use crate::db::transfers::{self, Direction, NewTransfer};
use crate::db::{backups, blobs, dag, ipfs_pins, sessions, uploads};
use crate::domain::{FileMetadata, FileName, SessionId, UploadId, UserId, content_type, timestamp};
use crate::ipfs::Dag;
use crate::pipeline::Error;
use crate::pipeline::active;
use crate::pipeline::attempt::{Attempt, Completing};
use crate::pipeline::audit::Audit;
use crate::pipeline::delete::{self, Unused};
use crate::pipeline::group_commit::Batch;
use crate::pipeline::quota::{self, Quota};
use crate::pipeline::state::AppState;
use crate::storage::{BlobKey, BlobStore, BlobWriter};

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
    /// The uploader's own metadata (seed 3's `metadata`).
    pub metadata: FileMetadata,
    /// Take the place of a file of the same name, if there is one
    /// (`?replace=true`), rather than be refused with `file_exists`.
    pub replace: bool,
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
    if !meta.replace && files::exists(state.db.pool(), meta.user, meta.file_name.as_str()).await? {
        return Err(Error::FileExists(meta.file_name.to_string()));
    }
    Ok(())
}

/// Records the file, completes the attempt's processing record, makes the file
/// its session's active file and appends its audit event, all in one
/// transaction — shared with the uploads that end at the same moment (see
/// [`GroupCommit`](crate::pipeline::group_commit)): either all of it happened
/// afterwards or none of it did. The cache hears of the new active file after
/// the commit.
///
/// New content's bytes are made durable at their content address first,
/// outside the database's write lock: bytes no file refers to are harmless,
/// and are removed again if the transaction does not take them ([`unplace`]).
/// Content the database already knows is committed inside the transaction,
/// after its row's lock is taken, as a deletion of the last file with that
/// content removes the bytes under the same lock.
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
        held_as,
    } = received;
    let quota = Quota::of(state, meta.user).await?;
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
    let mut stored = Stored {
        file: NewFile {
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
            metadata: meta.metadata,
        },
        key: key.clone(),
        tree,
        completing: attempt.completing(),
        session: attempt.session(),
        started_at,
        server_role: state.role.as_str(),
        upload,
        quota,
        held_as,
        replace: meta.replace,
        publish: state.ipfs.is_some(),
        audit: audit.clone(),
        blobs: state.blobs.clone(),
        writer: None,
    };
    if blobs::known(state.db.pool(), &key).await? {
        stored.writer = Some(writer);
    } else {
        writer.commit(&key).await?;
    }
    let recorded = state
        .commits
        .run(move |batch| Box::pin(async move { stored.record(batch).await }))
        .await;
    let (record, activated, replaced) = match recorded {
        Ok(recorded) => recorded,
        Err(err) => {
            unplace(state, &key).await;
            return Err(err);
        }
    };
    audit.committed();
    crate::metrics::uploaded(u64::try_from(size).unwrap_or_default());
    tracing::info!(user = meta.user.get(), file = %record.file_name, size, sha256 = %key, "file stored");
    if let Some(replaced) = replaced {
        tracing::info!(user = meta.user.get(), file = %record.file_name, sha256 = %replaced.old.sha256, "file replaced");
        for change in &replaced.cleared {
            active::publish(state, change, None).await;
        }
    }
    match activated {
        Some(change) => active::publish(state, &change, Some(record.clone())).await,
        None => tracing::warn!(session = %attempt.session(), "session gone before its upload completed"),
    }
    Ok(record)
}

/// Everything the transaction that stores an upload writes.
struct Stored {
    file: NewFile,
    key: BlobKey,
    tree: Dag,
    completing: Completing,
    session: SessionId,
    started_at: i64,
    server_role: &'static str,
    upload: Option<UploadId>,
    quota: Quota,
    /// The reservation that held room for the bytes.
    held_as: Option<String>,
    /// Whether a file of the same name is replaced.
    replace: bool,
    /// Whether the content is to be published to an IPFS node.
    publish: bool,
    audit: Audit,
    blobs: Arc<dyn BlobStore>,
    /// The staged bytes, for content the database knew: committed under its
    /// row's lock.
    writer: Option<Box<dyn BlobWriter>>,
}

impl Stored {
    async fn record(self, batch: &mut Batch<'_>) -> Result<Recorded, Error> {
        let replaced = if self.replace {
            remove_replaced(batch.conn(), self.file.user_id, &self.file.file_name).await?
        } else {
            None
        };
        if let Some(replaced) = &replaced {
            self.audit
                .note_detail(format!("replaced sha256 {}", replaced.old.sha256));
        }
        let record = files::insert(batch.conn(), &self.file).await.map_err(|err| {
            if is_unique_violation(&err) {
                Error::FileExists(self.file.file_name.clone())
            } else {
                err.into()
            }
        })?;
        let size = self.file.size;
        quota::count_stored(
            batch.conn(),
            self.file.user_id,
            self.quota,
            size,
            self.held_as.as_deref(),
        )
        .await?;
        let count = blobs::add_ref(batch.conn(), &self.key, size).await?;
        if self.publish {
            ipfs_pins::want_pinned(batch.conn(), &record.sha256, &record.cid).await?;
        }
        match self.writer {
            Some(writer) => writer.commit(&self.key).await?,
            // Placed as new content; but if another upload of the same content
            // recorded it meanwhile, and a deletion then removed it, it is gone.
            None if count == 1 => ensure_placed(&*self.blobs, &self.key).await?,
            None => {}
        }
        if !dag::stored(batch.conn(), &self.key).await? {
            dag::insert(batch.conn(), &self.key, &self.tree).await?;
        }
        let done = Completion {
            file_id: record.id,
            file_name: &record.file_name,
            size,
            content_type: &record.content_type,
            completed_at: timestamp::now_micros(),
        };
        self.completing.write(batch.conn(), &done).await?;
        let streamed = NewTransfer {
            file_id: record.id,
            user_id: self.file.user_id,
            file_name: &record.file_name,
            sha256: &record.sha256,
            direction: Direction::Upload,
            server_role: self.server_role,
            stream_start: self.started_at,
            stream_complete: Some(done.completed_at),
            bytes_transferred: size,
        };
        transfers::insert(batch.conn(), &streamed).await?;
        self.audit.note_file(&record.file_name, &record.sha256, size);
        self.audit.note_session(&self.session.to_string());
        batch.audit(self.audit.change_event("upload"));
        if let Some(upload) = self.upload {
            uploads::delete(batch.conn(), upload).await?;
        }
        let activated =
            sessions::set_active(batch.conn(), self.session, self.file.user_id, record.id).await?;
        Ok((record, activated, replaced))
    }
}

/// The new file, its session's new active file, and the file it replaced.
type Recorded = (FileRecord, Option<ActiveChange>, Option<Replaced>);

/// The file an upload with `replace` took the place of, and the sessions
/// that had it active.
struct Replaced {
    old: FileRecord,
    cleared: Vec<ActiveChange>,
}

/// Takes `user`'s file `file_name`, if there is one, out of the way of a new
/// file of that name, in the transaction that records the new one, as a
/// deletion would: its sessions' active file cleared, then
/// [`delete::take_out`]. Its shares and links end with it (they were given
/// for the old bytes). Content left unused is not removed inside the shared
/// transaction: its removal is scheduled, and the sweep of scheduled removals
/// takes it unless an upload uses it again first.
async fn remove_replaced(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    file_name: &str,
) -> Result<Option<Replaced>, Error> {
    let Some(old) = files::lock_owned(conn, user, file_name).await? else {
        return Ok(None);
    };
    let cleared = sessions::clear_active_file(conn, old.id).await?;
    delete::take_out(conn, &old, Unused::Schedule).await?;
    Ok(Some(Replaced { old, cleared }))
}

/// Fails the upload if its bytes are gone from their content address.
async fn ensure_placed(blobs: &dyn BlobStore, key: &BlobKey) -> Result<(), Error> {
    match blobs.size(key).await? {
        Some(_) => Ok(()),
        None => {
            tracing::warn!(sha256 = %key, "a deletion of the same content removed an upload's bytes before it was recorded");
            Err(Error::Unavailable(
                "the content, removed by a concurrent deletion; send it again",
            ))
        }
    }
}

/// Removes the bytes an upload placed, if its transaction did not record them
/// and no file refers to them: under the blob row's lock, as a deletion does,
/// so an upload of the same content that is recording them waits, then finds
/// them gone ([`ensure_placed`]) rather than recording missing bytes. A
/// failure here leaves them to the cleanup job, which reaps unreferenced bytes.
async fn unplace(state: &AppState, key: &BlobKey) {
    let removed = async {
        let mut tx = state.db.begin().await?;
        if blobs::hold_unused(&mut tx, key).await? {
            let now = timestamp::now_micros();
            if backups::holding(&mut tx, now).await? {
                // Content a backup's snapshot may have: the sweep takes it later.
                blobs::defer_cleanup(&mut tx, key, now).await?;
            } else {
                state.blobs.delete(key).await?;
                blobs::forget(&mut tx, key).await?;
            }
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    }
    .await;
    if let Err(err) = removed {
        tracing::warn!(sha256 = %key, error = %err, "could not remove the bytes of an upload that was not recorded");
    }
}
