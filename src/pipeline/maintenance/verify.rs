//! `verify`: every blob files use is read back, at most `verify_rate` bytes a
//! second so that serving goes on, and checked against its SHA-256 and, where
//! its DAG is kept, each 256 KiB chunk against its leaf CID. Content that no
//! longer matches, or is gone, has its files flagged `corrupt` and reported.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::db::{blobs, dag, files};
use crate::ipfs::verify::verified_chunks;
use crate::pipeline::maintenance::{JobError, Progress, flag_corrupt, stopping};
use crate::pipeline::state::AppState;
use crate::storage::{BlobKey, ByteStream, StorageError};

const PAGE: i64 = 200;
/// How often a long run says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub async fn run(state: &AppState, progress: &Progress) -> Result<Value, JobError> {
    let pool = state.db.pool();
    let mut pace = Pace::new(
        state.maintenance.settings.verify_rate,
        state.maintenance.stop.clone(),
    );
    let (mut checked, mut bytes) = (0u64, 0u64);
    let (mut corrupt, mut missing) = (Vec::new(), Vec::new());
    let mut after = String::new();
    let mut shown = Instant::now();
    loop {
        let page = blobs::page(pool, &after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after.clone_from(last);
        for (sha256, _) in &page {
            stopping(state)?;
            let named = files::names_with_content(pool, sha256).await?;
            if named.is_empty() {
                continue; // unused content awaiting removal
            }
            let key = blobs::stored_key(sha256)?;
            let finding = match check(state, &key, &mut pace).await? {
                Checked::Intact(size) => {
                    bytes += size;
                    None
                }
                Checked::Corrupt(size, why) => {
                    bytes += size;
                    Some((&mut corrupt, why))
                }
                Checked::Missing => Some((&mut missing, "the store does not hold it".to_owned())),
            };
            checked += 1;
            if let Some((list, why)) = finding {
                tracing::error!(sha256, reason = why, "verify found damaged content");
                let named = flag_corrupt(pool, sha256, named).await?;
                list.push(json!({ "sha256": sha256, "reason": why, "files": named }));
            }
            if shown.elapsed() >= PROGRESS_EVERY {
                shown = Instant::now();
                progress(&format!(
                    "{checked} blobs verified ({:.0} MB), {} corrupt, {} missing",
                    bytes as f64 / 1e6,
                    corrupt.len(),
                    missing.len()
                ));
            }
        }
    }
    Ok(json!({
        "blobs_checked": checked,
        "bytes_checked": bytes,
        "corrupt": corrupt,
        "missing": missing,
    }))
}

enum Checked {
    Intact(u64),
    Corrupt(u64, String),
    Missing,
}

async fn check(state: &AppState, key: &BlobKey, pace: &mut Pace) -> Result<Checked, JobError> {
    let stream = match state.blobs.read(key, None).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound) => return Ok(Checked::Missing),
        Err(err) => return Err(anyhow::Error::from(err).into()),
    };
    let leaves = dag::leaves(state.db.pool(), key).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    if leaves.is_empty() {
        let mut stream: ByteStream = stream;
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(piece) => {
                    hasher.update(&piece);
                    size += piece.len() as u64;
                    pace.took(piece.len() as u64).await?;
                }
                Err(err) => return Ok(Checked::Corrupt(size, format!("unreadable: {err}"))),
            }
        }
    } else {
        let mut chunks = Box::pin(verified_chunks(stream, leaves, 0));
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => {
                    let length: usize = chunk.pieces.iter().map(|piece| piece.len()).sum();
                    chunk.pieces.iter().for_each(|piece| hasher.update(piece));
                    size += length as u64;
                    pace.took(length as u64).await?;
                }
                Err(err) => return Ok(Checked::Corrupt(size, err.to_string())),
            }
        }
    }
    if BlobKey::from_digest(&hasher.finalize().into()) == *key {
        Ok(Checked::Intact(size))
    } else {
        Ok(Checked::Corrupt(
            size,
            "its bytes do not match their SHA-256".to_owned(),
        ))
    }
}

/// Holds reading to `rate` bytes a second on average (0: no limit); a pause
/// ends early, with [`JobError::Stopped`], when the node shuts down.
struct Pace {
    rate: u64,
    started: Instant,
    bytes: u64,
    stop: CancellationToken,
}

impl Pace {
    fn new(rate: u64, stop: CancellationToken) -> Self {
        Self {
            rate,
            started: Instant::now(),
            bytes: 0,
            stop,
        }
    }

    async fn took(&mut self, bytes: u64) -> Result<(), JobError> {
        self.bytes += bytes;
        let due = if self.rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(self.bytes as f64 / self.rate as f64)
        };
        let ahead = due.saturating_sub(self.started.elapsed());
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(JobError::Stopped),
            () = tokio::time::sleep(ahead) => Ok(()),
        }
    }
}
