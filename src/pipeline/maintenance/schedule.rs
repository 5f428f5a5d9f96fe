//! The one scheduler of a server's periodic work. Every task runs on its own
//! interval until the node stops:
//!
//! - the sweeps — expired sessions, expired resumable uploads (and quota
//!   reservations of uploads cut off), removals of
//!   deleted files' bytes the store refused — run at start and then often, on
//!   every node: each claims what it removes in the database, so two nodes
//!   sweeping at once never remove one thing twice;
//! - the maintenance jobs ([`Job`]) wait an interval first and run under their
//!   lease, one node at a time; a round runs one only when no node has
//!   started it for an interval, and their runs are recorded
//!   ([`super::start`]).

use std::sync::Arc;
use std::time::Duration;

use super::{Job, JobError, Progress, Trigger, micros, start};
use crate::db::jobs;
use crate::domain::timestamp::now_micros;
use crate::pipeline::state::AppState;
use crate::pipeline::{delete, quota, resumable, session};

/// The frequent sweeps; each is also part of [`Job::Cleanup`].
#[derive(Debug, Clone, Copy)]
enum Sweep {
    ExpiredSessions,
    ExpiredUploads,
    RetriedRemovals,
}

impl Sweep {
    const ALL: [Sweep; 3] = [
        Sweep::ExpiredSessions,
        Sweep::ExpiredUploads,
        Sweep::RetriedRemovals,
    ];

    fn name(self) -> &'static str {
        match self {
            Sweep::ExpiredSessions => "expired-sessions",
            Sweep::ExpiredUploads => "expired-uploads",
            Sweep::RetriedRemovals => "retried-removals",
        }
    }

    fn interval(self, state: &AppState) -> Duration {
        match self {
            Sweep::ExpiredSessions => state.sessions.sweep_interval,
            // Twice per expiry period, between once a second and once an hour:
            // an abandoned upload's space comes back soon after it expires.
            Sweep::ExpiredUploads => {
                (state.policy.upload_expiry / 2).clamp(Duration::from_secs(1), Duration::from_secs(3600))
            }
            // Twice per first retry pause, between once a second and every 15 seconds.
            Sweep::RetriedRemovals => {
                (state.policy.cleanup_retry / 2).clamp(Duration::from_secs(1), Duration::from_secs(15))
            }
        }
    }

    /// Does one round: how many things it removed.
    async fn run(self, state: &AppState) -> anyhow::Result<u64> {
        Ok(match self {
            Sweep::ExpiredSessions => session::expire(&state.db).await?,
            Sweep::ExpiredUploads => {
                quota::drop_expired(&state.db).await?;
                resumable::expire(state).await?
            }
            Sweep::RetriedRemovals => delete::retry_cleanups(state).await?,
        })
    }

    fn removed(self) -> &'static str {
        match self {
            Sweep::ExpiredSessions => "expired sessions removed",
            Sweep::ExpiredUploads => "expired uploads removed",
            Sweep::RetriedRemovals => "bytes of deleted files removed on a retry",
        }
    }
}

/// Starts every periodic task; they stop when the node's maintenance stops.
pub fn spawn(state: &AppState) {
    for sweep in Sweep::ALL {
        every(
            state,
            sweep.name(),
            sweep.interval(state),
            false,
            move |state| async move { sweep_round(&state, sweep).await },
        );
    }
    for job in Job::ALL {
        let interval = state.maintenance.settings.interval(job);
        if interval.is_zero() {
            continue;
        }
        every(state, job.name(), interval, true, move |state| async move {
            job_round(&state, job, interval)
                .await
                .map_err(anyhow::Error::from)
        });
    }
}

/// Runs `round` every `interval` (after waiting one first when `wait_first`)
/// until the node's maintenance stops. A failed round is logged and the next
/// one runs.
fn every<F, Fut>(state: &AppState, task: &'static str, interval: Duration, wait_first: bool, round: F)
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let state = state.clone();
    tokio::spawn(async move {
        let stop = state.maintenance.stop.clone();
        let mut wait = wait_first;
        loop {
            if wait {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(interval) => {}
                }
            }
            wait = true;
            if let Err(err) = round(state.clone()).await {
                tracing::warn!(task, error = format!("{err:#}"), "scheduled round failed");
            }
        }
        tracing::debug!(task, "scheduled task stopped");
    });
}

async fn sweep_round(state: &AppState, sweep: Sweep) -> anyhow::Result<()> {
    let removed = sweep.run(state).await?;
    if removed > 0 {
        tracing::info!(removed, "{}", sweep.removed());
    }
    Ok(())
}

async fn job_round(state: &AppState, job: Job, interval: Duration) -> Result<(), JobError> {
    let last = jobs::last_start(state.db.pool(), job.name()).await?;
    if last.is_some_and(|last| now_micros() - last < micros(interval)) {
        return Ok(());
    }
    let progress: Progress = Arc::new(move |line: &str| tracing::info!(job = job.name(), "{line}"));
    match start(state, job, Trigger::Schedule, progress).await {
        Ok(started) => started
            .finished
            .await
            .map_err(|err| JobError::Failed(err.into()))?
            .map(drop),
        Err(JobError::Busy { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}
