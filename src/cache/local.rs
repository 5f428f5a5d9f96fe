//! The in-process stand-in for Redis: the same versioned hashes with a TTL, for
//! a single node without `REDIS_URL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::cache::{CacheBackend, CacheError, Fields};

/// Expired entries are swept when the map grows past this many.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub struct LocalCache {
    entries: Mutex<HashMap<String, (Fields, Instant)>>,
}

impl LocalCache {
    pub const KIND: &'static str = "in-process";

    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Fields, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl CacheBackend for LocalCache {
    async fn get(&self, key: &str, ttl: Duration) -> Result<Option<Fields>, CacheError> {
        let mut entries = self.lock();
        let now = Instant::now();
        match entries.get_mut(key) {
            Some((fields, expires)) if *expires > now => {
                *expires = now + ttl;
                Ok(Some(fields.clone()))
            }
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, version: i64, fields: &Fields, ttl: Duration) -> Result<(), CacheError> {
        let mut entries = self.lock();
        let now = Instant::now();
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        let newer_cached = entries
            .get(key)
            .is_some_and(|(cached, expires)| *expires > now && cached_version(cached) > version);
        if !newer_cached {
            entries.insert(key.to_owned(), (fields.clone(), now + ttl));
        }
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), CacheError> {
        let mut entries = self.lock();
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        self.lock().retain(|key, _| !key.starts_with(prefix));
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        Self::KIND
    }
}

fn cached_version(fields: &Fields) -> i64 {
    fields
        .get("version")
        .and_then(|version| version.parse().ok())
        .unwrap_or(i64::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(version: i64, file_name: &str) -> Fields {
        Fields::from([
            ("version".to_owned(), version.to_string()),
            ("file_name".to_owned(), file_name.to_owned()),
        ])
    }

    #[tokio::test]
    async fn an_older_version_never_replaces_a_newer_one() {
        let cache = LocalCache::new();
        let ttl = Duration::from_secs(60);
        cache.put("k", 2, &fields(2, "new"), ttl).await.unwrap();
        cache.put("k", 1, &fields(1, "old"), ttl).await.unwrap();
        assert_eq!(cache.get("k", ttl).await.unwrap(), Some(fields(2, "new")));
        cache.put("k", 2, &fields(2, "same"), ttl).await.unwrap();
        assert_eq!(cache.get("k", ttl).await.unwrap(), Some(fields(2, "same")));
    }

    #[tokio::test]
    async fn entries_expire_unless_read() {
        let cache = LocalCache::new();
        cache
            .put("k", 1, &fields(1, "a"), Duration::from_millis(30))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // A read refreshes the TTL…
        assert!(cache.get("k", Duration::from_millis(30)).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(cache.get("k", Duration::from_millis(30)).await.unwrap().is_some());
        // …and without reads the entry goes.
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(cache.get("k", Duration::from_millis(30)).await.unwrap().is_none());
    }
}
