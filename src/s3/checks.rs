//! The checksums an S3 client sends with a body — `Content-MD5` and the
//! `x-amz-checksum-*` values, in the headers or in the aws-chunked trailer
//! that follows the body — computed as the bytes pass and compared before
//! anything is stored.

use md5::{Digest, Md5};
use s3s::S3Result;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{ChecksumAlgorithm, PutObjectInput, UploadPartInput};
use s3s::s3_error;

use crate::pipeline::Error;

/// The checksums an upload's client sent, checked as its bytes pass.
pub(super) struct Checks {
    md5: Option<(Md5, String)>,
    hasher: ChecksumHasher,
    declared: s3s::dto::Checksum,
}

/// The checksums a request declares: `Content-MD5`, the `x-amz-checksum-*`
/// values, and the algorithm of one that follows in the trailer.
struct Declared<'a> {
    content_md5: Option<&'a String>,
    checksums: s3s::dto::Checksum,
    algorithm: Option<&'a ChecksumAlgorithm>,
}

/// What a PutObject's or an UploadPart's input declares: the same fields,
/// in two types.
macro_rules! declared_by {
    ($input:expr) => {
        Declared {
            content_md5: $input.content_md5.as_ref(),
            checksums: s3s::dto::Checksum {
                checksum_crc32: $input.checksum_crc32.clone(),
                checksum_crc32c: $input.checksum_crc32c.clone(),
                checksum_sha1: $input.checksum_sha1.clone(),
                checksum_sha256: $input.checksum_sha256.clone(),
                checksum_crc64nvme: $input.checksum_crc64nvme.clone(),
                checksum_type: None,
            },
            algorithm: $input.checksum_algorithm.as_ref(),
        }
    };
}

impl Checks {
    pub(super) fn of_object(input: &PutObjectInput) -> S3Result<Self> {
        Self::new(declared_by!(input))
    }

    pub(super) fn of_part(input: &UploadPartInput) -> S3Result<Self> {
        Self::new(declared_by!(input))
    }

    fn new(declared: Declared<'_>) -> S3Result<Self> {
        let Declared {
            content_md5,
            checksums: declared,
            algorithm,
        } = declared;
        let mut hasher = ChecksumHasher::default();
        let algorithm = algorithm.map(ChecksumAlgorithm::as_str);
        if declared.checksum_crc32.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32) {
            hasher.crc32 = Some(Default::default());
        }
        if declared.checksum_crc32c.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32C) {
            hasher.crc32c = Some(Default::default());
        }
        if declared.checksum_sha1.is_some() || algorithm == Some(ChecksumAlgorithm::SHA1) {
            hasher.sha1 = Some(Default::default());
        }
        if declared.checksum_sha256.is_some() || algorithm == Some(ChecksumAlgorithm::SHA256) {
            hasher.sha256 = Some(Default::default());
        }
        if declared.checksum_crc64nvme.is_some() || algorithm == Some(ChecksumAlgorithm::CRC64NVME) {
            hasher.crc64nvme = Some(Default::default());
        }
        let known = [
            ChecksumAlgorithm::CRC32,
            ChecksumAlgorithm::CRC32C,
            ChecksumAlgorithm::SHA1,
            ChecksumAlgorithm::SHA256,
            ChecksumAlgorithm::CRC64NVME,
        ];
        if let Some(other) = algorithm.filter(|algorithm| !known.contains(algorithm)) {
            return Err(s3_error!(
                InvalidArgument,
                "checksum algorithm {other:?} is not supported"
            ));
        }
        Ok(Self {
            md5: content_md5.map(|expected| (Md5::new(), expected.clone())),
            hasher,
            declared,
        })
    }

    /// No checksum at all: a copy, whose bytes are checked against their CID.
    pub(super) fn none() -> Self {
        Self {
            md5: None,
            hasher: ChecksumHasher::default(),
            declared: s3s::dto::Checksum::default(),
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        if let Some((md5, _)) = &mut self.md5 {
            md5.update(bytes);
        }
        self.hasher.update(bytes);
    }

    /// Compares what was computed with what was declared, in the headers or
    /// (sent after the body) the trailer; returns the checksums to answer with.
    pub(super) fn verify(self, trailer: Option<&axum::http::HeaderMap>) -> Result<s3s::dto::Checksum, Error> {
        if let Some((md5, expected)) = self.md5 {
            let computed = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5.finalize());
            if computed != expected.trim() {
                return Err(Error::ChecksumMismatch {
                    algorithm: "Content-MD5",
                });
            }
        }
        let mut declared = self.declared;
        if let Some(trailer) = trailer {
            let read = |name: &str| {
                trailer
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            declared.checksum_crc32 = declared.checksum_crc32.or(read("x-amz-checksum-crc32"));
            declared.checksum_crc32c = declared.checksum_crc32c.or(read("x-amz-checksum-crc32c"));
            declared.checksum_sha1 = declared.checksum_sha1.or(read("x-amz-checksum-sha1"));
            declared.checksum_sha256 = declared.checksum_sha256.or(read("x-amz-checksum-sha256"));
            declared.checksum_crc64nvme = declared.checksum_crc64nvme.or(read("x-amz-checksum-crc64nvme"));
        }
        let computed = self.hasher.finalize();
        for (algorithm, declared, computed) in [
            ("CRC32", &declared.checksum_crc32, &computed.checksum_crc32),
            ("CRC32C", &declared.checksum_crc32c, &computed.checksum_crc32c),
            ("SHA1", &declared.checksum_sha1, &computed.checksum_sha1),
            ("SHA256", &declared.checksum_sha256, &computed.checksum_sha256),
            (
                "CRC64NVME",
                &declared.checksum_crc64nvme,
                &computed.checksum_crc64nvme,
            ),
        ] {
            if let Some(declared) = declared
                && Some(declared) != computed.as_ref()
            {
                return Err(Error::ChecksumMismatch { algorithm });
            }
        }
        Ok(computed)
    }
}
