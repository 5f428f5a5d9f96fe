//! A minimum rate for request bodies, so a client that stops sending (or
//! trickles a byte now and then) cannot hold a connection and an upload open.
//!
//! Only the time the handler spends *waiting* for the body counts: while it
//! writes to the store the client is held back by TCP, not slow. That waiting
//! time is cut into windows of [`BodyRate::window`]; a window in which fewer
//! than `min_bytes_per_second × window` bytes arrived ends the body with
//! [`BodyTooSlow`]. So a body that stops altogether is cut after at most two
//! windows (one if it stops at a window's start).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How slow a request body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRate {
    /// The span of waiting over which the rate is measured; zero turns the check off.
    pub window: Duration,
    /// The fewest bytes per second of waiting a body must deliver.
    pub min_bytes_per_second: u64,
}

impl BodyRate {
    pub const OFF: Self = Self {
        window: Duration::ZERO,
        min_bytes_per_second: 0,
    };

    /// `body`, ended with [`BodyTooSlow`] if it arrives slower than this.
    pub fn watch<B>(self, body: B) -> RatedBody<B> {
        RatedBody {
            inner: body,
            rate: self,
            waited: Duration::ZERO,
            received: 0,
            waiting_since: None,
            deadline: None,
            failed: false,
        }
    }

    fn required(self) -> u64 {
        let per_window = u128::from(self.min_bytes_per_second) * self.window.as_millis() / 1000;
        u64::try_from(per_window).unwrap_or(u64::MAX)
    }
}

/// The error a request body ends with when it arrives too slowly; the
/// handler sees it inside whatever error its body reader returns.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "the request body arrived slower than {min_bytes_per_second} bytes/s over {window:?} of waiting; it was cut off"
)]
pub struct BodyTooSlow {
    pub window: Duration,
    pub min_bytes_per_second: u64,
}

/// Whether `err`, or an error it wraps, is a [`BodyTooSlow`].
pub fn is_too_slow(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |err| err.source()).any(|err| err.is::<BodyTooSlow>())
}

/// A request body under a [`BodyRate`].
#[derive(Debug)]
pub struct RatedBody<B> {
    inner: B,
    rate: BodyRate,
    /// Waiting time in the current window, not counting a wait under way.
    waited: Duration,
    /// Bytes received in the current window.
    received: u64,
    /// When the wait under way began.
    waiting_since: Option<Instant>,
    /// When the current window's waiting runs out, if the handler is waiting now.
    deadline: Option<Pin<Box<Sleep>>>,
    failed: bool,
}

impl<B> RatedBody<B> {
    /// Ends the wait under way, if any, adding it to the window.
    fn stop_waiting(&mut self, now: Instant) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += now - since;
        }
    }

    /// Checks the current window once its waiting is used up, and opens the
    /// next one. `Err` if the window fell short of the rate.
    fn close_full_window(&mut self, now: Instant) -> Result<(), BodyTooSlow> {
        let waiting_now = self.waiting_since.map_or(Duration::ZERO, |since| now - since);
        if self.waited + waiting_now < self.rate.window {
            return Ok(());
        }
        if self.received < self.rate.required() {
            self.failed = true;
            return Err(BodyTooSlow {
                window: self.rate.window,
                min_bytes_per_second: self.rate.min_bytes_per_second,
            });
        }
        self.waited = Duration::ZERO;
        self.received = 0;
        if self.waiting_since.is_some() {
            self.waiting_since = Some(now);
        }
        Ok(())
    }

    /// When the current window's waiting runs out, given a wait under way.
    fn window_end(&self) -> Instant {
        let since = self.waiting_since.unwrap_or_else(Instant::now);
        since + self.rate.window.saturating_sub(self.waited)
    }
}

impl<B> Body for RatedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.rate.window.is_zero() {
            return Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into);
        }
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(frame)) => {
                    let now = Instant::now();
                    this.stop_waiting(now);
                    this.deadline = None;
                    if let Some(data) = frame.as_ref().ok().and_then(Frame::data_ref) {
                        this.received += data.len() as u64;
                    }
                    this.close_full_window(now)?;
                    return Poll::Ready(Some(frame.map_err(Into::into)));
                }
                Poll::Pending => {
                    let now = Instant::now();
                    this.waiting_since.get_or_insert(now);
                    this.close_full_window(now)?;
                    let end = this.window_end();
                    let deadline = this
                        .deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(end)));
                    if deadline.deadline() != end {
                        deadline.as_mut().reset(end);
                    }
                    ready!(deadline.as_mut().poll(cx));
                    // The window ran out while waiting: check it, then wait on.
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    use super::*;

    type Sender = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

    fn rated(rate: BodyRate) -> (Sender, impl Body<Data = Bytes, Error = axum::BoxError>) {
        let (sender, mut receiver) = mpsc::channel(16);
        let frames = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        (sender, rate.watch(StreamBody::new(frames)))
    }

    const RATE: BodyRate = BodyRate {
        window: Duration::from_secs(10),
        min_bytes_per_second: 100,
    };

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_is_cut_after_one_window_of_waiting() {
        let (sender, body) = rated(RATE);
        let started = Instant::now();
        let err = body.collect().await.expect_err("a stalled body ends in an error");
        assert!(is_too_slow(&*err), "{err}");
        assert_eq!(started.elapsed(), RATE.window);
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_rate_goes_on_and_a_trickle_is_cut() {
        let (sender, body) = rated(RATE);
        let mut frames = body.into_data_stream();
        // A little more than the minimum, for five windows.
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sender
                .send(Ok(Frame::data(Bytes::from(vec![0; 120]))))
                .await
                .unwrap();
            assert!(frames.next().await.unwrap().is_ok());
        }
        // Then 10 bytes a second.
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            while sender
                .send(Ok(Frame::data(Bytes::from_static(&[0; 10]))))
                .await
                .is_ok()
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let err = loop {
            match frames.next().await {
                Some(Ok(_)) => {}
                Some(Err(err)) => break err,
                None => panic!("the trickle was never cut"),
            }
        };
        assert!(is_too_slow(&*err), "{err}");
        assert!(started.elapsed() <= RATE.window * 2, "{:?}", started.elapsed());
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_handler_spends_elsewhere_does_not_count() {
        let (sender, body) = rated(RATE);
        let mut frames = body.into_data_stream();
        sender
            .send(Ok(Frame::data(Bytes::from_static(b"x"))))
            .await
            .unwrap();
        for _ in 0..5 {
            assert!(frames.next().await.unwrap().is_ok());
            // A slow store: a minute between reads, the next bytes already there.
            sender
                .send(Ok(Frame::data(Bytes::from_static(b"x"))))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        drop(sender);
        while let Some(frame) = frames.next().await {
            frame.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_checks_nothing() {
        let (sender, body) = rated(BodyRate::OFF);
        let reader = tokio::spawn(body.collect());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        sender
            .send(Ok(Frame::data(Bytes::from_static(b"late"))))
            .await
            .unwrap();
        drop(sender);
        let collected = reader.await.unwrap().map_err(|_| "error").unwrap();
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"late"));
    }
}
