//! DigestAuth: HTTP Digest authentication against `name:realm:md5(name:realm:password)` users.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `digestAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct DigestAuthSpec {
    /// `name:realm:hash` entries as `htdigest` writes them.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub users: Vec<String>,
    /// Path of an htdigest file.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub users_file: String,
    /// Remove the `Authorization` header before forwarding.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub remove_header: bool,
    /// Realm (default `traefik`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub realm: String,
    /// Request header that receives the authenticated user name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header_field: String,
}
