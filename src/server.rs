//! Serving: a bound listener, the state and a shutdown future in, so tests can run
//! the real server on port 0.

use std::future::Future;

use tokio::net::TcpListener;

use crate::state::AppState;
use crate::{http, jobs, maintenance};

/// Serves until `shutdown` resolves; the background jobs stop with the server,
/// and maintenance runs under way get [`maintenance::STOP_DEADLINE`] to record
/// how they ended.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = state.maintenance.clone();
    let open_uploads = state.open_uploads.clone();
    let jobs_shutdown = maintenance.stop.clone();
    jobs::spawn_all(&state, &jobs_shutdown);
    maintenance::spawn_schedules(&state);
    let _stop_jobs = jobs_shutdown.clone().drop_guard();
    let app = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            jobs_shutdown.cancel();
        })
        .await;
    tokio::join!(maintenance.shut_down(), open_uploads.shut_down());
    served
}

/// Serves a storage node's internal API until `shutdown` resolves.
pub async fn run_node(
    listener: TcpListener,
    state: http::NodeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::node_router(state))
        .with_graceful_shutdown(shutdown)
        .await
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
