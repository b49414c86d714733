//! Client-address selection shared by IPAllowList, RateLimit and InFlightReq: `ipStrategy`
//! (the remote address, or an X-Forwarded-For entry by depth or by excluding known proxies) and
//! `sourceCriterion` (IP strategy, request host or a request header).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `ipStrategy`: how the client IP is chosen. Unset means the connection's remote address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct IpStrategySpec {
    /// Take the X-Forwarded-For entry at this position from the right (1 = last). Overrides
    /// `excludedIPs`. 0 means unused.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub depth: i64,
    /// Scan X-Forwarded-For from the right and take the first address not in these ranges.
    #[serde(
        rename = "excludedIPs",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::list"
    )]
    pub excluded_ips: Vec<String>,
    /// Group IPv6 clients by this prefix length (1..=128); applies to the remote-address and depth
    /// strategies.
    #[serde(
        rename = "ipv6Subnet",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub ipv6_subnet: Option<i64>,
}

/// `sourceCriterion`: what groups requests into one source. At most one may be set; none means
/// the remote address for RateLimit and the request host for InFlightReq (as in Traefik).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceCriterionSpec {
    #[serde(
        rename = "ipStrategy",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub ip_strategy: Option<IpStrategySpec>,
    /// Group by the value of this request header.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub request_header_name: String,
    /// Group by the request host.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub request_host: bool,
}
