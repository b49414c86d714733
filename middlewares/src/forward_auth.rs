//! ForwardAuth: asks an authentication server about each request; 2xx lets it through (copying
//! chosen headers), anything else is returned to the client.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `forwardAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ForwardAuthSpec {
    /// URL of the authentication server. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub address: String,
    /// TLS towards the authentication server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSpec>,
    /// Forward the client's X-Forwarded-* headers as they are instead of setting them.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub trust_forward_header: bool,
    /// Headers copied from the auth response onto the forwarded request.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub auth_response_headers: Vec<String>,
    /// Regex of auth-response header names to copy (request headers matching it are removed first).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub auth_response_headers_regex: String,
    /// Request headers sent to the auth server; empty sends all.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub auth_request_headers: Vec<String>,
    /// Cookies copied from the auth response onto the client response.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub add_auth_cookies_to_response: Vec<String>,
    /// Request header that receives the authenticated user reported by the auth server.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header_field: String,
    /// Send the request body to the auth server.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub forward_body: bool,
    /// Largest body forwarded when `forwardBody` is set (default -1: no limit).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub max_body_size: Option<i64>,
    /// Return the auth server's `Location` header unchanged instead of making it absolute.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub preserve_location_header: bool,
    /// Use the client's method towards the auth server instead of GET.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub preserve_request_method: bool,
}

/// Client TLS options (ForwardAuth `tls`, RateLimit `redis.tls`): file paths or PEM contents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientTlsSpec {
    /// CA bundle to verify the server.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub ca: String,
    /// Client certificate.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub cert: String,
    /// Client private key.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub key: String,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub insecure_skip_verify: bool,
    /// Deprecated in Traefik (a server-side option); accepted and ignored.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub ca_optional: Option<bool>,
}
