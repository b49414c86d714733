//! IPAllowList (and its old name IPWhiteList): admits only clients whose IP (chosen by the IP
//! strategy) is in the source ranges; others get 403 (or `rejectStatusCode`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::ip_strategy::IpStrategySpec;

/// `ipAllowList` / `ipWhiteList`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct IpAllowListSpec {
    /// Allowed addresses or CIDR ranges, IPv4 or IPv6. Required.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub source_range: Vec<String>,
    /// How the client IP is chosen (default: the remote address).
    #[serde(
        rename = "ipStrategy",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub ip_strategy: Option<IpStrategySpec>,
    /// Status code for refused requests (default 403). `ipAllowList` only in Traefik.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub reject_status_code: Option<i64>,
}
