//! S3 credentials of API keys. A key's access key id is random and stored
//! beside it; its secret access key is an HMAC of that id under a key
//! derived from the signing secret, so it is never stored: a copy of the
//! database signs no request, and every node computes the same secret.
//! SigV4 needs the secret itself on the server (it recomputes the
//! signature), which is why it cannot be kept as a digest, as the API key is.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::derived::DerivedKey;

/// Keeps the key derived for S3 secrets apart from every other use of the secret.
const DERIVATION_LABEL: &[u8] = b"depot s3 secret key v1";
/// What every access key id starts with, as AWS's start with `AKIA`.
const ACCESS_KEY_PREFIX: &str = "DPT";
/// Random characters after the prefix: 17 of base32 (85 bits), 20 in all,
/// the length of AWS's access key ids.
const ACCESS_KEY_RANDOM_CHARS: usize = 17;
/// The secret's bytes: 30, as 40 characters of URL-safe base64 (AWS's length).
const SECRET_BYTES: usize = 30;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Computes the secret access key of an access key id.
#[derive(Debug, Clone)]
pub struct S3Secrets(DerivedKey);

impl S3Secrets {
    /// The key derived from the token signing `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        Self(DerivedKey::derive(secret, DERIVATION_LABEL))
    }

    /// The secret access key that goes with `access_key_id`.
    pub fn secret_for(&self, access_key_id: &str) -> String {
        let tag: [u8; 32] = self
            .0
            .mac(access_key_id.as_bytes())
            .finalize()
            .into_bytes()
            .into();
        URL_SAFE_NO_PAD.encode(&tag[..SECRET_BYTES])
    }
}

/// A new access key id: `DPT` and 17 random base32 characters.
pub fn new_access_key_id() -> String {
    let mut random = [0u8; ACCESS_KEY_RANDOM_CHARS];
    OsRng.fill_bytes(&mut random);
    let mut id = String::from(ACCESS_KEY_PREFIX);
    id.extend(
        random
            .iter()
            .map(|byte| char::from(BASE32[usize::from(byte % 32)])),
    );
    id
}

/// Whether `text` could be an access key id depot made (checked before a lookup).
pub fn is_access_key_id(text: &str) -> bool {
    text.len() == ACCESS_KEY_PREFIX.len() + ACCESS_KEY_RANDOM_CHARS
        && text.starts_with(ACCESS_KEY_PREFIX)
        && text.bytes().all(|byte| BASE32.contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_per_id_and_per_signing_secret() {
        let secrets = S3Secrets::derive(b"0123456789abcdef0123456789abcdef");
        let (first, second) = (new_access_key_id(), new_access_key_id());
        assert!(is_access_key_id(&first) && first.len() == 20 && first != second);
        let secret = secrets.secret_for(&first);
        assert_eq!(secret.len(), 40);
        assert_eq!(secret, secrets.secret_for(&first));
        assert_ne!(secret, secrets.secret_for(&second));
        let other = S3Secrets::derive(b"another secret, 32 bytes or more");
        assert_ne!(secret, other.secret_for(&first));
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPLE") && !is_access_key_id("DPTabc"));
    }

    /// Secrets handed out before an upgrade stay valid after it: the value
    /// computed outside depot (Python's hmac) for one id and signing secret.
    #[test]
    fn a_secret_is_what_it_was() {
        let secrets = S3Secrets::derive(b"0123456789abcdef0123456789abcdef");
        assert_eq!(
            secrets.secret_for("DPTAAAAAAAAAAAAAAAAA"),
            "rjCJcPQGY6d0uxgaoIX7FVokybPiLPJGio_fCmrC"
        );
    }
}
