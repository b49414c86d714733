//! StripPrefixRegex: removes the prefix matched by the first matching regular expression.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `stripPrefixRegex`: regular expressions matched at the start of the path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct StripPrefixRegexSpec {
    /// Regular expressions (Go RE2 syntax, which Rust's `regex` accepts). Required.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub regex: Vec<String>,
}
