//! Keys derived from the token signing secret, one per use (a label keeps
//! them apart), each an HMAC-SHA256 key: link tokens ([`super::link`]) and
//! S3 secret access keys ([`super::s3_keys`]) are MACs under one.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct DerivedKey([u8; 32]);

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey([redacted])")
    }
}

impl DerivedKey {
    /// The key for the use `label` names, derived from the signing `secret`.
    pub fn derive(secret: &[u8], label: &[u8]) -> Self {
        let mut mac = keyed(secret);
        mac.update(label);
        Self(mac.finalize().into_bytes().into())
    }

    /// The MAC of `message` under this key, to finish or verify.
    pub fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = keyed(&self.0);
        mac.update(message);
        mac
    }
}

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}
