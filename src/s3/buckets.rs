//! Buckets and listings. Each user has one bucket, named after them; its
//! objects are their files, listed in byte order of their names, by folder
//! level with `delimiter=/` (folders as common prefixes).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{
    Bucket, CommonPrefix, GetBucketLocationInput, GetBucketLocationOutput, HeadBucketInput, HeadBucketOutput,
    ListBucketsInput, ListBucketsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, Owner,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::db::files::FileRecord;
use crate::db::{folders, users};
use crate::pipeline::limits::Limit;
use crate::s3::S3Api;
use crate::s3::call::{Call, Needs};
use crate::s3::error::from_db;
use crate::s3::objects::{etag_of, modified_at};

/// The most keys one listing returns, as S3's.
const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` leaves as it is in a key: S3's unreserved
/// characters and the folder separator.
const KEY_IN_URL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

pub(super) async fn list_buckets(
    api: &S3Api,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let call = api.begin(&req, None, Needs::Read, Limit::Requests, 200).await?;
    let listed = async {
        let (username, created) = users::name_and_created(api.state.db.pool(), call.user)
            .await
            .map_err(from_db)?
            .ok_or_else(|| s3_error!(AccessDenied))?;
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(vec![Bucket {
                name: Some(username.clone()),
                creation_date: Some(modified_at(created)),
                ..Default::default()
            }]),
            owner: Some(Owner {
                display_name: Some(username),
                id: Some(call.user.get().to_string()),
            }),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "list", listed).await
}

pub(super) async fn head_bucket(
    api: &S3Api,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    api.begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    Ok(S3Response::new(HeadBucketOutput::default()))
}

pub(super) async fn get_bucket_location(
    api: &S3Api,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    api.begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    // No constraint: the default region, whichever a client signs with.
    Ok(S3Response::new(GetBucketLocationOutput::default()))
}

/// One page of a listing.
struct Page {
    objects: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    /// The last key or common prefix returned, when more follow.
    next: Option<String>,
}

/// Up to `max_keys` objects and common prefixes under `prefix`, after `after`.
async fn page(
    api: &S3Api,
    call: &Call,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: i32,
    url_encoded: bool,
) -> S3Result<Page> {
    let limit = usize::try_from(max_keys.clamp(0, MAX_KEYS)).unwrap_or_default();
    let encode = |text: &str| {
        if url_encoded {
            utf8_percent_encode(text, KEY_IN_URL).to_string()
        } else {
            text.to_owned()
        }
    };
    let pool = api.state.db.pool();
    let mut page = Page {
        objects: Vec::new(),
        prefixes: Vec::new(),
        next: None,
    };
    if limit == 0 {
        return Ok(page);
    }
    let mut keys = Vec::new();
    match delimiter {
        None => {
            let mut files = folders::under(pool, call.user, prefix, after, limit + 1)
                .await
                .map_err(from_db)?;
            if files.len() > limit {
                files.truncate(limit);
                page.next = files.last().map(|file| file.file_name.clone());
            }
            for file in files {
                keys.push(file.file_name.clone());
                page.objects.push(object(file, &encode));
            }
        }
        Some("/") => {
            let mut entries = folders::level(pool, call.user, prefix, after, limit + 1)
                .await
                .map_err(from_db)?;
            if entries.len() > limit {
                entries.truncate(limit);
                page.next = entries.last().map(|entry| entry.key().to_owned());
            }
            for entry in entries {
                match entry {
                    folders::Entry::File(file) => page.objects.push(object(*file, &encode)),
                    folders::Entry::Folder(folder) => page.prefixes.push(CommonPrefix {
                        prefix: Some(encode(&folder)),
                    }),
                }
            }
        }
        Some(other) => {
            return Err(s3_error!(
                InvalidArgument,
                "delimiter {other:?}: depot's folders are separated by `/`, the only delimiter it lists by"
            ));
        }
    }
    Ok(page)
}

fn object(file: FileRecord, encode: &impl Fn(&str) -> String) -> Object {
    Object {
        e_tag: Some(etag_of(&file)),
        key: Some(encode(&file.file_name)),
        last_modified: Some(modified_at(file.created_at)),
        size: Some(file.size),
        ..Default::default()
    }
}

fn url_encoded(encoding: Option<&s3s::dto::EncodingType>) -> bool {
    encoding.is_some_and(|encoding| encoding.as_str() == "url")
}

pub(super) async fn list_objects_v2(
    api: &S3Api,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let call = api
        .begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    let input = &req.input;
    call.audit.note_name(input.prefix.as_deref().unwrap_or_default());
    let listed = async {
        let after = match (input.continuation_token.as_deref(), input.start_after.as_deref()) {
            (Some(token), Some(start)) => Some(token.max(start)),
            (token, start) => token.or(start),
        };
        let max_keys = input.max_keys.unwrap_or(MAX_KEYS);
        let encoded = url_encoded(input.encoding_type.as_ref());
        let prefix = input.prefix.as_deref().unwrap_or_default();
        let page = page(
            api,
            &call,
            prefix,
            input.delimiter.as_deref(),
            after,
            max_keys,
            encoded,
        )
        .await?;
        let count = page.objects.len() + page.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: input.prefix.clone(),
            max_keys: Some(max_keys.min(MAX_KEYS)),
            key_count: Some(i32::try_from(count).unwrap_or(MAX_KEYS)),
            continuation_token: input.continuation_token.clone(),
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next,
            contents: Some(page.objects),
            common_prefixes: Some(page.prefixes),
            delimiter: input.delimiter.clone(),
            encoding_type: input.encoding_type.clone(),
            start_after: input.start_after.clone(),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "list", listed).await
}

pub(super) async fn list_objects(
    api: &S3Api,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let call = api
        .begin(&req, Some(&req.input.bucket), Needs::Read, Limit::Requests, 200)
        .await?;
    let input = &req.input;
    call.audit.note_name(input.prefix.as_deref().unwrap_or_default());
    let listed = async {
        let max_keys = input.max_keys.unwrap_or(MAX_KEYS);
        let encoded = url_encoded(input.encoding_type.as_ref());
        let prefix = input.prefix.as_deref().unwrap_or_default();
        let page = page(
            api,
            &call,
            prefix,
            input.delimiter.as_deref(),
            input.marker.as_deref(),
            max_keys,
            encoded,
        )
        .await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: input.prefix.clone(),
            marker: input.marker.clone(),
            max_keys: Some(max_keys.min(MAX_KEYS)),
            is_truncated: Some(page.next.is_some()),
            // Sent whether or not a delimiter was: v1 clients page by it.
            next_marker: page.next,
            contents: Some(page.objects),
            common_prefixes: Some(page.prefixes),
            delimiter: input.delimiter.clone(),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        }))
    }
    .await;
    api.audited(&call, "list", listed).await
}
