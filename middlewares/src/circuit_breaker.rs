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
