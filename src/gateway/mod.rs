//! The API-gateway runtime behind the `jwt`, `rateLimit` and `quota` middlewares: implements
//! `wharf_middlewares::Backends`, handed to compile through `Registries::backends`. It owns the
//! background JWKS fetchers (jwks.rs), the pooled Redis clients (redis.rs) and the local quota
//! book with its state file (quota_file.rs). Filters never do I/O themselves: they read caches
//! or await one bounded store call.

pub mod jwks;
pub mod quota_file;
pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use wharf_middlewares::backends::{Backends, SharedStore};
use wharf_middlewares::jwks::{JwksCache, JwksSource};
use wharf_middlewares::quota::QuotaBook;
use wharf_middlewares::RedisSpec;

/// One per process (shared by every compile).
pub struct Gateway {
    jwks: Mutex<HashMap<JwksSource, Weak<JwksCache>>>,
    /// Keyed by the `redis` section as JSON: equal sections share one client.
    redis: Mutex<HashMap<String, Weak<redis::RedisStore>>>,
    quota_book: Arc<QuotaBook>,
    http: jwks::JwksClient,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    pub fn new() -> Self {
        Gateway {
            jwks: Mutex::new(HashMap::new()),
            redis: Mutex::new(HashMap::new()),
            quota_book: Arc::new(QuotaBook::default()),
            http: jwks::JwksClient::new(),
        }
    }

    pub fn quota_book(&self) -> &Arc<QuotaBook> {
        &self.quota_book
    }
}

impl Backends for Gateway {
    fn jwks(&self, source: &JwksSource) -> Arc<JwksCache> {
        let mut map = self.jwks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(source).and_then(Weak::upgrade) {
            return c;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let cache = Arc::new(JwksCache::new(source.clone()));
        jwks::spawn_fetcher(&cache, self.http.clone());
        map.insert(source.clone(), Arc::downgrade(&cache));
        cache
    }

    fn redis(&self, spec: &RedisSpec) -> Result<Arc<dyn SharedStore>, String> {
        let id = serde_json::to_string(spec).unwrap_or_default();
        let mut map = self.redis.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = map.get(&id).and_then(Weak::upgrade) {
            return Ok(s);
        }
        map.retain(|_, w| w.strong_count() > 0);
        let store = Arc::new(redis::RedisStore::new(spec)?);
        map.insert(id, Arc::downgrade(&store));
        Ok(store)
    }

    fn quota_book(&self) -> Arc<QuotaBook> {
        self.quota_book.clone()
    }
}
