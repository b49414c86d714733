//! RateLimit: a token bucket per source (`average` tokens per `period`, `burst` deep); requests
//! over the limit get 429. Buckets live in the state registry so they survive config swaps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::forward_auth::ClientTlsSpec;
use crate::ip_strategy::SourceCriterionSpec;
use crate::Duration;

/// `rateLimit`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimitSpec {
    /// Requests allowed per `period` on average; 0 means no limit.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub average: i64,
    /// The period of `average` (default 1s): the rate is average / period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Duration>,
    /// Maximum requests in an arbitrarily short time (default 1).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub burst: Option<i64>,
    /// What groups requests into a source (default: the remote address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_criterion: Option<SourceCriterionSpec>,
    /// Shared buckets in Redis (Traefik v3.4+): every wharf using the same Redis and router
    /// shares one budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSpec>,
    /// wharf: add `X-RateLimit-Limit` (burst), `X-RateLimit-Remaining` (whole tokens left) and
    /// `X-RateLimit-Reset` (seconds until the bucket is full) to responses (default false, as
    /// Traefik sends none).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub rate_limit_headers: bool,
}

/// `rateLimit.redis`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RedisSpec {
    /// `host:port` addresses (default `localhost:6379`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSpec>,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub username: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub password: String,
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub db: i64,
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub pool_size: i64,
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub min_idle_conns: i64,
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub max_active_conns: i64,
    /// Default 3s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<Duration>,
    /// Default 3s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_timeout: Option<Duration>,
    /// Default 5s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial_timeout: Option<Duration>,
    /// wharf: when Redis cannot answer (down, timeout), admit the request (`true`, default) or
    /// answer 503 (`false`). Either way it is logged and counted in the metrics.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub fail_open: Option<bool>,
}

/// Checks a `redis` section (the runtime's client builder reads the same values).
pub fn validate_redis(field: &str, r: &RedisSpec) -> Result<(), SpecError> {
    for e in &r.endpoints {
        let ok = e
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(SpecError::invalid(
                format!("{field}.endpoints"),
                format!("{e:?} is not host:port"),
            ));
        }
    }
    for (name, v) in [
        ("db", r.db),
        ("poolSize", r.pool_size),
        ("minIdleConns", r.min_idle_conns),
        ("maxActiveConns", r.max_active_conns),
    ] {
        if v < 0 {
            return Err(SpecError::invalid(
                format!("{field}.{name}"),
                format!("must not be negative (got {v})"),
            ));
        }
    }
    for (name, d) in [
        ("readTimeout", r.read_timeout),
        ("writeTimeout", r.write_timeout),
        ("dialTimeout", r.dial_timeout),
    ] {
        if d.is_some_and(|d| d.is_negative()) {
            return Err(SpecError::invalid(
                format!("{field}.{name}"),
                "must not be negative",
            ));
        }
    }
    Ok(())
}

/// A shared-store failure: counted, logged (rate-limited), then the `failOpen` policy.
pub(crate) fn store_failed(name: &str, fail_open: bool, err: &StoreError) -> Action {
    crate::backends::STORE_FAILURES.record(name, fail_open, err);
    if fail_open {
        Action::Continue
    } else {
        let mut resp = crate::util::status_text(StatusCode::SERVICE_UNAVAILABLE);
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        Action::Respond(resp)
    }
}

// ---- compiled form -------------------------------------------------------------------------

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use http::{HeaderValue, StatusCode};

use crate::backends::{SharedStore, StoreError};
use crate::ip_strategy::{IpStrategy, SourceCriterion, SourceKey};
use crate::{Action, Awaited, CompileCtx, ConnInfo, Pending, RateHeaders, SpecError};

/// Most sources tracked at once (Traefik's `maxSources`).
const MAX_SOURCES: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of one (router, middleware) pair; kept in the state registry across swaps.
#[derive(Debug)]
pub struct Buckets {
    /// Tokens per second; infinite when `average` is 0 (no limit).
    rate: f64,
    burst: f64,
    /// Longest wait accepted instead of a 429 (Traefik: 1/(2·rate), 0.5 s below 1 req/s).
    max_delay: StdDuration,
    map: Mutex<HashMap<SourceKey, Bucket>>,
}

impl Buckets {
    fn new(rate: f64, burst: f64) -> Self {
        let max_delay = if rate.is_infinite() {
            StdDuration::ZERO
        } else if rate < 1.0 {
            StdDuration::from_millis(500)
        } else {
            // Go: time.Second / (time.Duration(rtl) * 2), with the rate truncated to an integer.
            StdDuration::from_nanos(1_000_000_000 / ((rate.trunc() as u64).max(1) * 2))
        };
        Buckets {
            rate,
            burst,
            max_delay,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Number of tracked sources.
    pub fn sources(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Reserves one token at `now`: `Ok(wait)` to go on after `wait`, `Err(wait)` when the wait
    /// would exceed `max_delay` (the reservation is cancelled). Also returns the tokens left.
    fn reserve(&self, key: SourceKey, now: Instant) -> (Result<StdDuration, StdDuration>, f64) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SOURCES && !map.contains_key(&key) {
            // A bucket that has refilled is the same as a new one: dropping it loses nothing.
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
            if map.len() >= MAX_SOURCES {
                return (Err(StdDuration::from_secs(1)), 0.0);
            }
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            return (Ok(StdDuration::ZERO), b.tokens);
        }
        let wait =
            StdDuration::try_from_secs_f64(-b.tokens / self.rate).unwrap_or(StdDuration::MAX);
        if wait > self.max_delay {
            b.tokens += 1.0;
            return (Err(wait), b.tokens);
        }
        (Ok(wait), b.tokens)
    }
}

/// `rateLimit`, compiled.
#[derive(Debug)]
pub struct RateLimit {
    source: SourceCriterion,
    buckets: Arc<Buckets>,
    headers: bool,
    /// `redis`: buckets in Redis instead of `buckets`.
    shared: Option<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// `None`: compiled without a runtime (`wharf check`, unit tests).
    store: Option<Arc<dyn SharedStore>>,
    fail_open: bool,
    /// `wharf:rl:{router/middleware}:` — the same router and middleware names in several
    /// wharf processes share one bucket per source.
    prefix: Arc<str>,
}

impl RateLimit {
    pub fn compile(
        name: &str,
        spec: &RateLimitSpec,
        ctx: &CompileCtx<'_>,
    ) -> Result<Self, SpecError> {
        if spec.average < 0 {
            return Err(SpecError::invalid(
                "rateLimit.average",
                format!("must not be negative (got {})", spec.average),
            ));
        }
        let burst = spec.burst.unwrap_or(1);
        if burst < 0 {
            return Err(SpecError::invalid(
                "rateLimit.burst",
                format!("must not be negative (got {burst})"),
            ));
        }
        let period = spec.period.unwrap_or(crate::Duration::from_secs(1));
        if period.is_negative() {
            return Err(SpecError::invalid(
                "rateLimit.period",
                format!("must not be negative (got {period})"),
            ));
        }
        let period_secs = if period.as_nanos() == 0 {
            1.0
        } else {
            period.as_nanos() as f64 / 1e9
        };
        let rate = if spec.average == 0 {
            f64::INFINITY
        } else {
            spec.average as f64 / period_secs
        };
        let burst = burst.max(1) as f64;
        let source = SourceCriterion::compile(
            "rateLimit.sourceCriterion",
            spec.source_criterion.as_ref(),
            SourceCriterion::Ip(IpStrategy::default()),
        )?;
        let shared = match &spec.redis {
            None => None,
            Some(redis) => {
                validate_redis("rateLimit.redis", redis)?;
                let store = match ctx.backends {
                    Some(b) => Some(
                        b.redis(redis)
                            .map_err(|e| SpecError::invalid("rateLimit.redis", e))?,
                    ),
                    None => None,
                };
                Some(Shared {
                    store,
                    fail_open: redis.fail_open.unwrap_or(true),
                    prefix: format!("wharf:rl:{{{}/{}}}:", ctx.scope, name).into(),
                })
            }
        };
        let buckets = match ctx.registry {
            Some(reg) => {
                reg.get_or_insert(&ctx.state_key(name), spec, || Buckets::new(rate, burst))
            }
            None => Arc::new(Buckets::new(rate, burst)),
        };
        Ok(RateLimit {
            source,
            buckets,
            headers: spec.rate_limit_headers,
            shared,
        })
    }

    /// `rateLimitHeaders` is on.
    pub fn sends_headers(&self) -> bool {
        self.headers
    }

    /// The `X-RateLimit-*` values for `tokens` left.
    fn rate_headers(&self, tokens: f64) -> RateHeaders {
        rate_headers(self.buckets.rate, self.buckets.burst, tokens)
    }

    pub fn buckets(&self) -> &Arc<Buckets> {
        &self.buckets
    }

    /// Takes a token from the source's bucket: go on, wait a little (`Delay`), or 429 with
    /// `Retry-After` (whole seconds, rounded up) and `X-Retry-In` (a Go duration), as Traefik.
    pub fn on_request(
        &self,
        parts: &http::request::Parts,
        conn: &ConnInfo,
        flow: &mut crate::FlowState,
    ) -> Action {
        if self.buckets.rate.is_infinite() {
            return Action::Continue;
        }
        if let Some(shared) = &self.shared {
            return self.check_shared(shared, parts, conn, flow.consumer.as_deref());
        }
        let (action, tokens) = self.check_as(parts, conn, flow.consumer.as_deref(), Instant::now());
        if self.headers {
            flow.note_rate(self.rate_headers(tokens));
        }
        action
    }

    #[cfg(test)]
    fn check(&self, parts: &http::request::Parts, conn: &ConnInfo, now: Instant) -> Action {
        self.check_as(parts, conn, None, now).0
    }

    fn check_as(
        &self,
        parts: &http::request::Parts,
        conn: &ConnInfo,
        consumer: Option<&str>,
        now: Instant,
    ) -> (Action, f64) {
        if self.buckets.rate.is_infinite() {
            return (Action::Continue, self.buckets.burst);
        }
        let (res, tokens) = self
            .buckets
            .reserve(self.source.key_with(parts, conn.remote_ip, consumer), now);
        let action = match res {
            Ok(wait) if wait.is_zero() => Action::Continue,
            Ok(wait) => Action::Delay(wait),
            Err(wait) => too_many(wait, self.headers.then(|| self.rate_headers(tokens))),
        };
        (action, tokens)
    }

    /// The Redis path: one atomic script run per request (see `SharedStore::take_token`).
    fn check_shared(
        &self,
        shared: &Shared,
        parts: &http::request::Parts,
        conn: &ConnInfo,
        consumer: Option<&str>,
    ) -> Action {
        let fail_open = shared.fail_open;
        let Some(store) = shared.store.clone() else {
            return store_failed(
                &shared.prefix,
                fail_open,
                &StoreError::Unreachable("no redis client (compiled without runtime)".into()),
            );
        };
        let source = self.source.key_with(parts, conn.remote_ip, consumer);
        let mut key = String::with_capacity(shared.prefix.len() + 40);
        key.push_str(&shared.prefix);
        match &source {
            SourceKey::Ip(ip) => {
                use std::fmt::Write as _;
                let _ = write!(key, "{ip}");
            }
            SourceKey::Text(t) => key.push_str(t),
        }
        let (rate, burst, headers) = (self.buckets.rate, self.buckets.burst, self.headers);
        let max_delay = self.buckets.max_delay.as_micros() as u64;
        let name = shared.prefix.clone();
        Action::Await(Pending(Box::pin(async move {
            match store.take_token(key, rate, burst, max_delay).await {
                Ok(a) => {
                    let rh = headers.then(|| rate_headers(rate, burst, a.tokens));
                    let wait = StdDuration::from_micros(a.wait_micros);
                    let action = if !a.allowed {
                        too_many(wait, rh)
                    } else if wait.is_zero() {
                        Action::Continue
                    } else {
                        Action::Delay(wait)
                    };
                    Awaited { action, rate: rh }
                }
                Err(e) => Awaited {
                    action: store_failed(&name, fail_open, &e),
                    rate: None,
                },
            }
        })))
    }
}

/// `X-RateLimit-*` for a token bucket: limit = burst, remaining = whole tokens left, reset =
/// seconds until the bucket is full again.
fn rate_headers(rate: f64, burst: f64, tokens: f64) -> RateHeaders {
    let missing = (burst - tokens.max(0.0)).max(0.0);
    RateHeaders {
        limit: burst as u64,
        remaining: tokens.max(0.0).floor() as u64,
        reset: (missing / rate).ceil() as u64,
    }
}

/// 429 with `Retry-After` (whole seconds, rounded up) and `X-Retry-In` (a Go duration).
fn too_many(wait: StdDuration, headers: Option<RateHeaders>) -> Action {
    let mut resp = crate::util::status_text(StatusCode::TOO_MANY_REQUESTS);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from(secs));
    if let Ok(v) = HeaderValue::from_str(&go_duration(wait)) {
        resp.headers_mut().insert("x-retry-in", v);
    }
    if let Some(h) = headers {
        crate::put_rate_headers(resp.headers_mut(), RateHeaders { remaining: 0, ..h });
    }
    Action::Respond(resp)
}

/// Go's `time.Duration.String()`: `1.5s`, `2m0s`, `1h0m0s`, `250ms`, `1.2µs`, `0s`.
pub(crate) fn go_duration(d: StdDuration) -> String {
    fn frac(whole: u128, rem: u128, digits: u32) -> String {
        if rem == 0 {
            return whole.to_string();
        }
        let s = format!("{rem:0width$}", width = digits as usize);
        format!("{whole}.{}", s.trim_end_matches('0'))
    }
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    if n < 1_000 {
        return format!("{n}ns");
    }
    if n < 1_000_000 {
        return format!("{}µs", frac(n / 1_000, n % 1_000, 3));
    }
    if n < 1_000_000_000 {
        return format!("{}ms", frac(n / 1_000_000, n % 1_000_000, 6));
    }
    let total_secs = n / 1_000_000_000;
    let sub = n % 1_000_000_000;
    let (h, m, s) = (total_secs / 3600, (total_secs % 3600) / 60, total_secs % 60);
    let secs = frac(s, sub, 9);
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateRegistry;

    const CONN: ConnInfo = ConnInfo {
        remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(1, 2, 3, 4)),
        tls: false,
    };

    fn parts() -> http::request::Parts {
        http::Request::get("/")
            .header("host", "h")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn spec(yaml: &str) -> RateLimitSpec {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn token_bucket_with_burst_then_429() {
        let f = RateLimit::compile(
            "rl",
            &spec("average: 1\nperiod: 10s\nburst: 3\n"),
            &CompileCtx::default(),
        )
        .unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(matches!(f.check(&parts(), &CONN, t0), Action::Continue));
        }
        match f.check(&parts(), &CONN, t0) {
            Action::Respond(r) => {
                assert_eq!(r.status(), 429);
                assert_eq!(r.headers()["retry-after"], "10");
                assert_eq!(r.headers()["x-retry-in"], "10s");
            }
            other => panic!("expected 429, got {other:?}"),
        }
        // One token back after one period / average = 10 s.
        assert!(matches!(
            f.check(&parts(), &CONN, t0 + StdDuration::from_secs(10)),
            Action::Continue
        ));
        assert!(matches!(
            f.check(&parts(), &CONN, t0 + StdDuration::from_secs(10)),
            Action::Respond(_)
        ));
    }

    #[test]
    fn short_waits_are_delays() {
        // 100 req/s: max delay 5 ms, a token every 10 ms.
        let f = RateLimit::compile(
            "rl",
            &spec("average: 100\nburst: 1\n"),
            &CompileCtx::default(),
        )
        .unwrap();
        let t0 = Instant::now();
        assert!(matches!(f.check(&parts(), &CONN, t0), Action::Continue));
        match f.check(&parts(), &CONN, t0 + StdDuration::from_millis(6)) {
            Action::Delay(d) => assert!(d.as_micros().abs_diff(4000) <= 1, "{d:?}"),
            other => panic!("expected a delay, got {other:?}"),
        }
    }

    #[test]
    fn sources_are_separate_and_zero_average_is_unlimited() {
        let f = RateLimit::compile(
            "rl",
            &spec("average: 1\nperiod: 1m\nsourceCriterion: {requestHeaderName: X-Key}\n"),
            &CompileCtx::default(),
        )
        .unwrap();
        let t0 = Instant::now();
        let with = |k: &str| {
            http::Request::get("/")
                .header("x-key", k)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert!(matches!(f.check(&with("a"), &CONN, t0), Action::Continue));
        assert!(matches!(f.check(&with("b"), &CONN, t0), Action::Continue));
        assert!(matches!(f.check(&with("a"), &CONN, t0), Action::Respond(_)));
        let free = RateLimit::compile("rl", &spec("burst: 1\n"), &CompileCtx::default()).unwrap();
        for _ in 0..100 {
            assert!(matches!(free.check(&parts(), &CONN, t0), Action::Continue));
        }
    }

    #[test]
    fn buckets_survive_unchanged_config_per_router() {
        let reg = StateRegistry::new();
        let s = spec("average: 1\nperiod: 1h\n");
        let ctx_a = CompileCtx {
            registry: Some(&reg),
            scope: "a@file",
            ..CompileCtx::default()
        };
        let ctx_b = CompileCtx {
            registry: Some(&reg),
            scope: "b@file",
            ..CompileCtx::default()
        };
        let t0 = Instant::now();
        let f = RateLimit::compile("rl@file", &s, &ctx_a).unwrap();
        assert!(matches!(f.check(&parts(), &CONN, t0), Action::Continue));
        let again = RateLimit::compile("rl@file", &s, &ctx_a).unwrap();
        assert!(
            matches!(again.check(&parts(), &CONN, t0), Action::Respond(_)),
            "bucket kept"
        );
        let other_router = RateLimit::compile("rl@file", &s, &ctx_b).unwrap();
        assert!(
            matches!(other_router.check(&parts(), &CONN, t0), Action::Continue),
            "per router"
        );
        let changed =
            RateLimit::compile("rl@file", &spec("average: 2\nperiod: 1h\n"), &ctx_a).unwrap();
        assert!(
            matches!(changed.check(&parts(), &CONN, t0), Action::Continue),
            "reset on change"
        );
    }

    #[test]
    fn bad_values() {
        let e =
            RateLimit::compile("rl", &spec("average: -1\n"), &CompileCtx::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `rateLimit.average`: must not be negative (got -1)"
        );
        assert!(RateLimit::compile(
            "rl",
            &spec("average: 1\nperiod: -1s\n"),
            &CompileCtx::default()
        )
        .is_err());
        assert!(RateLimit::compile(
            "rl",
            &spec("average: 1\nburst: -2\n"),
            &CompileCtx::default()
        )
        .is_err());
        let e = RateLimit::compile(
            "rl",
            &spec("average: 1\nredis: {endpoints: [a]}\n"),
            &CompileCtx::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `rateLimit.redis.endpoints`: \"a\" is not host:port"
        );
        // Without a runtime (wharf check): compiles; requests follow failOpen.
        let f = RateLimit::compile(
            "rl",
            &spec("average: 1\nredis: {endpoints: [a:6379], failOpen: false}\n"),
            &CompileCtx::default(),
        )
        .unwrap();
        match f.on_request(&parts(), &CONN, &mut crate::FlowState::default()) {
            Action::Respond(r) => assert_eq!(r.status(), 503),
            other => panic!("expected 503, got {other:?}"),
        }
        let open = RateLimit::compile(
            "rl",
            &spec("average: 1\nredis: {endpoints: [a:6379]}\n"),
            &CompileCtx::default(),
        )
        .unwrap();
        assert!(matches!(
            open.on_request(&parts(), &CONN, &mut crate::FlowState::default()),
            Action::Continue
        ));
    }

    #[test]
    fn rate_limit_headers() {
        let f = RateLimit::compile(
            "rl",
            &spec("average: 1\nperiod: 10s\nburst: 3\nrateLimitHeaders: true\n"),
            &CompileCtx::default(),
        )
        .unwrap();
        let mut flow = crate::FlowState::default();
        assert!(matches!(
            f.on_request(&parts(), &CONN, &mut flow),
            Action::Continue
        ));
        assert_eq!(
            flow.rate_headers,
            Some(RateHeaders {
                limit: 3,
                remaining: 2,
                reset: 10
            })
        );
        let mut resp = http::Response::new(()).into_parts().0;
        crate::Filter::RateLimit(f).on_response(0, &mut resp, &CONN, &flow);
        assert_eq!(resp.headers["x-ratelimit-remaining"], "2");
        assert_eq!(resp.headers["x-ratelimit-reset"], "10");
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(StdDuration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(StdDuration::from_secs(120)), "2m0s");
        assert_eq!(go_duration(StdDuration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(StdDuration::from_millis(250)), "250ms");
        assert_eq!(go_duration(StdDuration::from_nanos(1200)), "1.2µs");
        assert_eq!(go_duration(StdDuration::from_nanos(5)), "5ns");
    }
}
