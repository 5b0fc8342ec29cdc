//! Token buckets keyed by client address or site: the edge's rate limits.
//!
//! A key's bucket holds up to `burst` tokens and refills at `rate` per second; a request takes what it costs
//! or is refused with the wait until it could pass (the `Retry-After`). A full bucket is the same as no
//! bucket, so buckets that refilled are dropped when the map grows: memory follows the keys active in the
//! last `burst / rate` seconds, not every address ever seen. Addresses are keyed by a hash with a key that
//! lives only in the process, so the limiter holds no client IP.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vtrack_model::config::RateConfig;

/// Shards, so concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;
/// Keys a shard holds before it drops its refilled buckets.
const PRUNE_AT: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key.
pub struct Buckets<K> {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<Shard<K>>>,
    hasher: std::hash::RandomState,
}

struct Shard<K> {
    map: HashMap<K, Bucket>,
    prune_at: usize,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(config: RateConfig) -> Buckets<K> {
        Buckets {
            rate: config.rate,
            burst: config.burst.max(1.0),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard { map: HashMap::new(), prune_at: PRUNE_AT })).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Whether the limit is on (a rate of 0 turns it off).
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Takes `cost` tokens from `key`'s bucket, or says how long until they would be there.
    pub fn take(&self, key: &K, cost: f64, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |b| {
            if b.tokens >= cost {
                b.tokens -= cost;
                Ok(())
            } else {
                Err(self.wait(cost.min(self.burst) - b.tokens))
            }
        })
    }

    /// Whether `key` could take one token now, without taking it; the wait when it could not.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |b| if b.tokens >= 1.0 { Ok(()) } else { Err(self.wait(1.0 - b.tokens)) })
    }

    fn wait(&self, missing: f64) -> Duration {
        Duration::from_secs_f64((missing / self.rate).clamp(0.0, 86_400.0))
    }

    fn with_bucket<T>(
        &self,
        key: &K,
        now: Instant,
        f: impl FnOnce(&mut Bucket) -> Result<T, Duration>,
    ) -> Result<T, Duration>
    where
        T: Default,
    {
        if !self.enabled() {
            return Ok(T::default());
        }
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        // A poisoned lock only means another request panicked mid-update; the numbers are still usable.
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        if shard.map.len() >= shard.prune_at {
            let (rate, burst) = (self.rate, self.burst);
            shard.map.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
            shard.prune_at = (shard.map.len() * 2).max(PRUNE_AT);
        }
        let bucket = shard.map.entry(key.clone()).or_insert(Bucket { tokens: self.burst, at: now });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        f(bucket)
    }
}

/// The key an address is limited by: a keyed hash, so no address is held.
#[derive(Default)]
pub struct AddressKey(std::hash::RandomState);

impl AddressKey {
    pub fn of(&self, ip: IpAddr) -> u64 {
        self.0.hash_one(ip.to_canonical())
    }
}

/// `Retry-After` seconds for a wait: whole seconds, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let b = Buckets::<u64>::new(RateConfig { rate: 2.0, burst: 3.0 });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.take(&1, 1.0, t0).is_ok());
        }
        let wait = b.take(&1, 1.0, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.take(&2, 1.0, t0).is_ok(), "keys are apart");
        assert!(b.take(&1, 1.0, t0 + Duration::from_millis(500)).is_ok(), "refilled at the rate");
        assert!(b.check(&1, t0 + Duration::from_millis(500)).is_err());
        assert!(b.take(&1, 10.0, t0 + Duration::from_secs(100)).is_err(), "never more than the burst");
    }

    #[test]
    fn a_rate_of_zero_is_off_and_refilled_buckets_are_dropped() {
        let off = Buckets::<u64>::new(RateConfig { rate: 0.0, burst: 1.0 });
        assert!((0..100).all(|_| off.take(&1, 1.0, Instant::now()).is_ok()));
        let b = Buckets::<u64>::new(RateConfig { rate: 1000.0, burst: 1.0 });
        let t0 = Instant::now();
        for k in 0..(PRUNE_AT * SHARDS * 2) as u64 {
            let _ = b.take(&k, 1.0, t0 + Duration::from_millis(k));
        }
        let held: usize = b.shards.iter().map(|s| s.lock().unwrap().map.len()).sum();
        assert!(held < PRUNE_AT * SHARDS * 2, "refilled buckets were dropped: {held}");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2100)), 3);
    }
}
