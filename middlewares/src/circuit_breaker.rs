//! CircuitBreaker: watches the service's outcomes and, while an expression holds, answers with a
//! fallback status instead of calling it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::Duration;

/// `circuitBreaker`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CircuitBreakerSpec {
    /// Trip condition: `NetworkErrorRatio() > 0.5`, `ResponseCodeRatio(500, 600, 0, 600) > 0.3`,
    /// `LatencyAtQuantileMS(50.0) > 100`, with `&&`, `||` and comparisons. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub expression: String,
    /// Interval between checks of the expression (default 100ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_period: Option<Duration>,
    /// How long the breaker stays open before recovering (default 10s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_duration: Option<Duration>,
    /// How long the recovery ramp lasts (default 10s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_duration: Option<Duration>,
    /// Status returned while open (default 503).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub response_code: Option<i64>,
}

/// Checks every option (the expression is parsed) without building a filter yet.
pub fn validate(spec: &CircuitBreakerSpec) -> Result<crate::expr::Expr, crate::SpecError> {
    use crate::SpecError;
    if spec.expression.trim().is_empty() {
        return Err(SpecError::Missing("circuitBreaker.expression"));
    }
    let expr = crate::expr::parse(&spec.expression, crate::expr::CIRCUIT_BREAKER)
        .map_err(|reason| SpecError::invalid("circuitBreaker.expression", reason))?;
    for (field, d) in [
        ("circuitBreaker.checkPeriod", spec.check_period),
        ("circuitBreaker.fallbackDuration", spec.fallback_duration),
        ("circuitBreaker.recoveryDuration", spec.recovery_duration),
    ] {
        if let Some(d) = d {
            if d.is_negative() {
                return Err(SpecError::invalid(
                    field,
                    format!("must not be negative (got {d})"),
                ));
            }
        }
    }
    if let Some(code) = spec.response_code {
        if !(100..=599).contains(&code) {
            return Err(SpecError::invalid(
                "circuitBreaker.responseCode",
                format!("{code} is not an HTTP status code"),
            ));
        }
    }
    Ok(expr)
}

// ---- compiled form -------------------------------------------------------------------------

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use http::StatusCode;

use crate::expr::Expr;
use crate::{Action, CompileCtx, SpecError};

/// Seconds in the rolling window of outcomes (oxy's 10 × 1 s buckets).
const WINDOW_SECS: u64 = 10;
/// Upper bounds (ms) of the latency histogram buckets; the last is open-ended.
const LATENCY_BOUNDS_MS: [f64; 15] = [
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    1000.0,
    2000.0,
    5000.0,
    10000.0,
    30000.0,
    f64::INFINITY,
];

#[derive(Clone)]
struct Bucket {
    second: u64,
    total: u64,
    codes: Box<[u64; 600]>,
    latency: [u64; LATENCY_BOUNDS_MS.len()],
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            second: u64::MAX,
            total: 0,
            codes: Box::new([0; 600]),
            latency: [0; LATENCY_BOUNDS_MS.len()],
        }
    }
    fn clear(&mut self, second: u64) {
        self.second = second;
        self.total = 0;
        self.codes.fill(0);
        self.latency = [0; LATENCY_BOUNDS_MS.len()];
    }
}

/// Outcomes of the last `WINDOW_SECS` seconds.
struct Window {
    origin: Instant,
    buckets: Vec<Bucket>,
}

impl Window {
    fn new(origin: Instant) -> Self {
        Window {
            origin,
            buckets: vec![Bucket::new(); WINDOW_SECS as usize],
        }
    }
    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }
    fn record(&mut self, now: Instant, status: u16, latency: StdDuration) {
        let s = self.second(now);
        let b = &mut self.buckets[(s % WINDOW_SECS) as usize];
        if b.second != s {
            b.clear(s);
        }
        b.total += 1;
        if let Some(c) = b.codes.get_mut(status as usize) {
            *c += 1;
        }
        let ms = latency.as_secs_f64() * 1000.0;
        let i = LATENCY_BOUNDS_MS
            .iter()
            .position(|ub| ms <= *ub)
            .unwrap_or(LATENCY_BOUNDS_MS.len() - 1);
        b.latency[i] += 1;
    }
    fn reset(&mut self) {
        for b in &mut self.buckets {
            b.second = u64::MAX;
        }
    }
    fn live(&self, now: Instant) -> impl Iterator<Item = &Bucket> {
        let s = self.second(now);
        self.buckets
            .iter()
            .filter(move |b| b.second != u64::MAX && b.second + WINDOW_SECS > s && b.second <= s)
    }
}

/// oxy's metrics, read by the expression at `now`.
struct View<'a> {
    window: &'a Window,
    now: Instant,
}

impl crate::expr::Metrics for View<'_> {
    fn number(&self, name: &str, args: &[f64]) -> f64 {
        let live = || self.window.live(self.now);
        let codes = |a: f64, b: f64| -> u64 {
            let (a, b) = (a.max(0.0) as usize, (b.max(0.0) as usize).min(600));
            live()
                .map(|bk| {
                    bk.codes
                        .get(a..b.max(a))
                        .map_or(0, |s| s.iter().sum::<u64>())
                })
                .sum()
        };
        match name {
            // oxy counts 502 and 504 (what its forwarder answers on transport errors).
            "NetworkErrorRatio" => {
                let total: u64 = live().map(|b| b.total).sum();
                if total == 0 {
                    0.0
                } else {
                    (codes(502.0, 503.0) + codes(504.0, 505.0)) as f64 / total as f64
                }
            }
            "ResponseCodeRatio" => {
                let den = codes(args[2], args[3]);
                if den == 0 {
                    0.0
                } else {
                    codes(args[0], args[1]) as f64 / den as f64
                }
            }
            "LatencyAtQuantileMS" => {
                let mut hist = [0u64; LATENCY_BOUNDS_MS.len()];
                for b in live() {
                    for (h, v) in hist.iter_mut().zip(b.latency.iter()) {
                        *h += v;
                    }
                }
                let total: u64 = hist.iter().sum();
                if total == 0 {
                    return 0.0;
                }
                let target = ((args[0].clamp(0.0, 100.0) / 100.0) * total as f64)
                    .ceil()
                    .max(1.0) as u64;
                let mut seen = 0;
                for (i, n) in hist.iter().enumerate() {
                    seen += n;
                    if seen >= target {
                        let ub = LATENCY_BOUNDS_MS[i];
                        return if ub.is_finite() { ub } else { 30000.0 };
                    }
                }
                0.0
            }
            _ => 0.0,
        }
    }
    fn condition(&self, _: &str, _: &[f64]) -> bool {
        false
    }
}

enum Mode {
    Standby,
    Tripped {
        until: Instant,
    },
    Recovering {
        from: Instant,
        until: Instant,
        allowed: u64,
        denied: u64,
    },
}

struct Inner {
    mode: Mode,
    window: Window,
    next_check: Instant,
}

/// A breaker's state; kept in the state registry across swaps while the spec is unchanged.
pub struct BreakerState {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BreakerState")
    }
}

/// `circuitBreaker`, compiled (oxy's cbreaker semantics: standby → tripped for
/// `fallbackDuration` → recovering for `recoveryDuration`, letting a linearly growing share of
/// requests through → standby). Needs the proxy to report outcomes (`record`).
#[derive(Debug)]
pub struct CircuitBreaker {
    expr: Expr,
    check_period: StdDuration,
    fallback: StdDuration,
    recovery: StdDuration,
    response_code: StatusCode,
    state: Arc<BreakerState>,
}

impl CircuitBreaker {
    pub fn compile(
        name: &str,
        spec: &CircuitBreakerSpec,
        ctx: &CompileCtx<'_>,
    ) -> Result<Self, SpecError> {
        let expr = validate(spec)?;
        let d = |v: Option<crate::Duration>, default_ms: u64| {
            v.and_then(|d| d.to_std())
                .filter(|d| !d.is_zero())
                .unwrap_or(StdDuration::from_millis(default_ms))
        };
        let response_code = StatusCode::from_u16(spec.response_code.unwrap_or(503) as u16)
            .map_err(|_| {
                SpecError::invalid("circuitBreaker.responseCode", "not an HTTP status code")
            })?;
        let make = || BreakerState {
            inner: Mutex::new(Inner {
                mode: Mode::Standby,
                window: Window::new(Instant::now()),
                next_check: Instant::now(),
            }),
        };
        let state = match ctx.registry {
            Some(reg) => reg.get_or_insert(&ctx.state_key(name), spec, make),
            None => Arc::new(make()),
        };
        Ok(CircuitBreaker {
            expr,
            check_period: d(spec.check_period, 100),
            fallback: d(spec.fallback_duration, 10_000),
            recovery: d(spec.recovery_duration, 10_000),
            response_code,
            state,
        })
    }

    pub fn on_request(&self) -> Action {
        self.admit(Instant::now())
    }

    fn admit(&self, now: Instant) -> Action {
        let mut inner = self
            .state
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Mode::Tripped { until } = inner.mode {
            if now < until {
                return Action::Respond(crate::util::status_text(self.response_code));
            }
            inner.mode = Mode::Recovering {
                from: now,
                until: now + self.recovery,
                allowed: 0,
                denied: 0,
            };
            inner.window.reset();
        }
        if let Mode::Recovering {
            from,
            until,
            allowed,
            denied,
        } = &mut inner.mode
        {
            if now >= *until {
                inner.mode = Mode::Standby;
                return Action::Continue;
            }
            let ratio = now.saturating_duration_since(*from).as_secs_f64()
                / until.saturating_duration_since(*from).as_secs_f64();
            let total = *allowed + *denied + 1;
            if (*allowed as f64) < ratio * total as f64 {
                *allowed += 1;
                return Action::Continue;
            }
            *denied += 1;
            return Action::Respond(crate::util::status_text(self.response_code));
        }
        Action::Continue
    }

    /// The proxy reports each forwarded request's status (502/504 for transport errors) and
    /// latency; in standby the expression is checked at most once per `checkPeriod`.
    pub fn record(&self, status: StatusCode, latency: StdDuration) {
        self.record_at(Instant::now(), status, latency);
    }

    fn record_at(&self, now: Instant, status: StatusCode, latency: StdDuration) {
        let mut inner = self
            .state
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inner.window.record(now, status.as_u16(), latency);
        if !matches!(inner.mode, Mode::Standby) || now < inner.next_check {
            return;
        }
        inner.next_check = now + self.check_period;
        if self.expr.eval(&View {
            window: &inner.window,
            now,
        }) {
            inner.mode = Mode::Tripped {
                until: now + self.fallback,
            };
            inner.window.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(yaml: &str) -> CircuitBreaker {
        CircuitBreaker::compile(
            "cb",
            &serde_norway::from_str(yaml).unwrap(),
            &CompileCtx::default(),
        )
        .unwrap()
    }

    fn code(a: Action) -> u16 {
        match a {
            Action::Continue => 200,
            Action::Respond(r) => r.status().as_u16(),
            _ => 0,
        }
    }

    #[test]
    fn trips_falls_back_recovers() {
        let cb = breaker("expression: 'NetworkErrorRatio() > 0.5'\nfallbackDuration: 10s\nrecoveryDuration: 10s\nresponseCode: 418");
        let t0 = Instant::now();
        assert_eq!(code(cb.admit(t0)), 200);
        cb.record_at(t0, StatusCode::OK, StdDuration::from_millis(3));
        cb.record_at(
            t0 + StdDuration::from_millis(200),
            StatusCode::BAD_GATEWAY,
            StdDuration::from_millis(3),
        );
        assert_eq!(
            code(cb.admit(t0 + StdDuration::from_millis(250))),
            200,
            "1/2 is not > 0.5"
        );
        cb.record_at(
            t0 + StdDuration::from_millis(400),
            StatusCode::GATEWAY_TIMEOUT,
            StdDuration::from_millis(3),
        );
        // 2 of 3 are network errors: tripped.
        assert_eq!(code(cb.admit(t0 + StdDuration::from_secs(1))), 418);
        assert_eq!(code(cb.admit(t0 + StdDuration::from_secs(10))), 418);
        // Recovering from t0+11s: about half of the requests pass at the midpoint.
        let start = t0 + StdDuration::from_secs(11);
        assert_eq!(
            code(cb.admit(start)),
            418,
            "ratio 0 at the start of recovery"
        );
        let mid = start + StdDuration::from_secs(5);
        let passed = (0..100).filter(|_| code(cb.admit(mid)) == 200).count();
        assert!((45..=55).contains(&passed), "{passed}");
        assert_eq!(code(cb.admit(start + StdDuration::from_secs(10))), 200);
        assert_eq!(
            code(cb.admit(start + StdDuration::from_secs(10))),
            200,
            "standby again"
        );
    }

    #[test]
    fn response_code_ratio_and_latency() {
        let cb = breaker("expression: 'ResponseCodeRatio(500, 600, 0, 600) > 0.25 || LatencyAtQuantileMS(50.0) > 100'\ncheckPeriod: 1ms");
        let t0 = Instant::now();
        for i in 0..4 {
            cb.record_at(
                t0 + StdDuration::from_millis(i * 10),
                StatusCode::OK,
                StdDuration::from_millis(5),
            );
        }
        assert_eq!(code(cb.admit(t0 + StdDuration::from_millis(50))), 200);
        cb.record_at(
            t0 + StdDuration::from_millis(60),
            StatusCode::INTERNAL_SERVER_ERROR,
            StdDuration::from_millis(5),
        );
        cb.record_at(
            t0 + StdDuration::from_millis(70),
            StatusCode::INTERNAL_SERVER_ERROR,
            StdDuration::from_millis(5),
        );
        assert_eq!(
            code(cb.admit(t0 + StdDuration::from_millis(80))),
            503,
            "2/6 server errors > 0.25"
        );

        let slow = breaker("expression: 'LatencyAtQuantileMS(50.0) > 100'\ncheckPeriod: 1ms");
        for i in 0..3 {
            slow.record_at(
                t0 + StdDuration::from_millis(i * 10),
                StatusCode::OK,
                StdDuration::from_millis(400),
            );
        }
        assert_eq!(code(slow.admit(t0 + StdDuration::from_millis(50))), 503);
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let cb = breaker("expression: 'NetworkErrorRatio() > 0.5'\ncheckPeriod: 1ms");
        let t0 = Instant::now();
        cb.record_at(t0, StatusCode::OK, StdDuration::ZERO);
        let later = t0 + StdDuration::from_secs(30);
        cb.record_at(later, StatusCode::OK, StdDuration::ZERO);
        cb.record_at(
            later + StdDuration::from_millis(5),
            StatusCode::OK,
            StdDuration::ZERO,
        );
        cb.record_at(
            later + StdDuration::from_millis(10),
            StatusCode::BAD_GATEWAY,
            StdDuration::ZERO,
        );
        assert_eq!(
            code(cb.admit(later + StdDuration::from_millis(20))),
            200,
            "1/3 in the window"
        );
    }
}
