//! StripPrefix: removes the first matching prefix from the request path and records it in
//! `X-Forwarded-Prefix`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `stripPrefix`: prefixes to remove from the request path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct StripPrefixSpec {
    /// Prefixes to strip, tried in order; the first that matches is removed. Required.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub prefixes: Vec<String>,
    /// Deprecated in Traefik v3 (default true): when false, stripping a whole path leaves it
    /// empty instead of `/`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub force_slash: Option<bool>,
}
