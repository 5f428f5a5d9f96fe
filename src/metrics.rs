//! Prometheus metrics, counted here and served by `http::metrics` at
//! `GET /metrics` in the text exposition format.
//!
//! One registry per process (a test process runs many servers; their counts
//! add up). Routes are labelled by their template (`/api/v1/files/{file_name}`),
//! never by the path, so the number of series stays bounded.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PinLabels {
    want: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobName {
    job: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    uploaded_bytes: Counter,
    downloaded_bytes: Counter,
    uploads_in_progress: Gauge,
    job_runs: Family<JobLabels, Counter>,
    job_seconds: Family<JobName, Histogram>,
    cache_lookups: Family<CacheLabels, Counter>,
    blob_store_errors: Family<ErrorLabels, Counter>,
    db_connections: Family<PoolLabels, Gauge>,
    connections_open: Gauge,
    connections_refused: Family<ReasonLabels, Counter>,
    connections_timed_out: Family<PhaseLabels, Counter>,
    ready: Family<ComponentLabels, Gauge>,
    rate_limited: Family<LimitLabels, Counter>,
    rate_limit_decisions: Family<StoreLabels, Counter>,
    audit_write_failures: Counter,
    job_last_success: Family<JobName, Gauge>,
    job_last_failure: Family<JobName, Gauge>,
    job_running: Family<JobName, Gauge>,
    job_interval: Family<JobName, Gauge>,
    files_corrupt: Gauge,
    users_near_quota: Gauge,
    ipfs_publish: Family<OutcomeLabels, Counter>,
    multipart_completions: Family<OutcomeLabels, Counter>,
    ipfs_pins: Family<PinLabels, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("depot");
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "http_requests",
        "HTTP requests answered, by route and status",
        requests.clone(),
    );
    let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
        // 1 ms to about 33 s.
        Histogram::new(exponential_buckets(0.001, 2.0, 16))
    });
    registry.register(
        "http_request_duration_seconds",
        "Time from a request's arrival to its answer's head (a download's body streams on)",
        latency.clone(),
    );
    let uploaded_bytes = Counter::default();
    registry.register(
        "upload_bytes",
        "Bytes of the uploads stored",
        uploaded_bytes.clone(),
    );
    let downloaded_bytes = Counter::default();
    registry.register(
        "download_bytes",
        "Bytes of file content sent",
        downloaded_bytes.clone(),
    );
    let uploads_in_progress = Gauge::default();
    registry.register(
        "uploads_in_progress",
        "Upload requests (multipart, raw, tus) being received now",
        uploads_in_progress.clone(),
    );
    let job_runs = Family::<JobLabels, Counter>::default();
    registry.register(
        "job_runs",
        "Maintenance job runs that ended, by job and outcome",
        job_runs.clone(),
    );
    let job_seconds = Family::<JobName, Histogram>::new_with_constructor(|| {
        // 10 ms to about 11 h.
        Histogram::new(exponential_buckets(0.01, 4.0, 12))
    });
    registry.register(
        "job_duration_seconds",
        "How long maintenance job runs took",
        job_seconds.clone(),
    );
    let cache_lookups = Family::<CacheLabels, Counter>::default();
    registry.register(
        "active_file_cache_lookups",
        "Active-file cache lookups: hit, miss (read from the database) or unavailable",
        cache_lookups.clone(),
    );
    let blob_store_errors = Family::<ErrorLabels, Counter>::default();
    registry.register(
        "blob_store_errors",
        "Blob store failures that reached a request, by kind",
        blob_store_errors.clone(),
    );
    let db_connections = Family::<PoolLabels, Gauge>::default();
    registry.register(
        "db_pool_connections",
        "Database pool connections: idle, in_use, and max (the most it opens)",
        db_connections.clone(),
    );
    let connections_open = Gauge::default();
    registry.register(
        "connections_open",
        "Client connections open now",
        connections_open.clone(),
    );
    let connections_refused = Family::<ReasonLabels, Counter>::default();
    registry.register(
        "connections_refused",
        "Connections refused on arrival: server_full (503) or client_full (429)",
        connections_refused.clone(),
    );
    let connections_timed_out = Family::<PhaseLabels, Counter>::default();
    registry.register(
        "connections_timed_out",
        "Connections closed for outliving a deadline: header, keep_alive or send",
        connections_timed_out.clone(),
    );
    let ready = Family::<ComponentLabels, Gauge>::default();
    registry.register(
        "ready",
        "1 if the component took a write at its last readiness probe, else 0: database or blob_store",
        ready.clone(),
    );
    let rate_limited = Family::<LimitLabels, Counter>::default();
    registry.register(
        "rate_limited",
        "Requests refused with 429 rate_limited, by limit: login, login_failures, uploads, requests or anonymous",
        rate_limited.clone(),
    );
    let rate_limit_decisions = Family::<StoreLabels, Counter>::default();
    let audit_write_failures = Counter::default();
    registry.register(
        "audit_write_failures",
        "Audit events that could not be written (their requests failed)",
        audit_write_failures.clone(),
    );
    let job_last_success = Family::<JobName, Gauge>::default();
    registry.register(
        "job_last_success_timestamp_seconds",
        "When the newest successful run of each job (and backup) ended, from the database, any node's",
        job_last_success.clone(),
    );
    let job_last_failure = Family::<JobName, Gauge>::default();
    registry.register(
        "job_last_failure_timestamp_seconds",
        "When the newest failed run of each job (and backup) ended, from the database",
        job_last_failure.clone(),
    );
    let job_running = Family::<JobName, Gauge>::default();
    registry.register(
        "job_running_seconds",
        "How long each job's newest run has been running (0 when it has ended)",
        job_running.clone(),
    );
    let job_interval = Family::<JobName, Gauge>::default();
    registry.register(
        "job_interval_seconds",
        "Each scheduled job's configured interval (0: not scheduled)",
        job_interval.clone(),
    );
    let files_corrupt = Gauge::default();
    registry.register(
        "files_corrupt",
        "Files flagged corrupt (their content failed verification or is missing)",
        files_corrupt.clone(),
    );
    let users_near_quota = Gauge::default();
    registry.register(
        "users_near_quota",
        "Users whose files take 90 % or more of their byte or file quota",
        users_near_quota.clone(),
    );
    let ipfs_publish = Family::<OutcomeLabels, Counter>::default();
    registry.register(
        "ipfs_publish",
        "Tries of publishing to the IPFS node by this process: pinned, unpinned or failed",
        ipfs_publish.clone(),
    );
    let multipart_completions = Family::<OutcomeLabels, Counter>::default();
    registry.register(
        "multipart_completions",
        "S3 multipart uploads completed by this process: streamed (their parts went through the upload workflow as they arrived) or read_back (completing read every part again)",
        multipart_completions.clone(),
    );
    let ipfs_pins = Family::<PinLabels, Gauge>::default();
    registry.register(
        "ipfs_pins",
        "Contents in the IPFS publishing queue, from the database: want (pin or unpin) and state (pending, pinned, failed)",
        ipfs_pins.clone(),
    );
    registry.register(
        "rate_limit_decisions",
        "With REDIS_URL set, rate-limit decisions asked of Redis (each may also take tokens ahead for the next requests), and those made in_process while Redis does not answer",
        rate_limit_decisions.clone(),
    );
    // Counters of known labels start at 0, so that their first event is an
    // increase (`increase()` over a series that appears at 1 sees none) and
    // every family is in a scrape before anything happened.
    for outcome in ["pinned", "unpinned", "failed"] {
        drop(ipfs_publish.get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        }));
    }
    for outcome in ["streamed", "read_back"] {
        drop(multipart_completions.get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        }));
    }
    for kind in ["not_found", "full", "unavailable", "io"] {
        drop(blob_store_errors.get_or_create(&ErrorLabels {
            kind: kind.to_owned(),
        }));
    }
    for reason in ["server_full", "client_full"] {
        drop(connections_refused.get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        }));
    }
    for phase in ["header", "keep_alive", "send"] {
        drop(connections_timed_out.get_or_create(&PhaseLabels {
            phase: phase.to_owned(),
        }));
    }
    for limit in ["login", "login_failures", "uploads", "requests", "anonymous"] {
        drop(rate_limited.get_or_create(&LimitLabels {
            limit: limit.to_owned(),
        }));
    }
    for result in ["hit", "miss", "unavailable"] {
        drop(cache_lookups.get_or_create(&CacheLabels {
            result: result.to_owned(),
        }));
    }
    Metrics {
        registry,
        requests,
        latency,
        uploaded_bytes,
        downloaded_bytes,
        uploads_in_progress,
        job_runs,
        job_seconds,
        cache_lookups,
        blob_store_errors,
        db_connections,
        connections_open,
        connections_refused,
        connections_timed_out,
        ready,
        rate_limited,
        rate_limit_decisions,
        audit_write_failures,
        job_last_success,
        job_last_failure,
        job_running,
        job_interval,
        files_corrupt,
        users_near_quota,
        ipfs_publish,
        multipart_completions,
        ipfs_pins,
    }
});

/// An upload request began (`POST`/`PUT` of a file, a tus `POST` or `PATCH`).
pub fn upload_started() {
    METRICS.uploads_in_progress.inc();
}

pub fn upload_ended() {
    METRICS.uploads_in_progress.dec();
}

/// A request answered, labelled by its route template, never its path.
pub fn request_answered(method: &str, route: &str, status: u16, took: Duration) {
    let route = RouteLabels {
        method: method.to_owned(),
        route: route.to_owned(),
    };
    METRICS.latency.get_or_create(&route).observe(took.as_secs_f64());
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            method: route.method,
            route: route.route,
            status,
        })
        .inc();
}

/// The database pool's connections, as a scrape finds them, and its most.
pub fn db_connections(idle: i64, in_use: i64, max: i64) {
    for (label, value) in [("idle", idle), ("in_use", in_use), ("max", max)] {
        METRICS
            .db_connections
            .get_or_create(&PoolLabels {
                state: label.to_owned(),
            })
            .set(value);
    }
}

/// Every metric in the text exposition format.
pub fn encode() -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &METRICS.registry)?;
    Ok(text)
}

pub fn uploaded(bytes: u64) {
    METRICS.uploaded_bytes.inc_by(bytes);
}

pub fn downloaded(bytes: u64) {
    METRICS.downloaded_bytes.inc_by(bytes);
}

pub fn job_ended(job: &str, outcome: &str, took: Duration) {
    METRICS
        .job_runs
        .get_or_create(&JobLabels {
            job: job.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
    METRICS
        .job_seconds
        .get_or_create(&JobName { job: job.to_owned() })
        .observe(took.as_secs_f64());
}

/// An active-file cache lookup: `hit`, `miss` or `unavailable`.
pub fn cache_lookup(result: &'static str) {
    METRICS
        .cache_lookups
        .get_or_create(&CacheLabels {
            result: result.to_owned(),
        })
        .inc();
}

/// A blob store failure that reached a request: `not_found`, `full`, `unavailable`, `io`.
pub fn blob_store_error(kind: &'static str) {
    METRICS
        .blob_store_errors
        .get_or_create(&ErrorLabels {
            kind: kind.to_owned(),
        })
        .inc();
}

pub fn connection_opened() {
    METRICS.connections_open.inc();
}

pub fn connection_closed() {
    METRICS.connections_open.dec();
}

/// A connection refused on arrival: `server_full` or `client_full`.
pub fn connection_refused(reason: &'static str) {
    METRICS
        .connections_refused
        .get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

/// A connection closed for outliving a deadline: `header`, `keep_alive` or `send`.
pub fn connection_timed_out(phase: &'static str) {
    METRICS
        .connections_timed_out
        .get_or_create(&PhaseLabels {
            phase: phase.to_owned(),
        })
        .inc();
}

/// A readiness probe's outcome for `database` or `blob_store`.
pub fn component_ready(component: &'static str, ready: bool) {
    METRICS
        .ready
        .get_or_create(&ComponentLabels {
            component: component.to_owned(),
        })
        .set(i64::from(ready));
}

/// A request refused by the rate limit `limit`.
pub fn rate_limited(limit: &'static str) {
    METRICS
        .rate_limited
        .get_or_create(&LimitLabels {
            limit: limit.to_owned(),
        })
        .inc();
}

/// A rate-limit decision of a node with Redis: made by `redis`, or
/// `in_process` while Redis does not answer.
pub fn rate_limit_backend(store: &'static str) {
    METRICS
        .rate_limit_decisions
        .get_or_create(&StoreLabels {
            store: store.to_owned(),
        })
        .inc();
}

/// Audit events that could not be written.
pub fn audit_write_failed(events: usize) {
    METRICS.audit_write_failures.inc_by(events as u64);
}

/// What the database says of a job's (or backups') runs, in seconds since
/// the epoch (0: never); `running` is how long its newest run has run (0:
/// ended); `interval` its schedule (0: none).
pub fn job_health(job: &str, last_success: i64, last_failure: i64, running: i64, interval: i64) {
    let name = JobName { job: job.to_owned() };
    METRICS.job_last_success.get_or_create(&name).set(last_success);
    METRICS.job_last_failure.get_or_create(&name).set(last_failure);
    METRICS.job_running.get_or_create(&name).set(running);
    METRICS.job_interval.get_or_create(&name).set(interval);
}

/// The files flagged corrupt, and the users near their quota, as a scrape finds them.
pub fn data_health(corrupt_files: i64, users_near_quota: i64) {
    METRICS.files_corrupt.set(corrupt_files);
    METRICS.users_near_quota.set(users_near_quota);
}

/// A multipart upload was completed, its parts `streamed` through the
/// upload workflow as they arrived or read back when it completed.
pub fn multipart_completed(streamed: bool) {
    METRICS
        .multipart_completions
        .get_or_create(&OutcomeLabels {
            outcome: (if streamed { "streamed" } else { "read_back" }).to_owned(),
        })
        .inc();
}

/// One try of publishing to the IPFS node ended: `pinned`, `unpinned` or `failed`.
pub fn ipfs_published(outcome: &str) {
    METRICS
        .ipfs_publish
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// The publishing queue as the database has it: (want, state, contents).
pub fn ipfs_pins(counts: &[(String, String, i64)]) {
    let shown = [
        ("pin", "pending"),
        ("pin", "pinned"),
        ("pin", "failed"),
        ("unpin", "pending"),
        ("unpin", "failed"),
    ];
    for (want, state) in shown {
        let count = counts
            .iter()
            .find(|(w, s, _)| w == want && s == state)
            .map_or(0, |(_, _, count)| *count);
        METRICS
            .ipfs_pins
            .get_or_create(&PinLabels {
                want: want.to_owned(),
                state: state.to_owned(),
            })
            .set(count);
    }
}
