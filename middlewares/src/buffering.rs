//! Buffering: reads whole request/response bodies before forwarding (memory, then disk), with
//! size limits (413 / 500) and a retry expression.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `buffering`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct BufferingSpec {
    /// Largest request body accepted (bytes); larger gets 413. 0 = no limit.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub max_request_body_bytes: i64,
    /// Request bytes kept in memory before spilling to disk (default 1048576).
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub mem_request_body_bytes: i64,
    /// Largest response body accepted (bytes); larger gets 500. 0 = no limit.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub max_response_body_bytes: i64,
    /// Response bytes kept in memory before spilling to disk (default 1048576).
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub mem_response_body_bytes: i64,
    /// When to replay the buffered request (`IsNetworkError() && Attempts() < 2`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub retry_expression: String,
}

/// Checks every option without building a filter yet.
pub fn validate(spec: &BufferingSpec) -> Result<(), crate::SpecError> {
    use crate::SpecError;
    for (field, v) in [
        ("buffering.maxRequestBodyBytes", spec.max_request_body_bytes),
        ("buffering.memRequestBodyBytes", spec.mem_request_body_bytes),
        (
            "buffering.maxResponseBodyBytes",
            spec.max_response_body_bytes,
        ),
        (
            "buffering.memResponseBodyBytes",
            spec.mem_response_body_bytes,
        ),
    ] {
        if v < 0 {
            return Err(SpecError::invalid(
                field,
                format!("must not be negative (got {v})"),
            ));
        }
    }
    if !spec.retry_expression.trim().is_empty() {
        crate::expr::parse(&spec.retry_expression, crate::expr::BUFFERING_RETRY)
            .map_err(|reason| SpecError::invalid("buffering.retryExpression", reason))?;
    }
    Ok(())
}

/// `buffering`, compiled: the limits the proxy's body buffering applies.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferingPolicy {
    /// Largest request body (413 above); `None`: no limit.
    pub max_request_body_bytes: Option<u64>,
    /// Request bytes kept in memory before spilling to disk.
    pub mem_request_body_bytes: u64,
    /// Largest response body (500 above); `None`: no limit.
    pub max_response_body_bytes: Option<u64>,
    /// Response bytes kept in memory before spilling to disk.
    pub mem_response_body_bytes: u64,
    /// When to replay the buffered request.
    pub retry: Option<crate::expr::Expr>,
}

impl BufferingPolicy {
    pub fn compile(spec: &BufferingSpec) -> Result<Self, crate::SpecError> {
        validate(spec)?;
        let limit = |v: i64| (v > 0).then_some(v as u64);
        let mem = |v: i64| if v > 0 { v as u64 } else { 1_048_576 };
        let retry = if spec.retry_expression.trim().is_empty() {
            None
        } else {
            Some(
                crate::expr::parse(&spec.retry_expression, crate::expr::BUFFERING_RETRY)
                    .map_err(|r| crate::SpecError::invalid("buffering.retryExpression", r))?,
            )
        };
        Ok(BufferingPolicy {
            max_request_body_bytes: limit(spec.max_request_body_bytes),
            mem_request_body_bytes: mem(spec.mem_request_body_bytes),
            max_response_body_bytes: limit(spec.max_response_body_bytes),
            mem_response_body_bytes: mem(spec.mem_response_body_bytes),
            retry,
        })
    }
}
