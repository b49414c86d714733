//! AddPrefix: prepends a fixed prefix to the request path before it is forwarded.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `addPrefix`: the string added before the request path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AddPrefixSpec {
    /// The prefix to add, with a leading slash (`/api`). Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub prefix: String,
}
