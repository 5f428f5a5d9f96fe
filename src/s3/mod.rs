//! The S3 API: a user's files over Amazon S3's REST protocol, on a listener
//! of its own (`s3_api_addr`), for the tools that speak it — boto3, the aws
//! CLI, rclone, pandas through s3fs, polars. The s3s crate parses requests,
//! checks their SigV4 signatures against an API key's S3 secret
//! ([`auth`]) and writes the XML; this module maps each operation onto
//! depot's files: a user's files are one bucket named after the username,
//! an object's key is a file's name (so prefixes are folders), and every
//! upload goes through the one upload workflow, so profiles, CIDs, dedup,
//! quotas, rate limits and the audit trail apply as on the REST API
//! ([`call`]).

mod auth;
mod buckets;
mod call;
mod checks;
mod error;
mod multipart;
mod objects;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput, CreateMultipartUploadInput,
    CreateMultipartUploadOutput, DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput,
    DeleteObjectsOutput, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListMultipartUploadsInput, ListMultipartUploadsOutput, ListObjectsInput,
    ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, ListPartsInput, ListPartsOutput,
    PutObjectInput, PutObjectOutput, UploadPartInput, UploadPartOutput,
};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::pipeline::state::AppState;

/// depot's files as S3 operations.
#[derive(Debug, Clone)]
pub struct S3Api {
    state: AppState,
}

/// The S3 API's router: every request goes to the S3 service, which names
/// the bucket in the path (`/ann/reports/q1.csv`) or — for requests to
/// `ann.<domain>` when `domain` is set — in the host.
pub fn router(state: AppState, domain: Option<&str>) -> anyhow::Result<Router> {
    let service = service(state.clone(), domain)?;
    let router = Router::new()
        .fallback(move |request: Request| handle(service.clone(), state.clone(), request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    Ok(router)
}

fn service(state: AppState, domain: Option<&str>) -> anyhow::Result<S3Service> {
    let mut builder = S3ServiceBuilder::new(S3Api { state: state.clone() });
    builder.set_auth(auth::KeyAuth::new(state));
    // Buckets are usernames, which S3's bucket rules (3 to 63 lower-case
    // letters, digits, dots and hyphens) would not all pass.
    builder.set_validation(auth::Usernames);
    if let Some(domain) = domain {
        builder.set_host(VirtualHosts::new(domain)?);
    }
    Ok(builder.build())
}

/// Virtual-host-style buckets: a request to `ann.<domain>` (on any port)
/// names the bucket `ann`; one to the domain itself, or to any other host
/// (an address, a proxy's name), names it in the path.
#[derive(Debug)]
struct VirtualHosts {
    domain: String,
}

impl VirtualHosts {
    fn new(domain: &str) -> anyhow::Result<Self> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        anyhow::ensure!(
            !domain.is_empty() && !domain.contains([':', '/']),
            "s3_api_domain {domain:?} is not a domain name (e.g. s3.example.org)"
        );
        Ok(Self { domain })
    }
}

impl s3s::host::S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<s3s::host::VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
        let bucket = name
            .strip_suffix(self.domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|bucket| !bucket.is_empty());
        let virtual_host = s3s::host::VirtualHost::new(name);
        Ok(match bucket {
            Some(bucket) => virtual_host.with_bucket(bucket),
            None => virtual_host,
        })
    }
}

/// One request: its client's address noted for the audit trail and the
/// rate limits, then the S3 service's answer.
async fn handle(service: S3Service, state: AppState, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    if let Some(peer) = peer {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        let client = state.limits.client_behind(peer, forwarded);
        parts.extensions.insert(call::ClientAddress(client));
    }
    let request = Request::from_parts(parts, s3s::Body::http_body_unsync(body));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match service.call(request).await {
        Ok(response) => {
            tracing::info!(%method, %path, status = response.status().as_u16(), "s3 request");
            response.map(axum::body::Body::new)
        }
        Err(err) => {
            tracing::error!(%method, %path, error = ?err, "s3 request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list_buckets(self, req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head_bucket(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::get_bucket_location(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        buckets::list_objects_v2(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        buckets::list_objects(self, req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head_object(self, req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get_object(self, req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put_object(self, req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        objects::copy_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        objects::delete_object(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        objects::delete_objects(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(self, req).await
    }
}
