//! ReplacePath: replaces the whole request path and records the original in `X-Replaced-Path`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `replacePath`: the new path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplacePathSpec {
    /// The path that replaces the request path. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub path: String,
}
