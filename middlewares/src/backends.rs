//! The seam between the synchronous filters and the runtime's network helpers: compile asks
//! `CompileCtx::backends` for a JWKS cache (fetched in the background by the runtime), a shared
//! store (Redis) or the quota book; the filters only read caches or await a boxed store call.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::jwks::{JwksCache, JwksSource};
use crate::quota::QuotaBook;
use crate::rate_limit::RedisSpec;

/// A boxed store call.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// Why a shared-store check failed (the filter then follows its `failOpen` policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("redis unreachable: {0}")]
    Unreachable(String),
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
    #[error("redis answered unexpectedly: {0}")]
    Protocol(String),
}

/// Token-bucket answer of a shared store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateAnswer {
    /// Go on (after `wait_micros` when it is not zero).
    pub allowed: bool,
    /// Tokens left after this request (may be fractional).
    pub tokens: f64,
    /// Allowed: how long to wait first; refused: when a token is due.
    pub wait_micros: u64,
}

/// Counter answer of a shared store (quotas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaAnswer {
    pub allowed: bool,
    /// Requests counted in this period, this one included when allowed.
    pub used: u64,
}

/// A store shared by several wharf processes (Redis). Each call is one atomic script run.
pub trait SharedStore: Send + Sync + std::fmt::Debug {
    /// Takes one token from bucket `key` (`rate` tokens per second, `burst` deep). A wait up to
    /// `max_delay_micros` reserves the token (`allowed`, `wait_micros`); longer waits refuse.
    fn take_token(
        &self,
        key: String,
        rate: f64,
        burst: f64,
        max_delay_micros: u64,
    ) -> StoreFuture<RateAnswer>;
    /// Counts one request in counter `key` unless it reached `limit`; the counter expires at
    /// Unix time `expire_at` (the end of the period).
    fn count(&self, key: String, limit: u64, expire_at: u64) -> StoreFuture<QuotaAnswer>;
}

/// The runtime's helpers, handed to compile.
pub trait Backends: Send + Sync + std::fmt::Debug {
    /// The cache for a JWKS URL; the runtime fetches it in the background (one fetcher per
    /// distinct source, shared by every filter that names it).
    fn jwks(&self, source: &JwksSource) -> Arc<JwksCache>;
    /// A client for a `redis` section (pooled, shared by equal sections). An error is a
    /// configuration error (bad endpoint, unreadable TLS file), not an unreachable server.
    fn redis(&self, spec: &RedisSpec) -> Result<Arc<dyn SharedStore>, String>;
    /// The process-wide local quota counters (persisted by the runtime).
    fn quota_book(&self) -> Arc<QuotaBook>;
}

/// Shared-store failures, for the metrics (`wharf_redis_failures_total{policy}`).
#[derive(Debug, Default)]
pub struct StoreFailures {
    /// Failures after which the request went on (`failOpen: true`).
    pub open: AtomicU64,
    /// Failures answered 503 (`failOpen: false`).
    pub closed: AtomicU64,
    /// Unix time (s) of the last warning logged, so a dead Redis logs once a second, not once
    /// per request.
    last_log: AtomicU64,
}

/// The process-wide failure counters.
pub static STORE_FAILURES: StoreFailures = StoreFailures {
    open: AtomicU64::new(0),
    closed: AtomicU64::new(0),
    last_log: AtomicU64::new(0),
};

impl StoreFailures {
    /// Counts a failure and logs it (at most once per second).
    pub fn record(&self, middleware: &str, fail_open: bool, err: &StoreError) {
        if fail_open {
            self.open.fetch_add(1, Ordering::Relaxed);
        } else {
            self.closed.fetch_add(1, Ordering::Relaxed);
        }
        let now = crate::util::unix_now();
        let last = self.last_log.load(Ordering::Relaxed);
        if now != last
            && self
                .last_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let policy = if fail_open {
                "failOpen: request admitted"
            } else {
                "failOpen false: 503"
            };
            tracing::warn!(middleware, error = %err, policy, "shared limit store failed");
        }
    }
}
