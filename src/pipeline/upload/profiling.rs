//! Profiling a body while it streams in, paused between the requests of a
//! resumable upload.

use bytes::Bytes;

use crate::domain::content_type;
use crate::pipeline::Error;
use crate::pipeline::side_thread::SideThread;
use crate::profile::{self, Format, Profile, Profiler};
use crate::storage::BlobWriter;

/// Profiling a body as it streams: its first bytes (the head) decide whether
/// it is a dataset at all, then the profiler takes the bytes as they come.
#[derive(Debug)]
pub struct Profiling {
    /// How to profile the body, until the head shows whether to.
    format: Option<Format>,
    profiler: Option<SideThread<Profiler>>,
    /// A format profiled from the staged copy once the body is complete.
    profile_staged: Option<Format>,
    head: Vec<u8>,
}

/// [`Profiling`] between two requests of a resumable upload: the profiler
/// off its thread.
#[derive(Debug)]
pub struct PausedProfiling {
    format: Option<Format>,
    profiler: Option<Profiler>,
    profile_staged: Option<Format>,
    head: Vec<u8>,
}

impl Profiling {
    /// `format` says whether (and how) to profile the body.
    pub fn new(format: Option<Format>) -> Self {
        Self {
            format,
            profiler: None,
            profile_staged: None,
            head: Vec::with_capacity(content_type::SNIFF_LEN),
        }
    }

    /// Takes the next chunk; fails (422) as soon as the profiler finds the
    /// dataset is one pandas would refuse.
    pub async fn push(&mut self, chunk: &Bytes) -> Result<(), Error> {
        let room = content_type::SNIFF_LEN.saturating_sub(self.head.len());
        let after_head = chunk.slice(room.min(chunk.len())..);
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if self.head.len() == content_type::SNIFF_LEN {
            if room > 0 {
                self.start_profiler().await?;
            }
            if let Some(profiler) = &mut self.profiler
                && !after_head.is_empty()
            {
                profiler.push(after_head).await?;
            }
        }
        Ok(())
    }

    /// Starts the profiler on the head — unless the format is a text one and
    /// the head's magic bytes say it is an image, an archive or another binary
    /// format, whatever its name: those files get no summary rather than an
    /// `invalid_dataset` error.
    async fn start_profiler(&mut self) -> Result<(), Error> {
        let Some(format) = self
            .format
            .take()
            .filter(|format| worth_profiling(*format, &self.head))
        else {
            return Ok(());
        };
        let Some(profiler) = Profiler::new(format) else {
            self.profile_staged = Some(format);
            return Ok(());
        };
        let mut profiler = SideThread::start(profiler);
        profiler.push(Bytes::copy_from_slice(&self.head)).await?;
        self.profiler = Some(profiler);
        Ok(())
    }

    /// The head and the dataset profile, once every byte has arrived; a
    /// format that needs random access is read from what `writer` staged.
    pub async fn finish(mut self, writer: &mut dyn BlobWriter) -> Result<(Vec<u8>, Option<Profile>), Error> {
        if self.head.len() < content_type::SNIFF_LEN {
            self.start_profiler().await?;
        }
        let profile = match (self.profiler.take(), self.profile_staged) {
            (Some(profiler), _) => profiler.finish().await?,
            (None, Some(format)) => profile_staged(writer, format).await?,
            (None, None) => None,
        };
        Ok((self.head, profile))
    }

    /// Stops until the next request; fails (422) if the bytes so far are not a
    /// dataset pandas would read.
    pub async fn pause(self) -> Result<PausedProfiling, Error> {
        let profiler = match self.profiler {
            Some(profiler) => Some(profiler.pause().await?),
            None => None,
        };
        Ok(PausedProfiling {
            format: self.format,
            profiler,
            profile_staged: self.profile_staged,
            head: self.head,
        })
    }

    /// Goes on where [`Profiling::pause`] stopped.
    pub fn resume(paused: PausedProfiling) -> Self {
        Self {
            format: paused.format,
            profiler: paused.profiler.map(SideThread::start),
            profile_staged: paused.profile_staged,
            head: paused.head,
        }
    }
}

/// Whether a file of `format` that begins with `head` is worth profiling: not
/// when the format is a text one and the head's magic bytes say it is an
/// image, an archive or another binary format, whatever its name. Those files
/// get no summary rather than an `invalid_dataset` error.
pub fn worth_profiling(format: Format, head: &[u8]) -> bool {
    !(format.is_text()
        && infer::get(head).is_some_and(|kind| kind.matcher_type() != infer::MatcherType::Text))
}

/// Profiles the bytes a writer has staged, read back from the start (on the
/// blocking pool); `None` where the store cannot read them back.
pub async fn profile_staged(writer: &mut dyn BlobWriter, format: Format) -> Result<Option<Profile>, Error> {
    let Some(reader) = writer.staged_reader().await? else {
        return Ok(None);
    };
    let profiled = tokio::task::spawn_blocking(move || profile::profile_file(format, reader))
        .await
        .map_err(|err| Error::Internal(anyhow::anyhow!("the profiler failed: {err}")))?;
    Ok(profiled.map_err(crate::storage::StorageError::from)??)
}
