//! The last step of a resumable upload: its hashes finished, its dataset
//! profiled (from the staged bytes if the profiler did not see them all),
//! and the file stored like any other upload.

use super::lock::UploadLock;
use super::{Status, checkpoint_of, client_name, discard};
use crate::db::uploads::UploadRow;
use crate::domain::{FileMetadata, FileName, content_type};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{self, Digests, Profiling, Received, Upload, UploadMeta};
use crate::profile::Format;
use crate::storage::{BlobWriter, ResumableWriter};

/// What the last request of an upload computed on the way: the hashes of
/// every byte, and the profiler if it saw them all.
pub(super) struct Hashed {
    pub digests: Digests,
    pub profiling: Option<Profiling>,
}

/// Stores the completed upload as a file; if that fails, the upload is removed
/// and its record says why.
pub(super) async fn complete(
    state: &AppState,
    lock: UploadLock,
    row: UploadRow,
    mut writer: Box<dyn ResumableWriter>,
    hashed: Hashed,
    audit: &Audit,
) -> Result<Status, Error> {
    let id = lock.id;
    let user = row.user_id;
    let mut upload = Upload::resume(state, checkpoint_of(&row)?, audit.clone());
    let received = async {
        upload.processing().await?;
        let meta = UploadMeta {
            user,
            file_name: FileName::parse(&row.file_name).map_err(|err| Error::Internal(err.into()))?,
            original_name: Some(row.filename.clone()).filter(|name| !name.is_empty()),
            description: row.description.clone(),
            metadata: FileMetadata::parse(&row.file_metadata).map_err(|err| Error::Internal(err.into()))?,
            replace: row.replace_existing != 0,
        };
        let (head, profile) = match hashed.profiling {
            Some(profiling) => profiling.finish(writer.as_mut()).await?,
            None => profile_from_staged(writer.as_mut(), client_name(&row)).await?,
        };
        let (key, dag) = hashed.digests.finish();
        let received = Received {
            writer,
            started_at: row.created_at,
            key,
            dag,
            size: u64::try_from(row.length).unwrap_or_default(),
            head,
            profile,
            upload: Some(id),
            held_as: Some(id.to_string()),
        };
        Ok((meta, received))
    }
    .await;
    let stored = match received {
        Ok((meta, received)) => upload.finish_received(meta, received).await,
        Err(err) => Err(upload.abort(err).await),
    };
    match stored {
        Ok(file) => {
            lock.forget();
            Ok(Status {
                id,
                offset: u64::try_from(file.size).unwrap_or_default(),
                length: u64::try_from(file.size).unwrap_or_default(),
                metadata: row.metadata,
                expires_at: row.expires_at,
                file: Some(file),
            })
        }
        Err(err) => {
            if let Err(remove_err) = discard(state, id, &row).await {
                tracing::warn!(upload = %id, error = %remove_err, "could not remove a failed upload");
            }
            lock.forget();
            Err(err)
        }
    }
}

/// The head and profile of what a writer staged, read back from the store: for
/// an upload whose profiler did not see every byte (a request on another node,
/// a restart, a request that was refused).
async fn profile_from_staged(
    writer: &mut dyn BlobWriter,
    named: &str,
) -> Result<(Vec<u8>, Option<crate::profile::Profile>), Error> {
    let head = match writer.staged_reader().await? {
        Some(reader) => {
            let head = tokio::task::spawn_blocking(move || {
                let mut head = Vec::with_capacity(content_type::SNIFF_LEN);
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(reader, content_type::SNIFF_LEN as u64),
                    &mut head,
                )
                .map(|_| head)
            })
            .await
            .map_err(|err| Error::Internal(err.into()))?;
            head.map_err(crate::storage::StorageError::from)?
        }
        None => Vec::new(),
    };
    let profile = match Format::detect(named, "").filter(|format| upload::worth_profiling(*format, &head)) {
        Some(format) => upload::profile_staged(writer, format).await?,
        None => None,
    };
    Ok((head, profile))
}
