//! The accept loop: admits a connection while the server and its client
//! address are under their caps, and refuses the rest at once — with a short
//! answer, before reading anything — so a flood from one address cannot take
//! the connections (and file descriptors) everyone else needs.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Limits, connection};
use crate::http::openapi::{ErrorBody, ErrorDetail};
use crate::metrics;

/// Refused connections lingering at once; more are closed at once.
const MAX_CLOSING: usize = 64;
/// How long a refused connection is read from (and discarded) so the answer
/// is not lost to a reset, at most.
const LINGER: Duration = Duration::from_millis(500);

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests under way finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let admission = Admission::new(&limits);
    let connections = TaskTracker::new();
    let closing = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    pause_after(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match admission.admit(peer.ip()) {
            Ok(ticket) => {
                let (router, limits, stop) = (router.clone(), Arc::clone(&limits), stop.clone());
                connections.spawn(async move {
                    connection::serve(stream, peer, router, limits, stop).await;
                    drop(ticket);
                });
            }
            Err(refusal) => {
                metrics::connection_refused(refusal.reason());
                let _ = stream.try_write(refusal.answer().as_bytes());
                if closing.len() < MAX_CLOSING {
                    closing.spawn(linger(stream));
                }
            }
        }
    }
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// After a failed accept: nothing for a connection the client gave up on; a
/// pause when the process is out of file descriptors (or the like), so the
/// loop does not spin while connections close.
async fn pause_after(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections; pausing for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The server holds its most connections.
    Full,
    /// The client's address holds its most connections.
    ClientFull,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Self::Full => "server_full",
            Self::ClientFull => "client_full",
        }
    }

    /// A whole HTTP/1.1 answer, sent without reading the request.
    fn answer(self) -> String {
        let (status, message) = match self {
            Self::Full => (
                "503 Service Unavailable",
                "the server has as many connections open as it allows; try again shortly",
            ),
            Self::ClientFull => (
                "429 Too Many Requests",
                "your address has as many connections open as the server allows; close some and try again",
            ),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: "too_many_connections",
                message: message.to_owned(),
            },
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             retry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Reads what a refused client sent, for a moment, so that closing does not
/// reset the answer away before the client has read it.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {}
    })
    .await;
}

/// Counts the open connections, overall and by client address.
#[derive(Debug)]
struct Admission {
    max: usize,
    max_per_client: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

impl Admission {
    fn new(limits: &Limits) -> Self {
        Self {
            max: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
            open: Arc::default(),
        }
    }

    fn admit(&self, ip: IpAddr) -> Result<Ticket, Refusal> {
        let client = client_of(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max {
            return Err(Refusal::Full);
        }
        let from_client = open.by_client.entry(client).or_default();
        if *from_client >= self.max_per_client {
            return Err(Refusal::ClientFull);
        }
        *from_client += 1;
        open.total += 1;
        metrics::connection_opened();
        Ok(Ticket {
            client,
            open: Arc::clone(&self.open),
        })
    }
}

/// One admitted connection, counted until dropped.
#[derive(Debug)]
struct Ticket {
    client: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total -= 1;
        if let Some(count) = open.by_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.by_client.remove(&self.client);
            }
        }
        metrics::connection_closed();
    }
}

/// The address a client is counted under: itself for IPv4, its /64 for IPv6
/// (one host usually has a whole /64 to choose addresses from).
fn client_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_client: usize) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(1),
            keep_alive_timeout: Duration::from_secs(1),
            send_timeout: Duration::from_secs(1),
            body: crate::http::body_rate::BodyRate::OFF,
            max_connections: max,
            max_connections_per_client: per_client,
        }
    }

    #[test]
    fn a_client_is_held_to_its_share_and_the_server_to_its_total() {
        let admission = Admission::new(&limits(3, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::ClientFull);
        let _third = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).unwrap_err(), Refusal::Full);
        drop(first);
        assert!(admission.admit(a).is_ok(), "a closed connection frees its place");
    }

    #[test]
    fn one_ipv6_slash_64_counts_as_one_client() {
        let admission = Admission::new(&limits(10, 1));
        let _held = admission.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            admission.admit("2001:db8::ffff:2".parse().unwrap()).unwrap_err(),
            Refusal::ClientFull
        );
        assert!(admission.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
        let _v4 = admission.admit("192.0.2.9".parse().unwrap()).unwrap();
        assert_eq!(
            admission.admit("::ffff:192.0.2.9".parse().unwrap()).unwrap_err(),
            Refusal::ClientFull,
            "an IPv4-mapped address is its IPv4 address"
        );
    }
}
