//! A resumable upload's id: a random UUID, the last segment of its upload URL.

use std::fmt;

use uuid::Uuid;

/// Names one tus upload in its URL, in the database and in the blob store
/// (where, being a UUID, it is always a safe path segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(Uuid);

impl UploadId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Only the hyphenated lower-case form the server hands out: an upload URL
    /// is never spelled two ways.
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::try_parse(raw)
            .ok()
            .map(Self)
            .filter(|id| id.to_string() == raw)
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_form_handed_out_parses() {
        let id = UploadId::new_random();
        assert_eq!(UploadId::parse(&id.to_string()), Some(id));
        assert_eq!(UploadId::parse(&id.to_string().to_uppercase()), None);
        assert_eq!(UploadId::parse(&id.0.simple().to_string()), None);
        assert_eq!(UploadId::parse("../../etc"), None);
    }
}
