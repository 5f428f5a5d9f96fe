//! API keys: `depot_` and 64 hex digits of randomness, so secret scanners
//! can find a leaked one; invite codes likewise, after `depot-invite-`.
//! Only their SHA-256 is stored; with 256 random bits, a slow password hash
//! would add nothing but time on every request.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// What every key starts with.
pub const PREFIX: &str = "depot_";

/// What every invite code starts with.
pub const INVITE_PREFIX: &str = "depot-invite-";

/// A new key's secret, to be shown once, and the digest that is kept.
pub fn generate() -> (String, String) {
    generate_with(PREFIX)
}

/// A new invite's code, to be shown once, and the digest that is kept.
pub fn generate_invite() -> (String, String) {
    generate_with(INVITE_PREFIX)
}

fn generate_with(prefix: &str) -> (String, String) {
    let mut random = [0u8; 32];
    OsRng.fill_bytes(&mut random);
    let secret = format!("{prefix}{}", hex::encode(random));
    let digest = digest(&secret);
    (secret, digest)
}

/// Whether a bearer credential is an API key rather than a token.
pub fn is_key(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

/// The stored form of a key: its SHA-256, in hex.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_kept_as_their_digest() {
        let (first, first_digest) = generate();
        let (second, _) = generate();
        assert!(is_key(&first) && first.len() == PREFIX.len() + 64);
        assert_ne!(first, second);
        assert_eq!(digest(&first), first_digest);
        assert!(!first_digest.contains(&first[PREFIX.len()..]));
    }
}
