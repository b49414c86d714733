//! RedirectScheme: redirects requests to another scheme (and port).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `redirectScheme`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RedirectSchemeSpec {
    /// Target scheme (`https`). Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub scheme: String,
    /// Target port; empty keeps none (the scheme's default port).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub port: String,
    /// Permanent redirection (301/308) instead of temporary (302/307).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub permanent: bool,
}
