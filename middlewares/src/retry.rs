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
