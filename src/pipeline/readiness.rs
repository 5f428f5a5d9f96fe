//! Whether this node can take uploads: the database commits a write and the
//! blob store makes one durable. A read is not enough — a disk whose fsync
//! fails, or that is full, still answers reads.
//!
//! Probes are rate-limited: one round at a time, at most every [`FRESH`],
//! shared by every `/readyz` that asks meanwhile. An answer never waits more
//! than [`ANSWER_WITHIN`]: a component whose probe has not finished by then
//! counts as not answering (a hung storage node, a black-holed S3 endpoint),
//! and the probe goes on in the background, at most [`PROBE_TIMEOUT`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::db::Db;
use crate::domain::timestamp::now_micros;
use crate::metrics;
use crate::storage::BlobStore;

/// How long a round of probes stands for the node's state.
pub const FRESH: Duration = Duration::from_secs(2);
/// The longest a readiness answer waits for a round of probes.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(800);
/// The longest one probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How one component fared in its last probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The probe failed, with the reason (for the logs).
    Failing(String),
    /// The probe had not finished when the answer was due.
    NotAnswering,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// The word `/readyz` shows.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failing(_) => "failing",
            Self::NotAnswering => "not_answering",
        }
    }
}

/// One round of probes.
#[derive(Debug, Clone)]
pub struct Report {
    pub database: Health,
    pub blob_store: Health,
}

impl Report {
    pub fn is_ready(&self) -> bool {
        self.database.is_ok() && self.blob_store.is_ok()
    }
}

/// The node's readiness, probed on demand.
#[derive(Default)]
pub struct Readiness {
    rounds: Mutex<Rounds>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readiness")
    }
}

#[derive(Default)]
struct Rounds {
    /// The last round that finished, and when it started.
    last: Option<(Instant, Report)>,
    /// The round under way.
    current: Option<Round>,
}

/// A round of probes, shared by whoever waits for it; each component's result
/// is there as soon as its probe ends.
#[derive(Clone)]
struct Round {
    done: Shared<BoxFuture<'static, ()>>,
    database: Arc<Mutex<Option<Health>>>,
    blob_store: Arc<Mutex<Option<Health>>>,
}

impl Readiness {
    /// Whether the node is ready, from the last round if it is fresh, else
    /// from a new one (or the one under way), waited for at most
    /// [`ANSWER_WITHIN`].
    pub async fn check(self: &Arc<Self>, db: &Db, blobs: &Arc<dyn BlobStore>) -> Report {
        let round = {
            let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
            match (&rounds.last, &rounds.current) {
                (Some((started, report)), _) if started.elapsed() < FRESH => return report.clone(),
                (_, Some(round)) => round.clone(),
                _ => {
                    let round = self.start(db.clone(), Arc::clone(blobs));
                    rounds.current = Some(round.clone());
                    round
                }
            }
        };
        let _ = tokio::time::timeout(ANSWER_WITHIN, round.done.clone()).await;
        Report {
            database: health_in(&round.database),
            blob_store: health_in(&round.blob_store),
        }
    }

    fn start(self: &Arc<Self>, db: Db, blobs: Arc<dyn BlobStore>) -> Round {
        let started = Instant::now();
        let database = Arc::new(Mutex::new(None));
        let blob_store = Arc::new(Mutex::new(None));
        let probes = futures_util::future::join(
            probe("database", Arc::clone(&database), async move {
                db.probe_write(now_micros()).await.map_err(|err| err.to_string())
            }),
            probe("blob_store", Arc::clone(&blob_store), async move {
                blobs.check().await.map_err(|err| err.to_string())
            }),
        );
        let readiness = Arc::clone(self);
        let (database_slot, blob_store_slot) = (Arc::clone(&database), Arc::clone(&blob_store));
        let task = tokio::spawn(async move {
            probes.await;
            let report = Report {
                database: health_in(&database_slot),
                blob_store: health_in(&blob_store_slot),
            };
            let mut rounds = readiness.rounds.lock().unwrap_or_else(PoisonError::into_inner);
            rounds.last = Some((started, report));
            rounds.current = None;
        });
        Round {
            done: task.map(drop).boxed().shared(),
            database,
            blob_store,
        }
    }
}

/// A component's result in a round, or [`Health::NotAnswering`] while its probe runs.
fn health_in(slot: &Mutex<Option<Health>>) -> Health {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or(Health::NotAnswering)
}

/// Runs one component's probe within [`PROBE_TIMEOUT`] and puts its result in `slot`.
async fn probe(
    component: &'static str,
    slot: Arc<Mutex<Option<Health>>>,
    work: impl Future<Output = Result<(), String>>,
) {
    let health = match tokio::time::timeout(PROBE_TIMEOUT, work).await {
        Ok(Ok(())) => Health::Ok,
        Ok(Err(reason)) => Health::Failing(reason),
        Err(_) => Health::Failing(format!("no answer within {PROBE_TIMEOUT:?}")),
    };
    if let Health::Failing(reason) = &health {
        tracing::warn!(component, %reason, "readiness probe failed");
    }
    metrics::component_ready(component, health.is_ok());
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(health);
}
