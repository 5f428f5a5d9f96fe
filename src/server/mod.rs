//! Serving: a bound listener, the state, the connection limits and a shutdown
//! future in, so tests can run the real server on port 0.

mod connection;
mod limits;
mod listener;
#[cfg(test)]
mod node_tests;

use std::future::Future;

use tokio::net::TcpListener;

pub use limits::Limits;

use crate::http;
use crate::pipeline::state::AppState;
use crate::pipeline::{maintenance, publish};

/// Serves until `shutdown` resolves; the background jobs stop with the server,
/// and maintenance runs under way get [`maintenance::STOP_DEADLINE`] to record
/// how they ended.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = state.maintenance.clone();
    let open_uploads = state.open_uploads.clone();
    let jobs_shutdown = maintenance.stop.clone();
    maintenance::spawn_schedules(&state);
    publish::spawn(&state);
    let _stop_jobs = jobs_shutdown.clone().drop_guard();
    let served = listener::serve(listener, http::router(state), limits, async move {
        shutdown.await;
        jobs_shutdown.cancel();
    })
    .await;
    tokio::join!(maintenance.shut_down(), open_uploads.shut_down());
    served
}

/// Serves the S3 API (`s3_api_domain` names virtual-host buckets) until
/// `shutdown` resolves.
pub async fn run_s3(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, router, limits, shutdown).await
}

/// Serves a storage node's internal API until `shutdown` resolves.
pub async fn run_node(
    listener: TcpListener,
    state: http::NodeState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, http::node_router(state), limits, shutdown).await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
