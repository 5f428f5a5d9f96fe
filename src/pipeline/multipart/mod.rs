//! Uploads in numbered parts (the S3 API's multipart uploads). Parts arrive
//! in any order, in parallel, each in a request of its own; each is staged,
//! hashed and stored as content — a reference in `blobs`, as a file's, so
//! its bytes are shared with identical content and removed with its last
//! reference. The chosen parts, in order, become the file through the one
//! upload workflow ([`Upload`]): the file gets its SHA-256, CID and
//! profile, its quota check and audit event, as any upload. Their bytes go
//! through it while the parts arrive, as far as they arrive in order
//! ([`assembly`]); completing streams the rest, or all of them again when
//! that head start does not fit the parts chosen. Then, or when the upload
//! is aborted or expires (`upload_expiry` after it began, by the cleanup
//! job), the parts let go of their content.

mod assembly;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::db::files::FileRecord;
use crate::db::multipart::{self, MultipartUpload, Part};
use crate::domain::timestamp::{self, now_micros};
use crate::domain::{BlobKey, FileMetadata, FileName, UploadId, UserId, content_type};
use crate::pipeline::Error;
use crate::pipeline::attempt::Announcement;
use crate::pipeline::audit::Audit;
use crate::pipeline::delete::{Unused, release_content};
use crate::pipeline::quota::{self, Quota};
use crate::pipeline::session::Named;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::{Upload, UploadMeta};
use crate::profile::Format;
use crate::storage::BlobWriter;

pub use self::assembly::Assemblies;

/// The highest part number, as S3's.
pub const MAX_PART_NUMBER: i32 = 10_000;

/// Uploads expired per round of [`expire`].
const EXPIRED_PER_ROUND: i64 = 100;

/// Begins an upload in parts of a file to be named `name`.
pub async fn create(
    state: &AppState,
    user: UserId,
    name: &FileName,
    metadata: &FileMetadata,
    content_type: &str,
) -> Result<MultipartUpload, Error> {
    let now = now_micros();
    let upload = MultipartUpload {
        // Random, as a resumable upload's id.
        id: UploadId::new_random().to_string(),
        user_id: user,
        file_name: name.to_string(),
        metadata: metadata.as_json().to_owned(),
        content_type: content_type.to_owned(),
        created_at: now,
        expires_at: timestamp::after(now, state.policy.upload_expiry).unwrap_or(i64::MAX),
    };
    let mut conn = state.db.pool().acquire().await?;
    multipart::insert(&mut conn, &upload).await?;
    tracing::info!(user = user.get(), upload = %upload.id, file = %name, "multipart upload begun");
    Ok(upload)
}

/// `user`'s upload `id`; anyone else's is not found.
pub async fn find(state: &AppState, user: UserId, id: &str) -> Result<MultipartUpload, Error> {
    multipart::find(state.db.pool(), user, id)
        .await?
        .ok_or(Error::NotFound("upload"))
}

/// A part's bytes, staged and hashed, not stored yet: the caller checks
/// what its client declared of them first, and [`commit_part`]s them or
/// drops them (which leaves nothing).
pub struct StagedPart {
    writer: Box<dyn BlobWriter>,
    key: BlobKey,
    size: i64,
}

impl std::fmt::Debug for StagedPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedPart")
            .field("key", &self.key)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Stages a part's body, of `declared` bytes if the client said: refused
/// at once (or as soon as it passes) when it is larger than an upload may
/// be, or when it does not fit in the user's quota beside their files and
/// the parts they hold already. Each chunk is shown to `observe` (the
/// client's checksums) on the way. `verified` is the body's SHA-256 when
/// the stream itself proves it (it fails rather than end with other
/// bytes), so that it need not be computed again.
pub async fn stage_part<S, E>(
    state: &AppState,
    upload: &MultipartUpload,
    declared: Option<u64>,
    verified: Option<BlobKey>,
    body: S,
    mut observe: impl FnMut(&Bytes),
) -> Result<StagedPart, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let limit = state.policy.max_upload_bytes;
    if declared.is_some_and(|size| size > limit) {
        return Err(Error::TooLarge { limit });
    }
    let quota = Quota::of(state, upload.user_id).await?;
    if !quota.is_unlimited() {
        let held = multipart::pending_bytes(state.db.pool(), upload.user_id).await?;
        let needed = declared.unwrap_or(0) + u64::try_from(held).unwrap_or(0);
        quota::precheck(state, upload.user_id, quota, needed).await?;
    }
    let mut writer = state.blobs.stage().await?;
    let mut sha256 = verified.is_none().then(Sha256::new);
    let mut size: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| {
            tracing::debug!(error = %err, "a part's body broke off");
            Error::Interrupted
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::TooLarge { limit });
        }
        observe(&chunk);
        if let Some(sha256) = &mut sha256 {
            sha256.update(&chunk);
        }
        writer.write(chunk).await?;
    }
    let key = match (verified, sha256) {
        (Some(key), _) => key,
        (None, Some(sha256)) => BlobKey::from_digest(&sha256.finalize().into()),
        (None, None) => unreachable!("a hasher is made when no digest is given"),
    };
    Ok(StagedPart {
        writer,
        key,
        size: i64::try_from(size).unwrap_or(i64::MAX),
    })
}

/// Stores a staged part as part `number` of `upload`, in place of one of
/// that number uploaded before. Not found when the upload ended meanwhile.
pub async fn commit_part(
    state: &AppState,
    upload: &MultipartUpload,
    number: i32,
    staged: StagedPart,
) -> Result<Part, Error> {
    let StagedPart { writer, key, size } = staged;
    let now = now_micros();
    let mut tx = state.db.begin().await?;
    multipart::lock(&mut tx, &upload.id)
        .await?
        .ok_or(Error::NotFound("upload"))?;
    // The content's row lock, then its bytes: a deletion of the same content
    // waits, and a first reference makes the bytes durable under it.
    if crate::db::blobs::add_ref(&mut tx, &key, size).await? == 1 {
        writer.commit(&key).await?;
    }
    if let Some(replaced) = multipart::put_part(&mut tx, &upload.id, number, key.as_str(), size, now).await? {
        let replaced = crate::db::blobs::stored_key(&replaced)?;
        release_content(&mut tx, &replaced, Unused::RemoveNow(state)).await?;
    }
    tx.commit().await?;
    // Beside the client's next parts, not before this one's answer.
    let (state, upload) = (state.clone(), upload.clone());
    tokio::spawn(async move { state.assemblies.advance(&state, &upload, number).await });
    Ok(Part {
        part_number: number,
        sha256: key.to_string(),
        size,
        created_at: now,
    })
}

/// Completes `upload`: `parts`, in their order, become the file, through
/// the upload workflow (working in the session `named`), in place of a
/// file of the name if there is one; then the upload and all its parts go.
pub async fn complete(
    state: &AppState,
    upload: &MultipartUpload,
    parts: &[Part],
    named: Named,
    audit: &Audit,
) -> Result<FileRecord, Error> {
    let name = FileName::parse(&upload.file_name)?;
    let total: i64 = parts.iter().map(|part| part.size).sum();
    let announced = Announcement {
        client_name: upload.file_name.clone(),
        stored_name: upload.file_name.clone(),
        declared_size: u64::try_from(total).unwrap_or(0),
        content_type: content_type::detect(&[], &upload.file_name),
    };
    let streamed = state.assemblies.take(state, upload, parts).await;
    let assembled_early = streamed.is_some();
    let (mut file_upload, _session) =
        Upload::begin(state, upload.user_id, named, announced, audit.clone()).await?;
    let received = async {
        let meta = UploadMeta {
            user: upload.user_id,
            file_name: name,
            original_name: None,
            description: String::new(),
            metadata: FileMetadata::parse(&upload.metadata)?,
            replace: true,
        };
        file_upload.expect_file_bytes(u64::try_from(total).ok());
        file_upload.check(&meta).await?;
        if let Some(ingest) = streamed {
            file_upload.processing().await?;
            return Ok((meta, Some(ingest.finish().await?)));
        }
        file_upload
            .open_body(Format::detect(&upload.file_name, &upload.content_type))
            .await?;
        for part in parts {
            let key = crate::db::blobs::stored_key(&part.sha256)?;
            let mut bytes = state.blobs.read(&key, None).await?;
            while let Some(chunk) = bytes.next().await {
                file_upload
                    .push(chunk.map_err(|err| Error::Internal(err.into()))?)
                    .await?;
            }
        }
        Ok((meta, None))
    }
    .await;
    let file = match received {
        Ok((meta, Some(body))) => file_upload.finish_received(meta, body).await?,
        Ok((meta, None)) => file_upload.finish(meta).await?,
        Err(err) => return Err(file_upload.abort(err).await),
    };
    crate::metrics::multipart_completed(assembled_early);
    end(state, &upload.id).await?;
    tracing::info!(user = upload.user_id.get(), upload = %upload.id, file = %file.file_name, parts = parts.len(), "multipart upload completed");
    Ok(file)
}

/// Aborts `user`'s upload `id`: its parts let go of their content.
pub async fn abort(state: &AppState, user: UserId, id: &str) -> Result<(), Error> {
    find(state, user, id).await?;
    end(state, id).await
}

/// Removes upload `id` and lets go of its parts' contents; nothing when it
/// ended already.
async fn end(state: &AppState, id: &str) -> Result<(), Error> {
    state.assemblies.forget(id);
    let mut tx = state.db.begin().await?;
    if multipart::lock(&mut tx, id).await?.is_none() {
        return Ok(());
    }
    for content in multipart::remove(&mut tx, id).await? {
        let key = crate::db::blobs::stored_key(&content)?;
        release_content(&mut tx, &key, Unused::RemoveNow(state)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends the uploads whose time ran out, and drops this node's idle
/// assemblies; returns how many uploads ended.
pub async fn expire(state: &AppState) -> Result<u64, Error> {
    state.assemblies.sweep();
    let mut ended = 0;
    loop {
        let expired = multipart::expired(state.db.pool(), now_micros(), EXPIRED_PER_ROUND).await?;
        if expired.is_empty() {
            return Ok(ended);
        }
        for (id, user) in expired {
            end(state, &id).await?;
            tracing::info!(user = user.get(), upload = %id, "multipart upload expired");
            ended += 1;
        }
    }
}

/// Ends every upload of `user` (their account going).
pub async fn end_all_of(state: &AppState, user: UserId) -> Result<(), Error> {
    loop {
        let ids = multipart::ids_of(state.db.pool(), user, EXPIRED_PER_ROUND).await?;
        if ids.is_empty() {
            return Ok(());
        }
        for id in ids {
            end(state, &id).await?;
        }
    }
}
