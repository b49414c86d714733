//! Quota (wharf): requests per UTC calendar day or month per source (AWS usage-plan style).
//! Counts live in the process-wide `QuotaBook` (persisted to a state file by the runtime, see
//! src/gateway/quota_file.rs) or, with `redis`, in Redis through one atomic script per check.
//! Responses carry `X-RateLimit-Limit/Remaining/Reset`; refusals are 429 with `Retry-After`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::backends::SharedStore;
use crate::ip_strategy::{IpStrategy, SourceCriterion, SourceCriterionSpec, SourceKey};
use crate::rate_limit::RedisSpec;
use crate::{
    de, Action, Awaited, CompileCtx, ConnInfo, FlowState, Pending, RateHeaders, SpecError,
};

/// `quota`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct QuotaSpec {
    /// Requests allowed per period and source (required, > 0).
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub limit: i64,
    /// `day` (default) or `month`: UTC calendar periods.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub period: String,
    /// What groups requests into a source (default: the remote address); `consumer: true` for
    /// the consumer a `jwt` / `apiKey` middleware earlier in the chain identified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_criterion: Option<SourceCriterionSpec>,
    /// Count in Redis, shared by every wharf using the same Redis (same options as
    /// `rateLimit.redis`, `failOpen` included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSpec>,
}

/// A calendar period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    /// Start and end (Unix seconds, UTC) of the period holding `now`.
    pub fn bounds(self, now: u64) -> (u64, u64) {
        let day = now / 86_400;
        match self {
            Period::Day => (day * 86_400, (day + 1) * 86_400),
            Period::Month => {
                let (y, m, _) = civil_from_days(day as i64);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (
                    days_from_civil(y, m, 1) as u64 * 86_400,
                    days_from_civil(ny, nm, 1) as u64 * 86_400,
                )
            }
        }
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse: (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Most counters the local book keeps (expired ones are dropped first).
pub const MAX_COUNTERS: usize = 1 << 20;

/// One source's count in one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// End of the period (Unix seconds): the counter is void from then on.
    pub reset: u64,
    pub count: u64,
}

/// Local quota counters of the whole process, keyed by (middleware, source). Survives config
/// swaps (the runtime keeps one book) and restarts (the runtime saves it to a state file).
#[derive(Debug, Default)]
pub struct QuotaBook {
    map: Mutex<HashMap<(Arc<str>, SourceKey), Counter>>,
    dirty: AtomicBool,
}

impl QuotaBook {
    /// Counts one request unless the source reached `limit` in the period ending at `reset`.
    /// Returns (admitted, used).
    fn take(
        &self,
        name: &Arc<str>,
        source: SourceKey,
        limit: u64,
        reset: u64,
        now: u64,
    ) -> (bool, u64) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (name.clone(), source);
        if map.len() >= MAX_COUNTERS && !map.contains_key(&key) {
            map.retain(|_, c| c.reset > now);
            if map.len() >= MAX_COUNTERS {
                return (false, limit);
            }
        }
        let c = map.entry(key).or_insert(Counter { reset, count: 0 });
        if c.reset != reset {
            // A new period (or a counter of another period length after a config change).
            *c = Counter { reset, count: 0 };
        }
        if c.count >= limit {
            return (false, c.count);
        }
        c.count += 1;
        self.dirty.store(true, Ordering::Relaxed);
        (true, c.count)
    }

    /// True once after any count changed (the runtime's flush check).
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::Relaxed)
    }

    /// The live counters as `middleware \u{1f} i:<ip> | t:<text>` → counter (for the state file).
    pub fn export(&self, now: u64) -> BTreeMap<String, Counter> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|(_, c)| c.reset > now)
            .map(|((name, src), c)| {
                let src = match src {
                    SourceKey::Ip(ip) => format!("i:{ip}"),
                    SourceKey::Text(t) => format!("t:{t}"),
                };
                (format!("{name}\u{1f}{src}"), *c)
            })
            .collect()
    }

    /// Loads counters saved by `export` (expired and malformed entries are skipped). Returns
    /// how many were loaded.
    pub fn import(&self, entries: BTreeMap<String, Counter>, now: u64) -> usize {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let mut n = 0;
        for (k, c) in entries {
            if c.reset <= now || map.len() >= MAX_COUNTERS {
                continue;
            }
            let Some((name, src)) = k.split_once('\u{1f}') else {
                continue;
            };
            let src = if let Some(ip) = src.strip_prefix("i:") {
                match ip.parse() {
                    Ok(ip) => SourceKey::Ip(ip),
                    Err(_) => continue,
                }
            } else if let Some(t) = src.strip_prefix("t:") {
                SourceKey::Text(t.into())
            } else {
                continue;
            };
            map.insert((Arc::from(name), src), c);
            n += 1;
        }
        n
    }
}

#[derive(Debug)]
enum Store {
    Local(Arc<QuotaBook>),
    /// `None`: compiled without a runtime (`wharf check`, unit tests): the failure policy.
    Shared {
        store: Option<Arc<dyn SharedStore>>,
        fail_open: bool,
    },
}

/// `quota`, compiled.
#[derive(Debug)]
pub struct Quota {
    name: Arc<str>,
    limit: u64,
    period: Period,
    source: SourceCriterion,
    store: Store,
}

impl Quota {
    pub fn compile(name: &str, spec: &QuotaSpec, ctx: &CompileCtx<'_>) -> Result<Self, SpecError> {
        if spec.limit <= 0 {
            return Err(if spec.limit == 0 {
                SpecError::Missing("quota.limit")
            } else {
                SpecError::invalid(
                    "quota.limit",
                    format!("must be positive (got {})", spec.limit),
                )
            });
        }
        let period = match spec.period.trim().to_ascii_lowercase().as_str() {
            "" | "day" => Period::Day,
            "month" => Period::Month,
            other => {
                return Err(SpecError::invalid(
                    "quota.period",
                    format!("`{other}` is not a period (day, month)"),
                ))
            }
        };
        let source = SourceCriterion::compile(
            "quota.sourceCriterion",
            spec.source_criterion.as_ref(),
            SourceCriterion::Ip(IpStrategy::default()),
        )?;
        let store = match &spec.redis {
            Some(redis) => {
                crate::rate_limit::validate_redis("quota.redis", redis)?;
                let store = match ctx.backends {
                    Some(b) => Some(
                        b.redis(redis)
                            .map_err(|e| SpecError::invalid("quota.redis", e))?,
                    ),
                    None => None,
                };
                Store::Shared {
                    store,
                    fail_open: redis.fail_open.unwrap_or(true),
                }
            }
            None => Store::Local(match ctx.backends {
                Some(b) => b.quota_book(),
                None => match ctx.registry {
                    Some(reg) => reg.get_or_insert("\u{1f}quota-book", &(), QuotaBook::default),
                    None => Arc::new(QuotaBook::default()),
                },
            }),
        };
        Ok(Quota {
            name: Arc::from(name),
            limit: spec.limit as u64,
            period,
            source,
            store,
        })
    }

    pub fn on_request(
        &self,
        parts: &http::request::Parts,
        conn: &ConnInfo,
        flow: &mut FlowState,
    ) -> Action {
        self.check_at(parts, conn, flow, crate::util::unix_now())
    }

    /// `on_request` at Unix time `now` (tests).
    pub fn check_at(
        &self,
        parts: &http::request::Parts,
        conn: &ConnInfo,
        flow: &mut FlowState,
        now: u64,
    ) -> Action {
        let (start, reset) = self.period.bounds(now);
        let source = self
            .source
            .key_with(parts, conn.remote_ip, flow.consumer.as_deref());
        let limit = self.limit;
        match &self.store {
            Store::Local(book) => {
                let (ok, used) = book.take(&self.name, source, limit, reset, now);
                let (action, rate) = decide(ok, used, limit, reset - now);
                if let Some(r) = rate {
                    flow.note_rate(r);
                }
                action
            }
            Store::Shared { store, fail_open } => {
                let fail_open = *fail_open;
                let name = self.name.clone();
                let Some(store) = store.clone() else {
                    return crate::rate_limit::store_failed(
                        &name,
                        fail_open,
                        &crate::StoreError::Unreachable(
                            "no redis client (compiled without runtime)".into(),
                        ),
                    );
                };
                let src = match &source {
                    SourceKey::Ip(ip) => ip.to_string(),
                    SourceKey::Text(t) => t.to_string(),
                };
                let key = format!("wharf:quota:{{{name}}}:{start}:{src}");
                Action::Await(Pending(Box::pin(async move {
                    match store.count(key, limit, reset).await {
                        Ok(a) => {
                            let (action, rate) = decide(a.allowed, a.used, limit, reset - now);
                            Awaited { action, rate }
                        }
                        Err(e) => Awaited {
                            action: crate::rate_limit::store_failed(&name, fail_open, &e),
                            rate: None,
                        },
                    }
                })))
            }
        }
    }
}

/// The answer for a counted (or refused) request: headers for the response, or a 429.
fn decide(ok: bool, used: u64, limit: u64, reset_in: u64) -> (Action, Option<RateHeaders>) {
    let rate = RateHeaders {
        limit,
        remaining: limit.saturating_sub(used),
        reset: reset_in,
    };
    if ok {
        return (Action::Continue, Some(rate));
    }
    let mut resp = crate::util::status_text(StatusCode::TOO_MANY_REQUESTS);
    let h = resp.headers_mut();
    h.insert(
        http::header::RETRY_AFTER,
        HeaderValue::from(reset_in.max(1)),
    );
    crate::put_rate_headers(
        h,
        RateHeaders {
            remaining: 0,
            ..rate
        },
    );
    (Action::Respond(resp), None)
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
        http::Request::get("/").body(()).unwrap().into_parts().0
    }

    fn spec(yaml: &str) -> QuotaSpec {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn calendar_periods_are_utc() {
        // 2024-02-29T13:00:00Z (a leap day).
        let t = 1_709_211_600;
        assert_eq!(Period::Day.bounds(t), (1_709_164_800, 1_709_251_200));
        // February 2024 → March 1st 2024.
        assert_eq!(Period::Month.bounds(t), (1_706_745_600, 1_709_251_200));
        // December rolls over into January: 2023-12-31T23:59:59Z.
        assert_eq!(
            Period::Month.bounds(1_704_067_199),
            (1_701_388_800, 1_704_067_200)
        );
        assert_eq!(Period::Month.bounds(1_704_067_200).0, 1_704_067_200);
        for days in [-1000i64, 0, 59, 365, 11_016, 19_782, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn counts_per_source_with_headers_and_429() {
        let reg = StateRegistry::new();
        let ctx = CompileCtx {
            registry: Some(&reg),
            ..CompileCtx::default()
        };
        let q = Quota::compile(
            "q@file",
            &spec("limit: 2\nperiod: day\nsourceCriterion: {consumer: true}\n"),
            &ctx,
        )
        .unwrap();
        let now = 1_709_211_600; // 13:00 UTC: 11 h to the reset.
        let mut alice = FlowState {
            consumer: Some("alice".into()),
            ..FlowState::default()
        };
        assert!(matches!(
            q.check_at(&parts(), &CONN, &mut alice, now),
            Action::Continue
        ));
        assert_eq!(
            alice.rate_headers,
            Some(RateHeaders {
                limit: 2,
                remaining: 1,
                reset: 39_600
            })
        );
        let mut again = FlowState {
            consumer: Some("alice".into()),
            ..FlowState::default()
        };
        assert!(matches!(
            q.check_at(&parts(), &CONN, &mut again, now),
            Action::Continue
        ));
        assert_eq!(again.rate_headers.map(|r| r.remaining), Some(0));
        match q.check_at(&parts(), &CONN, &mut again, now + 1) {
            Action::Respond(r) => {
                assert_eq!(r.status(), 429);
                assert_eq!(r.headers()["retry-after"], "39599");
                assert_eq!(r.headers()["x-ratelimit-limit"], "2");
                assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
                assert_eq!(r.headers()["x-ratelimit-reset"], "39599");
            }
            other => panic!("expected 429, got {other:?}"),
        }
        // Bob has his own budget; the next UTC day resets Alice's.
        let mut bob = FlowState {
            consumer: Some("bob".into()),
            ..FlowState::default()
        };
        assert!(matches!(
            q.check_at(&parts(), &CONN, &mut bob, now),
            Action::Continue
        ));
        let mut next_day = FlowState {
            consumer: Some("alice".into()),
            ..FlowState::default()
        };
        assert!(matches!(
            q.check_at(&parts(), &CONN, &mut next_day, now + 39_600),
            Action::Continue
        ));
        // A recompile shares the book (same registry): Alice's new day count is kept.
        let q2 = Quota::compile(
            "q@file",
            &spec("limit: 2\nsourceCriterion: {consumer: true}\n"),
            &ctx,
        )
        .unwrap();
        let mut more = FlowState {
            consumer: Some("alice".into()),
            ..FlowState::default()
        };
        assert!(matches!(
            q2.check_at(&parts(), &CONN, &mut more, now + 39_601),
            Action::Continue
        ));
        assert!(matches!(
            q2.check_at(&parts(), &CONN, &mut more, now + 39_601),
            Action::Respond(_)
        ));
    }

    #[test]
    fn book_export_import_roundtrip() {
        let book = QuotaBook::default();
        let name: Arc<str> = "q@file".into();
        let now = 1_000;
        book.take(&name, SourceKey::Text("alice".into()), 5, 2_000, now);
        book.take(&name, SourceKey::Text("alice".into()), 5, 2_000, now);
        book.take(
            &name,
            SourceKey::Ip("10.0.0.1".parse().unwrap()),
            5,
            2_000,
            now,
        );
        book.take(&name, SourceKey::Text("old".into()), 5, 900, 800);
        assert!(book.take_dirty());
        assert!(!book.take_dirty());
        let saved = book.export(now);
        assert_eq!(saved.len(), 2, "expired counter dropped: {saved:?}");
        let json = serde_json::to_string(&saved).unwrap();
        let back = QuotaBook::default();
        let loaded: BTreeMap<String, Counter> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.import(loaded, now), 2);
        assert_eq!(
            back.take(&name, SourceKey::Text("alice".into()), 5, 2_000, now),
            (true, 3)
        );
        assert_eq!(
            back.take(
                &name,
                SourceKey::Ip("10.0.0.1".parse().unwrap()),
                5,
                2_000,
                now
            ),
            (true, 2)
        );
    }

    #[test]
    fn bad_values() {
        let ctx = CompileCtx::default();
        let e = Quota::compile("q", &spec("period: day\n"), &ctx).unwrap_err();
        assert_eq!(e.to_string(), "missing required option `quota.limit`");
        let e = Quota::compile("q", &spec("limit: 5\nperiod: week\n"), &ctx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `quota.period`: `week` is not a period (day, month)"
        );
        assert!(Quota::compile("q", &spec("limit: -1\n"), &ctx).is_err());
        // Redis without a runtime: compiles; requests follow failOpen.
        let q = Quota::compile(
            "q",
            &spec("limit: 5\nredis: {endpoints: [127.0.0.1:1], failOpen: false}\n"),
            &ctx,
        )
        .unwrap();
        match q.check_at(&parts(), &CONN, &mut FlowState::default(), 1_000) {
            Action::Respond(r) => assert_eq!(r.status(), 503),
            other => panic!("expected 503, got {other:?}"),
        }
    }
}
