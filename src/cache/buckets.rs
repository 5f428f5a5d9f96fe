//! Token buckets for rate limits, as GCRA (the generic cell rate
//! algorithm): a bucket is one number, the time at which it would be full
//! again (its "theoretical arrival time"), so taking a token is one atomic
//! read-and-set. With Redis the buckets are shared by every node of a
//! deployment (a Lua script, timed by Redis's own clock); without it, or
//! while Redis does not answer, each node keeps its own. A node with Redis
//! takes a tenth of a busy bucket at a time and spends it itself
//! (`LEASE_SHARE`). A failing Redis never fails a request: the node answers
//! from its own buckets and tries Redis again a second later.

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

/// Takes up to `ARGV[3]` tokens from the bucket at `KEYS[1]` — one comes
/// back every `ARGV[1]` µs, and it is full `ARGV[2]` µs after the last was
/// taken — if at least one is there; only looks if `ARGV[4]` is not 1.
/// Returns {tokens taken (or there), µs until the bucket is full, µs until
/// a token is there}.
const TAKE: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval, window, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local free = math.floor((window - (tat - now)) / interval)
if free < 1 then
  return {0, tat - now, tat + interval - window - now}
end
local taken = math.min(most, free)
if ARGV[4] ~= '1' then
  return {taken, tat - now, 0}
end
local after = tat + taken * interval
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.ceil((after - now) / 1000) + 1)
return {taken, after - now, 0}
";

/// A node with Redis takes up to this share of a bucket at once and spends
/// it on its own, so that a busy bucket costs a round trip per tenth of
/// its size rather than per request. A bucket of fewer than twice this
/// many tokens is taken from one token at a time, exactly.
const LEASE_SHARE: u32 = 10;
/// Tokens a node took ahead and did not spend within this long are gone:
/// the most a deployment can pass a rate by is a tenth of it per node and
/// per this long.
const LEASE_LIFE: Duration = Duration::from_secs(1);

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

impl Lease {
    const EMPTY: Self = Self {
        tokens: 0,
        taking_since: 0,
        left_shared: 0,
        full_at: 0,
        until: 0,
    };
}

/// What a request does about a shared bucket.
enum Spend {
    /// It spent a token this node took ahead.
    Token(Decision),
    /// It takes tokens ahead from Redis, for itself and the next requests.
    TakeAhead,
    /// It takes its own token from Redis.
    TakeOne,
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
    /// Tokens taken from Redis ahead, by bucket.
    leases: HashMap<String, Lease>,
    sweep_above: usize,
}

/// Tokens a node took from a shared bucket ahead and spends on its own.
#[derive(Debug, Clone, Copy)]
struct Lease {
    tokens: u32,
    /// Since when a request is taking more from Redis (µs; 0: none is). A
    /// request dropped meanwhile leaves it set; it is ignored once older
    /// than [`LEASE_LIFE`].
    taking_since: i64,
    /// What Redis said was left in the bucket when they were taken.
    left_shared: u32,
    /// When the shared bucket would be full again, µs.
    full_at: i64,
    /// When the tokens are gone, µs.
    until: i64,
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

    /// Takes a token from `bucket` if there is one.
    pub async fn take(&self, bucket: &str, rate: Rate) -> Decision {
        let Some(shared) = &self.shared else {
            return self.decide_here(bucket, rate, true);
        };
        let most = (rate.count / LEASE_SHARE).max(1);
        // One request at a time takes tokens ahead; the others meanwhile
        // take one each, so that none are taken twice over or lost.
        let most = match self.spend_lease(bucket, most > 1) {
            Spend::Token(decision) => return decision,
            Spend::TakeAhead => most,
            Spend::TakeOne => 1,
        };
        let taken = shared.take(bucket, rate, most, true).await;
        let now = now_micros();
        if most > 1 {
            let mut local = self.lock();
            local.sweep_if_due(now);
            let lease = local.leases.entry(bucket.to_owned()).or_insert(Lease::EMPTY);
            lease.taking_since = 0;
            if let Some((decision, taken)) = taken
                && taken > 1
            {
                lease.tokens = lease.tokens.saturating_add(taken - 1);
                lease.left_shared = decision.remaining;
                lease.full_at = now + micros(decision.reset);
                lease.until = now + micros(LEASE_LIFE.min(rate.per));
            }
        }
        match taken {
            Some((decision, taken)) => Decision {
                remaining: decision.remaining.saturating_add(taken.saturating_sub(1)),
                ..decision
            },
            None => self.decide_here(bucket, rate, true),
        }
    }

    /// Whether a token is there in `bucket`, taking none.
    pub async fn peek(&self, bucket: &str, rate: Rate) -> Decision {
        let Some(shared) = &self.shared else {
            return self.decide_here(bucket, rate, false);
        };
        match shared.take(bucket, rate, 1, false).await {
            Some((decision, _)) => decision,
            None => self.decide_here(bucket, rate, false),
        }
    }

    /// Fills `bucket` up again.
    pub async fn clear(&self, bucket: &str) {
        {
            let mut local = self.lock();
            local.full_at.remove(bucket);
            local.leases.remove(bucket);
        }
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

    /// A token from what this node took ahead of `bucket`, if it has one
    /// left; else whether this request takes tokens ahead (if `ahead` and no
    /// other request is doing so) or only its own.
    fn spend_lease(&self, bucket: &str, ahead: bool) -> Spend {
        let now = now_micros();
        let mut local = self.lock();
        let Some(lease) = local.leases.get_mut(bucket) else {
            if !ahead {
                return Spend::TakeOne;
            }
            let taking = Lease {
                taking_since: now,
                ..Lease::EMPTY
            };
            local.leases.insert(bucket.to_owned(), taking);
            return Spend::TakeAhead;
        };
        if lease.until <= now {
            lease.tokens = 0;
        }
        if lease.tokens > 0 {
            lease.tokens -= 1;
            return Spend::Token(Decision {
                allowed: true,
                remaining: lease.tokens.saturating_add(lease.left_shared),
                reset: duration(lease.full_at - now),
                retry_after: Duration::ZERO,
            });
        }
        if ahead && lease.taking_since < now - micros(LEASE_LIFE) {
            lease.taking_since = now;
            return Spend::TakeAhead;
        }
        Spend::TakeOne
    }

    /// The same algorithm as the script, on this node's buckets, a token at
    /// a time.
    fn decide_here(&self, bucket: &str, rate: Rate, take: bool) -> Decision {
        let now = now_micros();
        let (interval, window) = (micros(rate.interval()).max(1), micros(rate.per));
        let mut local = self.lock();
        let full_at = local.full_at.get(bucket).copied().unwrap_or(now).max(now);
        let free = (window - (full_at - now)) / interval;
        if free < 1 {
            return Decision::of(rate, false, full_at - now, full_at + interval - window - now);
        }
        if !take {
            return Decision::of(rate, true, full_at - now, 0);
        }
        let after = full_at + interval;
        local.sweep_if_due(now);
        local.full_at.insert(bucket.to_owned(), after);
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
        let kept = self.full_at.len() + self.leases.len();
        if kept > self.sweep_above.max(SWEEP_ABOVE) {
            self.full_at.retain(|_, full_at| *full_at > now);
            let life = micros(LEASE_LIFE);
            self.leases
                .retain(|_, lease| lease.until > now || lease.taking_since > now - life);
            self.sweep_above = 2 * (self.full_at.len() + self.leases.len());
        }
    }
}

impl Shared {
    /// Redis's answer and the tokens it gave (up to `most`; with `take`
    /// false, only looked at), or `None` if it gave none in time (the
    /// caller then decides on this node's buckets).
    async fn take(&self, bucket: &str, rate: Rate, most: u32, take: bool) -> Option<(Decision, u32)> {
        if now_micros() < self.retry_at.load(Ordering::Relaxed) {
            metrics::rate_limit_backend("in_process");
            return None;
        }
        let call = async {
            let mut connection = self.link.connection()?;
            let mut invocation = self.script.key(format!("{}{bucket}", self.prefix));
            invocation
                .arg(micros(rate.interval()).max(1))
                .arg(micros(rate.per))
                .arg(most)
                .arg(u8::from(take));
            let outcome: redis::RedisResult<(i64, i64, i64)> = invocation.invoke_async(&mut connection).await;
            self.link.checked(outcome)
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((taken, full_in, wait))) => {
                metrics::rate_limit_backend("redis");
                let taken = u32::try_from(taken).unwrap_or_default();
                Some((Decision::of(rate, taken > 0, full_in, wait), taken))
            }
            Ok(Err(err)) => self.trip(&err),
            Err(_) => self.trip(&CacheError::Timeout),
        }
    }

    fn trip<T>(&self, err: &CacheError) -> Option<T> {
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
            let decision = buckets.take("a", rate).await;
            assert!(decision.allowed);
            assert_eq!(decision.remaining, left);
        }
        let refused = buckets.take("a", rate).await;
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(100));
        assert!(buckets.take("b", rate).await.allowed, "each bucket is its own");
        assert!(!buckets.peek("a", rate).await.allowed);
        tokio::time::sleep(refused.retry_after).await;
        assert!(buckets.peek("a", rate).await.allowed, "a peek takes nothing");
        assert!(buckets.take("a", rate).await.allowed);
        assert!(!buckets.take("a", rate).await.allowed);
        buckets.clear("a").await;
        assert_eq!(buckets.take("a", rate).await.remaining, 2);
    }
}
