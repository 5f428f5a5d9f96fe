//! Link tokens. A link's URL carries its random id and an HMAC of that id
//! under a key derived from the signing secret: the database keeps the id
//! alone, so a copy of it opens no link, yet the owner can be shown the URL
//! again at any time. A token whose MAC does not verify names no link at all;
//! one that verifies was made here, so a link it no longer finds has ended.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::derived::DerivedKey;

/// Keeps the key derived for links apart from every other use of the secret.
const DERIVATION_LABEL: &[u8] = b"depot link key v1";
/// Random bytes in a link's id: 64 bits, shown as 16 hex digits.
const ID_BYTES: usize = 8;
/// MAC bytes in a token: 128 bits, as 22 characters of URL-safe base64.
const MAC_BYTES: usize = 16;
const ID_CHARS: usize = ID_BYTES * 2;

/// Makes and opens link tokens.
#[derive(Debug, Clone)]
pub struct LinkTokens(DerivedKey);

impl LinkTokens {
    /// The key derived from the token signing `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        Self(DerivedKey::derive(secret, DERIVATION_LABEL))
    }

    /// The token of link `id`: the id, then its MAC.
    pub fn token(&self, id: &str) -> String {
        let tag = self.tag(id);
        format!("{id}{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]))
    }

    /// The id a token names, if this key made it (compared in constant time).
    pub fn id_of(&self, token: &str) -> Option<String> {
        let id = token.get(..ID_CHARS)?;
        let given = URL_SAFE_NO_PAD.decode(token.get(ID_CHARS..)?).ok()?;
        if given.len() != MAC_BYTES || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        self.0.mac(id.as_bytes()).verify_truncated_left(&given).ok()?;
        Some(id.to_owned())
    }

    fn tag(&self, id: &str) -> [u8; 32] {
        self.0.mac(id.as_bytes()).finalize().into_bytes().into()
    }
}

/// `text` as a link's id, if it could be one (a client names a link by it).
pub fn parse_id(text: &str) -> Option<&str> {
    (text.len() == ID_CHARS && text.bytes().all(|byte| byte.is_ascii_hexdigit())).then_some(text)
}

/// A new link's id: random, in lowercase hex.
pub fn new_id() -> String {
    let mut random = [0u8; ID_BYTES];
    OsRng.fill_bytes(&mut random);
    hex::encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links shared before an upgrade keep opening after it: the token
    /// computed outside depot (Python's hmac) for one id and signing secret.
    #[test]
    fn a_token_is_what_it_was() {
        let tokens = LinkTokens::derive(b"0123456789abcdef0123456789abcdef");
        assert_eq!(
            tokens.token("0011223344556677"),
            "0011223344556677lz6hADrj_xZ-s4cPd_6sYQ"
        );
    }

    #[test]
    fn a_token_opens_its_link_under_its_key_only() {
        let tokens = LinkTokens::derive(b"0123456789abcdef0123456789abcdef");
        let id = new_id();
        let token = tokens.token(&id);
        assert_eq!(token.len(), 16 + 22);
        assert_eq!(tokens.id_of(&token), Some(id.clone()));

        let other = LinkTokens::derive(b"0123456789abcdef0123456789abcdeF");
        assert_eq!(other.id_of(&token), None, "another deployment's key");
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(tokens.id_of(&String::from_utf8(forged).unwrap()), None);
        assert_eq!(tokens.id_of(&token[..30]), None, "a cut token");
        assert_eq!(tokens.id_of(""), None);
        assert_eq!(tokens.id_of("é"), None);
        assert_ne!(new_id(), id, "ids are random");
    }
}
