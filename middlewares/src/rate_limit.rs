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
    /// Shared buckets in Redis (Traefik v3.4+). Not supported yet by wharf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSpec>,
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
}
