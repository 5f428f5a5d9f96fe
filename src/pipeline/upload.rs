//! The upload pipeline: stream → staged blob + SHA-256 → one transaction.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::db::files::{self, FileRecord, NewFile};
use crate::db::history::Completion;
use crate::db::is_unique_violation;
use crate::db::transfers::{self, Direction, NewTransfer};
use crate::db::{blobs, dag, sessions, uploads};
use crate::domain::UserId;
use crate::domain::{FileName, UploadId, content_type, timestamp};
use crate::ipfs::{CidBuilder, Dag};
use crate::pipeline::Error;
use crate::pipeline::active;
use crate::pipeline::attempt::Attempt;
use crate::pipeline::audit::Audit;
use crate::pipeline::side_thread::SideThread;
use crate::pipeline::state::AppState;
use crate::profile::{self, Format, Profile, Profiler};
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

/// A body being read into a staged blob — hashed, addressed by CID and, for
/// datasets, profiled on the way. Dropping it before [`store`] discards the
/// staged bytes, which is how rejected and interrupted uploads leave nothing
/// behind.
pub struct Ingest {
    writer: Box<dyn BlobWriter>,
    /// When the first byte could arrive (microseconds).
    started_at: i64,
    hasher: Sha256,
    cid: SideThread<CidBuilder>,
    profiling: Profiling,
    size: u64,
    limit: u64,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts staging a body; `format` says whether (and how) to profile it.
    pub async fn start(state: &AppState, format: Option<Format>) -> Result<Self, Error> {
        Ok(Self {
            writer: state.blobs.stage().await?,
            started_at: timestamp::now_micros(),
            hasher: Sha256::new(),
            cid: SideThread::start(CidBuilder::default()),
            profiling: Profiling::new(format),
            size: 0,
            limit: state.policy.max_upload_bytes,
        })
    }

    /// Takes the next chunk; refuses it (413) before writing if it would pass the
    /// limit, and (422) as soon as the profiler finds the dataset is one pandas
    /// would refuse.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        let size = self.size.saturating_add(chunk.len() as u64);
        if size > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.profiling.push(&chunk).await?;
        self.cid.push(chunk.clone()).await?;
        self.hasher.update(&chunk);
        self.writer.write(chunk).await?;
        self.size = size;
        Ok(())
    }

    /// Everything the body gave, once every byte has arrived.
    pub async fn finish(mut self) -> Result<Received, Error> {
        let (head, profile) = self.profiling.finish(self.writer.as_mut()).await?;
        Ok(Received {
            writer: self.writer,
            started_at: self.started_at,
            key: BlobKey::from_digest(&self.hasher.finalize().into()),
            dag: self.cid.finish().await?.finish(),
            size: self.size,
            head,
            profile,
            upload: None,
        })
    }
}

/// Profiling a body as it streams: its first bytes (the head) decide whether
/// it is a dataset at all, then the profiler takes the bytes as they come.
#[derive(Debug)]
pub struct Profiling {
    /// How to profile the body, until the head shows whether to.
    format: Option<Format>,
    profiler: Option<SideThread<Profiler>>,
    /// A format profiled from the staged copy once the body is complete.
    profile_staged: Option<Format>,
    head: Vec<u8>,
}

/// [`Profiling`] between two requests of a resumable upload: the profiler
/// off its thread.
#[derive(Debug)]
pub struct PausedProfiling {
    format: Option<Format>,
    profiler: Option<Profiler>,
    profile_staged: Option<Format>,
    head: Vec<u8>,
}

impl Profiling {
    /// `format` says whether (and how) to profile the body.
    pub fn new(format: Option<Format>) -> Self {
        Self {
            format,
            profiler: None,
            profile_staged: None,
            head: Vec::with_capacity(content_type::SNIFF_LEN),
        }
    }

    /// Takes the next chunk; fails (422) as soon as the profiler finds the
    /// dataset is one pandas would refuse.
    pub async fn push(&mut self, chunk: &Bytes) -> Result<(), Error> {
        let room = content_type::SNIFF_LEN.saturating_sub(self.head.len());
        let after_head = chunk.slice(room.min(chunk.len())..);
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if self.head.len() == content_type::SNIFF_LEN {
            if room > 0 {
                self.start_profiler().await?;
            }
            if let Some(profiler) = &mut self.profiler
                && !after_head.is_empty()
            {
                profiler.push(after_head).await?;
            }
        }
        Ok(())
    }

    /// Starts the profiler on the head — unless the format is a text one and
    /// the head's magic bytes say it is an image, an archive or another binary
    /// format, whatever its name: those files get no summary rather than an
    /// `invalid_dataset` error.
    async fn start_profiler(&mut self) -> Result<(), Error> {
        let Some(format) = self
            .format
            .take()
            .filter(|format| worth_profiling(*format, &self.head))
        else {
            return Ok(());
        };
        let Some(profiler) = Profiler::new(format) else {
            self.profile_staged = Some(format);
            return Ok(());
        };
        let mut profiler = SideThread::start(profiler);
        profiler.push(Bytes::copy_from_slice(&self.head)).await?;
        self.profiler = Some(profiler);
        Ok(())
    }

    /// The head and the dataset profile, once every byte has arrived; a
    /// format that needs random access is read from what `writer` staged.
    pub async fn finish(mut self, writer: &mut dyn BlobWriter) -> Result<(Vec<u8>, Option<Profile>), Error> {
        if self.head.len() < content_type::SNIFF_LEN {
            self.start_profiler().await?;
        }
        let profile = match (self.profiler.take(), self.profile_staged) {
            (Some(profiler), _) => profiler.finish().await?,
            (None, Some(format)) => profile_staged(writer, format).await?,
            (None, None) => None,
        };
        Ok((self.head, profile))
    }

    /// Stops until the next request; fails (422) if the bytes so far are not a
    /// dataset pandas would read.
    pub async fn pause(self) -> Result<PausedProfiling, Error> {
        let profiler = match self.profiler {
            Some(profiler) => Some(profiler.pause().await?),
            None => None,
        };
        Ok(PausedProfiling {
            format: self.format,
            profiler,
            profile_staged: self.profile_staged,
            head: self.head,
        })
    }

    /// Goes on where [`Profiling::pause`] stopped.
    pub fn resume(paused: PausedProfiling) -> Self {
        Self {
            format: paused.format,
            profiler: paused.profiler.map(SideThread::start),
            profile_staged: paused.profile_staged,
            head: paused.head,
        }
    }
}

/// Whether a file of `format` that begins with `head` is worth profiling: not
/// when the format is a text one and the head's magic bytes say it is an
/// image, an archive or another binary format, whatever its name. Those files
/// get no summary rather than an `invalid_dataset` error.
pub fn worth_profiling(format: Format, head: &[u8]) -> bool {
    !(format.is_text()
        && infer::get(head).is_some_and(|kind| kind.matcher_type() != infer::MatcherType::Text))
}

/// Profiles the bytes a writer has staged, read back from the start (on the
/// blocking pool); `None` where the store cannot read them back.
pub async fn profile_staged(writer: &mut dyn BlobWriter, format: Format) -> Result<Option<Profile>, Error> {
    let Some(reader) = writer.staged_reader().await? else {
        return Ok(None);
    };
    let profiled = tokio::task::spawn_blocking(move || profile::profile_file(format, reader))
        .await
        .map_err(|err| Error::Internal(anyhow::anyhow!("the profiler failed: {err}")))?;
    Ok(profiled.map_err(crate::storage::StorageError::from)??)
}

/// A body received whole into a staged blob, hashed, addressed and profiled:
/// what [`store`] records.
pub struct Received {
    pub writer: Box<dyn BlobWriter>,
    /// When the body began to stream in (a resumable upload: its creation).
    pub started_at: i64,
    pub key: BlobKey,
    pub dag: Dag,
    pub size: u64,
    /// The first [`content_type::SNIFF_LEN`] bytes.
    pub head: Vec<u8>,
    pub profile: Option<Profile>,
    /// The resumable upload the body completes, removed in the same transaction.
    pub upload: Option<UploadId>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("key", &self.key)
            .field("size", &self.size)
            .finish_non_exhaustive()
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
    tracing::info!(user = meta.user, file = %record.file_name, size, sha256 = %key, "file stored");
    match activated {
        Some(change) => active::publish(state, &change, Some(record.clone())).await,
        None => tracing::warn!(session = %attempt.session(), "session gone before its upload completed"),
    }
    Ok(record)
}
