//! A file's own metadata: a JSON object its uploader gives (seed 3's
//! `metadata`), kept as given and searchable by its top-level scalar values.

use serde_json::{Map, Value};

/// Longest accepted metadata, as JSON text, in bytes.
pub const MAX_BYTES: usize = 16 * 1024;
/// Most top-level keys.
pub const MAX_KEYS: usize = 64;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// A JSON object of at most [`MAX_KEYS`] keys and [`MAX_BYTES`] bytes, without
/// NUL characters (text columns cannot hold them) or blank keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMetadata {
    /// As stored and shown: compact JSON, keys in the order given.
    text: String,
    /// Each top-level key with a string, number or boolean value, and that
    /// value as compact JSON text: what a search compares.
    searchable: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata is not JSON: {0}")]
    NotJson(String),
    #[error("metadata must be a JSON object")]
    NotObject,
    #[error("metadata is longer than {MAX_BYTES} bytes")]
    TooLong,
    #[error("metadata has more than {MAX_KEYS} keys")]
    TooManyKeys,
    #[error("metadata keys must be 1 to {MAX_KEY_BYTES} bytes")]
    BadKey,
    #[error("metadata holds a NUL character")]
    Nul,
}

impl FileMetadata {
    /// Parses metadata sent as JSON text; blank text is no metadata.
    pub fn parse(text: &str) -> Result<Self, MetadataError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: Value =
            serde_json::from_str(text).map_err(|err| MetadataError::NotJson(err.to_string()))?;
        match value {
            Value::Object(object) => Self::from_object(object),
            _ => Err(MetadataError::NotObject),
        }
    }

    pub fn from_object(object: Map<String, Value>) -> Result<Self, MetadataError> {
        if object.len() > MAX_KEYS {
            return Err(MetadataError::TooManyKeys);
        }
        if object
            .keys()
            .any(|key| key.trim().is_empty() || key.len() > MAX_KEY_BYTES)
        {
            return Err(MetadataError::BadKey);
        }
        let text = Value::Object(object.clone()).to_string();
        if text.len() > MAX_BYTES {
            return Err(MetadataError::TooLong);
        }
        // `\u0000` in a JSON string is a NUL once decoded.
        if text.contains("\\u0000") || text.contains('\0') {
            return Err(MetadataError::Nul);
        }
        let searchable = object
            .into_iter()
            .filter_map(|(key, value)| searchable_text(&value).map(|value| (key, value)))
            .collect();
        Ok(Self { text, searchable })
    }

    /// Compact JSON: `{}` when none was given.
    pub fn as_json(&self) -> &str {
        if self.text.is_empty() { "{}" } else { &self.text }
    }

    pub fn searchable(&self) -> &[(String, String)] {
        &self.searchable
    }
}

/// A value a search can compare, as compact JSON text: strings, numbers and
/// booleans (`"q1"`, `3`, `true`); objects, arrays and null are not indexed.
pub fn searchable_text(value: &Value) -> Option<String> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_object_as_given_and_indexes_its_scalars() {
        let metadata =
            FileMetadata::parse(r#"{"project": "atlas", "rows": 3, "ok": true, "tags": ["a"]}"#).unwrap();
        assert_eq!(
            metadata.as_json(),
            r#"{"project":"atlas","rows":3,"ok":true,"tags":["a"]}"#
        );
        assert_eq!(
            metadata.searchable(),
            [
                ("project".to_owned(), "\"atlas\"".to_owned()),
                ("rows".to_owned(), "3".to_owned()),
                ("ok".to_owned(), "true".to_owned()),
            ]
        );
        assert_eq!(FileMetadata::parse("  ").unwrap().as_json(), "{}");
    }

    #[test]
    fn refuses_what_is_not_a_small_object() {
        assert_eq!(FileMetadata::parse("[1]"), Err(MetadataError::NotObject));
        assert!(matches!(FileMetadata::parse("{"), Err(MetadataError::NotJson(_))));
        assert_eq!(FileMetadata::parse(r#"{"": 1}"#), Err(MetadataError::BadKey));
        assert_eq!(
            FileMetadata::parse(r#"{"a": "x\u0000"}"#),
            Err(MetadataError::Nul)
        );
        let many = (0..=MAX_KEYS)
            .map(|n| format!("\"k{n}\": {n}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            FileMetadata::parse(&format!("{{{many}}}")),
            Err(MetadataError::TooManyKeys)
        );
        let long = format!(r#"{{"a": "{}"}}"#, "x".repeat(MAX_BYTES));
        assert_eq!(FileMetadata::parse(&long), Err(MetadataError::TooLong));
    }
}
