//! The Redis store behind `rateLimit.redis` and `quota.redis`: each check is ONE Lua script run
//! (EVALSHA, EVAL on a script-cache miss), so reading and updating a bucket or counter is atomic
//! on the server: several wharf processes never race on a read-then-write. Clocks come from
//! Redis (`TIME`), so replicas with skewed clocks still agree. Every call is bounded by a
//! deadline; after a failure the store fails fast for a short while instead of making every
//! request wait for a dead server again.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, Script};
use wharf_middlewares::backends::{QuotaAnswer, RateAnswer, SharedStore, StoreError, StoreFuture};
use wharf_middlewares::RedisSpec;

/// Token bucket: KEYS[1] = bucket; ARGV = rate (tokens/s), burst, longest accepted wait (µs).
/// Returns {allowed 0/1, tokens left (string: keeps the fraction), wait µs}.
const TAKE_TOKEN: &str = r#"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 's', 'us')
local tokens = tonumber(b[1])
local at = nil
if b[2] and b[3] then
  at = tonumber(b[2]) * 1000000 + tonumber(b[3])
end
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate / 1000000)
tokens = tokens - 1
local allowed = 1
local wait = 0
if tokens < 0 then
  wait = math.ceil(-tokens * 1000000 / rate)
  if wait > max_delay then
    tokens = tokens + 1
    allowed = 0
  end
end
-- TIME's own strings: tostring() of a microsecond timestamp would round it (14 digits).
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 's', t[1], 'us', t[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens), wait}
"#;

/// Counter: KEYS[1] = counter; ARGV = limit, expiry (Unix s). Returns {allowed 0/1, used}.
const COUNT: &str = r#"
local limit = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= limit then
  return {0, used}
end
used = redis.call('INCR', KEYS[1])
if used == 1 then
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
end
return {1, used}
"#;

/// How long the store fails fast after a failure.
const FAIL_FAST: Duration = Duration::from_millis(500);

/// A pooled client for one `redis` section.
pub struct RedisStore {
    conns: Vec<ConnectionManager>,
    next: AtomicUsize,
    deadline: Duration,
    take_token: Arc<Script>,
    count: Arc<Script>,
    /// Milliseconds since `epoch` until which calls fail fast (0: healthy).
    down_until: Arc<AtomicU64>,
    epoch: Instant,
    endpoint: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("endpoint", &self.endpoint)
            .field("connections", &self.conns.len())
            .finish()
    }
}

fn read_file(what: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read tls.{what} `{path}`: {e}"))
}

impl RedisStore {
    /// Builds the client (no connection yet: connections open lazily, so compile never waits
    /// on the network).
    pub fn new(spec: &RedisSpec) -> Result<Self, String> {
        let endpoint =
            match spec.endpoints.as_slice() {
                [] => "localhost:6379".to_string(),
                [one] => one.trim().to_string(),
                _ => return Err(
                    "several endpoints (Redis Cluster / Sentinel) are not supported yet; name one"
                        .into(),
                ),
            };
        let (host, port) = endpoint
            .rsplit_once(':')
            .and_then(|(h, p)| {
                Some((
                    h.trim_matches(['[', ']']).to_string(),
                    p.parse::<u16>().ok()?,
                ))
            })
            .ok_or_else(|| format!("endpoint {endpoint:?} is not host:port"))?;
        let mut settings = RedisConnectionInfo::default().set_db(spec.db);
        if !spec.username.is_empty() {
            settings = settings.set_username(&spec.username);
        }
        if !spec.password.is_empty() {
            settings = settings.set_password(&spec.password);
        }
        let client = match &spec.tls {
            None => {
                let info = ConnectionAddr::Tcp(host, port)
                    .into_connection_info()
                    .map_err(|e| e.to_string())?
                    .set_redis_settings(settings);
                redis::Client::open(info).map_err(|e| e.to_string())?
            }
            Some(tls) => {
                let info = ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: tls.insecure_skip_verify,
                    tls_params: None,
                }
                .into_connection_info()
                .map_err(|e| e.to_string())?
                .set_redis_settings(settings);
                let root_cert = if tls.ca.is_empty() {
                    None
                } else {
                    Some(read_file("ca", &tls.ca)?)
                };
                let client_tls = match (tls.cert.is_empty(), tls.key.is_empty()) {
                    (true, true) => None,
                    (false, false) => Some(redis::ClientTlsConfig {
                        client_cert: read_file("cert", &tls.cert)?,
                        client_key: read_file("key", &tls.key)?,
                    }),
                    _ => return Err("tls.cert and tls.key go together".into()),
                };
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls,
                        root_cert,
                    },
                )
                .map_err(|e| e.to_string())?
            }
        };
        let secs = |d: Option<wharf_middlewares::Duration>, default: u64| {
            d.and_then(|d| d.to_std())
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(default))
        };
        let read = secs(spec.read_timeout, 3);
        let write = secs(spec.write_timeout, 3);
        let dial = secs(spec.dial_timeout, 5);
        // Connections are multiplexed (many requests in flight on one), so a few go far:
        // `poolSize` of them (default 1), capped by `maxActiveConns`.
        let mut n = usize::try_from(spec.pool_size).unwrap_or(1).max(1);
        if spec.max_active_conns > 0 {
            n = n.min(spec.max_active_conns as usize);
        }
        n = n.min(64);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(dial))
            .set_response_timeout(Some(read.max(write)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(RedisStore {
            conns,
            next: AtomicUsize::new(0),
            // One call: at worst a dial then a round trip.
            deadline: dial + read.max(write),
            take_token: Arc::new(Script::new(TAKE_TOKEN)),
            count: Arc::new(Script::new(COUNT)),
            down_until: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
            endpoint,
        })
    }

    fn conn(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Runs `script` with a deadline and the fail-fast window.
    fn call<T>(&self, script: &Arc<Script>, key: String, args: Vec<String>) -> StoreFuture<T>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        let down = self.down_until.load(Ordering::Relaxed);
        if down != 0 && self.now_ms() < down {
            return Box::pin(std::future::ready(Err(StoreError::Unreachable(
                "failed less than 500 ms ago".into(),
            ))));
        }
        let mut conn = self.conn();
        let script = script.clone();
        let deadline = self.deadline;
        let down_until = self.down_until.clone();
        let epoch = self.epoch;
        Box::pin(async move {
            let mut inv = script.prepare_invoke();
            inv.key(key);
            for a in &args {
                inv.arg(a);
            }
            let result =
                match tokio::time::timeout(deadline, inv.invoke_async::<T>(&mut conn)).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e))
                        if e.is_io_error()
                            || e.is_connection_dropped()
                            || e.is_timeout()
                            || e.is_connection_refusal() =>
                    {
                        Err(StoreError::Unreachable(e.to_string()))
                    }
                    Ok(Err(e)) => Err(StoreError::Protocol(e.to_string())),
                    Err(_) => Err(StoreError::Timeout(deadline.as_millis() as u64)),
                };
            match &result {
                Ok(_) => down_until.store(0, Ordering::Relaxed),
                Err(StoreError::Protocol(_)) => {}
                Err(_) => down_until.store(
                    (epoch.elapsed() + FAIL_FAST).as_millis() as u64 + 1,
                    Ordering::Relaxed,
                ),
            }
            result
        })
    }
}

impl SharedStore for RedisStore {
    fn take_token(
        &self,
        key: String,
        rate: f64,
        burst: f64,
        max_delay_micros: u64,
    ) -> StoreFuture<RateAnswer> {
        let fut = self.call::<(i64, String, i64)>(
            &self.take_token,
            key,
            vec![
                rate.to_string(),
                burst.to_string(),
                max_delay_micros.to_string(),
            ],
        );
        Box::pin(async move {
            let (allowed, tokens, wait) = fut.await?;
            Ok(RateAnswer {
                allowed: allowed == 1,
                tokens: tokens.parse().unwrap_or(0.0),
                wait_micros: u64::try_from(wait).unwrap_or(0),
            })
        })
    }

    fn count(&self, key: String, limit: u64, expire_at: u64) -> StoreFuture<QuotaAnswer> {
        let fut = self.call::<(i64, i64)>(
            &self.count,
            key,
            vec![limit.to_string(), expire_at.to_string()],
        );
        Box::pin(async move {
            let (allowed, used) = fut.await?;
            Ok(QuotaAnswer {
                allowed: allowed == 1,
                used: u64::try_from(used).unwrap_or(0),
            })
        })
    }
}
