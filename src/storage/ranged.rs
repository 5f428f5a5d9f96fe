//! A staged write read back from a blocking thread (a profiler reading a
//! workbook) through ranged requests to wherever the bytes are: windows that
//! start small — a content sniff reads 8 KiB, a workbook's reader seeks to its
//! end first — and double while the reads go on.

use std::io::{self, SeekFrom};

use bytes::Bytes;

/// The first window's size, and the largest's.
pub const FIRST_READ: u64 = 64 << 10;
const READ_AHEAD: u64 = 8 << 20;

/// `size` bytes read through `fetch(start, end)`, which returns the bytes of
/// `start..end` (blocking: it runs on a blocking thread).
pub struct RangedReader<F> {
    fetch: F,
    size: u64,
    position: u64,
    window: Bytes,
    window_start: u64,
}

impl<F> RangedReader<F>
where
    F: FnMut(u64, u64) -> io::Result<Bytes>,
{
    pub fn new(size: u64, fetch: F) -> Self {
        Self {
            fetch,
            size,
            position: 0,
            window: Bytes::new(),
            window_start: 0,
        }
    }

    /// The bytes from the start, fetched already.
    pub fn starting_with(mut self, window: Bytes) -> Self {
        self.window = window;
        self.window_start = 0;
        self
    }
}

impl<F> io::Read for RangedReader<F>
where
    F: FnMut(u64, u64) -> io::Result<Bytes>,
{
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || out.is_empty() {
            return Ok(0);
        }
        let window_end = self.window_start + self.window.len() as u64;
        if self.position < self.window_start || self.position >= window_end {
            let ahead = (self.window.len() as u64 * 2).clamp(FIRST_READ, READ_AHEAD);
            let end = (self.position + ahead).min(self.size);
            self.window = (self.fetch)(self.position, end)?;
            self.window_start = self.position;
            if self.window.is_empty() {
                return Err(io::Error::other("a ranged read of staged bytes returned none"));
            }
        }
        let from = usize::try_from(self.position - self.window_start).map_err(io::Error::other)?;
        let available = &self.window[from..];
        let read = available.len().min(out.len());
        out[..read].copy_from_slice(&available[..read]);
        self.position += read as u64;
        Ok(read)
    }
}

impl<F> io::Seek for RangedReader<F> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let position = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position =
            position.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}
