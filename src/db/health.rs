//! What `/metrics` reports from the database, the same on every node: how
//! each job's runs (and backups) went, and the users near their quota (the
//! files flagged corrupt are counted by `storage_report`).

use sqlx::AnyPool;

/// A job's runs, in microseconds since the epoch.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRuns {
    pub job: String,
    pub last_success: Option<i64>,
    pub last_failure: Option<i64>,
    /// When its newest run started, if that run has not ended.
    pub running_since: Option<i64>,
}

pub async fn job_runs(pool: &AnyPool) -> Result<Vec<JobRuns>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job, \
           MAX(CASE WHEN outcome = 'succeeded' THEN finished_at END) AS last_success, \
           MAX(CASE WHEN outcome = 'failed' THEN finished_at END) AS last_failure, \
           MAX(CASE WHEN outcome = 'running' AND id = newest THEN started_at END) AS running_since \
         FROM job_runs JOIN (SELECT job AS newest_of, MAX(id) AS newest FROM job_runs GROUP BY job) n \
           ON n.newest_of = job \
         GROUP BY job ORDER BY job",
    )
    .fetch_all(pool)
    .await
}

/// Users whose files take `percent` % or more of their byte or file quota
/// (theirs, else the deployment's `bytes` and `files`; 0 is unlimited),
/// compared in floating point so that no quota, however large, overflows.
pub async fn users_near_quota(
    pool: &AnyPool,
    bytes: i64,
    files: i64,
    percent: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM ( \
           SELECT u.bytes, u.files, COALESCE(a.quota_bytes, $1) AS max_bytes, COALESCE(a.quota_files, $2) AS max_files \
           FROM user_usage u LEFT JOIN users a ON a.id = u.user_id) q \
         WHERE (max_bytes > 0 AND CAST(bytes AS DOUBLE PRECISION) * 100 >= CAST(max_bytes AS DOUBLE PRECISION) * $3) \
            OR (max_files > 0 AND CAST(files AS DOUBLE PRECISION) * 100 >= CAST(max_files AS DOUBLE PRECISION) * $3)",
    )
    .bind(bytes)
    .bind(files)
    .bind(percent)
    .fetch_one(pool)
    .await
}
