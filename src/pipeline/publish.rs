//! Publishing stored content to an IPFS node (`DEPOT_IPFS_API`), behind the
//! uploads: the transaction that stores a file asks for its content to be
//! pinned, the one that deletes its last file for it to be unpinned
//! ([`ipfs_pins`]); a publisher works through those wishes one at a time.
//! Pinning imports depot's own CAR of the content (`dag/import`), so the node
//! holds exactly the blocks depot computed, under the CID depot gave.
//!
//! An IPFS node that is down never slows or fails an upload: its wishes wait
//! in the database, and each failed try is retried after a pause that doubles
//! up to an hour, [`MOST_ATTEMPTS`] times; `depot admin ipfs-sync` starts
//! them over. Among nodes sharing a database one publishes at a time (a lease).

use std::time::Duration;

use ipld_core::cid::Cid;
use tokio_util::io::ReaderStream;

use crate::db::ipfs_pins::{self, PinRow};
use crate::db::{blobs, jobs};
use crate::domain::timestamp::now_micros;
use crate::ipfs::node::IpfsNode;
use crate::pipeline::Error;
use crate::pipeline::content;
use crate::pipeline::state::AppState;

/// The lease that lets one node publish at a time.
const LEASE_NAME: &str = "ipfs-publish";
const LEASE: Duration = Duration::from_secs(60);
/// How often an idle publisher looks for work.
const IDLE_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two tries.
const LONGEST_PAUSE: Duration = Duration::from_secs(3600);
/// Tries of one wish before the publisher leaves it (as `failed`) to
/// `depot admin ipfs-sync`; with pauses doubling up to an hour from the
/// default 10 s, about a day.
pub const MOST_ATTEMPTS: i64 = 32;

/// Where to publish, and how soon to try again after a failure.
#[derive(Debug)]
pub struct Publishing {
    pub node: IpfsNode,
    /// The pause after the first failed try (`DEPOT_IPFS_RETRY`); each
    /// further failure doubles it.
    pub retry: Duration,
}

/// What one try did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pinned,
    Unpinned,
    Failed,
}

/// Starts this node's publisher, when the deployment publishes to an IPFS node.
pub fn spawn(state: &AppState) {
    let Some(publishing) = state.ipfs.clone() else {
        return;
    };
    tracing::info!(
        node = publishing.node.url(),
        "publishing stored content to the IPFS node"
    );
    let state = state.clone();
    tokio::spawn(async move {
        let stop = state.maintenance.stop.clone();
        loop {
            let worked = match work_once(&state, &publishing).await {
                Ok(worked) => worked,
                Err(err) => {
                    tracing::warn!(error = %err, "IPFS publishing could not read its queue");
                    false
                }
            };
            if worked {
                if stop.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(IDLE_PAUSE) => {}
            }
        }
        jobs::release_lease(state.db.pool(), LEASE_NAME, &state.maintenance.node)
            .await
            .ok();
    });
}

/// Takes the next due wish, if there is one and this node holds the lease,
/// and tries it; true if it tried one.
async fn work_once(state: &AppState, publishing: &Publishing) -> Result<bool, Error> {
    let pool = state.db.pool();
    let now = now_micros();
    let Some(row) = ipfs_pins::next_due(pool, now, MOST_ATTEMPTS).await? else {
        return Ok(false);
    };
    let expires = now.saturating_add(micros(LEASE));
    if !jobs::take_lease(pool, LEASE_NAME, &state.maintenance.node, now, expires).await? {
        return Ok(false);
    }
    try_one(state, publishing, &row).await?;
    Ok(true)
}

/// Tries one wish and records how it went.
pub async fn try_one(state: &AppState, publishing: &Publishing, row: &PinRow) -> Result<Outcome, Error> {
    let pool = state.db.pool();
    let tried = match row.want.as_str() {
        ipfs_pins::UNPIN => unpin(publishing, row).await.map(|()| Outcome::Unpinned),
        _ => pin(state, publishing, row).await.map(|()| Outcome::Pinned),
    };
    let outcome = match tried {
        Ok(Outcome::Unpinned) => {
            ipfs_pins::unpinned(pool, row).await?;
            tracing::info!(cid = %row.cid, "unpinned from the IPFS node");
            Outcome::Unpinned
        }
        Ok(_) => {
            ipfs_pins::pinned(pool, row).await?;
            tracing::info!(cid = %row.cid, "published to the IPFS node");
            Outcome::Pinned
        }
        Err(reason) => {
            let failures = u32::try_from(row.attempts).unwrap_or(u32::MAX);
            let pause = publishing
                .retry
                .saturating_mul(2_u32.saturating_pow(failures))
                .min(LONGEST_PAUSE);
            let next = now_micros().saturating_add(micros(pause));
            ipfs_pins::failed(pool, row, &reason, next).await?;
            tracing::warn!(cid = %row.cid, want = %row.want, error = %reason, retry_in = ?pause, "IPFS publishing failed; retrying later");
            Outcome::Failed
        }
    };
    crate::metrics::ipfs_published(match outcome {
        Outcome::Pinned => "pinned",
        Outcome::Unpinned => "unpinned",
        Outcome::Failed => "failed",
    });
    Ok(outcome)
}

/// Imports the content's CAR into the node, pinning its root. The reason of
/// a failure is what the file's pin state shows.
async fn pin(state: &AppState, publishing: &Publishing, row: &PinRow) -> Result<(), String> {
    let root = Cid::try_from(row.cid.as_str()).map_err(|err| format!("stored CID {:?}: {err}", row.cid))?;
    let key = blobs::stored_key(&row.sha256).map_err(|err| err.to_string())?;
    let car = content::car(state, &key, root)
        .await
        .map_err(|err| format!("reading the content: {err}"))?;
    let pinned = publishing
        .node
        .import_car(reqwest::Body::wrap_stream(ReaderStream::new(car)))
        .await
        .map_err(|err| err.to_string())?;
    if pinned != root {
        return Err(format!("the node pinned {pinned}, not {root}"));
    }
    Ok(())
}

async fn unpin(publishing: &Publishing, row: &PinRow) -> Result<(), String> {
    let cid = Cid::try_from(row.cid.as_str()).map_err(|err| format!("stored CID {:?}: {err}", row.cid))?;
    publishing.node.unpin(&cid).await.map_err(|err| err.to_string())
}

/// What `depot admin ipfs-sync` found and did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct SyncReport {
    /// Stored content that had never been queued (stored before publishing
    /// was configured), now queued.
    pub queued: u64,
    /// Content recorded as pinned that the node no longer pins, queued again.
    pub missing_on_node: u64,
    /// Failed or left wishes set to be tried again.
    pub retried: u64,
    /// Tries made now, and how many of them failed.
    pub tried: u64,
    pub failed: u64,
}

/// Rows read per query while comparing.
const SYNC_PAGE: i64 = 500;

/// Queues what the node should have and does not: content never queued, and
/// content recorded as pinned that the node's pin list lacks; sets failed
/// wishes to be tried again; then works through the whole queue now,
/// telling `progress` of each try.
pub async fn sync(
    state: &AppState,
    publishing: &Publishing,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<SyncReport, Error> {
    let pool = state.db.pool();
    let mut report = SyncReport::default();
    let pins = publishing
        .node
        .recursive_pins()
        .await
        .map_err(|err| Error::Internal(anyhow::anyhow!("{err}")))?;
    progress(&format!("the IPFS node pins {} CIDs", pins.len()));

    let mut after = String::new();
    loop {
        let page = ipfs_pins::unqueued(pool, &after, SYNC_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after.clone_from(last);
        let mut conn = pool.acquire().await?;
        for (sha256, cid) in &page {
            ipfs_pins::want_pinned(&mut conn, sha256, cid).await?;
            report.queued += 1;
        }
    }
    let mut after = String::new();
    loop {
        let page = ipfs_pins::pinned_page(pool, &after, SYNC_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after.clone_from(last);
        for (sha256, cid) in &page {
            let on_node = Cid::try_from(cid.as_str()).is_ok_and(|cid| pins.contains(&cid));
            if !on_node {
                ipfs_pins::repin(pool, sha256).await?;
                report.missing_on_node += 1;
            }
        }
    }
    report.retried = ipfs_pins::retry_all(pool).await?;
    progress(&format!(
        "queued {} never published, {} missing on the node; {} to try",
        report.queued, report.missing_on_node, report.retried
    ));

    // Each wish at most once in this run: a failure is left for the publisher.
    let started = now_micros();
    while let Some(row) = ipfs_pins::next_due(pool, started, MOST_ATTEMPTS).await? {
        let outcome = try_one(state, publishing, &row).await?;
        report.tried += 1;
        if outcome == Outcome::Failed {
            report.failed += 1;
        }
        progress(&format!("{} {}: {outcome:?}", row.want, row.cid));
    }
    Ok(report)
}

fn micros(pause: Duration) -> i64 {
    i64::try_from(pause.as_micros()).unwrap_or(i64::MAX)
}
