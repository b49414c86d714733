//! ReplacePathRegex: rewrites the path with a regular expression and a replacement that uses
//! Go's `$1` / `${1}` / `${name}` expansion; the original goes to `X-Replaced-Path`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `replacePathRegex`: regular expression and replacement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplacePathRegexSpec {
    /// Regular expression matched against the path. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub regex: String,
    /// Replacement; `$1`, `${1}` and `${name}` refer to capture groups.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub replacement: String,
}
