//! Multipart uploads: the way S3 clients send large files, in parts of
//! their choosing, several at once. Parts are stored as they come
//! ([`crate::pipeline::multipart`]); completing the upload streams the
//! chosen ones, in order, through the upload workflow as one file. A part's
//! ETag is its SHA-256, the completed file's its own SHA-256.

use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, ETag,
    ListMultipartUploadsInput, ListMultipartUploadsOutput, ListPartsInput, ListPartsOutput, MultipartUpload,
    Part, UploadPartInput, UploadPartOutput,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::db::multipart as db_multipart;
use crate::domain::{BlobKey, FileName, UserId};
use crate::pipeline::limits::Limit;
use crate::pipeline::multipart::{self, MAX_PART_NUMBER};
use crate::s3::S3Api;
use crate::s3::call::Needs;
use crate::s3::checks::Checks;
use crate::s3::error::{from_db, from_pipeline};
use crate::s3::objects::{etag_of, metadata_from, modified_at};

/// The most parts or uploads one listing returns, as S3's.
const MAX_LISTED: i32 = 1000;

/// `user`'s upload `id` for `key`: any other is `NoSuchUpload`.
async fn upload_of(
    api: &S3Api,
    user: UserId,
    id: &str,
    key: &str,
) -> S3Result<db_multipart::MultipartUpload> {
    match multipart::find(&api.state, user, id).await {
        Ok(upload) if upload.file_name == key => Ok(upload),
        Ok(_) | Err(crate::pipeline::Error::NotFound(_)) => Err(s3_error!(NoSuchUpload)),
        Err(err) => Err(from_pipeline(err)),
    }
}

pub(super) async fn create_multipart_upload(
    api: &S3Api,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("upload_start"),
            Limit::Uploads,
            200,
        )
        .await?;
    let input = &req.input;
    call.audit.note_name(&input.key);
    let created = async {
        let name = FileName::parse(&input.key).map_err(|err| from_pipeline(err.into()))?;
        let metadata = metadata_from(input.metadata.clone()).map_err(from_pipeline)?;
        let content_type = input.content_type.clone().unwrap_or_default();
        let upload = multipart::create(&api.state, call.user, &name, &metadata, &content_type)
            .await
            .map_err(from_pipeline)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            upload_id: Some(upload.id),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "upload_start", created).await
}

pub(super) async fn upload_part(
    api: &S3Api,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("upload"),
            Limit::Uploads,
            200,
        )
        .await?;
    // A signed payload's SHA-256 (not `UNSIGNED-PAYLOAD` nor a streaming
    // one): s3s checks the body against it, failing the stream otherwise.
    let verified = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| BlobKey::parse(&value.to_ascii_lowercase()));
    let S3Request {
        input,
        trailing_headers,
        ..
    } = req;
    call.audit.note_name(&input.key);
    let stored = async {
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "part numbers go from 1 to {MAX_PART_NUMBER}"
            ));
        }
        let upload = upload_of(api, call.user, &input.upload_id, &input.key).await?;
        let mut checks = Checks::of_part(&input)?;
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let declared = input.content_length.and_then(|length| u64::try_from(length).ok());
        let staged = multipart::stage_part(&api.state, &upload, declared, verified, body, |chunk| {
            checks.update(chunk)
        })
        .await
        .map_err(from_pipeline)?;
        let trailer = trailing_headers.as_ref().and_then(s3s::TrailingHeaders::take);
        // A part whose checksum fails is dropped unstored.
        let checksum = checks.verify(trailer.as_ref()).map_err(from_pipeline)?;
        let part = multipart::commit_part(&api.state, &upload, input.part_number, staged)
            .await
            .map_err(|err| match err {
                crate::pipeline::Error::NotFound(_) => s3_error!(NoSuchUpload),
                err => from_pipeline(err),
            })?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.sha256)),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            ..Default::default()
        }))
    }
    .await;
    // A part is a step of an upload, as a tus PATCH is: no event of its own
    // unless it fails.
    match stored {
        Ok(stored) => Ok(stored),
        failed => api.audited(&call, "upload", failed).await,
    }
}

pub(super) async fn complete_multipart_upload(
    api: &S3Api,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
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
    let completed = async {
        let upload = upload_of(api, call.user, &input.upload_id, &input.key).await?;
        let chosen = chosen_parts(api, &upload, input).await?;
        let file = multipart::complete(&api.state, &upload, &chosen, call.named(), &call.audit)
            .await
            .map_err(from_pipeline)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(file.file_name.clone()),
            e_tag: Some(etag_of(&file)),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "upload", completed).await
}

/// The stored parts the client lists, in its (ascending) order, each
/// with the ETag it was answered: `InvalidPart` for one not stored or of
/// another ETag, `InvalidPartOrder` when out of order.
async fn chosen_parts(
    api: &S3Api,
    upload: &db_multipart::MultipartUpload,
    input: &CompleteMultipartUploadInput,
) -> S3Result<Vec<db_multipart::Part>> {
    let stored = db_multipart::parts(api.state.db.pool(), &upload.id)
        .await
        .map_err(from_db)?;
    let listed = input
        .multipart_upload
        .as_ref()
        .and_then(|upload| upload.parts.as_ref())
        .filter(|parts| !parts.is_empty())
        .ok_or_else(|| s3_error!(MalformedXML, "name the parts to complete the upload with"))?;
    let mut chosen: Vec<db_multipart::Part> = Vec::with_capacity(listed.len());
    for part in listed {
        let number = part
            .part_number
            .ok_or_else(|| s3_error!(InvalidPart, "a part has no number"))?;
        if chosen.last().is_some_and(|last| last.part_number >= number) {
            return Err(s3_error!(
                InvalidPartOrder,
                "parts must be listed in ascending order"
            ));
        }
        let found = stored
            .iter()
            .find(|stored| stored.part_number == number)
            .ok_or_else(|| s3_error!(InvalidPart, "part {number} was not uploaded"))?;
        if let Some(etag) = &part.e_tag
            && etag.value() != found.sha256
        {
            return Err(s3_error!(InvalidPart, "part {number} has another ETag"));
        }
        chosen.push(found.clone());
    }
    Ok(chosen)
}

pub(super) async fn abort_multipart_upload(
    api: &S3Api,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let call = api
        .begin(
            &req,
            Some(&req.input.bucket),
            Needs::Write("upload_cancel"),
            Limit::Requests,
            204,
        )
        .await?;
    let input = &req.input;
    call.audit.note_name(&input.key);
    let aborted = async {
        let upload = upload_of(api, call.user, &input.upload_id, &input.key).await?;
        multipart::abort(&api.state, call.user, &upload.id)
            .await
            .map_err(from_pipeline)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
    .await;
    api.audited(&call, "upload_cancel", aborted).await
}

pub(super) async fn list_parts(
    api: &S3Api,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let call = api
        .begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    let input = &req.input;
    let upload = upload_of(api, call.user, &input.upload_id, &input.key).await?;
    let after = input.part_number_marker.unwrap_or(0);
    let most = usize::try_from(input.max_parts.unwrap_or(MAX_LISTED).clamp(1, MAX_LISTED)).unwrap_or(1);
    let mut parts: Vec<db_multipart::Part> = db_multipart::parts(api.state.db.pool(), &upload.id)
        .await
        .map_err(from_db)?
        .into_iter()
        .filter(|part| part.part_number > after)
        .collect();
    let truncated = parts.len() > most;
    parts.truncate(most);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(upload.id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: parts.last().map(|part| part.part_number),
        max_parts: input.max_parts,
        is_truncated: Some(truncated),
        parts: Some(
            parts
                .into_iter()
                .map(|part| Part {
                    e_tag: Some(ETag::Strong(part.sha256)),
                    last_modified: Some(modified_at(part.created_at)),
                    part_number: Some(part.part_number),
                    size: Some(part.size),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }))
}

pub(super) async fn list_multipart_uploads(
    api: &S3Api,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let call = api
        .begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    let input = &req.input;
    let most = input.max_uploads.unwrap_or(MAX_LISTED).clamp(1, MAX_LISTED);
    let prefix = input.prefix.as_deref().unwrap_or_default();
    let mut uploads = db_multipart::of_user(api.state.db.pool(), call.user, prefix, i64::from(most) + 1)
        .await
        .map_err(from_db)?;
    let truncated = uploads.len() > usize::try_from(most).unwrap_or(0);
    uploads.truncate(usize::try_from(most).unwrap_or(0));
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        max_uploads: Some(most),
        is_truncated: Some(truncated),
        uploads: Some(
            uploads
                .into_iter()
                .map(|upload| MultipartUpload {
                    initiated: Some(modified_at(upload.created_at)),
                    key: Some(upload.file_name),
                    upload_id: Some(upload.id),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }))
}
