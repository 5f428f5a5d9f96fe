//! deploy/prometheus (alert rules, their unit tests, a scrape configuration)
//! and deploy/grafana (a dashboard), checked with promtool and against the
//! metrics depot serves; and the gauges those alerts read, following the
//! database.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;

use crate::cli::{depot_for, stderr_of};
use crate::clients::program;
use crate::helpers::TestApp;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

/// Whether promtool is here (the test is skipped without it, except under `CI=true`).
fn promtool() -> bool {
    program("promtool", "--version", "prometheus")
}

fn promtool_passes(args: &[&str], dir: &Path) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        stderr_of(&output)
    );
}

/// Every PromQL expression of the dashboard's panels.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(DEPLOY).join("grafana/depot-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().clone())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// The alert rules pass `promtool check`, the scrape configuration too, and
/// the rules' unit tests (deploy/prometheus/depot-alerts.test.yml) pass; the
/// dashboard's queries are valid PromQL (checked as recording rules).
#[test]
fn alert_rules_pass_their_unit_tests_and_the_dashboard_parses() {
    if !promtool() {
        return;
    }
    let prometheus = Path::new(DEPLOY).join("prometheus");
    promtool_passes(&["check", "config", "prometheus.yml"], &prometheus);
    promtool_passes(&["test", "rules", "depot-alerts.test.yml"], &prometheus);

    let scratch = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, query) in dashboard_queries().iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:panel_{n}\n        expr: {}\n",
            serde_json::to_string(query).unwrap()
        ));
    }
    std::fs::write(scratch.path().join("dashboard.yml"), rules).unwrap();
    promtool_passes(&["check", "rules", "dashboard.yml"], scratch.path());
}

/// The metric families a depot serves, by the names queries use
/// (`depot_x_total` of a counter, `depot_x_bucket` of a histogram, …).
async fn served_names(app: &TestApp) -> BTreeSet<String> {
    let text = app.metrics().await;
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split(' ');
        let (name, kind) = (words.next().unwrap(), words.next().unwrap_or_default());
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_count", "_sum"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
    }
    names
}

/// The `depot_…` names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("depot_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// An alert or a panel over a metric depot does not serve would never fire
/// or show anything: every name they read is one depot serves.
#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_read_is_served() {
    let app = TestApp::spawn().await;
    // Series labelled by route, component or job appear once one is seen.
    let root = app.user("root").await;
    assert_eq!(
        app.client.get(app.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    crate::jobs::run_job(&app, &root, "report").await;
    assert!(
        served_names(&app).await.contains("depot_job_runs_total"),
        "the report job's run is counted"
    );
    let served = served_names(&app).await;
    let rules = std::fs::read_to_string(Path::new(DEPLOY).join("prometheus/depot-alerts.yml")).unwrap();
    let rule_lines: Vec<&str> = rules
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect();
    let mut read = metric_names(&rule_lines.join("\n"));
    read.extend(dashboard_queries().iter().flat_map(|query| metric_names(query)));
    assert!(read.len() > 10, "{read:?}");
    let unknown: Vec<&String> = read.iter().filter(|name| !served.contains(*name)).collect();
    assert!(unknown.is_empty(), "not served: {unknown:?}\nserved: {served:?}");
}

/// The value of `series` in a scrape of `app`, once it is `wanted` (the
/// gauges are read from the database at most every 5 s, and a test process
/// runs other servers that set them too).
async fn gauge_becomes(app: &TestApp, series: &str, wanted: impl Fn(f64) -> bool) -> bool {
    for _ in 0..60 {
        let text = app.metrics().await;
        let value = crate::ops::sample(&text, series);
        if value.is_some_and(&wanted) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    false
}

/// What the alerts watch follows the database: a job's and a backup's last
/// success, a file flagged corrupt by verify, a user near the quota, and the
/// pool's size.
#[tokio::test]
async fn gauges_follow_jobs_backups_corruption_and_quotas() {
    let app = TestApp::spawn_with(|config| config.quota_bytes = 1000).await;
    if !app.blobs_on_disk() {
        return;
    }
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "big.txt", vec![b'x'; 950]).await.status(),
        StatusCode::CREATED
    );
    assert!(
        gauge_becomes(&app, "depot_users_near_quota", |users| users >= 1.0).await,
        "950 of 1000 bytes is near the quota"
    );
    assert!(gauge_becomes(&app, "depot_db_pool_connections{state=\"max\"}", |max| max >= 8.0).await);
    assert!(
        gauge_becomes(
            &app,
            "depot_job_interval_seconds{job=\"verify\"}",
            |seconds| seconds == 86_400.0
        )
        .await,
        "verify's interval is its default, a day"
    );

    let before = a_second_ago();
    let blob = app.blob_files().into_iter().next().expect("the stored content");
    std::fs::write(&blob, vec![b'y'; 950]).unwrap();
    let verified = tokio::task::spawn_blocking({
        let mut command = depot_for(&app, &["admin", "verify"]);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        !verified.status.success(),
        "verify finds the damage: {}",
        stderr_of(&verified)
    );
    assert!(
        gauge_becomes(&app, "depot_files_corrupt", |files| files >= 1.0).await,
        "the damaged file is counted"
    );
    assert!(
        gauge_becomes(
            &app,
            "depot_job_last_success_timestamp_seconds{job=\"verify\"}",
            |at| at >= before
        )
        .await,
        "verify ran to its end (and found damage)"
    );

    let backups = tempfile::tempdir().unwrap();
    let backup = tokio::task::spawn_blocking({
        let mut command = depot_for(&app, &["backup", "--to", backups.path().to_str().unwrap()]);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        !backup.status.success(),
        "a backup of damaged content is incomplete"
    );
    assert!(
        gauge_becomes(
            &app,
            "depot_job_last_failure_timestamp_seconds{job=\"backup\"}",
            |at| at >= before
        )
        .await,
        "the incomplete backup is a failed run"
    );
}

fn a_second_ago() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor()
        - 1.0
}
