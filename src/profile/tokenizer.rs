//! pandas' CSV tokenizer — the state machine of its C parser with
//! `read_csv`'s defaults (`"` quotes, doubled to escape, `\n`, `\r` or `\r\n`
//! ending lines, blank and whitespace-only lines skipped) — pushed chunk by
//! chunk, handing each field to a [`Fields`] sink as soon as it ends.
//!
//! Fields are slices of the input whenever they lie within one chunk; only a
//! field cut by a chunk boundary, or one with a doubled quote or text after
//! its closing quote, is assembled in a buffer. Unquoted fields end at the
//! first delimiter or line end (`memchr3`), quoted ones at the next quote
//! (`memchr`), so no byte is looked at twice.

use memchr::memchr;

use crate::profile::DatasetError;

/// Where the tokenizer's fields go.
pub trait Fields {
    /// The next field of the current record.
    fn field(&mut self, bytes: &[u8]);
    /// The current record ended; `line` is the line it ended on.
    fn end_record(&mut self, line: u64) -> Result<(), DatasetError>;
}

/// A field assembled from pieces may grow to this; a longer one stops the profile.
pub const MAX_FIELD_BYTES: usize = 16 * 1024 * 1024;

const QUOTE: u8 = b'"';

/// pandas' tokenizer states (`tokenizer.h`), less the ones for options depot
/// does not use (comments, escapes, skipped rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StartRecord,
    StartField,
    /// In an unquoted field (after a closing quote, too: `"a"b` is `ab`).
    InField,
    InQuotedField,
    /// A quote inside a quoted field: doubled, or the field's end.
    QuoteInQuotedField,
    /// A record ended at `\r`: a `\n` may follow.
    EatCrnl,
    /// A blank line ended at `\r`: pandas also swallows a `\n` or a
    /// delimiter after it.
    EatCrnlNop,
    /// Only spaces and tabs so far: the line is skipped if nothing else comes.
    WhitespaceLine,
}

#[derive(Debug)]
pub struct Tokenizer {
    delimiter: u8,
    state: State,
    /// The current field's bytes so far, when it cannot be a slice of one chunk.
    pending: Vec<u8>,
    /// The current line (1-based), counting every `\n`, quoted ones too.
    line: u64,
    /// The line where the current quoted field opened.
    quote_line: u64,
    /// Whether the current chunk is all ASCII, so its fields need no UTF-8 check.
    ascii: bool,
    invalid_utf8: bool,
    /// A field outgrew [`MAX_FIELD_BYTES`]: nothing more is read.
    pub gave_up: bool,
}

impl Tokenizer {
    pub fn new(delimiter: u8) -> Self {
        Self {
            delimiter,
            state: State::StartRecord,
            pending: Vec::new(),
            line: 1,
            quote_line: 1,
            ascii: true,
            invalid_utf8: false,
            gave_up: false,
        }
    }

    pub fn feed<F: Fields>(&mut self, input: &[u8], fields: &mut F) -> Result<(), DatasetError> {
        self.ascii = input.is_ascii();
        let delimiter = self.delimiter;
        let mut i = 0;
        while i < input.len() && !self.gave_up {
            let byte = input[i];
            match self.state {
                State::StartRecord => match byte {
                    b'\n' => {
                        self.line += 1;
                        i += 1;
                    }
                    b'\r' => {
                        self.state = State::EatCrnlNop;
                        i += 1;
                    }
                    b' ' | b'\t' if byte != delimiter => {
                        self.state = State::WhitespaceLine;
                        self.pending.push(byte);
                        i += 1;
                    }
                    _ => self.state = State::StartField,
                },
                State::WhitespaceLine => match byte {
                    b'\n' | b'\r' => {
                        self.pending.clear();
                        self.state = State::StartRecord;
                    }
                    b' ' | b'\t' if byte != delimiter => {
                        self.pending.push(byte);
                        i += 1;
                    }
                    // pandas backs up to the line's start and reads the blanks
                    // as the start of an unquoted field.
                    _ => self.state = State::InField,
                },
                State::EatCrnlNop => {
                    self.state = State::StartRecord;
                    if byte == b'\n' || byte == delimiter {
                        self.line += u64::from(byte == b'\n');
                        i += 1;
                    }
                }
                State::EatCrnl => {
                    self.end_record(fields)?;
                    self.state = State::StartRecord;
                    if byte == b'\n' {
                        self.line += 1;
                        i += 1;
                    } else if byte == delimiter {
                        // A `\r`-ended line followed by a delimiter: pandas
                        // starts the next record with an empty field.
                        fields.field(b"");
                        self.state = State::StartField;
                        i += 1;
                    }
                }
                State::StartField => i = self.fields_from(input, i, fields)?,
                State::InField => i = self.rest_of_unquoted_field(input, i, fields)?,
                State::InQuotedField => {
                    let rest = &input[i..];
                    let content = &rest[..memchr(QUOTE, rest).unwrap_or(rest.len())];
                    self.count_lines(content);
                    self.append(content);
                    i += content.len();
                    if i < input.len() {
                        self.state = State::QuoteInQuotedField;
                        i += 1;
                    }
                }
                State::QuoteInQuotedField => {
                    if byte == QUOTE {
                        self.append(&input[i..=i]);
                        self.state = State::InQuotedField;
                        i += 1;
                    } else if byte == delimiter || byte == b'\n' || byte == b'\r' {
                        self.emit_pending(fields);
                        i = self.after_field(byte, i, fields)?;
                    } else {
                        // Text after the closing quote joins the field.
                        self.state = State::InField;
                    }
                }
            }
        }
        Ok(())
    }

    /// The end of the data: pandas closes an open field and record, and
    /// refuses a quoted field that never closes.
    pub fn finish<F: Fields>(&mut self, fields: &mut F) -> Result<(), DatasetError> {
        if self.gave_up {
            return Ok(());
        }
        match self.state {
            State::StartRecord | State::WhitespaceLine | State::EatCrnlNop => Ok(()),
            State::InQuotedField => Err(DatasetError::at(
                self.quote_line,
                "the file ends inside a quoted field",
            )),
            State::StartField | State::InField | State::QuoteInQuotedField => {
                self.emit_pending(fields);
                self.end_record(fields)
            }
            State::EatCrnl => self.end_record(fields),
        }
    }

    /// Fields from `start`, where one begins, for as long as each ends in
    /// this chunk at a delimiter: the common case, one tight loop per record
    /// rather than a trip through the state machine per field. A field in
    /// quotes is a slice too when its closing quote is followed by a
    /// delimiter or line end. Returns where to go on.
    fn fields_from<F: Fields>(
        &mut self,
        input: &[u8],
        start: usize,
        fields: &mut F,
    ) -> Result<usize, DatasetError> {
        let mut i = start;
        loop {
            let Some(&first) = input.get(i) else {
                return Ok(i);
            };
            let (field, end) = if first == QUOTE {
                let Some((content, end)) = self.closed_quote(input, i + 1) else {
                    self.quote_line = self.line;
                    self.state = State::InQuotedField;
                    return Ok(i + 1);
                };
                self.count_lines(&input[content.clone()]);
                (content, end)
            } else {
                let Some(len) = field_end(&input[i..], self.delimiter) else {
                    self.append(&input[i..]);
                    self.state = State::InField;
                    return Ok(input.len());
                };
                (i..i + len, i + len)
            };
            self.emit(&input[field], fields);
            let byte = input[end];
            if byte != self.delimiter {
                return self.after_field(byte, end, fields);
            }
            i = end + 1;
        }
    }

    /// The content of a quoted field opened just before `start`, and where the
    /// byte after its closing quote is, if that byte is in this chunk and is a
    /// delimiter or line end.
    fn closed_quote(&self, input: &[u8], start: usize) -> Option<(std::ops::Range<usize>, usize)> {
        let quote = start + memchr(QUOTE, &input[start..])?;
        let next = *input.get(quote + 1)?;
        (next == self.delimiter || next == b'\n' || next == b'\r').then_some((start..quote, quote + 1))
    }

    /// The rest of an unquoted field begun in an earlier chunk, or after a
    /// closing quote or leading blanks: up to the next delimiter or line end.
    fn rest_of_unquoted_field<F: Fields>(
        &mut self,
        input: &[u8],
        start: usize,
        fields: &mut F,
    ) -> Result<usize, DatasetError> {
        let rest = &input[start..];
        let Some(len) = field_end(rest, self.delimiter) else {
            self.append(rest);
            return Ok(input.len());
        };
        self.append(&rest[..len]);
        self.emit_pending(fields);
        self.after_field(rest[len], start + len, fields)
    }

    /// After a field ended at `input[at] == byte` (a delimiter or a line end).
    fn after_field<F: Fields>(&mut self, byte: u8, at: usize, fields: &mut F) -> Result<usize, DatasetError> {
        if byte == self.delimiter {
            self.state = State::StartField;
        } else if byte == b'\n' {
            self.end_record(fields)?;
            self.line += 1;
            self.state = State::StartRecord;
        } else {
            self.state = State::EatCrnl;
        }
        Ok(at + 1)
    }

    fn end_record<F: Fields>(&mut self, fields: &mut F) -> Result<(), DatasetError> {
        if self.gave_up {
            return Ok(());
        }
        if self.invalid_utf8 {
            return Err(DatasetError::at(self.line, "the text is not valid UTF-8"));
        }
        fields.end_record(self.line)
    }

    /// A field that lies in the current chunk.
    fn emit<F: Fields>(&mut self, field: &[u8], fields: &mut F) {
        if field.len() > MAX_FIELD_BYTES {
            self.give_up();
            return;
        }
        if !self.ascii {
            self.check_utf8(field);
        }
        fields.field(field);
    }

    fn emit_pending<F: Fields>(&mut self, fields: &mut F) {
        let field = std::mem::take(&mut self.pending);
        self.check_utf8(&field);
        fields.field(&field);
        self.pending = field;
        self.pending.clear();
    }

    /// Fields are checked one by one: bytes that are only valid across a
    /// delimiter are still invalid.
    fn check_utf8(&mut self, field: &[u8]) {
        if !field.is_ascii() && std::str::from_utf8(field).is_err() {
            self.invalid_utf8 = true;
        }
    }

    /// Part of a field that is being assembled.
    fn append(&mut self, bytes: &[u8]) {
        if self.pending.len() + bytes.len() > MAX_FIELD_BYTES {
            self.give_up();
            return;
        }
        self.pending.extend_from_slice(bytes);
    }

    fn give_up(&mut self) {
        tracing::info!(
            limit = MAX_FIELD_BYTES,
            "a field is too long to profile; no summary"
        );
        self.gave_up = true;
    }

    fn count_lines(&mut self, bytes: &[u8]) {
        self.line += bytes.iter().filter(|&&byte| byte == b'\n').count() as u64;
    }
}

/// Where an unquoted field ends: the first delimiter, `\n` or `\r`. Fields
/// are short, so this looks at eight bytes at a time in a register rather
/// than paying for a vector search's set-up on each one.
fn field_end(bytes: &[u8], delimiter: u8) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let found = zero_bytes(word ^ splat(delimiter))
            | zero_bytes(word ^ splat(b'\n'))
            | zero_bytes(word ^ splat(b'\r'));
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| byte == delimiter || byte == b'\n' || byte == b'\r')
        .map(|position| offset + position)
}

const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// The high bit of each zero byte of `word`, exact for the lowest one (a
/// borrow may mark bytes above it, which `field_end` never looks at).
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(splat(1)) & !word & splat(0x80)
}
