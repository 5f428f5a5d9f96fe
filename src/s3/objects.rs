//! Objects: a user's files by name. Reads are checked against the CID as
//! on every download route; writes go through the one upload workflow, with
//! the checksums S3 clients send (`Content-MD5`, `x-amz-checksum-*`, in the
//! headers or a trailer) checked before anything is stored. An object's ETag
//! is its SHA-256, as the REST API's; its `x-amz-meta-*` are the file's
//! metadata.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use s3s::dto::{
    CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, ETag, ETagCondition, GetObjectInput,
    GetObjectOutput, HeadObjectInput, HeadObjectOutput, Metadata, MetadataDirective, PutObjectInput,
    PutObjectOutput, StreamingBlob, Timestamp,
};
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::db::files::{self, FileRecord};
use crate::domain::byte_range::ByteRange;
use crate::domain::{FileMetadata, FileName, content_type};
use crate::pipeline::Error;
use crate::pipeline::attempt::Announcement;
use crate::pipeline::limits::Limit;
use crate::pipeline::upload::{Upload, UploadMeta};
use crate::pipeline::{content, delete, transfer};
use crate::profile::Format;
use crate::s3::S3Api;
use crate::s3::call::{Call, Needs};
use crate::s3::checks::Checks;
use crate::s3::error::{from_db, from_pipeline};
use crate::storage::ByteStream;

/// An object's ETag: its content's SHA-256.
pub(super) fn etag_of(file: &FileRecord) -> ETag {
    ETag::Strong(file.sha256.clone())
}

/// A time depot keeps (microseconds) as S3 shows it.
pub(super) fn modified_at(micros: i64) -> Timestamp {
    let nanos = i128::from(micros) * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .into()
}

/// Whole seconds since the epoch, as HTTP dates compare.
fn seconds(timestamp: &Timestamp) -> i64 {
    time::OffsetDateTime::from(timestamp.clone()).unix_timestamp()
}

/// The file's metadata as `x-amz-meta-*`: its top-level values, strings as
/// they are and other scalars as JSON text (nested values have no header form).
fn metadata_of(file: &FileRecord) -> Option<Metadata> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&file.metadata).ok()?;
    let metadata: Metadata = object
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(text) => Some((key, text)),
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => None,
            scalar => Some((key, scalar.to_string())),
        })
        .collect();
    (!metadata.is_empty()).then_some(metadata)
}

/// `x-amz-meta-*` as a file's metadata (≤ 64 keys, 16 KiB, as everywhere).
pub(super) fn metadata_from(metadata: Option<Metadata>) -> Result<FileMetadata, Error> {
    let object: serde_json::Map<String, serde_json::Value> = metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::String(value)))
        .collect();
    Ok(FileMetadata::from_object(object)?)
}

/// The caller's file named `key`; a key that cannot be a name names nothing.
async fn find(api: &S3Api, call: &Call, key: &str) -> S3Result<FileRecord> {
    let Ok(name) = FileName::parse(key) else {
        return Err(s3_error!(NoSuchKey));
    };
    files::find(api.state.db.pool(), call.user, name.as_str())
        .await
        .map_err(from_db)?
        .ok_or_else(|| s3_error!(NoSuchKey))
}

/// The conditional headers of a read, in RFC 9110's order: a failed
/// `If-Match` or `If-Unmodified-Since` is 412, a matching `If-None-Match` or
/// an unchanged `If-Modified-Since` is 304.
fn preconditions(
    file: &FileRecord,
    if_match: Option<&ETagCondition>,
    if_unmodified_since: Option<&Timestamp>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = modified_at(file.created_at);
    let matches = |condition: &ETagCondition| {
        condition.is_any()
            || condition
                .as_etag()
                .is_some_and(|etag| etag.value() == file.sha256)
    };
    match (if_match, if_unmodified_since) {
        (Some(condition), _) if !matches(condition) => {
            return Err(s3_error!(
                PreconditionFailed,
                "the object's ETag does not match If-Match"
            ));
        }
        (None, Some(since)) if seconds(&modified) > seconds(since) => {
            return Err(s3_error!(
                PreconditionFailed,
                "the object was modified since If-Unmodified-Since"
            ));
        }
        _ => {}
    }
    match (if_none_match, if_modified_since) {
        (Some(condition), _) if matches(condition) => Err(s3_error!(NotModified)),
        (None, Some(since)) if seconds(&modified) <= seconds(since) => Err(s3_error!(NotModified)),
        _ => Ok(()),
    }
}

pub(super) async fn head_object(
    api: &S3Api,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let call = api
        .begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    let input = &req.input;
    call.audit.note_name(&input.key);
    let headed = async {
        let file = find(api, &call, &input.key).await?;
        call.audit.note_file(&file.file_name, &file.sha256, 0);
        preconditions(
            &file,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
        )?;
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(file.size),
            content_type: Some(file.content_type.clone()),
            e_tag: Some(etag_of(&file)),
            last_modified: Some(modified_at(file.created_at)),
            metadata: metadata_of(&file),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "metadata", headed).await
}

pub(super) async fn get_object(
    api: &S3Api,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let (action, success) = if req.input.range.is_some() {
        ("download_range", 206)
    } else {
        ("download", 200)
    };
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Read,
            Limit::Requests,
            success,
        )
        .await?;
    let input = &req.input;
    call.audit.note_name(&input.key);
    let mut sent = 0;
    let got = async {
        let file = find(api, &call, &input.key).await?;
        call.audit.note_file(&file.file_name, &file.sha256, 0);
        preconditions(
            &file,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
        )?;
        let size = u64::try_from(file.size).unwrap_or_default();
        let key = file.blob_key().map_err(from_db)?;
        let (body, length, content_range): (ByteStream, u64, Option<String>) = match &input.range {
            None => (
                content::verified_whole(&api.state, &key)
                    .await
                    .map_err(from_pipeline)?,
                size,
                None,
            ),
            Some(range) => {
                let span = range.check(size)?;
                let range = ByteRange {
                    start: span.start,
                    end: span.end - 1,
                };
                let body = content::verified_range(&api.state, &key, &range, size)
                    .await
                    .map_err(from_pipeline)?;
                (body, range.byte_count(), Some(range.content_range(size)))
            }
        };
        let tracked = transfer::track_download(&api.state, &file, length, body)
            .await
            .map_err(from_pipeline)?;
        sent = i64::try_from(length).unwrap_or(i64::MAX);
        Ok(S3Response::new(GetObjectOutput {
            accept_ranges: Some("bytes".to_owned()),
            body: Some(blob(tracked)),
            content_length: Some(sent),
            content_range,
            content_type: Some(file.content_type.clone()),
            e_tag: Some(etag_of(&file)),
            last_modified: Some(modified_at(file.created_at)),
            metadata: metadata_of(&file),
            ..Default::default()
        }))
    }
    .await;
    api.audited_bytes(&call, action, sent, got).await
}

/// A stream of bytes as an S3 body (which must be `Sync`).
fn blob<S>(stream: S) -> StreamingBlob
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    StreamingBlob::wrap(sync_wrapper::SyncStream::new(stream))
}

/// What to store and how: the name, its metadata and type, and whether it
/// may take the place of a file of that name.
struct Put<'a> {
    key: &'a str,
    metadata: FileMetadata,
    declared_type: Option<&'a str>,
    declared_size: Option<u64>,
    replace: bool,
}

/// Stores `body` as the caller's file through the upload workflow, in the
/// session of the caller's key; nothing is kept when a checksum fails.
async fn store<S, E>(
    api: &S3Api,
    call: &Call,
    put: Put<'_>,
    body: S,
    mut checks: Checks,
    trailer: Option<&s3s::TrailingHeaders>,
) -> Result<(FileRecord, s3s::dto::Checksum), Error>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let state = &api.state;
    let name = FileName::parse(put.key)?;
    let announced = Announcement {
        client_name: put.key.to_owned(),
        stored_name: put.key.to_owned(),
        declared_size: put.declared_size.unwrap_or(0),
        content_type: content_type::detect(&[], put.key),
    };
    let begun = Upload::begin(state, call.user, call.named(), announced, call.audit.clone()).await;
    let (mut upload, _session) = begun?;
    let mut answered = None;
    let received = async {
        if put
            .declared_size
            .is_some_and(|size| size > state.policy.max_upload_bytes)
        {
            return Err(Error::TooLarge {
                limit: state.policy.max_upload_bytes,
            });
        }
        let meta = UploadMeta {
            user: call.user,
            file_name: name,
            original_name: None,
            description: String::new(),
            metadata: put.metadata,
            replace: put.replace,
        };
        upload.expect_file_bytes(put.declared_size);
        upload.check(&meta).await?;
        upload
            .open_body(Format::detect(put.key, put.declared_type.unwrap_or_default()))
            .await?;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| {
                tracing::debug!(error = %err, "an S3 upload's body broke off");
                Error::Interrupted
            })?;
            checks.update(&chunk);
            upload.push(chunk).await?;
        }
        let trailer = trailer.and_then(s3s::TrailingHeaders::take);
        answered = Some(checks.verify(trailer.as_ref())?);
        Ok(meta)
    }
    .await;
    let record = upload.end(received).await?;
    Ok((record, answered.unwrap_or_default()))
}

pub(super) async fn put_object(
    api: &S3Api,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("upload"),
            Limit::Uploads,
            200,
        )
        .await?;
    let S3Request {
        input,
        trailing_headers,
        ..
    } = req;
    call.audit.note_name(&input.key);
    let stored = async {
        if input.key.ends_with('/') {
            return Err(s3_error!(
                InvalidArgument,
                "depot keeps no empty folders: a folder exists while a file is in it, so put the file"
            ));
        }
        if_absent_or_matching(api, &call, &input).await?;
        let checks = Checks::of_object(&input)?;
        let metadata = metadata_from(input.metadata.clone()).map_err(from_pipeline)?;
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let put = Put {
            key: &input.key,
            metadata,
            declared_type: input.content_type.as_deref(),
            declared_size: input.content_length.and_then(|length| u64::try_from(length).ok()),
            replace: !input.if_none_match.as_ref().is_some_and(ETagCondition::is_any),
        };
        let (file, checksum) = store(api, &call, put, body, checks, trailing_headers.as_ref())
            .await
            .map_err(from_pipeline)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag_of(&file)),
            size: Some(file.size),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "upload", stored).await
}

/// A conditional write: `If-None-Match: *` only creates, `If-Match` only
/// replaces the version it names (checked before the body is read; the
/// store's own name check catches a file made meanwhile).
async fn if_absent_or_matching(api: &S3Api, call: &Call, input: &PutObjectInput) -> S3Result<()> {
    if input.if_none_match.is_none() && input.if_match.is_none() {
        return Ok(());
    }
    let existing = match find(api, call, &input.key).await {
        Ok(file) => Some(file),
        Err(err) if *err.code() == s3s::S3ErrorCode::NoSuchKey => None,
        Err(err) => return Err(err),
    };
    if input.if_none_match.as_ref().is_some_and(ETagCondition::is_any) && existing.is_some() {
        return Err(s3_error!(
            PreconditionFailed,
            "the object exists (If-None-Match: *)"
        ));
    }
    if let Some(condition) = &input.if_match {
        let matches = existing.as_ref().is_some_and(|file| {
            condition.is_any()
                || condition
                    .as_etag()
                    .is_some_and(|etag| etag.value() == file.sha256)
        });
        if !matches {
            return Err(s3_error!(
                PreconditionFailed,
                "the object's ETag does not match If-Match"
            ));
        }
    }
    Ok(())
}

pub(super) async fn copy_object(
    api: &S3Api,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("upload"),
            Limit::Uploads,
            200,
        )
        .await?;
    let input = &req.input;
    call.audit.note_name(&input.key);
    let copied = async {
        let CopySource::Bucket {
            bucket, key: source, ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copy from an access point"));
        };
        if **bucket != *input.bucket {
            return Err(s3_error!(NoSuchBucket, "copies stay in your own bucket"));
        }
        let file = find(api, &call, source).await?;
        preconditions(
            &file,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
        )
        .map_err(|err| match err.code() {
            // A copy whose source is unchanged is not "not modified": it fails.
            s3s::S3ErrorCode::NotModified => s3_error!(PreconditionFailed),
            _ => err,
        })?;
        let replacing = input
            .metadata_directive
            .as_ref()
            .is_some_and(|directive| directive.as_str() == MetadataDirective::REPLACE);
        let metadata = if replacing {
            metadata_from(input.metadata.clone()).map_err(from_pipeline)?
        } else {
            FileMetadata::parse(&file.metadata).map_err(|err| from_pipeline(err.into()))?
        };
        if input.key == file.file_name && !replacing {
            return Err(s3_error!(
                InvalidRequest,
                "copying an object onto itself changes nothing; replace its metadata (MetadataDirective REPLACE)"
            ));
        }
        let key = file.blob_key().map_err(from_db)?;
        let body = content::verified_whole(&api.state, &key).await.map_err(from_pipeline)?;
        let put = Put {
            key: &input.key,
            metadata,
            declared_type: Some(&file.content_type),
            declared_size: u64::try_from(file.size).ok(),
            replace: true,
        };
        let (copy, _) = store(api, &call, put, body, Checks::none(), None)
            .await
            .map_err(from_pipeline)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag_of(&copy)),
                last_modified: Some(modified_at(copy.created_at)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "upload", copied).await
}

pub(super) async fn delete_object(
    api: &S3Api,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("delete"),
            Limit::Requests,
            204,
        )
        .await?;
    call.audit.note_name(&req.input.key);
    let deleted = delete_one(api, &call, &req.input.key)
        .await
        .map(|()| S3Response::new(DeleteObjectOutput::default()));
    api.audited(&call, "delete", deleted).await
}

/// Deletes the caller's file `key`; one that is not there is deleted
/// already, as S3 has it.
async fn delete_one(api: &S3Api, call: &Call, key: &str) -> S3Result<()> {
    let Ok(name) = FileName::parse(key) else {
        return Ok(());
    };
    match delete::delete(&api.state, call.user, &name, &call.audit).await {
        Ok(_) | Err(Error::NotFound(_)) => Ok(()),
        Err(err) => Err(from_pipeline(err)),
    }
}

pub(super) async fn delete_objects(
    api: &S3Api,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("delete"),
            Limit::Requests,
            200,
        )
        .await?;
    let delete = &req.input.delete;
    let quiet = delete.quiet.unwrap_or(false);
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for object in &delete.objects {
        match delete_one(api, &call, &object.key).await {
            Ok(()) if quiet => {}
            Ok(()) => deleted.push(DeletedObject {
                key: Some(object.key.clone()),
                ..Default::default()
            }),
            Err(err) => errors.push(error_entry(&object.key, &err)),
        }
    }
    let output = DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    };
    api.audited(&call, "delete", Ok(S3Response::new(output))).await
}

fn error_entry(key: &str, err: &S3Error) -> s3s::dto::Error {
    s3s::dto::Error {
        code: Some(err.code().as_str().to_owned()),
        key: Some(key.to_owned()),
        message: err.message().map(str::to_owned),
        ..Default::default()
    }
}
