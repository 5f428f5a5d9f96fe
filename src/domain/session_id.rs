//! A session's id: a UUID, kept in its lower-case hyphenated form.

use std::fmt;

use uuid::Uuid;

/// The id of a working session (seed 2's `session`), from a path segment, a form
/// field, the `X-Session-Id` header or the `depot_session` cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Uuid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a session id (a UUID such as 0b6c1c1e-4a59-4a43-9f3e-2d1b3c4d5e6f)")]
pub struct SessionIdError(String);

impl SessionId {
    /// Accepts every UUID spelling (hyphenated, simple, braced, `urn:uuid:`), any case.
    pub fn parse(raw: &str) -> Result<Self, SessionIdError> {
        let shown: String = raw.chars().take(64).collect();
        Uuid::try_parse(raw.trim())
            .map(Self)
            .map_err(|_| SessionIdError(shown))
    }

    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id named by `name`, the same every time: the session that
    /// everything one client does without naming a session works in (an API
    /// key's S3 uploads).
    pub fn derived(name: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn every_spelling_of_a_uuid_names_the_same_session(bytes in any::<[u8; 16]>()) {
            let uuid = Uuid::from_bytes(bytes);
            let canonical = SessionId::parse(&uuid.hyphenated().to_string()).unwrap();
            for spelling in [
                uuid.simple().to_string(),
                uuid.braced().to_string(),
                uuid.urn().to_string(),
                uuid.hyphenated().to_string().to_uppercase(),
            ] {
                prop_assert_eq!(SessionId::parse(&spelling).unwrap(), canonical);
            }
            prop_assert_eq!(canonical.to_string(), uuid.hyphenated().to_string());
        }

        #[test]
        fn text_that_is_not_a_uuid_is_refused(raw in "[^0-9a-fA-F]{0,40}") {
            prop_assert!(SessionId::parse(&raw).is_err());
        }
    }

    #[test]
    fn the_error_shows_a_bounded_prefix_of_the_input() {
        let err = SessionId::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 200);
    }
}
