//! How long a connection may take over each phase of a request, and how many
//! connections one server — and one client address — may hold open.

use std::time::Duration;

use crate::config::Config;
use crate::http::body_rate::BodyRate;

/// The most connections the automatic limit allows, however many files the
/// process may open.
const AUTO_MAX_CONNECTIONS: usize = 4096;

/// The connection limits of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's head must arrive within this: on a new connection, from
    /// its opening; on a kept-alive one, from the head's first byte.
    pub header_timeout: Duration,
    /// A kept-alive connection with no request under way is closed once idle this long.
    pub keep_alive_timeout: Duration,
    /// A response the client stops reading is cut once a write waited this long.
    pub send_timeout: Duration,
    /// How slowly a request body may arrive.
    pub body: BodyRate,
    /// Connections open at once; more are refused with 503.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64 counts
    /// as one); more are refused with 429.
    pub max_connections_per_client: usize,
}

impl Limits {
    /// The public server's limits, from the configuration. A limit on
    /// connections left at 0 is derived from the open-file limit, which is
    /// first raised as far as the system lets the process.
    pub fn public(config: &Config) -> Self {
        let max_connections = match config.max_connections {
            0 => auto_max_connections(),
            max => max,
        };
        let max_connections_per_client = match config.max_connections_per_client {
            0 => (max_connections / 4).max(1),
            max => max,
        };
        Self {
            header_timeout: config.header_timeout.0,
            keep_alive_timeout: config.keep_alive_timeout.0,
            send_timeout: config.send_timeout.0,
            body: BodyRate {
                window: config.body_timeout.0,
                min_bytes_per_second: config.min_body_rate,
            },
            max_connections,
            max_connections_per_client,
        }
    }

    /// A storage node's limits: its clients are gateways, which hold many
    /// connections from one address and pass on their own clients' pace, so
    /// neither the per-client cap nor the body rate applies.
    pub fn node(config: &Config) -> Self {
        let public = Self::public(config);
        Self {
            body: BodyRate::OFF,
            max_connections_per_client: public.max_connections,
            ..public
        }
    }
}

/// Half the open-file limit — the rest is for the database, the blobs being
/// written and read, and the connections to other services — at most
/// [`AUTO_MAX_CONNECTIONS`].
fn auto_max_connections() -> usize {
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-file limit; assuming 1024");
            1024
        }
    };
    usize::try_from(open_files / 2)
        .unwrap_or(usize::MAX)
        .clamp(1, AUTO_MAX_CONNECTIONS)
}
