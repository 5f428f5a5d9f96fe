//! How an event's `hash` is made. Events written since migration
//! `0011_audit_keyed` are keyed: their hash is an HMAC-SHA256 under the audit
//! key, which is not kept in the database, so someone who can write the
//! database cannot forge a chain that verifies. Events written before are
//! kept as they were — the SHA-256 of the same fields — and still verify.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::NewEvent;

/// How an event's hash was made (`audit_events.key_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyVersion {
    /// The SHA-256 of the fields, unkeyed (events from before the chain was keyed).
    Unkeyed = 0,
    /// An HMAC-SHA256 of the fields under the audit key.
    Keyed = 1,
}

/// The key of the audit chain: `DEPOT_AUDIT_KEY`, or derived from the token
/// signing secret.
#[derive(Clone)]
pub struct ChainKey(Arc<[u8; 32]>);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey([redacted])")
    }
}

/// Keeps a key derived for the chain apart from any other use of the secret.
const DERIVATION_LABEL: &[u8] = b"depot audit chain key v1";

impl ChainKey {
    /// The key derived from `secret` (at least 32 bytes, checked by the caller):
    /// an HMAC of a fixed label under it, so the chain never uses the token
    /// signing key itself.
    pub fn derive(secret: &[u8]) -> Self {
        Self(Arc::new(mac(secret, &[DERIVATION_LABEL])))
    }

    /// The HMAC-SHA256 (hex) of `parts` under this key.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        hex::encode(mac(&self.0[..], parts))
    }

    /// Whether `signature` (hex) is this key's HMAC of `parts`, compared in
    /// constant time.
    pub fn verifies(&self, parts: &[&[u8]], signature: &str) -> bool {
        let Ok(tag) = hex::decode(signature) else {
            return false;
        };
        let mut mac = keyed(&self.0[..]);
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(&tag).is_ok()
    }
}

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// An event's fields and link as one JSON array, in a fixed order. The
/// reason and then the detail, added later, end the array when there are
/// any (a detail brings its reason along, empty or not, so the two cannot be
/// mistaken for each other), so the events written before them (and those
/// without) hash as they always did.
fn canonical(id: i64, prev_hash: &str, event: &NewEvent) -> String {
    let mut fields = serde_json::json!([
        id,
        event.at,
        event.actor,
        event.session_id,
        event.action,
        event.file_name,
        event.content_key,
        event.bytes,
        event.outcome,
        event.client_ip,
        event.request_id,
        event.server_role,
        prev_hash,
    ]);
    if let Some(fields) = fields.as_array_mut() {
        if !event.reason.is_empty() || !event.detail.is_empty() {
            fields.push(event.reason.as_str().into());
        }
        if !event.detail.is_empty() {
            fields.push(event.detail.as_str().into());
        }
    }
    fields.to_string()
}

/// The hash of an event made the way `version` says.
pub fn event_hash(version: KeyVersion, key: &ChainKey, id: i64, prev_hash: &str, event: &NewEvent) -> String {
    let canonical = canonical(id, prev_hash, event);
    match version {
        KeyVersion::Unkeyed => hex::encode(Sha256::digest(canonical.as_bytes())),
        KeyVersion::Keyed => key.sign(&[b"depot audit event v1\n", canonical.as_bytes()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyed_hash_needs_the_key_and_an_unkeyed_one_does_not() {
        let event = NewEvent {
            action: "upload".into(),
            file_name: "a.csv".into(),
            ..NewEvent::default()
        };
        let key = ChainKey::derive(b"0123456789abcdef0123456789abcdef");
        let other = ChainKey::derive(b"0123456789abcdef0123456789abcdeF");
        let keyed = event_hash(KeyVersion::Keyed, &key, 1, "00", &event);
        assert_ne!(keyed, event_hash(KeyVersion::Keyed, &other, 1, "00", &event));
        assert_ne!(keyed, event_hash(KeyVersion::Keyed, &key, 2, "00", &event));
        assert_eq!(
            event_hash(KeyVersion::Unkeyed, &key, 1, "00", &event),
            event_hash(KeyVersion::Unkeyed, &other, 1, "00", &event)
        );
        assert!(key.verifies(&[b"x"], &key.sign(&[b"x"])));
        assert!(!other.verifies(&[b"x"], &key.sign(&[b"x"])));
        assert!(!key.verifies(&[b"x"], "not hex"));
    }

    #[test]
    fn a_reason_is_hashed_and_an_event_without_one_hashes_as_before() {
        let event = NewEvent {
            action: "upload".into(),
            outcome: 413,
            ..NewEvent::default()
        };
        let fields: serde_json::Value = serde_json::from_str(&canonical(1, "00", &event)).unwrap();
        assert_eq!(
            fields.as_array().map(Vec::len),
            Some(13),
            "the fields before reasons"
        );
        let refused = NewEvent {
            reason: "quota_exceeded".into(),
            ..event.clone()
        };
        let key = ChainKey::derive(b"0123456789abcdef0123456789abcdef");
        assert_ne!(
            event_hash(KeyVersion::Keyed, &key, 1, "00", &event),
            event_hash(KeyVersion::Keyed, &key, 1, "00", &refused)
        );
    }

    #[test]
    fn a_detail_is_hashed_and_never_read_as_a_reason() {
        let key = ChainKey::derive(b"0123456789abcdef0123456789abcdef");
        let hash = |reason: &str, detail: &str| {
            let event = NewEvent {
                action: "download".into(),
                reason: reason.into(),
                detail: detail.into(),
                ..NewEvent::default()
            };
            event_hash(KeyVersion::Keyed, &key, 1, "00", &event)
        };
        assert_ne!(hash("", ""), hash("", "via link 1"));
        assert_ne!(
            hash("x", ""),
            hash("", "x"),
            "a detail without a reason is not a reason"
        );
        assert_ne!(hash("a", "b"), hash("", "b"));
    }
}
