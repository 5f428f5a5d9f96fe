//! The in-process stand-in for Redis: the same versioned hashes with a TTL, for
//! a single node without `REDIS_URL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::cache::{CacheBackend, CacheError, Fields};

/// Expired entries are swept when the map grows past this many, and then
/// each time it has doubled since the last sweep.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub struct LocalCache {
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    map: HashMap<String, (Fields, Instant)>,
    /// The size past which the next put sweeps. A sweep that leaves most
    /// entries (all alive) moves it to twice what is left, so puts into a
    /// large map of live sessions are not each a scan of all of them.
    sweep_above: usize,
}

impl Default for Entries {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            sweep_above: SWEEP_ABOVE,
        }
    }
}

impl Entries {
    fn sweep_if_due(&mut self, now: Instant) {
        if self.map.len() > self.sweep_above {
            self.map.retain(|_, (_, expires)| *expires > now);
            self.sweep_above = (2 * self.map.len()).max(SWEEP_ABOVE);
        }
    }
}

impl LocalCache {
    pub const KIND: &'static str = "in-process";

    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl CacheBackend for LocalCache {
    async fn get(&self, key: &str, ttl: Duration) -> Result<Option<Fields>, CacheError> {
        let entries = &mut self.lock().map;
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
        let mut guard = self.lock();
        let now = Instant::now();
        guard.sweep_if_due(now);
        let entries = &mut guard.map;
        let newer_cached = entries
            .get(key)
            .is_some_and(|(cached, expires)| *expires > now && cached_version(cached) > version);
        if !newer_cached {
            entries.insert(key.to_owned(), (fields.clone(), now + ttl));
        }
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), CacheError> {
        let entries = &mut self.lock().map;
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        self.lock().map.retain(|key, _| !key.starts_with(prefix));
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
    async fn a_large_map_is_swept_of_expired_entries_without_rescanning_live_ones() {
        let cache = LocalCache::new();
        let (short, long) = (Duration::from_millis(10), Duration::from_secs(60));
        for n in 0..SWEEP_ABOVE / 2 {
            cache
                .put(&format!("gone-{n}"), 1, &fields(1, "a"), short)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for n in 0..SWEEP_ABOVE {
            cache
                .put(&format!("live-{n}"), 1, &fields(1, "a"), long)
                .await
                .unwrap();
        }
        let entries = cache.lock();
        assert_eq!(entries.map.len(), SWEEP_ABOVE, "the expired entries were swept");
        // What the sweep left was all alive: the next one waits for twice that.
        assert!(
            entries.sweep_above >= 2 * (SWEEP_ABOVE / 2 + 1),
            "{}",
            entries.sweep_above
        );
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
