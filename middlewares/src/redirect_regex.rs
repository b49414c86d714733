//! RedirectRegex: redirects when the full request URL matches a regular expression.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `redirectRegex`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RedirectRegexSpec {
    /// Regular expression matched against the full URL (`scheme://host/path?query`). Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub regex: String,
    /// The target URL; `$1`, `${1}` and `${name}` refer to capture groups. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub replacement: String,
    /// Permanent redirection (301/308) instead of temporary (302/307).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub permanent: bool,
}
