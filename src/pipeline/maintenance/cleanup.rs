//! `cleanup`: expired sessions, resumable and multipart uploads and quota reservations
//! (of uploads a crash cut off) go, and links a week after they expired; staged writes that a
//! crash left behind go once older than the grace period; stored blobs that no
//! row names (a crash between the bytes and the commit, a rolled-back
//! transaction) are noted, and handed to the removal of unused blobs once a
//! later run, a grace period on, still finds them so; blobs whose rows say
//! files use them but whose bytes are gone are reported and their files
//! flagged `corrupt` — never served as empty.
//!
//! Orphans and missing bytes are found in one merge of the store's listing
//! with the blob rows, both in key order, a page at a time.

use std::collections::{HashSet, VecDeque};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::db::{blobs, files, jobs, links};
use crate::domain::timestamp::now_micros;
use crate::pipeline::maintenance::{JobError, Progress, flag_corrupt, micros, stopping};
use crate::pipeline::state::AppState;
use crate::pipeline::{delete, multipart, quota, resumable, session};
use crate::storage::BlobKey;

const PAGE: usize = 1000;
/// How long an expired link stays in its owner's list (as `ended`).
const LINKS_KEPT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

pub async fn run(state: &AppState, progress: &Progress) -> Result<Value, JobError> {
    let grace = state.maintenance.settings.cleanup_grace;
    let sessions = session::expire(&state.db).await?;
    let uploads = resumable::expire(state).await.map_err(anyhow::Error::from)?;
    let multipart_uploads = multipart::expire(state).await.map_err(anyhow::Error::from)?;
    let reservations = quota::drop_expired(&state.db)
        .await
        .map_err(anyhow::Error::from)?;
    let links = links::remove_ended(state.db.pool(), now_micros() - micros(LINKS_KEPT)).await?;
    let stale_cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stale_stages = state
        .blobs
        .remove_stale_stages(stale_cutoff)
        .await
        .map_err(anyhow::Error::from)?;

    let scan = scan(state, progress).await?;

    // Orphans: each is noted when first seen; one seen before the grace
    // period began and still without a row becomes an unused blob, removed
    // by the deferred removal (which an upload of the same content stops).
    let pool = state.db.pool();
    let now = now_micros();
    let orphaned: HashSet<String> = scan.orphans.iter().map(|(key, _)| key.to_string()).collect();
    jobs::keep_only_orphans(pool, &orphaned).await?;
    for (key, _) in &scan.orphans {
        jobs::note_orphan(pool, key.as_str(), now).await?;
    }
    let due: HashSet<String> = jobs::orphans_seen_before(pool, now - micros(grace))
        .await?
        .into_iter()
        .collect();
    let mut adopted = Vec::new();
    for (key, size) in scan.orphans.iter().filter(|(key, _)| due.contains(key.as_str())) {
        let size = i64::try_from(*size).unwrap_or(i64::MAX);
        if jobs::adopt_orphan(pool, key.as_str(), size, now).await? {
            adopted.push(json!({ "sha256": key.as_str(), "size": size }));
        }
        jobs::forget_orphan(pool, key.as_str()).await?;
    }
    let removed = if adopted.is_empty() {
        0
    } else {
        delete::retry_cleanups(state).await.map_err(anyhow::Error::from)?
    };

    let mut missing = Vec::new();
    for key in &scan.missing {
        let named = files::names_with_content(pool, key.as_str()).await?;
        if named.is_empty() {
            continue;
        }
        tracing::error!(sha256 = %key, files = named.len(), "stored bytes of live files are missing");
        let named = flag_corrupt(pool, key.as_str(), named).await?;
        missing.push(json!({ "sha256": key.as_str(), "files": named }));
    }

    Ok(json!({
        "sessions_expired": sessions,
        "uploads_expired": uploads,
        "multipart_uploads_expired": multipart_uploads,
        "reservations_expired": reservations,
        "links_expired": links,
        "stale_stages_removed": stale_stages,
        "blobs_scanned": scan.stored,
        "orphans_waiting": scan.orphans.len() - adopted.len(),
        "orphans_removed": adopted,
        "unused_blobs_removed": removed,
        "missing": missing,
    }))
}

/// What the store holds against what the rows say.
struct Scan {
    /// Blobs in the store.
    stored: u64,
    /// Stored blobs no row names, with their sizes.
    orphans: Vec<(BlobKey, u64)>,
    /// Rows whose blob the store does not hold.
    missing: Vec<BlobKey>,
}

async fn scan(state: &AppState, progress: &Progress) -> Result<Scan, JobError> {
    let store = state.blobs.as_ref();
    let pool = state.db.pool();
    let mut scan = Scan {
        stored: 0,
        orphans: Vec::new(),
        missing: Vec::new(),
    };
    let (mut stored, mut stored_done, mut stored_after) = (VecDeque::new(), false, None::<BlobKey>);
    let mut listed = 0usize;
    let (mut rows, mut rows_done, mut rows_after) = (VecDeque::new(), false, String::new());
    loop {
        if stored.is_empty() && !stored_done {
            stopping(state)?;
            let page = store
                .list("", stored_after.as_ref(), PAGE)
                .await
                .map_err(anyhow::Error::from)?;
            stored_done = page.len() < PAGE;
            stored_after = page.last().map(|(key, _)| key.clone());
            listed += page.len();
            stored.extend(page);
            if !stored_done {
                progress(&format!("{listed} stored blobs listed"));
            }
        }
        if rows.is_empty() && !rows_done {
            let page = blobs::page(pool, &rows_after, PAGE as i64).await?;
            rows_done = page.len() < PAGE;
            if let Some((last, _)) = page.last() {
                rows_after.clone_from(last);
            }
            rows.extend(page.into_iter().map(|(sha256, _)| sha256));
        }
        match (stored.front(), rows.front()) {
            (None, None) => break,
            (Some(_), None) => {
                scan.orphans.extend(stored.pop_front());
                scan.stored += 1;
            }
            (None, Some(_)) => scan.missing.extend(rows.pop_front().map(row_key).transpose()?),
            (Some((key, _)), Some(row)) => match key.as_str().cmp(row.as_str()) {
                std::cmp::Ordering::Less => {
                    scan.orphans.extend(stored.pop_front());
                    scan.stored += 1;
                }
                std::cmp::Ordering::Greater => {
                    scan.missing.extend(rows.pop_front().map(row_key).transpose()?)
                }
                std::cmp::Ordering::Equal => {
                    stored.pop_front();
                    rows.pop_front();
                    scan.stored += 1;
                }
            },
        }
    }
    // The listing was taken page by page while uploads went on: a blob
    // committed after its page was read is not missing.
    let mut missing = Vec::new();
    for key in scan.missing {
        if store.size(&key).await.map_err(anyhow::Error::from)?.is_none() {
            missing.push(key);
        }
    }
    scan.missing = missing;
    Ok(scan)
}

fn row_key(sha256: String) -> Result<BlobKey, JobError> {
    Ok(blobs::stored_key(&sha256)?)
}
