//! Maintenance jobs for admins: `POST /api/v1/admin/jobs/{name}` starts a run
//! (202, or 409 `job_running` while any node runs that job), and
//! `GET /api/v1/admin/jobs` lists runs, newest first, with their reports.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::jobs::{self, JobRun};
use crate::domain::timestamp;
use crate::http::caller::AdminUser;
use crate::http::error::ApiError;
use crate::pipeline::Error;
use crate::pipeline::backup::BACKUP_JOB;
use crate::pipeline::maintenance::{self, Job, JobError, Progress, Trigger};
use crate::pipeline::state::AppState;

const DEFAULT_RUNS: i64 = 20;
const MAX_RUNS: i64 = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    id: i64,
    job: String,
    /// `schedule`, `api` or `cli`.
    trigger: String,
    /// The node that ran it (host:pid:suffix).
    node: String,
    started_at: String,
    finished_at: Option<String>,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    outcome: String,
    /// The job's findings; null while it runs.
    #[schema(value_type = Option<Object>)]
    report: Option<Value>,
}

impl From<JobRun> for RunView {
    fn from(run: JobRun) -> Self {
        Self {
            id: run.id,
            job: run.job,
            trigger: run.trigger,
            node: run.node,
            started_at: timestamp::to_rfc3339(run.started_at),
            finished_at: run.finished_at.map(timestamp::to_rfc3339),
            outcome: run.outcome,
            report: serde_json::from_str(&run.report).ok(),
        }
    }
}

/// `POST /api/v1/admin/jobs/{name}`
#[utoipa::path(post, path = "/api/v1/admin/jobs/{name}", tag = "admin",
    params(("name" = String, Path, description = "`cleanup`, `verify` or `report`")),
    responses((status = 202, description = "Started", body = RunView),
        (status = 404, description = "Not an admin, or no such job", body = crate::http::openapi::ErrorBody), (status = 409, description = "A node runs the job now (`job_running`)", body = crate::http::openapi::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let job = Job::parse(&name).ok_or(Error::NotFound("job"))?;
    let progress: Progress = Arc::new(move |line: &str| tracing::info!(job = job.name(), "{line}"));
    let started = maintenance::start(&state, job, Trigger::Api, progress)
        .await
        .map_err(|err| match err {
            JobError::Busy { .. } => ApiError::JobRunning(err.to_string()),
            err => ApiError::from(Error::Internal(err.into())),
        })?;
    let run = jobs::run(state.db.pool(), started.run_id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("job run {} vanished", started.run_id)))?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    job: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunsPage {
    runs: Vec<RunView>,
}

/// `GET /api/v1/admin/jobs?job=verify&limit=20`
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", params(RunsParams),
    responses((status = 200, description = "Job runs, newest first, with their reports", body = RunsPage),
        (status = 404, description = "Not an admin", body = crate::http::openapi::ErrorBody), (status = 422, description = "A bad parameter", body = crate::http::openapi::ErrorBody)))]
pub async fn runs(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<RunsParams>, QueryRejection>,
) -> Result<Json<RunsPage>, ApiError> {
    let Query(params) = query.map_err(|rejection| Error::Validation(rejection.body_text()))?;
    if let Some(job) = &params.job
        && Job::parse(job).is_none()
        && job != BACKUP_JOB
    {
        return Err(Error::Validation(format!(
            "job must be one of {}, {BACKUP_JOB}",
            Job::ALL.map(Job::name).join(", ")
        ))
        .into());
    }
    let limit = params.limit.unwrap_or(DEFAULT_RUNS);
    if !(1..=MAX_RUNS).contains(&limit) {
        return Err(Error::Validation(format!("limit must be 1 to {MAX_RUNS}")).into());
    }
    let runs = jobs::runs(state.db.pool(), params.job.as_deref(), limit).await?;
    Ok(Json(RunsPage {
        runs: runs.into_iter().map(RunView::from).collect(),
    }))
}
