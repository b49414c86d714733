//! InFlightReq: limits the number of requests in progress per source; over the limit, 429.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::ip_strategy::SourceCriterionSpec;

/// `inFlightReq`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct InFlightReqSpec {
    /// Maximum simultaneous requests per source. Required (> 0).
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub amount: i64,
    /// What groups requests into a source (default: the request host, as in Traefik).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_criterion: Option<SourceCriterionSpec>,
}
