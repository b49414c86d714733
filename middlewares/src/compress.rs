//! Compress: compresses responses (zstd, br, gzip) chosen from `Accept-Encoding`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `compress`. May be declared empty (`compress: {}` or the label `...compress=true`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CompressSpec {
    /// Content types never compressed (`application/grpc` always is excluded). Exclusive with
    /// `includedContentTypes`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub excluded_content_types: Vec<String>,
    /// Only these content types are compressed.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub included_content_types: Vec<String>,
    /// Smallest body compressed, in bytes (default 1024).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub min_response_body_bytes: Option<i64>,
    /// Supported encodings in preference order (default `zstd, br, gzip`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub encodings: Vec<String>,
    /// Encoding used when `Accept-Encoding` is absent or `*`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub default_encoding: String,
}
