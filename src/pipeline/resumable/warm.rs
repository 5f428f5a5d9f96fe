//! Dataset profilers kept between the requests of a resumable upload.

use crate::domain::UploadId;
use crate::pipeline::upload::PausedProfiling;

/// Dataset profilers of resumable uploads between requests, kept on the node
/// that served the last one, so that the next request there goes on where it
/// stopped and the last one does not read the file again. Any other node —
/// or this one after a restart, after a refused request, or for an upload
/// pushed out by [`WARM_PROFILES`] newer ones — profiles the staged bytes when
/// the upload completes instead.
#[derive(Debug, Default)]
pub struct WarmProfiles(std::sync::Mutex<std::collections::HashMap<UploadId, WarmProfile>>);

#[derive(Debug)]
struct WarmProfile {
    /// Where the upload stood when the profiler paused.
    offset: u64,
    paused: PausedProfiling,
    /// When, so the oldest (likely an upload another node finished or
    /// removed) makes room first.
    kept_at: std::time::Instant,
}

/// Uploads whose profilers a node keeps at once; the oldest goes first.
const WARM_PROFILES: usize = 256;

impl WarmProfiles {
    /// The upload's profiler, if it stopped at `offset`.
    pub(super) fn take(&self, id: UploadId, offset: u64) -> Option<PausedProfiling> {
        let mut warm = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        warm.remove(&id)
            .filter(|profile| profile.offset == offset)
            .map(|profile| profile.paused)
    }

    pub(super) fn keep(&self, id: UploadId, offset: u64, paused: PausedProfiling) {
        let mut warm = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if warm.len() >= WARM_PROFILES
            && let Some(oldest) = warm
                .iter()
                .min_by_key(|(_, profile)| profile.kept_at)
                .map(|(id, _)| *id)
        {
            warm.remove(&oldest);
        }
        let kept_at = std::time::Instant::now();
        warm.insert(
            id,
            WarmProfile {
                offset,
                paused,
                kept_at,
            },
        );
    }

    pub(super) fn forget(&self, id: UploadId) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }
}
