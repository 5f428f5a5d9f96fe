//! `depot admin cleanup|verify|report`: a maintenance job run now, against the
//! configured deployment, under the same lease as the servers' runs.

use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;

use crate::config::Config;
use crate::pipeline::maintenance::{self, Job, JobError, Progress, Trigger};
use crate::startup;

/// Runs `job` to its end, printing progress to stderr and the report to
/// stdout. Fails (exits non-zero) when another node runs the job, when the job
/// fails, and when cleanup or verify find damaged content.
pub async fn run_job(config: Config, job: Job, json: bool) -> anyhow::Result<()> {
    let state = startup::build_state(&config).await?;
    let progress: Progress = Arc::new(|line: &str| eprintln!("{line}"));
    let started = match maintenance::start(&state, job, Trigger::Cli, progress).await {
        Ok(started) => started,
        Err(err @ JobError::Busy { .. }) => anyhow::bail!("{err}; try again when it has finished"),
        Err(err) => return Err(err.into()),
    };
    eprintln!("{job}: run {} started", started.run_id);
    let report = started.finished.await.context("the job panicked")??;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(job, &report));
    }
    let damaged = count(&report["corrupt"]) + count(&report["missing"]);
    anyhow::ensure!(
        damaged == 0,
        "{damaged} damaged content(s) found; their files are flagged corrupt"
    );
    Ok(())
}

fn count(list: &Value) -> usize {
    list.as_array().map_or(0, Vec::len)
}

fn render(job: Job, report: &Value) -> String {
    let int = |key: &str| report[key].as_u64().unwrap_or_default();
    let damaged = |key: &str| -> String {
        report[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                let files: Vec<&str> = entry["files"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|file| file["file_name"].as_str())
                    .collect();
                let reason = entry["reason"].as_str().unwrap_or("its bytes are gone");
                format!(
                    "{key}: {} ({reason}); files: {}\n",
                    entry["sha256"].as_str().unwrap_or_default(),
                    files.join(", ")
                )
            })
            .collect()
    };
    match job {
        Job::Report => maintenance::render_report(report),
        Job::Cleanup => format!(
            "removed: {} expired session(s), {} expired upload(s), {} stale staged write(s), \
             {} orphaned blob(s) ({} unused blob(s) removed from the store)\n\
             {} stored blob(s) scanned; {} orphan(s) waiting out the grace period\n{}",
            int("sessions_expired"),
            int("uploads_expired"),
            int("stale_stages_removed"),
            count(&report["orphans_removed"]),
            int("unused_blobs_removed"),
            int("blobs_scanned"),
            int("orphans_waiting"),
            damaged("missing"),
        ),
        Job::Verify => format!(
            "{} blob(s) verified ({} bytes): {} corrupt, {} missing\n{}{}",
            int("blobs_checked"),
            int("bytes_checked"),
            count(&report["corrupt"]),
            count(&report["missing"]),
            damaged("corrupt"),
            damaged("missing"),
        ),
    }
}
