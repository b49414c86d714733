//! Retry: reissues a request when the backend cannot be reached (network level), with an
//! exponential backoff, never after the response started.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::Duration;

/// `retry`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RetrySpec {
    /// How many times the request is tried in total. Required (> 0).
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub attempts: i64,
    /// First wait of the exponential backoff (the maximum is twice it); unset retries at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_interval: Option<Duration>,
}

/// Checks every option without building a filter yet.
pub fn validate(spec: &RetrySpec) -> Result<(), crate::SpecError> {
    if spec.attempts <= 0 {
        return Err(crate::SpecError::invalid(
            "retry.attempts",
            format!("must be greater than 0 (got {})", spec.attempts),
        ));
    }
    if let Some(d) = spec.initial_interval {
        if d.is_negative() {
            return Err(crate::SpecError::invalid(
                "retry.initialInterval",
                format!("must not be negative (got {d})"),
            ));
        }
    }
    Ok(())
}

// ---- compiled policy (for the proxy's retry loop) ------------------------------------------

use std::time::Duration as StdDuration;

/// `retry`, compiled: the proxy's service call loop consults it. Not a `Filter` yet: the
/// compiler reports "not supported yet" until the proxy runs the loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    initial: StdDuration,
    multiplier: f64,
}

impl RetryPolicy {
    pub fn compile(spec: &RetrySpec) -> Result<Self, crate::SpecError> {
        validate(spec)?;
        let attempts = u32::try_from(spec.attempts).unwrap_or(u32::MAX);
        let initial = spec
            .initial_interval
            .and_then(|d| d.to_std())
            .unwrap_or_default();
        // As Traefik: the multiplier makes the last wait stay under twice the initial interval.
        let multiplier = if attempts > 1 {
            2f64.powf(1.0 / f64::from(attempts - 1))
        } else {
            1.0
        };
        Ok(RetryPolicy {
            attempts,
            initial,
            multiplier,
        })
    }

    /// Total tries, the first one included (Traefik's `attempts`).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Another try is allowed after `tries_done` failed ones, only while no response byte has
    /// been sent to the client (a started response is never retried).
    pub fn may_retry(&self, tries_done: u32, response_started: bool) -> bool {
        !response_started && tries_done < self.attempts
    }

    /// The wait before retry `n` (1 = first retry) without jitter: initial · multiplierⁿ⁻¹.
    pub fn backoff(&self, n: u32) -> StdDuration {
        if self.initial.is_zero() || self.attempts < 2 || n == 0 {
            return StdDuration::ZERO;
        }
        self.initial
            .mul_f64(self.multiplier.powi(n.saturating_sub(1).min(64) as i32))
    }

    /// `backoff(n)` randomized by ±50% as Traefik's backoff library does; `r` in [0, 1).
    pub fn backoff_jittered(&self, n: u32, r: f64) -> StdDuration {
        let base = self.backoff(n);
        base.mul_f64(0.5 + r.clamp(0.0, 1.0))
    }
}

/// Methods a retry may repeat after the request reached the server (RFC 9110 idempotent).
pub fn is_idempotent(method: &http::Method) -> bool {
    use http::Method as M;
    [M::GET, M::HEAD, M::OPTIONS, M::TRACE, M::PUT, M::DELETE].contains(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_progression_stays_under_twice_initial() {
        let p = RetryPolicy::compile(&RetrySpec {
            attempts: 4,
            initial_interval: Some(crate::Duration::from_millis(100)),
        })
        .unwrap();
        assert_eq!(p.backoff(1), StdDuration::from_millis(100));
        assert!(
            p.backoff(2) > p.backoff(1) && p.backoff(3) < StdDuration::from_millis(200),
            "{:?}",
            p.backoff(3)
        );
        assert_eq!(p.backoff(3).as_millis(), 158);
        assert_eq!(p.backoff_jittered(1, 0.0), StdDuration::from_millis(50));
        assert!(p.may_retry(3, false) && !p.may_retry(4, false) && !p.may_retry(1, true));
        let now = RetryPolicy::compile(&RetrySpec {
            attempts: 3,
            initial_interval: None,
        })
        .unwrap();
        assert_eq!(now.backoff(2), StdDuration::ZERO);
        assert!(is_idempotent(&http::Method::PUT) && !is_idempotent(&http::Method::POST));
    }
}
