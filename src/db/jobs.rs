//! Maintenance jobs in the database: their runs (history and reports), the
//! leases that let one node at a time run each job, and the orphaned blobs
//! cleanup has seen.

use std::collections::HashSet;

use sqlx::{AnyPool, FromRow};

/// One run of a job, as `GET /api/v1/admin/jobs` shows it.
#[derive(Debug, Clone, FromRow)]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    pub trigger: String,
    pub node: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
    /// The job's report as JSON; empty while it runs.
    pub report: String,
}

const RUN_COLUMNS: &str = "id, job, trigger, node, started_at, finished_at, outcome, report";

pub async fn start_run(
    pool: &AnyPool,
    job: &str,
    trigger: &str,
    node: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO job_runs (job, trigger, node, started_at, outcome) VALUES ($1, $2, $3, $4, 'running') \
         RETURNING id",
    )
    .bind(job)
    .bind(trigger)
    .bind(node)
    .bind(now)
    .fetch_one(pool)
    .await
}

pub async fn finish_run(
    pool: &AnyPool,
    id: i64,
    outcome: &str,
    report: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE job_runs SET outcome = $2, report = $3, finished_at = $4 WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .bind(report)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
}

/// Runs newest first, of one job or all, at most `limit`.
pub async fn runs(pool: &AnyPool, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>, sqlx::Error> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM job_runs WHERE ($1 = '' OR job = $1) ORDER BY id DESC LIMIT {limit}"
    );
    sqlx::query_as(&sql)
        .bind(job.unwrap_or_default())
        .fetch_all(pool)
        .await
}

pub async fn run(pool: &AnyPool, id: i64) -> Result<Option<JobRun>, sqlx::Error> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE id = $1");
    sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
}

/// When the last run of `job` that did not fail started, if one did.
pub async fn last_start(pool: &AnyPool, job: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MAX(started_at) FROM job_runs WHERE job = $1 AND outcome <> 'failed'")
        .bind(job)
        .fetch_one(pool)
        .await
}

/// Takes (or renews) the lease of `job` for `holder` until `expires_at`;
/// false when another holder's lease has not expired yet.
pub async fn take_lease(
    pool: &AnyPool,
    job: &str,
    holder: &str,
    now: i64,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < $4",
    )
    .bind(job)
    .bind(holder)
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Who holds the lease of `job` now, if anyone.
pub async fn lease_holder(pool: &AnyPool, job: &str, now: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT holder FROM job_leases WHERE job = $1 AND expires_at >= $2")
        .bind(job)
        .bind(now)
        .fetch_optional(pool)
        .await
}

pub async fn release_lease(pool: &AnyPool, job: &str, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
        .bind(job)
        .bind(holder)
        .execute(pool)
        .await
        .map(drop)
}

/// Notes stored blobs without a row as orphans, keeping the time each was
/// first seen.
pub async fn note_orphan(pool: &AnyPool, sha256: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orphan_blobs (sha256, first_seen_at) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(now)
    .execute(pool)
    .await
    .map(drop)
}

/// Orphans first seen before `cutoff`.
pub async fn orphans_seen_before(pool: &AnyPool, cutoff: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT sha256 FROM orphan_blobs WHERE first_seen_at < $1 ORDER BY sha256")
        .bind(cutoff)
        .fetch_all(pool)
        .await
}

pub async fn forget_orphan(pool: &AnyPool, sha256: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM orphan_blobs WHERE sha256 = $1")
        .bind(sha256)
        .execute(pool)
        .await
        .map(drop)
}

/// Forgets every orphan not in `still_orphaned` (they gained a row or went).
pub async fn keep_only_orphans(pool: &AnyPool, still_orphaned: &HashSet<String>) -> Result<(), sqlx::Error> {
    let known: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM orphan_blobs")
        .fetch_all(pool)
        .await?;
    for sha256 in known.iter().filter(|sha256| !still_orphaned.contains(*sha256)) {
        forget_orphan(pool, sha256).await?;
    }
    Ok(())
}

pub async fn orphan_count(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM orphan_blobs")
        .fetch_one(pool)
        .await
}

/// Hands an orphan over to the deferred removal of unused blobs (the job
/// `retry-blob-removals`): a row with no references, due now. An upload of
/// the same content meanwhile takes the row back, as for any unused blob.
pub async fn adopt_orphan(pool: &AnyPool, sha256: &str, size: i64, now: i64) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO blobs (sha256, size, refcount, created_at, cleanup_scheduled_for) VALUES ($1, $2, 0, $3, $3) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(size)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}
