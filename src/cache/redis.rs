//! Redis over one multiplexed connection ([`RedisLink`]), and the active-file
//! cache's hashes in it. The connection is opened in the background — at
//! startup, and again after it broke — so no request ever waits for a
//! connect, and depot starts and serves while Redis is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};

use crate::cache::{CacheBackend, CacheError, Fields};

/// Replaces the hash at KEYS[1] unless it holds a higher `version`, and sets its
/// TTL. ARGV: ttl seconds, version, then field/value pairs.
const PUT_IF_NOT_OLDER: &str = r"
local cached = redis.call('HGET', KEYS[1], 'version')
if cached and tonumber(cached) > tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Keys dropped per round trip when repairing after an outage.
const DELETE_BATCH: usize = 1000;
/// Time allowed to open a connection (in the background, never in a request).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One multiplexed connection to Redis, opened in the background and
/// opened again after it broke: what the active-file cache and the rate
/// limiter's shared buckets talk through.
pub struct RedisLink {
    client: Client,
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    connecting: Arc<AtomicBool>,
    config: AsyncConnectionConfig,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's connection info may carry a password.
        f.debug_struct("RedisLink").finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Checks the URL; [`RedisLink::connect`] opens the connection. Each
    /// call waits at most `timeout` for its answer.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, CacheError> {
        Ok(Self {
            client: Client::open(url)?,
            connection: Arc::default(),
            connecting: Arc::default(),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(timeout)),
        })
    }

    /// Opens the connection now.
    pub async fn connect(&self) -> Result<(), CacheError> {
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        *self.slot() = Some(connection);
        Ok(())
    }

    /// The open connection; without one, a connect starts in the background and
    /// this call fails at once.
    pub fn connection(&self) -> Result<MultiplexedConnection, CacheError> {
        if let Some(connection) = &*self.slot() {
            return Ok(connection.clone());
        }
        if !self.connecting.swap(true, Ordering::AcqRel) {
            let (client, config) = (self.client.clone(), self.config.clone());
            let (slot, connecting) = (self.connection.clone(), self.connecting.clone());
            tokio::spawn(async move {
                if let Ok(connection) = client.get_multiplexed_async_connection_with_config(&config).await {
                    *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection);
                }
                connecting.store(false, Ordering::Release);
            });
        }
        Err(CacheError::NotConnected)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Passes `outcome` through, forgetting the connection when it broke.
    pub fn checked<T>(&self, outcome: redis::RedisResult<T>) -> Result<T, CacheError> {
        if let Err(err) = &outcome
            && (err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal())
        {
            *self.slot() = None;
        }
        Ok(outcome?)
    }
}

#[derive(Debug)]
pub struct RedisCache {
    link: RedisLink,
    put_script: Script,
}

impl RedisCache {
    pub const KIND: &'static str = "redis";

    /// Checks the URL; [`CacheBackend::connect`] opens the connection.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, CacheError> {
        Ok(Self {
            link: RedisLink::new(url, timeout)?,
            put_script: Script::new(PUT_IF_NOT_OLDER),
        })
    }

    fn connection(&self) -> Result<MultiplexedConnection, CacheError> {
        self.link.connection()
    }

    fn checked<T>(&self, outcome: redis::RedisResult<T>) -> Result<T, CacheError> {
        self.link.checked(outcome)
    }
}

#[async_trait]
impl CacheBackend for RedisCache {
    async fn connect(&self) -> Result<(), CacheError> {
        self.link.connect().await
    }

    async fn get(&self, key: &str, ttl: Duration) -> Result<Option<Fields>, CacheError> {
        let mut connection = self.connection()?;
        let outcome: redis::RedisResult<(Fields, i64)> = redis::pipe()
            .atomic()
            .hgetall(key)
            .expire(key, seconds(ttl))
            .query_async(&mut connection)
            .await;
        let (fields, _) = self.checked(outcome)?;
        Ok((!fields.is_empty()).then_some(fields))
    }

    async fn put(&self, key: &str, version: i64, fields: &Fields, ttl: Duration) -> Result<(), CacheError> {
        let mut connection = self.connection()?;
        let mut invocation = self.put_script.key(key);
        invocation.arg(seconds(ttl)).arg(version);
        for (name, value) in fields {
            invocation.arg(name).arg(value);
        }
        let outcome: redis::RedisResult<i64> = invocation.invoke_async(&mut connection).await;
        self.checked(outcome).map(drop)
    }

    async fn delete(&self, keys: &[String]) -> Result<(), CacheError> {
        let mut connection = self.connection()?;
        for batch in keys.chunks(DELETE_BATCH) {
            let outcome: redis::RedisResult<i64> =
                redis::cmd("UNLINK").arg(batch).query_async(&mut connection).await;
            self.checked(outcome)?;
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        let mut connection = self.connection()?;
        let mut cursor = 0_u64;
        loop {
            let outcome: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(DELETE_BATCH)
                .query_async(&mut connection)
                .await;
            let (next, keys) = self.checked(outcome)?;
            if !keys.is_empty() {
                let outcome: redis::RedisResult<i64> =
                    redis::cmd("UNLINK").arg(&keys).query_async(&mut connection).await;
                self.checked(outcome)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut connection = self.connection()?;
        let outcome: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut connection).await;
        self.checked(outcome).map(drop)
    }

    fn kind(&self) -> &'static str {
        Self::KIND
    }
}

/// Redis TTLs are whole seconds; never zero, which would delete the key.
fn seconds(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)
}
