//! What a stored file is, from its first bytes and its name, and how to serve it
//! without letting a browser run it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// How many leading bytes are kept for magic-byte detection.
pub const SNIFF_LEN: usize = 8192;

/// The media type of a file: magic bytes first (they cannot lie about what a browser
/// will do), then the extension of `name`, then `application/octet-stream`.
pub fn detect(head: &[u8], name: &str) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Types a browser would render or execute in depot's origin; they are served as
/// attachments so an uploaded page can never run as depot.
pub fn is_active_content(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "text/xml"
            | "application/xml"
            | "text/xsl"
            | "text/javascript"
            | "application/javascript"
            | "application/x-javascript"
            | "text/ecmascript"
            | "application/ecmascript"
    ) || essence.ends_with("+xml")
}

/// RFC 5987 `attr-char`: what may stay unescaped in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A `Content-Disposition` value (RFC 6266): `attachment` for active content,
/// `inline` otherwise, with an ASCII fallback name and the exact UTF-8 `filename*`.
pub fn disposition(content_type: &str, file_name: &str) -> String {
    // A file in a folder downloads under its own name, as a browser saves it.
    let file_name = crate::domain::file_name::base_name(file_name);
    let kind = if is_active_content(content_type) {
        "attachment"
    } else {
        "inline"
    };
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(file_name, ATTR_CHAR);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_the_extension() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(detect(png, "innocent.csv"), "image/png");
        assert_eq!(detect(b"a,b\n1,2\n", "sales.csv"), "text/csv");
        assert_eq!(detect(b"\0\x01", "blob"), "application/octet-stream");
    }

    #[test]
    fn pages_scripts_and_xml_are_active_content() {
        for ct in [
            "text/html",
            "image/svg+xml",
            "application/xml",
            "text/javascript",
            "TEXT/HTML; charset=utf-8",
        ] {
            assert!(is_active_content(ct), "{ct}");
        }
        for ct in ["text/csv", "image/png", "application/pdf", "text/plain"] {
            assert!(!is_active_content(ct), "{ct}");
        }
    }

    #[test]
    fn disposition_carries_an_exact_utf8_name() {
        assert_eq!(
            disposition("text/html", "été \"x\".html"),
            "attachment; filename=\"_t_ _x_.html\"; filename*=UTF-8''%C3%A9t%C3%A9%20%22x%22.html"
        );
        assert!(disposition("text/csv", "a.csv").starts_with("inline;"));
    }
}
