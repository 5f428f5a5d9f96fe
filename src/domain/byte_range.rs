//! The glue between a `Range` header and a stored blob: one satisfiable byte range,
//! no range, or 416. Parsing itself is the `http-range-header` crate's.

use std::ops::RangeInclusive;

/// An inclusive byte range within a blob of known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a `Range` header asks of a blob of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole blob (no header, a malformed one, or several ranges —
    /// RFC 9110 lets a server ignore what it does not support).
    Full,
    /// Serve this part with 206.
    Partial(ByteRange),
    /// Answer 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

impl ByteRange {
    /// How many bytes the range covers (never zero).
    pub fn byte_count(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn as_inclusive(&self) -> RangeInclusive<u64> {
        self.start..=self.end
    }

    /// The range widened to whole chunks of `chunk` bytes of a blob of `size`
    /// bytes: from the start of the chunk it starts in to the end of the one
    /// it ends in (or the blob's end).
    pub fn aligned_to(&self, chunk: u64, size: u64) -> ByteRange {
        ByteRange {
            start: self.start - self.start % chunk,
            end: ((self.end / chunk + 1) * chunk).min(size) - 1,
        }
    }

    /// The `Content-Range` value for this range of a blob of `size` bytes.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end)
    }
}

impl RangeRequest {
    pub fn from_header(header: Option<&str>, size: u64) -> Self {
        let Some(header) = header else {
            return Self::Full;
        };
        let Ok(parsed) = http_range_header::parse_range_header(header) else {
            return Self::Full;
        };
        match parsed.validate(size) {
            Ok(ranges) => match ranges.as_slice() {
                [only] => Self::Partial(ByteRange {
                    start: *only.start(),
                    end: *only.end(),
                }),
                _ => Self::Full,
            },
            Err(_) => Self::Unsatisfiable,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn an_aligned_range_is_the_whole_chunks_that_cover_it(
            size in 1u64..10_000,
            chunk in 1u64..500,
            a in 0u64..10_000,
            b in 0u64..10_000,
        ) {
            let (start, end) = (a.min(b) % size, a.max(b) % size);
            prop_assume!(start <= end);
            let aligned = ByteRange { start, end }.aligned_to(chunk, size);
            prop_assert!(aligned.start <= start && aligned.end >= end);
            prop_assert_eq!(aligned.start % chunk, 0);
            prop_assert!(aligned.end == size - 1 || (aligned.end + 1).is_multiple_of(chunk));
            prop_assert_eq!(aligned.start / chunk, start / chunk);
            prop_assert_eq!(aligned.end / chunk, end / chunk);
        }
    }

    fn partial(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn common_forms_resolve_against_the_size() {
        assert_eq!(RangeRequest::from_header(Some("bytes=0-3"), 10), partial(0, 3));
        assert_eq!(RangeRequest::from_header(Some("bytes=5-"), 10), partial(5, 9));
        assert_eq!(RangeRequest::from_header(Some("bytes=-4"), 10), partial(6, 9));
        assert_eq!(RangeRequest::from_header(Some("bytes=8-100"), 10), partial(8, 9));
        assert_eq!(
            RangeRequest::from_header(Some("bytes=10-"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            RangeRequest::from_header(Some("bytes=0-1,4-5"), 10),
            RangeRequest::Full
        );
        assert_eq!(RangeRequest::from_header(Some("pages=1"), 10), RangeRequest::Full);
        assert_eq!(RangeRequest::from_header(None, 10), RangeRequest::Full);
    }

    proptest! {
        #[test]
        fn a_partial_range_always_lies_inside_the_blob(header in "bytes=[0-9]{0,4}-[0-9]{0,4}", size in 0u64..5000) {
            if let RangeRequest::Partial(range) = RangeRequest::from_header(Some(&header), size) {
                prop_assert!(range.start <= range.end);
                prop_assert!(range.end < size);
                prop_assert_eq!(range.byte_count(), range.end - range.start + 1);
            }
        }

        #[test]
        fn explicit_ranges_inside_the_blob_are_served_as_asked(size in 1u64..10_000, a in 0u64..10_000, b in 0u64..10_000) {
            let (start, end) = (a.min(b) % size, a.max(b) % size);
            prop_assume!(start <= end);
            let header = format!("bytes={start}-{end}");
            prop_assert_eq!(RangeRequest::from_header(Some(&header), size), partial(start, end));
        }

        #[test]
        fn arbitrary_headers_never_panic(header in "\\PC{0,40}", size in 0u64..100) {
            let _ = RangeRequest::from_header(Some(&header), size);
        }
    }
}
