//! Token buckets for rate limits, as GCRA (the generic cell rate
//! algorithm): a bucket is one number, the time at which it would be full
//! again (its "theoretical arrival time"), so taking a token is one atomic
//! read-and-set. With Redis the buckets are shared by every node of a
//! deployment (a Lua script, timed by Redis's own clock); without it, or
//! while Redis does not answer, each node keeps its own. A failing Redis
//! never fails a request: the node answers from its own buckets and tries
//! Redis again a second later.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::Script;

use super::CacheError;
use super::redis::RedisLink;
use crate::domain::rate::Rate;
use crate::domain::timestamp::now_micros;
use crate::metrics;

/// How long after a failure Redis is left alone.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At most one "limits are per node" warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// How long startup waits for the first connection.
const STARTUP_CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Buckets kept in process before the full ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// Takes `ARGV[3]` tokens from the bucket at `KEYS[1]` (one token per
/// `ARGV[1]` µs, at most `ARGV[2]` µs ahead) if they are there, and only
/// then if `ARGV[4]` is 1. Returns {taken (1/0), µs until the bucket is
/// full, µs until the tokens would be there}.
const TAKE: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local after = tat + tonumber(ARGV[3]) * tonumber(ARGV[1])
local wait = after - now - tonumber(ARGV[2])
if wait > 0 then
  return {0, tat - now, wait}
end
if ARGV[4] == '1' and after > now then
  redis.call('SET', KEYS[1], after, 'PX', math.ceil((after - now) / 1000) + 1)
end
return {1, after - now, 0}
";

/// What a bucket said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The tokens were there (and, unless only asked, taken).
    pub allowed: bool,
    /// Tokens left now.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until the tokens asked for would be there (zero if they were).
    pub retry_after: Duration,
}

impl Decision {
    /// The bucket's state, from µs until it is full and until the tokens
    /// asked for would be there.
    fn of(rate: Rate, allowed: bool, full_in: i64, wait: i64) -> Self {
        let interval = micros(rate.interval()).max(1);
        let window = micros(rate.per);
        let remaining = (window - full_in.max(0)) / interval;
        Self {
            allowed,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset: duration(full_in),
            retry_after: duration(wait),
        }
    }
}

/// Every rate-limit bucket of this node, kept in Redis when it has one.
#[derive(Debug)]
pub struct Buckets {
    local: Mutex<Local>,
    shared: Option<Shared>,
}

#[derive(Debug)]
struct Shared {
    link: RedisLink,
    script: Script,
    /// Keys are `{prefix}{bucket}`: the deployment's, so that deployments
    /// sharing a Redis keep apart.
    prefix: String,
    timeout: Duration,
    /// No Redis call before this time (µs); set after a failure.
    retry_at: AtomicI64,
    last_warned: AtomicI64,
}

#[derive(Debug, Default)]
struct Local {
    /// Each bucket's time of being full again, µs.
    full_at: HashMap<String, i64>,
    sweep_above: usize,
}

impl Buckets {
    /// Buckets kept in this process only.
    pub fn in_process() -> Self {
        Self {
            local: Mutex::default(),
            shared: None,
        }
    }

    /// Buckets kept in the Redis at `url`, under keys that start with
    /// `prefix`; a call waits at most `timeout` for Redis. Connects first,
    /// waiting a little: a Redis that is down only logs a warning, and the
    /// buckets are per node until it answers.
    pub async fn redis(url: &str, prefix: String, timeout: Duration) -> Result<Self, CacheError> {
        let link = RedisLink::new(url, timeout)?;
        let connected = match tokio::time::timeout(STARTUP_CONNECT_WAIT, link.connect()).await {
            Ok(connected) => connected,
            Err(_) => Err(CacheError::Timeout),
        };
        if let Err(err) = connected {
            tracing::warn!(error = %err, "Redis does not answer; rate limits are per node until it does");
        }
        Ok(Self {
            local: Mutex::default(),
            shared: Some(Shared {
                link,
                script: Script::new(TAKE),
                prefix,
                timeout,
                retry_at: AtomicI64::new(0),
                last_warned: AtomicI64::new(0),
            }),
        })
    }

    /// Takes `cost` tokens from `bucket` if they are there.
    pub async fn take(&self, bucket: &str, rate: Rate, cost: u32) -> Decision {
        self.decide(bucket, rate, cost, true).await
    }

    /// Whether `cost` tokens are there in `bucket`, taking none.
    pub async fn peek(&self, bucket: &str, rate: Rate, cost: u32) -> Decision {
        self.decide(bucket, rate, cost, false).await
    }

    /// Fills `bucket` up again.
    pub async fn clear(&self, bucket: &str) {
        self.lock().full_at.remove(bucket);
        if let Some(shared) = &self.shared
            && let Ok(mut connection) = shared.link.connection()
        {
            let key = format!("{}{bucket}", shared.prefix);
            let mut command = redis::cmd("DEL");
            command.arg(key);
            let call = command.query_async::<i64>(&mut connection);
            if let Ok(outcome) = tokio::time::timeout(shared.timeout, call).await {
                let _ = shared.link.checked(outcome);
            }
        }
    }

    async fn decide(&self, bucket: &str, rate: Rate, cost: u32, take: bool) -> Decision {
        if let Some(shared) = &self.shared
            && let Some(decision) = shared.decide(bucket, rate, cost, take).await
        {
            return decision;
        }
        self.decide_here(bucket, rate, cost, take)
    }

    /// The same algorithm as the script, on this node's buckets.
    fn decide_here(&self, bucket: &str, rate: Rate, cost: u32, take: bool) -> Decision {
        let now = now_micros();
        let mut local = self.lock();
        let full_at = local.full_at.get(bucket).copied().unwrap_or(now).max(now);
        let after = full_at.saturating_add(i64::from(cost).saturating_mul(micros(rate.interval())));
        let wait = after - now - micros(rate.per);
        if wait > 0 {
            return Decision::of(rate, false, full_at - now, wait);
        }
        if take && after > now {
            local.sweep_if_due(now);
            local.full_at.insert(bucket.to_owned(), after);
        }
        Decision::of(rate, true, after - now, 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Local {
    /// Drops the buckets that are full again (as good as absent), each time
    /// the map has doubled since the last sweep.
    fn sweep_if_due(&mut self, now: i64) {
        if self.full_at.len() > self.sweep_above.max(SWEEP_ABOVE) {
            self.full_at.retain(|_, full_at| *full_at > now);
            self.sweep_above = 2 * self.full_at.len();
        }
    }
}

impl Shared {
    /// Redis's answer, or `None` if it gave none in time (the caller then
    /// decides on this node's buckets).
    async fn decide(&self, bucket: &str, rate: Rate, cost: u32, take: bool) -> Option<Decision> {
        if now_micros() < self.retry_at.load(Ordering::Relaxed) {
            metrics::rate_limit_backend("in_process");
            return None;
        }
        let call = async {
            let mut connection = self.link.connection()?;
            let mut invocation = self.script.key(format!("{}{bucket}", self.prefix));
            invocation
                .arg(micros(rate.interval()))
                .arg(micros(rate.per))
                .arg(cost)
                .arg(u8::from(take));
            let outcome: redis::RedisResult<(i64, i64, i64)> = invocation.invoke_async(&mut connection).await;
            self.link.checked(outcome)
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((allowed, full_in, wait))) => {
                metrics::rate_limit_backend("redis");
                Some(Decision::of(rate, allowed == 1, full_in, wait))
            }
            Ok(Err(err)) => self.trip(&err),
            Err(_) => self.trip(&CacheError::Timeout),
        }
    }

    fn trip(&self, err: &CacheError) -> Option<Decision> {
        let now = now_micros();
        self.retry_at.store(now + micros(RETRY_AFTER), Ordering::Relaxed);
        metrics::rate_limit_backend("in_process");
        let last = self.last_warned.load(Ordering::Relaxed);
        if now - last >= micros(WARN_EVERY)
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %err, "Redis does not answer; rate limits are per node until it does");
        }
        None
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_gives_its_burst_then_one_token_per_interval() {
        let buckets = Buckets::in_process();
        let rate = Rate::new(3, Duration::from_millis(300));
        for left in [2, 1, 0] {
            let decision = buckets.take("a", rate, 1).await;
            assert!(decision.allowed);
            assert_eq!(decision.remaining, left);
        }
        let refused = buckets.take("a", rate, 1).await;
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(100));
        assert!(buckets.take("b", rate, 1).await.allowed, "each bucket is its own");
        assert!(!buckets.peek("a", rate, 1).await.allowed);
        tokio::time::sleep(refused.retry_after).await;
        assert!(buckets.peek("a", rate, 1).await.allowed, "a peek takes nothing");
        assert!(buckets.take("a", rate, 1).await.allowed);
        assert!(!buckets.take("a", rate, 1).await.allowed);
        buckets.clear("a").await;
        assert_eq!(buckets.take("a", rate, 1).await.remaining, 2);
    }
}
