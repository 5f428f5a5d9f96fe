//! Maintenance jobs — `cleanup`, `verify`, `report` — run on a schedule by
//! every server and on demand (`depot admin …`, `POST /api/v1/admin/jobs/{name}`).
//!
//! One protocol for all of them: take the job's lease in the database (so one
//! node runs it at a time, however many share the database), record the run,
//! do the work in batches while renewing the lease and watching for shutdown,
//! then record how it ended with its report. A run that finds the lease held
//! elsewhere does nothing ([`JobError::Busy`]). One scheduler (`schedule`)
//! runs them and the frequent sweeps (expiry, retried removals).

mod cleanup;
mod report;
mod schedule;
mod verify;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::jobs;
use crate::domain::timestamp::now_micros;
use crate::pipeline::state::AppState;

pub use report::render as render_report;
pub use schedule::spawn as spawn_schedules;

/// How long a lease lasts unless renewed; a node that died lets go this long after.
const LEASE: Duration = Duration::from_secs(60);
/// How often a running job renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How long a stopping server waits for its running jobs to record how they ended.
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Unused and stale stored bytes removed, missing bytes reported, expired
    /// uploads and sessions removed.
    Cleanup,
    /// Every blob re-read and checked against its SHA-256 and leaf CIDs.
    Verify,
    /// Files, bytes, dedup, per user and type, growth, orphans, corruption.
    Report,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Cleanup, Job::Verify, Job::Report];

    pub fn name(self) -> &'static str {
        match self {
            Job::Cleanup => "cleanup",
            Job::Verify => "verify",
            Job::Report => "report",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|job| job.name() == name)
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What started a run, as its record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Api,
    Cli,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
        }
    }
}

/// How often each job runs, and what the jobs need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cleanup_interval: Duration,
    pub verify_interval: Duration,
    pub report_interval: Duration,
    /// Unused stored bytes older than this are removed.
    pub cleanup_grace: Duration,
    /// Bytes per second `verify` reads at most; 0 for no limit.
    pub verify_rate: u64,
}

impl Settings {
    pub fn interval(&self, job: Job) -> Duration {
        match job {
            Job::Cleanup => self.cleanup_interval,
            Job::Verify => self.verify_interval,
            Job::Report => self.report_interval,
        }
    }
}

/// This node's part in running jobs: who it is to the leases, the token that
/// tells its jobs to stop, and the runs under way.
#[derive(Debug)]
pub struct Maintenance {
    pub settings: Settings,
    /// The lease holder's name: host, process and a random suffix.
    pub node: String,
    pub stop: CancellationToken,
    runs: TaskTracker,
}

impl Maintenance {
    pub fn new(settings: Settings) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .unwrap_or_else(|_| "depot".to_owned());
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
        Self {
            settings,
            node: format!("{host}:{}:{suffix}", std::process::id()),
            stop: CancellationToken::new(),
            runs: TaskTracker::new(),
        }
    }

    /// Tells the jobs to stop, and waits up to [`STOP_DEADLINE`] for the runs
    /// under way to reach a check and record themselves `interrupted`.
    pub async fn shut_down(&self) {
        self.stop.cancel();
        self.runs.close();
        if tokio::time::timeout(STOP_DEADLINE, self.runs.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "maintenance jobs did not stop in time; their runs stay `running` until their leases expire"
            );
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{job} is running on {holder}")]
    Busy { job: Job, holder: String },
    #[error("stopped by shutdown")]
    Stopped,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<sqlx::Error> for JobError {
    fn from(err: sqlx::Error) -> Self {
        Self::Failed(err.into())
    }
}

/// A run under way: its id, and the work to await.
#[derive(Debug)]
pub struct Started {
    pub run_id: i64,
    pub finished: tokio::task::JoinHandle<Result<Value, JobError>>,
}

/// Where a long job says how far it is (the CLI prints it; the server logs it).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// Takes the job's lease and records the run, then does the work in a task;
/// [`JobError::Busy`] at once if another run holds the lease.
pub async fn start(
    state: &AppState,
    job: Job,
    trigger: Trigger,
    progress: Progress,
) -> Result<Started, JobError> {
    let pool = state.db.pool();
    let holder = state.maintenance.node.clone();
    let now = now_micros();
    if !take_lease(state, job.name()).await? {
        let holder = jobs::lease_holder(pool, job.name(), now)
            .await?
            .unwrap_or_default();
        return Err(JobError::Busy { job, holder });
    }
    let run_id = match jobs::start_run(pool, job.name(), trigger.as_str(), &holder, now).await {
        Ok(id) => id,
        Err(err) => {
            release_lease(state, job.name()).await;
            return Err(err.into());
        }
    };
    tracing::info!(
        job = job.name(),
        run = run_id,
        trigger = trigger.as_str(),
        "job started"
    );
    let runs = state.maintenance.runs.clone();
    let state = state.clone();
    let finished = runs.spawn(async move {
        let began = std::time::Instant::now();
        let result = tokio::select! {
            result = work(&state, job, &progress) => result,
            err = keep_lease(&state, job) => Err(err),
        };
        record(&state, job, run_id, &result, began.elapsed()).await;
        release_lease(&state, job.name()).await;
        result
    });
    Ok(Started { run_id, finished })
}

async fn work(state: &AppState, job: Job, progress: &Progress) -> Result<Value, JobError> {
    match job {
        Job::Cleanup => cleanup::run(state, progress).await,
        Job::Verify => verify::run(state, progress).await,
        Job::Report => report::run(state).await,
    }
}

/// Renews the lease until it cannot: resolves only with the reason it was lost.
async fn keep_lease(state: &AppState, job: Job) -> JobError {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match take_lease(state, job.name()).await {
            Ok(true) => {}
            Ok(false) => return JobError::Failed(anyhow::anyhow!("the job's lease was taken over")),
            Err(err) => tracing::warn!(job = job.name(), error = %err, "could not renew the job's lease"),
        }
    }
}

/// Takes (or renews) the lease `name` for this node, for [`LEASE`]: whether
/// it now holds it. One lease per job.
async fn take_lease(state: &AppState, name: &str) -> Result<bool, sqlx::Error> {
    let now = now_micros();
    jobs::take_lease(
        state.db.pool(),
        name,
        &state.maintenance.node,
        now,
        now + micros(LEASE),
    )
    .await
}

/// Lets go of a lease; one not let go (the database away) expires by itself.
async fn release_lease(state: &AppState, name: &str) {
    if let Err(err) = jobs::release_lease(state.db.pool(), name, &state.maintenance.node).await {
        tracing::warn!(lease = name, error = %err, "could not release a lease; it expires by itself");
    }
}

async fn record(state: &AppState, job: Job, run_id: i64, result: &Result<Value, JobError>, took: Duration) {
    let (outcome, report) = match result {
        Ok(report) => ("succeeded", report.clone()),
        Err(JobError::Stopped) => (
            "interrupted",
            serde_json::json!({ "error": "stopped by shutdown" }),
        ),
        Err(err) => ("failed", serde_json::json!({ "error": format!("{err:#}") })),
    };
    crate::metrics::job_ended(job.name(), outcome, took);
    match result {
        Ok(_) => tracing::info!(job = job.name(), run = run_id, "job finished"),
        Err(err) => tracing::warn!(job = job.name(), run = run_id, error = %err, "job did not finish"),
    }
    if let Err(err) = jobs::finish_run(
        state.db.pool(),
        run_id,
        outcome,
        &report.to_string(),
        now_micros(),
    )
    .await
    {
        tracing::error!(job = job.name(), run = run_id, error = %err, "could not record the end of a job run");
    }
}

/// Flags the files with damaged content `sha256` corrupt; the files, named as
/// a report lists them.
async fn flag_corrupt(
    pool: &sqlx::AnyPool,
    sha256: &str,
    named: Vec<(i64, String)>,
) -> Result<Vec<Value>, JobError> {
    crate::db::files::mark_corrupt(pool, sha256).await?;
    Ok(named
        .into_iter()
        .map(|(user_id, file_name)| serde_json::json!({ "user_id": user_id, "file_name": file_name }))
        .collect())
}

/// Whether the node is shutting down: jobs check between batches.
fn stopping(state: &AppState) -> Result<(), JobError> {
    if state.maintenance.stop.is_cancelled() {
        Err(JobError::Stopped)
    } else {
        Ok(())
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
