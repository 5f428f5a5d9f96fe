//! The active-file cache (seed 2): one Redis hash per session at
//! `active_file:user{user_id}:session:{session_id}`, or an in-process map with the
//! same behaviour when no `REDIS_URL` is set.
//!
//! The database holds the truth; the cache only saves round trips. Every call is
//! bounded by a timeout, and a failure trips a short breaker so a slow or dead
//! Redis costs at most one timeout per second, not one per request. Writes that
//! could not reach Redis are remembered and those keys are dropped when it comes
//! back, so a stale entry is never served after recovery.

pub mod buckets;
mod entry;
mod local;
mod redis;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

pub use entry::ActiveEntry;
pub use local::LocalCache;
pub use redis::RedisCache;

use crate::domain::SessionId;
use crate::domain::UserId;
use crate::domain::timestamp::now_micros;
use crate::metrics;

/// How long after a failure the cache is left alone before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At most one "cache degraded" warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// Keys of failed writes remembered for repair; past this, every active-file key is dropped.
const MAX_MISSED: usize = 100_000;
/// Time allowed to drop the keys of missed writes once the cache answers again.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(5);
/// How long startup waits for the first connection.
const STARTUP_CONNECT_WAIT: Duration = Duration::from_secs(2);

pub type Fields = HashMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("timed out")]
    Timeout,
    #[error("not connected")]
    NotConnected,
    #[error(transparent)]
    Redis(#[from] ::redis::RedisError),
}

/// A store of field maps with a TTL: Redis hashes, or the in-process stand-in.
#[async_trait]
pub trait CacheBackend: Send + Sync + std::fmt::Debug {
    /// Opens the connection, if the backend has one.
    async fn connect(&self) -> Result<(), CacheError> {
        Ok(())
    }
    /// The fields at `key`, refreshing its TTL to `ttl` when it exists.
    async fn get(&self, key: &str, ttl: Duration) -> Result<Option<Fields>, CacheError>;
    /// Replaces `key` with `fields` unless it holds a higher `version` field.
    async fn put(&self, key: &str, version: i64, fields: &Fields, ttl: Duration) -> Result<(), CacheError>;
    /// Drops these keys.
    async fn delete(&self, keys: &[String]) -> Result<(), CacheError>;
    /// Drops every key that starts with `prefix`.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError>;
    async fn ping(&self) -> Result<(), CacheError>;
    /// `redis` or `in-process`, for `/readyz` and logs.
    fn kind(&self) -> &'static str;
}

/// What `/readyz` says about the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    InProcess,
    Ok,
    Degraded,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProcess => "in-process",
            Self::Ok => "ok",
            Self::Degraded => "degraded",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ActiveFileCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Box<dyn CacheBackend>,
    ttl: Duration,
    timeout: Duration,
    degraded: AtomicBool,
    /// No cache call before this time (microseconds); set after a failure.
    retry_at: AtomicI64,
    last_warned: AtomicI64,
    missed: Mutex<Missed>,
    /// Held while missed writes are repaired, so only one caller does it.
    repairing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Missed {
    keys: HashSet<String>,
    overflowed: bool,
}

impl ActiveFileCache {
    pub fn new(backend: Box<dyn CacheBackend>, ttl: Duration, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                ttl,
                timeout,
                degraded: AtomicBool::new(false),
                retry_at: AtomicI64::new(0),
                last_warned: AtomicI64::new(0),
                missed: Mutex::new(Missed::default()),
                repairing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The cached state of a session, or `None` on a miss or when the cache is
    /// unavailable (the caller then asks the database).
    pub async fn get(&self, user: UserId, session: SessionId) -> Option<ActiveEntry> {
        let key = key(user, session);
        if !self.ready().await {
            metrics::cache_lookup("unavailable");
            return None;
        }
        let fields = match self.call(self.inner.backend.get(&key, self.inner.ttl)).await {
            None => {
                metrics::cache_lookup("unavailable");
                return None;
            }
            Some(None) => {
                metrics::cache_lookup("miss");
                return None;
            }
            Some(Some(fields)) => {
                metrics::cache_lookup("hit");
                fields
            }
        };
        let entry = ActiveEntry::from_fields(&fields);
        if entry.is_none() {
            tracing::warn!(key, "malformed active-file cache entry; reading the database");
        }
        entry
    }

    /// Caches a session's state unless the cache already holds a newer one.
    pub async fn put(&self, user: UserId, session: SessionId, entry: &ActiveEntry) {
        let key = key(user, session);
        let stored = if self.ready().await {
            let fields = entry.to_fields();
            self.call(
                self.inner
                    .backend
                    .put(&key, entry.version, &fields, self.inner.ttl),
            )
            .await
            .is_some()
        } else {
            false
        };
        if !stored {
            self.remember_missed(key);
        }
    }

    /// Connects at startup, waiting a little: a Redis that is down only logs a
    /// warning, and depot serves from the database until it answers.
    pub async fn connect(&self) {
        match tokio::time::timeout(STARTUP_CONNECT_WAIT, self.inner.backend.connect()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => self.trip(&err),
            Err(_) => self.trip(&CacheError::Timeout),
        }
    }

    /// Asks the cache itself (for `/readyz`): `ok` only when it answers and no
    /// repair after an outage is pending.
    pub async fn status(&self) -> CacheStatus {
        if self.inner.backend.kind() == LocalCache::KIND {
            return CacheStatus::InProcess;
        }
        let answers = matches!(
            tokio::time::timeout(self.inner.timeout, self.inner.backend.ping()).await,
            Ok(Ok(()))
        );
        if answers && self.ready().await {
            CacheStatus::Ok
        } else {
            CacheStatus::Degraded
        }
    }

    pub fn kind(&self) -> &'static str {
        self.inner.backend.kind()
    }

    /// Whether the cache may be called now: the breaker is closed, and any writes
    /// missed while it was open have been repaired.
    async fn ready(&self) -> bool {
        if now_micros() < self.inner.retry_at.load(Ordering::Relaxed) {
            return false;
        }
        if !self.inner.degraded.load(Ordering::Relaxed) {
            return true;
        }
        let _guard = self.inner.repairing.lock().await;
        if !self.inner.degraded.load(Ordering::Relaxed) {
            return true;
        }
        let missed = std::mem::take(&mut *self.lock_missed());
        let repair = async {
            if missed.overflowed {
                self.inner.backend.delete_prefix(KEY_PREFIX).await
            } else {
                let keys: Vec<String> = missed.keys.iter().cloned().collect();
                self.inner.backend.delete(&keys).await
            }
        };
        match tokio::time::timeout(REPAIR_TIMEOUT, repair).await {
            Ok(Ok(())) => {
                self.inner.degraded.store(false, Ordering::Relaxed);
                tracing::info!(cache = self.kind(), "active-file cache is back");
                true
            }
            outcome => {
                let mut kept = self.lock_missed();
                kept.keys.extend(missed.keys);
                kept.overflowed |= missed.overflowed;
                drop(kept);
                let err = match outcome {
                    Ok(Err(err)) => err,
                    _ => CacheError::Timeout,
                };
                self.trip(&err);
                false
            }
        }
    }

    /// Runs one cache call under the timeout; on failure trips the breaker and
    /// returns `None`.
    async fn call<T>(&self, call: impl Future<Output = Result<T, CacheError>>) -> Option<T> {
        let outcome = tokio::time::timeout(self.inner.timeout, call)
            .await
            .unwrap_or(Err(CacheError::Timeout));
        match outcome {
            Ok(value) => Some(value),
            Err(err) => {
                self.trip(&err);
                None
            }
        }
    }

    fn trip(&self, err: &CacheError) {
        let now = now_micros();
        self.inner
            .retry_at
            .store(now + micros(RETRY_AFTER), Ordering::Relaxed);
        self.inner.degraded.store(true, Ordering::Relaxed);
        let last = self.inner.last_warned.load(Ordering::Relaxed);
        if now - last >= micros(WARN_EVERY)
            && self
                .inner
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                cache = self.kind(),
                error = %err,
                "active-file cache degraded; answering from the database"
            );
        }
    }

    fn remember_missed(&self, key: String) {
        let mut missed = self.lock_missed();
        if missed.keys.len() < MAX_MISSED {
            missed.keys.insert(key);
        } else {
            missed.overflowed = true;
        }
    }

    fn lock_missed(&self) -> std::sync::MutexGuard<'_, Missed> {
        self.inner
            .missed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

const KEY_PREFIX: &str = "active_file:";

/// Seed 2's key: `active_file:user{user_id}:session:{session_id}`.
pub fn key(user: UserId, session: SessionId) -> String {
    format!("{KEY_PREFIX}user{user}:session:{session}")
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
