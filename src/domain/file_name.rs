//! A user's name for a file: the key of `/api/v1/files/{file_name}`.

use std::fmt;

/// Longest accepted name, in bytes (the common filesystem limit).
pub const MAX_LEN: usize = 255;

/// A file name that is safe as a path segment, a header value and a download name:
/// non-blank, at most 255 bytes, without `/`, `\`, `..`, NUL or control characters,
/// and not only dots (`.` is a dot segment that browsers and HTTP libraries
/// remove from a URL, so such a file could never be addressed again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    #[error("file name is empty")]
    Empty,
    #[error("file name is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("file name contains a path separator")]
    Separator,
    #[error("file name contains '..'")]
    DotDot,
    #[error("file name is only dots")]
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
        if raw.contains(['/', '\\']) {
            return Err(FileNameError::Separator);
        }
        if raw.contains("..") {
            return Err(FileNameError::DotDot);
        }
        if raw.trim().chars().all(|c| c == '.') {
            return Err(FileNameError::OnlyDots);
        }
        if raw.chars().any(char::is_control) {
            return Err(FileNameError::Control);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
        ] {
            assert_eq!(FileName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn dangerous_names_are_rejected() {
        let cases = [
            ("", FileNameError::Empty),
            ("   ", FileNameError::Empty),
            ("a/b", FileNameError::Separator),
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
        assert_eq!(FileName::parse(&"x".repeat(256)), Err(FileNameError::TooLong));
        assert!(FileName::parse(&"x".repeat(255)).is_ok());
    }

    proptest! {
        #[test]
        fn accepted_names_are_safe_path_segments(raw in "\\PC{0,300}|[a-z./\\\\\\x00-\\x1f]{0,20}") {
            if let Ok(name) = FileName::parse(&raw) {
                let s = name.as_str();
                prop_assert!(!s.trim().is_empty());
                prop_assert!(s.len() <= MAX_LEN);
                prop_assert!(!s.contains('/') && !s.contains('\\') && !s.contains(".."));
                prop_assert!(!s.chars().any(char::is_control));
                prop_assert!(s.trim().chars().any(|c| c != '.'));
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
