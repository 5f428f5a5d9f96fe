//! The gauges `/metrics` takes from the database at a scrape — each job's
//! (and backup's) last success and failure, a run that goes on, the files
//! flagged corrupt, the users near their quota, the IPFS publishing queue — read at most every
//! [`REFRESH`], so that scrapes from several Prometheus servers, or a flood
//! of them, cost the database little.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::{health, ipfs_pins, storage_report};
use crate::domain::timestamp::now_micros;
use crate::metrics;
use crate::pipeline::backup::BACKUP_JOB;
use crate::pipeline::maintenance::Job;
use crate::pipeline::state::AppState;

/// The longest a scrape shows gauges from an earlier one.
const REFRESH: Duration = Duration::from_secs(5);
/// A user this full of a quota counts as near it.
const NEAR_QUOTA_PERCENT: i64 = 90;

/// When a deployment's gauges were last read.
#[derive(Debug, Default)]
pub struct Gauges {
    read_at: Mutex<Option<Instant>>,
}

/// Sets the database's gauges, unless they were set less than [`REFRESH`] ago.
pub async fn refresh(state: &AppState) -> Result<(), sqlx::Error> {
    {
        let mut read_at = state
            .gauges
            .read_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if read_at.is_some_and(|at| at.elapsed() < REFRESH) {
            return Ok(());
        }
        *read_at = Some(Instant::now());
    }
    let pool = state.db.pool();
    let now = now_micros();
    let seconds = |micros: Option<i64>| micros.map_or(0, |micros| micros / 1_000_000);
    let runs = health::job_runs(pool).await?;
    let names = Job::ALL.iter().map(|job| job.name()).chain([BACKUP_JOB]);
    for name in names {
        let found = runs.iter().find(|runs| runs.job == name);
        let interval =
            Job::parse(name).map_or(Duration::ZERO, |job| state.maintenance.settings.interval(job));
        metrics::job_health(
            name,
            seconds(found.and_then(|runs| runs.last_success)),
            seconds(found.and_then(|runs| runs.last_failure)),
            seconds(found.and_then(|runs| runs.running_since).map(|since| now - since)),
            i64::try_from(interval.as_secs()).unwrap_or(i64::MAX),
        );
    }
    let quota = &state.policy.quota;
    let near = health::users_near_quota(
        pool,
        i64::try_from(quota.bytes).unwrap_or(i64::MAX),
        i64::try_from(quota.files).unwrap_or(i64::MAX),
        NEAR_QUOTA_PERCENT,
    )
    .await?;
    metrics::data_health(storage_report::corrupt_files(pool).await?, near);
    if state.ipfs.is_some() {
        metrics::ipfs_pins(&ipfs_pins::counts(pool).await?);
    }
    Ok(())
}
