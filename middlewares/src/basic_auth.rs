//! BasicAuth: HTTP Basic authentication against htpasswd-style users (bcrypt, apr1 MD5, SHA1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `basicAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct BasicAuthSpec {
    /// `name:hash` entries as `htpasswd` writes them. With `usersFile`, both are merged and the
    /// inline entry wins for a name given twice.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub users: Vec<String>,
    /// Path of an htpasswd file (one `name:hash` per line).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub users_file: String,
    /// Realm in the `WWW-Authenticate` challenge (default `traefik`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub realm: String,
    /// Remove the `Authorization` header before forwarding.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub remove_header: bool,
    /// Request header that receives the authenticated user name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header_field: String,
}
