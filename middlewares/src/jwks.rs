//! The key cache behind `jwt.jwksUrl`: the runtime's fetcher (src/gateway/jwks.rs) stores each
//! fetched key set here; the `jwt` filter reads the current set with one atomic load and, on a
//! token whose `kid` it does not know, asks for a refresh (at most one per
//! `jwksMinRefreshInterval`). Requests never wait for a fetch: they use the keys at hand.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::jwt::Key;

/// Largest JWKS document accepted (a real one is a few KiB).
pub const MAX_JWKS_BYTES: usize = 1 << 20;

/// Where and how often to fetch a JWKS. Equal sources share one cache and one fetcher.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JwksSource {
    pub url: String,
    /// Longest time between two fetches (a shorter `Cache-Control: max-age` wins).
    pub refresh: Duration,
    /// Shortest time between two fetches: bounds refreshes asked for by unknown `kid`s and
    /// retries after a failure.
    pub min_refresh: Duration,
    /// Whole-fetch deadline (connect, TLS, headers, body).
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// The current keys of one JWKS URL.
pub struct JwksCache {
    pub source: JwksSource,
    keys: ArcSwap<Vec<Key>>,
    loaded: AtomicBool,
    /// Milliseconds since `epoch` of the last refresh request + 1 (0: never).
    last_kick: AtomicU64,
    epoch: Instant,
    kick: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.source.url)
            .field("keys", &self.keys.load().len())
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl JwksCache {
    pub fn new(source: JwksSource) -> Self {
        JwksCache {
            source,
            keys: ArcSwap::from_pointee(Vec::new()),
            loaded: AtomicBool::new(false),
            last_kick: AtomicU64::new(0),
            epoch: Instant::now(),
            kick: OnceLock::new(),
        }
    }

    /// The current keys (one atomic load; no lock).
    pub fn keys(&self) -> arc_swap::Guard<Arc<Vec<Key>>> {
        self.keys.load()
    }

    /// A key set was fetched at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The fetcher stores a new key set.
    pub fn store(&self, keys: Vec<Key>) {
        self.keys.store(Arc::new(keys));
        self.loaded.store(true, Ordering::Release);
    }

    /// When a refresh was last asked for (`request_refresh`), if ever.
    pub fn last_request(&self) -> Option<Instant> {
        match self.last_kick.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }

    /// The fetcher's wake-up (set once, by the runtime that fetches this cache).
    pub fn set_waker(&self, wake: Box<dyn Fn() + Send + Sync>) -> bool {
        self.kick.set(wake).is_ok()
    }

    /// Asks the fetcher for a refresh now (a token named an unknown `kid`). Returns false when
    /// one was asked for less than `min_refresh` ago (the bounded refresh rate) or nobody
    /// fetches this cache.
    pub fn request_refresh(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last_kick.load(Ordering::Relaxed);
        let gap = self.source.min_refresh.as_millis() as u64;
        if last != 0 && now.saturating_sub(last) < gap {
            return false;
        }
        if self
            .last_kick
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        match self.kick.get() {
            Some(wake) => {
                wake();
                true
            }
            None => false,
        }
    }
}
