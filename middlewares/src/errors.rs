//! Errors: replaces responses with chosen statuses by a page fetched from another service.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `errors`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorsSpec {
    /// Statuses that trigger the error page: `500`, `500,502`, `500-599`, `404,418,500-599`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub status: Vec<String>,
    /// Status (or range) → status sent to the client instead: `{"418": 404, "500-599": 503}`.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::int_map"
    )]
    pub status_rewrites: BTreeMap<String, i64>,
    /// Service that serves the error page. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub service: String,
    /// Path of the error page; `{status}`, `{originalStatus}` and `{url}` are replaced.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub query: String,
}
