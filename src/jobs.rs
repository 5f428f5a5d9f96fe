//! Background work inside the server. Each job follows one small protocol: do the
//! work, wait for the next round, and stop when the shutdown token is cancelled.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::pipeline::{delete, resumable, session};
use crate::state::AppState;

/// Starts the server's periodic jobs; they stop when `shutdown` is cancelled.
pub fn spawn_all(state: &AppState, shutdown: &CancellationToken) {
    let db = state.db.clone();
    spawn_periodic(
        "expire-sessions",
        state.sessions.sweep_interval,
        shutdown.clone(),
        move || {
            let db = db.clone();
            async move {
                let removed = session::expire(&db).await?;
                if removed > 0 {
                    tracing::info!(removed, "expired sessions removed");
                }
                Ok(())
            }
        },
    );
    let uploads = state.clone();
    spawn_periodic(
        "expire-uploads",
        upload_sweep_interval(state.policy.upload_expiry),
        shutdown.clone(),
        move || {
            let state = uploads.clone();
            async move {
                let removed = resumable::expire(&state).await?;
                if removed > 0 {
                    tracing::info!(removed, "expired uploads removed");
                }
                Ok(())
            }
        },
    );
    let cleanups = state.clone();
    let interval = cleanup_interval(state.policy.cleanup_retry);
    spawn_periodic("retry-blob-removals", interval, shutdown.clone(), move || {
        let state = cleanups.clone();
        async move {
            let removed = delete::retry_cleanups(&state).await?;
            if removed > 0 {
                tracing::info!(removed, "bytes of deleted files removed on a retry");
            }
            Ok(())
        }
    });
}

/// Removals of deleted files' bytes that the store refused are looked for
/// twice per first retry pause, between once a second and every 15 seconds.
fn cleanup_interval(first_retry: Duration) -> Duration {
    (first_retry / 2).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Expired uploads are looked for twice per expiry period, between once a
/// second and once an hour: an abandoned upload's space comes back soon after
/// it expires.
fn upload_sweep_interval(expiry: Duration) -> Duration {
    (expiry / 2).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Runs `work` at once and then every `interval` until `shutdown` is cancelled.
/// A failed round is logged and the next one runs.
pub fn spawn_periodic<F, Fut>(name: &'static str, interval: Duration, shutdown: CancellationToken, work: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        loop {
            if let Err(err) = work().await {
                tracing::warn!(job = name, error = format!("{err:#}"), "job round failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        tracing::debug!(job = name, "job stopped");
    });
}
