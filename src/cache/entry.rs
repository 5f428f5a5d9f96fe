//! A session's cached state as a flat map of strings (a Redis hash). The file's
//! fields use seed 2's names (`file_name`, `storage_uri`, `description`,
//! `summary`, `storage_type`, `user_id`); `version` and `session_expires_at` let
//! depot trust an entry without asking the database.

use crate::cache::Fields;
use crate::db::files::FileRecord;
use crate::domain::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveEntry {
    /// The session's `active_version` this entry reflects.
    pub version: i64,
    /// When the session expires (microseconds), as last seen by the database.
    pub session_expires_at: i64,
    /// The active file; `None` caches "this session has no active file".
    pub file: Option<FileRecord>,
}

impl ActiveEntry {
    pub fn to_fields(&self) -> Fields {
        let mut fields = Fields::new();
        let mut put = |name: &str, value: String| {
            fields.insert(name.to_owned(), value);
        };
        put("version", self.version.to_string());
        put("session_expires_at", self.session_expires_at.to_string());
        if let Some(file) = &self.file {
            put("file_id", file.id.to_string());
            put("user_id", file.user_id.to_string());
            put("file_name", file.file_name.clone());
            put("storage_uri", file.storage_uri.clone());
            put("storage_type", storage_type(&file.storage_uri).to_owned());
            put("description", file.description.clone());
            put("summary", file.summary.clone());
            put("profile", file.profile.clone());
            put("size", file.size.to_string());
            put("content_type", file.content_type.clone());
            put("sha256", file.sha256.clone());
            put("cid", file.cid.clone());
            if let Some(corrupt_at) = file.corrupt_at {
                put("corrupt_at", corrupt_at.to_string());
            }
            put("created_at", file.created_at.to_string());
            put("metadata", file.metadata.clone());
        }
        fields
    }

    /// `None` when a field is missing or malformed: the entry is then ignored.
    pub fn from_fields(fields: &Fields) -> Option<Self> {
        let text = |name: &str| fields.get(name).cloned();
        let int = |name: &str| fields.get(name).and_then(|value| value.parse::<i64>().ok());
        let file = match fields.get("file_name") {
            None => None,
            Some(file_name) => Some(FileRecord {
                id: int("file_id")?,
                user_id: UserId::new(int("user_id")?),
                file_name: file_name.clone(),
                storage_uri: text("storage_uri")?,
                description: text("description")?,
                summary: text("summary")?,
                profile: text("profile").unwrap_or_default(),
                size: int("size")?,
                content_type: text("content_type")?,
                sha256: text("sha256")?,
                cid: text("cid").unwrap_or_default(),
                corrupt_at: int("corrupt_at"),
                created_at: int("created_at")?,
                // Entries cached before files had metadata: none.
                metadata: text("metadata").unwrap_or_else(|| "{}".to_owned()),
            }),
        };
        Some(Self {
            version: int("version")?,
            session_expires_at: int("session_expires_at")?,
            file,
        })
    }
}

/// Seed 2's `storage_type`: the scheme of the storage URI (`local` or `s3`).
fn storage_type(uri: &str) -> &str {
    uri.split_once("://").map_or("local", |(scheme, _)| scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> FileRecord {
        FileRecord {
            id: 7,
            user_id: UserId::new(3),
            file_name: "sales".into(),
            storage_uri: "local:///data/blobs/sha256/ab/abc".into(),
            description: "Q1".into(),
            summary: "The dataset has **2 rows**".into(),
            profile: "{\"rows\":2}".into(),
            size: 42,
            content_type: "text/csv".into(),
            sha256: "ab".repeat(32),
            cid: "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am".into(),
            corrupt_at: None,
            created_at: 1_767_225_600_000_000,
            metadata: r#"{"project":"atlas"}"#.into(),
        }
    }

    #[test]
    fn an_entry_survives_the_round_trip_through_fields() {
        for entry in [
            ActiveEntry {
                version: 4,
                session_expires_at: 99,
                file: Some(file()),
            },
            ActiveEntry {
                version: 5,
                session_expires_at: 99,
                file: None,
            },
        ] {
            assert_eq!(ActiveEntry::from_fields(&entry.to_fields()), Some(entry));
        }
    }

    #[test]
    fn the_seed_fields_are_there() {
        let fields = ActiveEntry {
            version: 1,
            session_expires_at: 1,
            file: Some(file()),
        }
        .to_fields();
        for name in [
            "file_name",
            "storage_uri",
            "description",
            "summary",
            "storage_type",
            "user_id",
        ] {
            assert!(fields.contains_key(name), "{name} missing");
        }
        assert_eq!(fields["storage_type"], "local");
    }

    #[test]
    fn a_malformed_entry_is_ignored() {
        let mut fields = ActiveEntry {
            version: 1,
            session_expires_at: 1,
            file: Some(file()),
        }
        .to_fields();
        fields.insert("size".into(), "many".into());
        assert_eq!(ActiveEntry::from_fields(&fields), None);
        assert_eq!(ActiveEntry::from_fields(&Fields::new()), None);
    }
}
