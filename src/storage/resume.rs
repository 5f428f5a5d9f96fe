//! What a store needs to resume a resumable upload's writer, kept with the
//! upload between its requests: in its database row, and in a storage node's
//! answers to its gateway. This is the one place it is written as text and
//! read back.

use super::StorageError;
pub use super::s3::S3Parts;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ResumeState {
    /// The staged bytes are all there is: a local disk, memory, and any store
    /// before an upload's first bytes. Written as the empty string.
    #[default]
    InStagedBytes,
    /// An S3 multipart upload: its parts so far and the tail object past them.
    /// Written as a JSON object.
    S3(S3Parts),
    /// What a storage node handed its gateway for the upload: the node's own
    /// state, opaque here. Written as the node wrote it (URL-safe base64,
    /// which never begins with `{`).
    Node(String),
}

impl ResumeState {
    /// The state as text, for a row or a header.
    pub fn encode(&self) -> String {
        match self {
            Self::InStagedBytes => String::new(),
            // A struct of strings and numbers always serialises.
            Self::S3(parts) => serde_json::to_string(parts).unwrap_or_default(),
            Self::Node(state) => state.clone(),
        }
    }

    /// A state as [`ResumeState::encode`] wrote it; anything else is a damaged
    /// state, which no writer can resume from.
    pub fn decode(text: &str) -> Result<Self, StorageError> {
        if text.is_empty() {
            Ok(Self::InStagedBytes)
        } else if text.starts_with('{') {
            serde_json::from_str(text)
                .map(Self::S3)
                .map_err(|err| StorageError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, err)))
        } else {
            Ok(Self::Node(text.to_owned()))
        }
    }
}

impl TryFrom<String> for ResumeState {
    type Error = StorageError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::decode(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_written_and_damage_is_refused() {
        assert_eq!(ResumeState::decode("").unwrap(), ResumeState::InStagedBytes);
        assert_eq!(ResumeState::InStagedBytes.encode(), "");
        let parts: S3Parts =
            serde_json::from_str(r#"{"multipart":"m1","parts":["e1"],"part_bytes":8,"tail":null}"#).unwrap();
        let state = ResumeState::S3(parts);
        assert_eq!(ResumeState::decode(&state.encode()).unwrap(), state);
        assert!(ResumeState::decode("{not json").is_err());
        let node = ResumeState::Node("AQAAAAAAAAAA_-".to_owned());
        assert_eq!(ResumeState::decode(&node.encode()).unwrap(), node);
    }
}
