//! The first rows of a CSV or TSV, read with the profiler's tokenizer so a
//! preview splits fields exactly as the profile (and pandas) did: quoted line
//! ends, doubled quotes, blank lines skipped, a byte-order mark dropped.

use crate::profile::DatasetError;
use crate::profile::names::column_names;
use crate::profile::tokenizer::{Fields, Tokenizer};

const BOM: &[u8] = b"\xef\xbb\xbf";

/// A table's header (named as pandas names columns) and its first rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// More rows follow: past `max_rows`, or past the bytes read.
    pub truncated: bool,
}

/// Reads the header and up to `max_rows` rows from `head`, the first bytes of
/// a file. `whole` says whether `head` is the whole file; if not, a record the
/// cut runs through is left out.
pub fn first_rows(
    head: &[u8],
    delimiter: u8,
    max_rows: usize,
    whole: bool,
) -> Result<FirstRows, DatasetError> {
    let text = head.strip_prefix(BOM).unwrap_or(head);
    let mut tokenizer = Tokenizer::new(delimiter);
    let mut sink = Records {
        wanted: max_rows + 1,
        record: Vec::new(),
        records: Vec::new(),
    };
    // Small slices, so reading stops soon after the last row wanted.
    for piece in text.chunks(16 * 1024) {
        if sink.full() {
            break;
        }
        tokenizer.feed(piece, &mut sink)?;
    }
    if whole && !sink.full() {
        tokenizer.finish(&mut sink)?;
    }
    let more_records = sink.records.len() > max_rows + 1;
    let mut records = sink.records.into_iter();
    let columns = column_names(records.next().unwrap_or_default());
    let rows: Vec<Vec<String>> = records.take(max_rows).collect();
    Ok(FirstRows {
        columns,
        rows,
        truncated: more_records || !whole,
    })
}

/// Collects records until one more than wanted has ended (so it is known
/// whether more follow).
struct Records {
    wanted: usize,
    record: Vec<String>,
    records: Vec<Vec<String>>,
}

impl Records {
    fn full(&self) -> bool {
        self.records.len() > self.wanted
    }
}

impl Fields for Records {
    fn field(&mut self, bytes: &[u8]) {
        if !self.full() {
            self.record.push(String::from_utf8_lossy(bytes).into_owned());
        }
    }

    fn end_record(&mut self, _line: u64) -> Result<(), DatasetError> {
        if !self.full() {
            self.records.push(std::mem::take(&mut self.record));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(row: &[&str]) -> Vec<String> {
        row.iter().map(|field| (*field).to_owned()).collect()
    }

    #[test]
    fn reads_quoted_fields_and_names_columns_as_pandas_does() {
        let text = b"\xef\xbb\xbfname,,name\n\n\"a, \"\"b\"\"\",1,\"two\nlines\"\r\nc,2,d\n";
        let table = first_rows(text, b',', 100, true).unwrap();
        assert_eq!(table.columns, strings(&["name", "Unnamed: 1", "name.1"]));
        assert_eq!(
            table.rows,
            vec![
                strings(&["a, \"b\"", "1", "two\nlines"]),
                strings(&["c", "2", "d"])
            ]
        );
        assert!(!table.truncated);
    }

    #[test]
    fn stops_at_the_row_limit_and_says_more_follow() {
        let text: String = std::iter::once("n\n".to_owned())
            .chain((0..10).map(|i| format!("{i}\n")))
            .collect();
        let table = first_rows(text.as_bytes(), b',', 3, true).unwrap();
        assert_eq!(
            table.rows,
            vec![strings(&["0"]), strings(&["1"]), strings(&["2"])]
        );
        assert!(table.truncated);

        let exact = first_rows(b"n\n0\n1\n2\n", b',', 3, true).unwrap();
        assert_eq!(exact.rows.len(), 3);
        assert!(!exact.truncated);
    }

    #[test]
    fn a_cut_head_leaves_out_the_record_it_runs_through() {
        let table = first_rows(b"a\tb\n1\t2\n3\t\"unfinished", b'\t', 100, false).unwrap();
        assert_eq!(table.columns, strings(&["a", "b"]));
        assert_eq!(table.rows, vec![strings(&["1", "2"])]);
        assert!(table.truncated);
    }
}
