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
