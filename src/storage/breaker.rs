//! Deadlines and a circuit breaker for a store across the network (a storage
//! node, an S3 endpoint), so that one that stops answering — a partition, a
//! hung process — fails requests within seconds instead of minutes.
//!
//! Every call gets a deadline that fits its bytes: [`ANSWER_WITHIN`] for the
//! answer, plus the time to send its body at the store's slowest expected
//! rate (`storage_min_rate`, [`DEFAULT_MIN_RATE`] unless configured). A call that misses
//! its deadline, or (as its store decides) cannot reach the store at all,
//! opens the breaker. While it is open, a call first asks the store whether
//! it answers again — one probe at a time, shared by the calls that arrive
//! meanwhile, at most [`PROBE_TIMEOUT`] long — and fails with
//! [`StorageError::Unavailable`] (503 `storage_unavailable`) unless it does.
//! So the first call after the store is back goes through. After a probe
//! that got no answer at all (a partition, a hung store), calls fail at once
//! for [`PROBE_AGAIN_AFTER`] instead of each waiting for a probe; a store
//! that refuses connections (restarting) is asked again by the next call. A
//! streamed body that stops for [`STALL`] opens the breaker too.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt, Stream};
use tokio::time::{Instant, Sleep};

use super::StorageError;

/// How long a call may wait for the store's answer, beyond sending its body.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// The slowest a body is expected to go to the store unless configured, in
/// bytes per second: 16 Mbit/s.
pub const DEFAULT_MIN_RATE: u64 = 2 << 20;
/// The longest silence inside a streamed body.
pub const STALL: Duration = Duration::from_secs(10);
/// How long a probe of an open breaker's store may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// After a probe that got no answer, calls fail at once for this long before the next probe.
pub const PROBE_AGAIN_AFTER: Duration = Duration::from_millis(250);

/// Asks whether the store answers; true if it does.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// One store's breaker, shared by every call to it.
pub struct Breaker {
    /// The store, as messages name it ("the storage node").
    what: &'static str,
    probe: Probe,
    /// The slowest a body is expected to go to the store, in bytes per second.
    min_rate: u64,
    /// `None` while closed.
    open: Mutex<Option<Open>>,
}

struct Open {
    reason: String,
    /// The probe under way, shared by the calls waiting for it.
    probing: Option<Shared<BoxFuture<'static, Probed>>>,
    /// When the last probe got no answer at all.
    silent_at: Option<Instant>,
}

/// How a probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probed {
    Answered,
    Refused,
    Silent,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Breaker")
            .field("what", &self.what)
            .field("open", &open.as_ref().map(|open| &open.reason))
            .finish_non_exhaustive()
    }
}

impl Breaker {
    /// A closed breaker for the store `what`, asked by `probe` whether it
    /// answers, whose bodies go at `min_rate` bytes per second at least.
    pub fn new(what: &'static str, probe: Probe, min_rate: u64) -> Arc<Self> {
        Arc::new(Self {
            what,
            probe,
            min_rate: min_rate.max(1),
            open: Mutex::new(None),
        })
    }

    /// The deadline of a call that sends (or whose store handles) `bytes`.
    pub fn deadline_for(&self, bytes: u64) -> Duration {
        ANSWER_WITHIN + Duration::from_secs_f64(bytes as f64 / self.min_rate as f64)
    }

    /// `Ok` if the store is thought to answer, or does when asked now.
    pub async fn admit(&self) -> Result<(), StorageError> {
        let probing = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(state) = open.as_mut() else {
                return Ok(());
            };
            match &state.probing {
                Some(probing) => probing.clone(),
                None if state.silent_at.is_some_and(|at| at.elapsed() < PROBE_AGAIN_AFTER) => {
                    return Err(self.refusal(&state.reason));
                }
                None => {
                    let probe = (self.probe)();
                    let probing = async move {
                        match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                            Ok(true) => Probed::Answered,
                            Ok(false) => Probed::Refused,
                            Err(_) => Probed::Silent,
                        }
                    }
                    .boxed()
                    .shared();
                    state.probing = Some(probing.clone());
                    probing
                }
            }
        };
        let probed = probing.await;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        match open.as_mut() {
            None => Ok(()),
            Some(_) if probed == Probed::Answered => {
                *open = None;
                tracing::info!(store = self.what, "answers again");
                Ok(())
            }
            Some(state) => {
                state.probing = None;
                if probed == Probed::Silent {
                    state.silent_at = Some(Instant::now());
                }
                Err(self.refusal(&state.reason))
            }
        }
    }

    fn refusal(&self, reason: &str) -> StorageError {
        StorageError::Unavailable(format!("{} is not answering ({reason})", self.what))
    }

    /// Runs `call` once the breaker admits it, within `deadline`; a call that
    /// misses it opens the breaker.
    pub async fn call<T>(
        &self,
        deadline: Duration,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        self.admit().await?;
        match tokio::time::timeout(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(self.trip(format!("no answer within {deadline:?}"))),
        }
    }

    /// Opens the breaker (if it is not open already); returns the error the
    /// call that found out fails with.
    pub fn trip(&self, reason: String) -> StorageError {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.is_none() {
            tracing::warn!(store = self.what, %reason, "not answering; failing calls fast until it does");
            *open = Some(Open {
                reason: reason.clone(),
                probing: None,
                silent_at: None,
            });
        }
        StorageError::Unavailable(format!("{} is not answering: {reason}", self.what))
    }

    /// `stream`, failing with `error` (and opening the breaker) if it stays
    /// silent for [`STALL`] while it is read.
    pub fn watch_stream<S, E>(self: &Arc<Self>, stream: S, error: fn(StorageError) -> E) -> Watched<S, E> {
        Watched {
            stream,
            breaker: Arc::clone(self),
            silence: None,
            error,
        }
    }
}

/// A stream from the store whose silences are timed while it is read.
pub struct Watched<S, E> {
    stream: S,
    breaker: Arc<Breaker>,
    silence: Option<Pin<Box<Sleep>>>,
    error: fn(StorageError) -> E,
}

impl<S, E> std::fmt::Debug for Watched<S, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, T, E> Stream for Watched<S, E>
where
    S: Stream<Item = Result<T, E>> + Unpin,
{
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.stream).poll_next(cx) {
            Poll::Ready(item) => {
                self.silence = None;
                Poll::Ready(item)
            }
            Poll::Pending => {
                let silence = self
                    .silence
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + STALL)));
                match silence.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        self.silence = None;
                        let err = self.breaker.trip(format!("a stream went silent for {STALL:?}"));
                        Poll::Ready(Some(Err((self.error)(err))))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers probes `true`, `false` or never (`None`), and counts them.
    fn breaker(answer: Arc<Mutex<Option<bool>>>, probes: Arc<AtomicUsize>) -> Arc<Breaker> {
        Breaker::new(
            "the test store",
            Arc::new(move || {
                let (answer, probes) = (Arc::clone(&answer), Arc::clone(&probes));
                Box::pin(async move {
                    probes.fetch_add(1, Ordering::Relaxed);
                    let answer = *answer.lock().unwrap();
                    match answer {
                        Some(answer) => answer,
                        None => std::future::pending().await,
                    }
                })
            }),
            DEFAULT_MIN_RATE,
        )
    }

    async fn ok() -> Result<(), StorageError> {
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_deadline_opens_it_and_the_first_call_after_the_store_is_back_goes_through() {
        let (answer, probes) = (Arc::new(Mutex::new(None)), Arc::new(AtomicUsize::new(0)));
        let breaker = breaker(Arc::clone(&answer), Arc::clone(&probes));
        let hung = breaker.call(
            Duration::from_secs(5),
            std::future::pending::<Result<(), StorageError>>(),
        );
        assert!(matches!(hung.await, Err(StorageError::Unavailable(_))));

        // Open, and the store silent: a call waits for one probe, the next fails at once.
        let started = Instant::now();
        assert!(breaker.call(Duration::from_secs(5), ok()).await.is_err());
        assert_eq!(started.elapsed(), PROBE_TIMEOUT);
        assert!(breaker.call(Duration::from_secs(5), ok()).await.is_err());
        assert_eq!(probes.load(Ordering::Relaxed), 1);

        // Refusing (restarting): every call asks again.
        *answer.lock().unwrap() = Some(false);
        tokio::time::sleep(PROBE_AGAIN_AFTER).await;
        assert!(breaker.call(Duration::from_secs(5), ok()).await.is_err());
        assert!(breaker.call(Duration::from_secs(5), ok()).await.is_err());
        assert_eq!(probes.load(Ordering::Relaxed), 3);

        // Back: the next call goes through, and closes it.
        *answer.lock().unwrap() = Some(true);
        assert!(breaker.call(Duration::from_secs(5), ok()).await.is_ok());
        assert!(breaker.call(Duration::from_secs(5), ok()).await.is_ok());
        assert_eq!(probes.load(Ordering::Relaxed), 4, "closed again: no more probes");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_that_arrive_while_a_probe_runs_share_it() {
        let (answer, probes) = (Arc::new(Mutex::new(Some(true))), Arc::new(AtomicUsize::new(0)));
        let breaker = breaker(answer, Arc::clone(&probes));
        breaker.trip("down".to_owned());
        let calls = (0..5).map(|_| breaker.admit());
        let admitted = futures_util::future::join_all(calls).await;
        assert!(admitted.iter().all(Result::is_ok));
        assert_eq!(probes.load(Ordering::Relaxed), 1);
    }
}
