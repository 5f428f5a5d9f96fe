//! One client connection: HTTP/1.1 over it, and the deadlines that close it
//! when the client stops keeping up its side — a head that does not arrive,
//! a kept-alive connection left idle, a response nobody reads, a body that
//! trickles (see [`crate::http::body_rate`]).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Limits;
use crate::metrics;

/// Serves `stream` until the client closes it, a deadline passes, or `stop`
/// is cancelled and the request under way (if any) is answered.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Arc<Limits>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity), limits.send_timeout));
    let service = {
        let activity = Arc::clone(&activity);
        let body_rate = limits.body;
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(|body| Body::new(body_rate.watch(body)));
            let busy = Busy::begin(Arc::clone(&activity));
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        body,
                        busy: Some(busy),
                    })
                }))
            }
        })
    };
    let mut connection = pin!(
        hyper::server::conn::http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(io, service)
    );
    let mut stopping = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    let timed_out = std::error::Error::source(&err)
                        .and_then(|source| source.downcast_ref::<io::Error>())
                        .is_some_and(|err| err.kind() == io::ErrorKind::TimedOut);
                    if timed_out {
                        metrics::connection_timed_out("send");
                    }
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            phase = activity.expired(&limits) => {
                tracing::debug!(%peer, phase, "closed a connection that outlived its deadline");
                metrics::connection_timed_out(phase);
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the deadlines of one connection are measured from. Times are in
/// milliseconds since the connection opened.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Requests under way: from their head until their response's last bytes
    /// are handed over.
    in_flight: AtomicUsize,
    /// Whether a write waits for the client to read.
    writing: AtomicBool,
    /// When the last response ended.
    idle_since: AtomicU64,
    /// When the next request's head began: its first byte after the last
    /// response, or [`NOTHING`] before that byte. A new connection's first
    /// head counts from the opening.
    head_started: AtomicU64,
    /// Woken when a deadline may have moved closer: a request ended, or a
    /// head began.
    changed: Notify,
}

const NOTHING: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            writing: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NOTHING - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.opened + Duration::from_millis(millis)
    }

    fn bytes_read(&self) {
        if self.head_started.load(Ordering::Relaxed) == NOTHING {
            self.head_started.store(self.now(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// When the connection, idle now, must have its next head, and the
    /// phase that deadline belongs to; `None` while a request is under way.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 || self.writing.load(Ordering::Relaxed) {
            return None;
        }
        let idle_since = self.idle_since.load(Ordering::Relaxed);
        let head_started = self.head_started.load(Ordering::Relaxed);
        Some(if head_started != NOTHING {
            (self.at(head_started) + limits.header_timeout, "header")
        } else {
            (self.at(idle_since) + limits.keep_alive_timeout, "keep_alive")
        })
    }

    /// Resolves with the phase whose deadline passed while no request was
    /// under way. A deadline that moved later is looked at when the old one
    /// comes; one that may have come closer wakes it through `changed`.
    async fn expired(&self, limits: &Limits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                Some((deadline, phase)) if deadline <= Instant::now() => return phase,
                Some((deadline, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
                None => {
                    // Busy: a request, or a write the client is slow to take.
                    tokio::select! {
                        () = tokio::time::sleep(limits.keep_alive_timeout.min(limits.header_timeout)) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A request under way, from its head until its response's last frame has
/// been taken (or the response dropped). Bytes that arrive after that belong
/// to the next request's head.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Relaxed);
        activity.head_started.store(NOTHING, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
        activity.changed.notify_one();
    }
}

/// A response body that keeps its request counted as under way until it ends.
#[derive(Debug)]
struct Tracked {
    body: Body,
    busy: Option<Busy>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || (frame.is_ready() && self.body.is_end_stream()) {
            self.busy = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting when bytes arrive and failing a write that waits
/// longer than the send timeout.
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    send_timeout: Duration,
    /// Runs while a write waits for the client to read.
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl Watched {
    fn new(stream: TcpStream, activity: Arc<Activity>, send_timeout: Duration) -> Self {
        Self {
            stream,
            activity,
            send_timeout,
            write_deadline: None,
        }
    }

    /// A write is waiting: `Err` once it has waited too long.
    fn poll_stalled_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.activity.writing.store(true, Ordering::Relaxed);
        if self.send_timeout.is_zero() {
            return Poll::Pending;
        }
        let timeout = self.send_timeout;
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.write_deadline = None;
            self.activity.writing.store(false, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Pending => self.poll_stalled_write(cx),
            written => self.wrote(written),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.poll_stalled_write(cx),
            written => self.wrote(written),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
