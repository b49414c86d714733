//! ContentType: lets the proxy set `Content-Type` from the response's first bytes when the backend
//! sent none (Traefik v3 no longer does this by default).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `contentType`. Declared empty in Traefik v3 (`contentType: {}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ContentTypeSpec {
    /// Traefik v2's option, accepted for old files: `false` disables detection (the v3 default
    /// without this middleware), unset or `true` enables it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub auto_detect: Option<bool>,
}
