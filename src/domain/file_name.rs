//! A user's name for a file: the key of `/api/v1/files/{file_name}`, and its
//! place in the user's folders: `/` separates segments (`reports/2024/q1.csv`
//! is the file `q1.csv` in the folder `reports/2024/`), as in an S3 key.

use std::fmt;

/// Longest accepted name, in bytes (S3's limit on a key).
pub const MAX_LEN: usize = 1024;

/// Longest accepted segment (a folder's or the file's own name), in bytes:
/// the common filesystem limit, so a tree can be written out as files.
pub const MAX_SEGMENT: usize = 255;

/// A file name that is safe as a path, a header value and a download name:
/// `/`-separated segments, each non-blank, at most 255 bytes, without `\`,
/// `..`, NUL or control characters, and not only dots (`.` is a dot segment
/// that browsers and HTTP libraries remove from a URL, so such a file could
/// never be addressed again); at most 1024 bytes in all. Names without `/`
/// are the flat names depot always took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    #[error("file name is empty")]
    Empty,
    #[error("file name is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("a folder or file name in it is longer than {MAX_SEGMENT} bytes")]
    SegmentTooLong,
    #[error("file name has an empty folder name (a leading, trailing or double `/`, or a blank between two)")]
    EmptySegment,
    #[error("file name contains a backslash; folders are separated by `/`")]
    Separator,
    #[error("file name contains '..'")]
    DotDot,
    #[error("file name is only dots, or has a folder name of only dots")]
    OnlyDots,
    #[error("file name contains a control character")]
    Control,
}

impl FileName {
    pub fn parse(raw: &str) -> Result<Self, FileNameError> {
        if raw.trim().is_empty() {
            return Err(FileNameError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(FileNameError::TooLong);
        }
        if raw.contains('\\') {
            return Err(FileNameError::Separator);
        }
        if raw.contains("..") {
            return Err(FileNameError::DotDot);
        }
        if raw.chars().any(char::is_control) {
            return Err(FileNameError::Control);
        }
        for segment in raw.split('/') {
            if segment.trim().is_empty() {
                return Err(FileNameError::EmptySegment);
            }
            if segment.len() > MAX_SEGMENT {
                return Err(FileNameError::SegmentTooLong);
            }
            if segment.trim().chars().all(|c| c == '.') {
                return Err(FileNameError::OnlyDots);
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment: the name a download is saved as.
    pub fn base_name(&self) -> &str {
        base_name(&self.0)
    }
}

/// The last `/`-separated segment of a stored name.
pub fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A folder: the segments of a name before its file, written with a
/// trailing `/` (`reports/2024/`), as S3's common prefixes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder(String);

impl Folder {
    /// A folder's path, with or without its trailing `/`; each segment is
    /// checked as a file name's are.
    pub fn parse(raw: &str) -> Result<Self, FileNameError> {
        let path = raw.strip_suffix('/').unwrap_or(raw);
        let name = FileName::parse(path)?;
        if name.as_str().len() + 1 > MAX_LEN {
            return Err(FileNameError::TooLong);
        }
        Ok(Self(format!("{}/", name.as_str())))
    }

    /// The folder's path with its trailing `/`: the prefix of every name in it.
    pub fn prefix(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this folder or lies inside it.
    pub fn contains(&self, other: &Folder) -> bool {
        other.0.starts_with(&self.0)
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The least string greater than every string that starts with `prefix`,
/// in code point order (which is UTF-8's byte order): the exclusive end of
/// the range of names under a prefix. `None` when no such bound exists.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A name as a client sent it, which may be refused for being unsafe, made fit
/// to record (a processing record, an audit event): control characters
/// (PostgreSQL refuses NUL in text) become U+FFFD, and its length is capped.
pub fn recordable(name: &str) -> String {
    name.chars()
        .take(MAX_RECORDED_CHARS)
        .map(|c| {
            if c.is_control() {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

const MAX_RECORDED_CHARS: usize = 1024;

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "sales.csv",
            "Q1 report (final).xlsx",
            "données-été.csv",
            "a.b.c",
            ".hidden",
            "reports/2024/q1.csv",
            "a/.config/b",
        ] {
            assert_eq!(FileName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn dangerous_names_are_rejected() {
        let cases = [
            ("", FileNameError::Empty),
            ("   ", FileNameError::Empty),
            ("/a", FileNameError::EmptySegment),
            ("a/", FileNameError::EmptySegment),
            ("a//b", FileNameError::EmptySegment),
            ("a/ /b", FileNameError::EmptySegment),
            ("a/./b", FileNameError::OnlyDots),
            ("a\\b", FileNameError::Separator),
            ("..", FileNameError::DotDot),
            ("x..csv", FileNameError::DotDot),
            (".", FileNameError::OnlyDots),
            (" . ", FileNameError::OnlyDots),
            ("a\0b", FileNameError::Control),
            ("a\nb", FileNameError::Control),
            ("a\u{7f}b", FileNameError::Control),
        ];
        for (name, expected) in cases {
            assert_eq!(FileName::parse(name), Err(expected), "{name:?}");
        }
        assert_eq!(
            FileName::parse(&"x".repeat(256)),
            Err(FileNameError::SegmentTooLong)
        );
        assert!(FileName::parse(&"x".repeat(255)).is_ok());
        let deep = vec!["x".repeat(200); 6].join("/");
        assert_eq!(FileName::parse(&deep), Err(FileNameError::TooLong));
        assert!(FileName::parse(&deep[..MAX_LEN]).is_ok());
    }

    #[test]
    fn folders_end_with_a_slash_and_contain_their_subfolders() {
        let reports = Folder::parse("reports").unwrap();
        assert_eq!(reports.prefix(), "reports/");
        assert_eq!(Folder::parse("reports/").unwrap(), reports);
        assert!(reports.contains(&Folder::parse("reports/2024").unwrap()));
        assert!(!reports.contains(&Folder::parse("reports2").unwrap()));
        assert!(Folder::parse("/").is_err() && Folder::parse("a//").is_err());
    }

    #[test]
    fn a_prefix_end_bounds_exactly_the_names_under_it() {
        assert_eq!(prefix_end("reports/").as_deref(), Some("reports0"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("é/").unwrap();
        assert!("é/zzz" < end.as_str() && "é0" >= end.as_str());
    }

    proptest! {
        #[test]
        fn accepted_names_are_safe_path_segments(raw in "\\PC{0,300}|[a-z./\\\\\\x00-\\x1f]{0,20}") {
            if let Ok(name) = FileName::parse(&raw) {
                let s = name.as_str();
                prop_assert!(!s.trim().is_empty());
                prop_assert!(s.len() <= MAX_LEN);
                prop_assert!(!s.contains('\\') && !s.contains(".."));
                prop_assert!(!s.chars().any(char::is_control));
                for segment in s.split('/') {
                    prop_assert!(segment.len() <= MAX_SEGMENT);
                    prop_assert!(segment.trim().chars().any(|c| c != '.'));
                }
                prop_assert_eq!(s, raw.as_str());
            }
        }

        #[test]
        fn names_without_forbidden_parts_are_accepted(raw in "[a-zA-Z0-9 _\\-é]{1,60}(\\.[a-z]{1,5})?") {
            prop_assume!(!raw.trim().is_empty());
            prop_assert!(FileName::parse(&raw).is_ok());
        }
    }
}
