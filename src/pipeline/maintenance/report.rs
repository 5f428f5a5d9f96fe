//! `report`: files and bytes as users see them (logical) and as stored
//! (physical, each content once), the dedup ratio, the largest users and
//! content types, growth over the last 30 days, orphans and corrupt files —
//! as JSON, and rendered for people by [`render`].

use std::fmt::Write;

use serde_json::{Value, json};

use crate::db::{jobs, storage_report};
use crate::domain::size::human;
use crate::domain::timestamp::now_micros;
use crate::pipeline::maintenance::JobError;
use crate::pipeline::state::AppState;

/// Users and content types listed, the largest first.
const TOP: i64 = 20;
const GROWTH_DAYS: i64 = 30;
const DAY_MICROS: i64 = 86_400_000_000;

pub async fn run(state: &AppState) -> Result<Value, JobError> {
    let pool = state.db.pool();
    let (files, logical_bytes) = storage_report::logical(pool).await?;
    let (contents, physical_bytes) = storage_report::physical(pool).await?;
    let groups = |groups: Vec<storage_report::Group>| -> Vec<Value> {
        groups
            .into_iter()
            .map(|group| json!({ "name": group.name, "files": group.files, "bytes": group.bytes }))
            .collect()
    };
    let today = now_micros() / DAY_MICROS;
    let growth: Vec<Value> = storage_report::growth(pool, (today - GROWTH_DAYS + 1) * DAY_MICROS)
        .await?
        .into_iter()
        .map(|(day, files, bytes)| json!({ "date": date_of(day), "files": files, "bytes": bytes }))
        .collect();
    Ok(json!({
        "files": files,
        "logical_bytes": logical_bytes,
        "contents": contents,
        "physical_bytes": physical_bytes,
        "dedup_ratio": if physical_bytes > 0 { logical_bytes as f64 / physical_bytes as f64 } else { 1.0 },
        "by_user": groups(storage_report::by_user(pool, TOP).await?),
        "by_content_type": groups(storage_report::by_type(pool, TOP).await?),
        "growth": growth,
        "corrupt_files": storage_report::corrupt_files(pool).await?,
        "orphans_waiting": jobs::orphan_count(pool).await?,
        "unused_blobs": storage_report::unused_blobs(pool).await?,
    }))
}

/// `YYYY-MM-DD` of a day counted from the Unix epoch.
fn date_of(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|moment| moment.date().to_string())
        .unwrap_or_default()
}

/// A report (the JSON [`run`] gives) as text for a terminal.
pub fn render(report: &Value) -> String {
    let int = |value: &Value| value.as_i64().unwrap_or_default();
    let bytes = |value: &Value| human(u64::try_from(int(value)).unwrap_or_default());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "files: {}, {} as listed; stored once: {} contents, {} (dedup ratio {:.2})",
        int(&report["files"]),
        bytes(&report["logical_bytes"]),
        int(&report["contents"]),
        bytes(&report["physical_bytes"]),
        report["dedup_ratio"].as_f64().unwrap_or(1.0),
    );
    let _ = writeln!(
        out,
        "corrupt files: {}; orphaned blobs waiting: {}; unused blobs awaiting removal: {}",
        int(&report["corrupt_files"]),
        int(&report["orphans_waiting"]),
        int(&report["unused_blobs"]),
    );
    for (title, key) in [("by user", "by_user"), ("by content type", "by_content_type")] {
        let _ = writeln!(out, "\n{title}:");
        for group in report[key].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {:<40} {:>8} files {:>12}",
                group["name"].as_str().unwrap_or_default(),
                int(&group["files"]),
                bytes(&group["bytes"]),
            );
        }
    }
    let _ = writeln!(out, "\nadded in the last {GROWTH_DAYS} days:");
    for day in report["growth"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}   {:>8} files {:>12}",
            day["date"].as_str().unwrap_or_default(),
            int(&day["files"]),
            bytes(&day["bytes"]),
        );
    }
    out
}
