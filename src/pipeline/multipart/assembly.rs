//! Completing a multipart upload while its parts arrive. Each time a part
//! is stored, this node streams the upload's parts that are stored and
//! next in order — 1, 2, 3, … — into one upload body ([`Ingest`]): hashed,
//! addressed, profiled and written to one staged blob, as a `PUT`'s body
//! is, beside the requests still sending parts. Completing then needs only
//! what was not streamed yet, instead of every byte again.
//!
//! It is only a head start, kept in this node's memory: completing uses it
//! when it streamed exactly the parts the client chose — same numbers,
//! same contents, in order — and otherwise (a part uploaded again after it
//! was streamed, parts left out, parts sent to another node, a restart, a
//! failure on the way) reads the chosen parts back as before.
//!
//! The node that stores part 1 streams the upload (reading parts other
//! nodes stored from the shared store), so a cluster streams each upload
//! once. At most [`MOST_OPEN`] uploads are streamed at once per node, and
//! one no part reached for [`IDLE`] — completed on another node, or left —
//! is dropped with its staged bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Mutex;

use crate::db::multipart::{self, MultipartUpload, Part};
use crate::pipeline::Error;
use crate::pipeline::state::AppState;
use crate::pipeline::upload::Ingest;
use crate::profile::Format;

/// Uploads streamed at once on a node. Each holds a staged blob and, while
/// its bytes flow, the threads that hash and profile them.
const MOST_OPEN: usize = 32;

/// An assembly no part reached for this long is dropped — looked for at
/// every part stored and by the cleanup job — well before the cleanup of
/// staged files (`cleanup_grace`: 48 h by default, by modification time)
/// could take its bytes.
const IDLE: Duration = Duration::from_secs(10 * 60);

/// This node's assemblies, by upload id.
#[derive(Debug, Default)]
pub struct Assemblies {
    open: SyncMutex<HashMap<String, Open>>,
}

#[derive(Debug, Clone)]
struct Open {
    assembly: Arc<Mutex<Assembly>>,
    touched: Instant,
}

#[derive(Debug, Default)]
struct Assembly {
    body: Body,
    /// The parts streamed in, in order: numbers 1, 2, … with their contents.
    taken: Vec<(i32, String)>,
}

#[derive(Debug, Default)]
enum Body {
    /// No part streamed yet.
    #[default]
    Waiting,
    Streaming(Box<Ingest>),
    /// Streaming failed: completing reads the parts back.
    Failed,
}

impl Assemblies {
    /// Streams what can be streamed of `upload` now that its part `number`
    /// is stored; part 1 begins its assembly if there is room for one.
    pub async fn advance(&self, state: &AppState, upload: &MultipartUpload, number: i32) {
        let Some(assembly) = self.open_for(&upload.id, number == 1) else {
            return;
        };
        assembly.lock().await.catch_up(state, upload, i32::MAX).await;
    }

    /// The body of exactly `parts`, in order, if this node streamed them
    /// (the rest of them streamed now); `None` when the parts must be read
    /// back. Either way the upload's assembly is over.
    pub async fn take(&self, state: &AppState, upload: &MultipartUpload, parts: &[Part]) -> Option<Ingest> {
        let open = self.open.lock().expect("assemblies lock").remove(&upload.id)?;
        let mut assembly = open.assembly.lock().await;
        let last = parts.last().map_or(0, |part| part.part_number);
        assembly.catch_up(state, upload, last).await;
        let streamed = parts.len() == assembly.taken.len()
            && parts
                .iter()
                .zip(&assembly.taken)
                .all(|(part, (number, sha256))| part.part_number == *number && part.sha256 == *sha256);
        match std::mem::take(&mut assembly.body) {
            Body::Streaming(ingest) if streamed => Some(*ingest),
            _ => None,
        }
    }

    /// Drops `id`'s assembly and its staged bytes (the upload ended).
    pub fn forget(&self, id: &str) {
        self.open.lock().expect("assemblies lock").remove(id);
    }

    /// Drops the assemblies no part reached for [`IDLE`].
    pub fn sweep(&self) {
        drop_idle(&mut self.open.lock().expect("assemblies lock"), Instant::now());
    }

    /// `id`'s assembly, or with `begin` a new one if there is room.
    fn open_for(&self, id: &str, begin: bool) -> Option<Arc<Mutex<Assembly>>> {
        let mut open = self.open.lock().expect("assemblies lock");
        let now = Instant::now();
        drop_idle(&mut open, now);
        if let Some(found) = open.get_mut(id) {
            found.touched = now;
            return Some(found.assembly.clone());
        }
        if !begin || open.len() >= MOST_OPEN {
            return None;
        }
        let assembly = Arc::new(Mutex::new(Assembly::default()));
        open.insert(
            id.to_owned(),
            Open {
                assembly: assembly.clone(),
                touched: now,
            },
        );
        Some(assembly)
    }
}

fn drop_idle(open: &mut HashMap<String, Open>, now: Instant) {
    open.retain(|_, open| now.duration_since(open.touched) < IDLE);
}

impl Assembly {
    /// Streams the parts stored next in order, up to number `last`.
    async fn catch_up(&mut self, state: &AppState, upload: &MultipartUpload, last: i32) {
        while !matches!(self.body, Body::Failed) {
            let number = i32::try_from(self.taken.len())
                .unwrap_or(i32::MAX)
                .saturating_add(1);
            if number > last {
                return;
            }
            let streamed = match multipart::part(state.db.pool(), &upload.id, number).await {
                Ok(None) => return,
                Ok(Some(part)) => self.stream(state, upload, part).await,
                Err(err) => Err(err.into()),
            };
            if let Err(err) = streamed {
                tracing::debug!(upload = %upload.id, part = number, error = %err,
                    "stopped streaming a multipart upload's parts; completing will read them back");
                self.body = Body::Failed;
            }
        }
    }

    async fn stream(&mut self, state: &AppState, upload: &MultipartUpload, part: Part) -> Result<(), Error> {
        if matches!(self.body, Body::Waiting) {
            let format = Format::detect(&upload.file_name, &upload.content_type);
            self.body = Body::Streaming(Box::new(Ingest::start(state, format).await?));
        }
        let Body::Streaming(ingest) = &mut self.body else {
            return Ok(());
        };
        let key = crate::db::blobs::stored_key(&part.sha256)?;
        let mut bytes = state.blobs.read(&key, None).await?;
        let mut size = 0;
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|err| Error::Internal(err.into()))?;
            size += chunk.len() as u64;
            ingest.push(chunk).await?;
        }
        // Content released under the read (the part was sent again) can
        // end short rather than fail.
        if size != part.size.unsigned_abs() {
            return Err(Error::Internal(anyhow::anyhow!(
                "part {} gave {size} of its {} bytes",
                part.part_number,
                part.size
            )));
        }
        self.taken.push((part.part_number, part.sha256));
        Ok(())
    }
}
