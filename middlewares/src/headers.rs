//! Headers: custom request/response headers (an empty value removes the header), CORS (with
//! preflight requests answered here) and security headers.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `headers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HeadersSpec {
    /// Headers set on the request; an empty value removes the header.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub custom_request_headers: BTreeMap<String, String>,
    /// Headers set on the response; an empty value removes the header.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub custom_response_headers: BTreeMap<String, String>,

    /// `Access-Control-Allow-Credentials: true`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub access_control_allow_credentials: bool,
    /// `Access-Control-Allow-Headers` in preflight responses.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_headers: Vec<String>,
    /// `Access-Control-Allow-Methods` in preflight responses.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_methods: Vec<String>,
    /// Allowed origins; `*` allows any.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_origin_list: Vec<String>,
    /// Allowed origins as regular expressions.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_origin_list_regex: Vec<String>,
    /// `Access-Control-Expose-Headers`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_expose_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds for preflight responses.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub access_control_max_age: i64,
    /// Add `Vary: Origin` when the allowed origin is echoed.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub add_vary_header: bool,

    /// Allowed hosts; other hosts get 400 (unless `isDevelopment`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub allowed_hosts: Vec<String>,
    /// Headers that may carry the original host (checked against `allowedHosts`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub hosts_proxy_headers: Vec<String>,
    /// Header → value pairs that mark a request as HTTPS (`X-Forwarded-Proto: https`).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub ssl_proxy_headers: BTreeMap<String, String>,
    /// `Strict-Transport-Security` max-age; 0 sends no header.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub sts_seconds: i64,
    /// Append `includeSubDomains` to STS.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub sts_include_subdomains: bool,
    /// Append `preload` to STS.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub sts_preload: bool,
    /// Send STS on plain HTTP too.
    #[serde(
        rename = "forceSTSHeader",
        skip_serializing_if = "de::is_false",
        deserialize_with = "de::bool"
    )]
    pub force_sts_header: bool,
    /// `X-Frame-Options: DENY`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub frame_deny: bool,
    /// `X-Frame-Options` value (overrides `frameDeny`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub custom_frame_options_value: String,
    /// `X-Content-Type-Options: nosniff`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub content_type_nosniff: bool,
    /// `X-XSS-Protection: 1; mode=block`.
    #[serde(
        rename = "browserXssFilter",
        skip_serializing_if = "de::is_false",
        deserialize_with = "de::bool"
    )]
    pub browser_xss_filter: bool,
    /// `X-XSS-Protection` value (overrides `browserXssFilter`).
    #[serde(
        rename = "customBrowserXSSValue",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub custom_browser_xss_value: String,
    /// `Content-Security-Policy`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub content_security_policy: String,
    /// `Content-Security-Policy-Report-Only`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub content_security_policy_report_only: String,
    /// `Public-Key-Pins` (HPKP).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub public_key: String,
    /// `Referrer-Policy`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub referrer_policy: String,
    /// `Permissions-Policy`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub permissions_policy: String,
    /// Relax `allowedHosts` and STS for development.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub is_development: bool,
}
