//! wharf-middlewares: one file per middleware holding its serde spec and its compiled filter.
//!
//! Flow: providers parse `MiddlewareSpec` (Traefik's shape: one key naming the type) → compile
//! builds a `Filter` per middleware → a router's chain is an `Arc<[Filter]>` walked per request.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod backends;
mod de;
pub mod duration;
pub mod expr;
pub mod state;
mod strip_path;
mod util;

pub mod add_prefix;
pub mod api_key;
pub mod basic_auth;
pub mod buffering;
pub mod chain;
pub mod circuit_breaker;
pub mod compress;
pub mod content_type;
pub mod digest_auth;
pub mod encoded_characters;
pub mod errors;
pub mod forward_auth;
pub mod grpc_web;
pub mod headers;
pub mod in_flight_req;
pub mod ip_allow_list;
pub mod ip_strategy;
pub mod jwks;
pub mod jwt;
pub mod pass_tls_client_cert;
pub mod quota;
pub mod rate_limit;
pub mod redirect_regex;
pub mod redirect_scheme;
pub mod replace_path;
pub mod replace_path_regex;
pub mod retry;
pub mod strip_prefix;
pub mod strip_prefix_regex;

pub use add_prefix::AddPrefixSpec;
pub use api_key::ApiKeySpec;
pub use basic_auth::BasicAuthSpec;
pub use buffering::BufferingSpec;
pub use chain::ChainSpec;
pub use circuit_breaker::CircuitBreakerSpec;
pub use compress::CompressSpec;
pub use content_type::ContentTypeSpec;
pub use digest_auth::DigestAuthSpec;
pub use duration::Duration;
pub use encoded_characters::EncodedCharactersSpec;
pub use errors::ErrorsSpec;
pub use forward_auth::{ClientTlsSpec, ForwardAuthSpec};
pub use grpc_web::GrpcWebSpec;
pub use headers::HeadersSpec;
pub use in_flight_req::InFlightReqSpec;
pub use ip_allow_list::IpAllowListSpec;
pub use ip_strategy::{IpStrategySpec, SourceCriterionSpec};
pub use jwt::JwtSpec;
pub use pass_tls_client_cert::{
    PassTlsClientCertSpec, TlsClientCertInfoSpec, TlsIssuerInfoSpec, TlsSubjectInfoSpec,
};
pub use quota::QuotaSpec;
pub use rate_limit::{RateLimitSpec, RedisSpec};
pub use redirect_regex::RedirectRegexSpec;
pub use redirect_scheme::RedirectSchemeSpec;
pub use replace_path::ReplacePathSpec;
pub use replace_path_regex::ReplacePathRegexSpec;
pub use retry::RetrySpec;
pub use strip_prefix::StripPrefixSpec;
pub use strip_prefix_regex::StripPrefixRegexSpec;

/// A middleware definition as Traefik writes it: exactly one type key is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct MiddlewareSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_prefix: Option<AddPrefixSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKeySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering: Option<BufferingSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerSpec>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub compress: Option<CompressSpec>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub content_type: Option<ContentTypeSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_auth: Option<DigestAuthSpec>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub encoded_characters: Option<EncodedCharactersSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorsSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_auth: Option<ForwardAuthSpec>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub grpc_web: Option<GrpcWebSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeadersSpec>,
    #[serde(rename = "ipAllowList", skip_serializing_if = "Option::is_none")]
    pub ip_allow_list: Option<IpAllowListSpec>,
    /// The pre-v3 name of `ipAllowList` (deprecated in Traefik, same behaviour).
    #[serde(rename = "ipWhiteList", skip_serializing_if = "Option::is_none")]
    pub ip_white_list: Option<IpAllowListSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight_req: Option<InFlightReqSpec>,
    #[serde(rename = "passTLSClientCert", skip_serializing_if = "Option::is_none")]
    pub pass_tls_client_cert: Option<PassTlsClientCertSpec>,
    /// wharf: requests per UTC day or month per source (usage-plan quotas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_regex: Option<RedirectRegexSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_scheme: Option<RedirectSchemeSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_path: Option<ReplacePathSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_path_regex: Option<ReplacePathRegexSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip_prefix: Option<StripPrefixSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip_prefix_regex: Option<StripPrefixRegexSpec>,
    /// Traefik plugins (`plugin: {name: {...}}`): accepted in the model, reported as not
    /// supported yet by `compile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<BTreeMap<String, serde_json::Value>>,
    /// Keys that name no middleware type (a typo, another spelling, a type wharf does not
    /// know). Kept so `kind()` can name them instead of reporting an empty definition.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// The type of a middleware definition, named as Traefik spells its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MiddlewareKind {
    AddPrefix,
    ApiKey,
    Jwt,
    BasicAuth,
    Buffering,
    Chain,
    CircuitBreaker,
    Compress,
    ContentType,
    DigestAuth,
    EncodedCharacters,
    Errors,
    ForwardAuth,
    GrpcWeb,
    Headers,
    IpAllowList,
    IpWhiteList,
    InFlightReq,
    PassTlsClientCert,
    Quota,
    RateLimit,
    RedirectRegex,
    RedirectScheme,
    ReplacePath,
    ReplacePathRegex,
    Retry,
    StripPrefix,
    StripPrefixRegex,
    Plugin,
}

impl MiddlewareKind {
    /// The configuration key (`stripPrefix`, `ipAllowList`, `passTLSClientCert`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            MiddlewareKind::AddPrefix => "addPrefix",
            MiddlewareKind::ApiKey => "apiKey",
            MiddlewareKind::Jwt => "jwt",
            MiddlewareKind::BasicAuth => "basicAuth",
            MiddlewareKind::Buffering => "buffering",
            MiddlewareKind::Chain => "chain",
            MiddlewareKind::CircuitBreaker => "circuitBreaker",
            MiddlewareKind::Compress => "compress",
            MiddlewareKind::ContentType => "contentType",
            MiddlewareKind::DigestAuth => "digestAuth",
            MiddlewareKind::EncodedCharacters => "encodedCharacters",
            MiddlewareKind::Errors => "errors",
            MiddlewareKind::ForwardAuth => "forwardAuth",
            MiddlewareKind::GrpcWeb => "grpcWeb",
            MiddlewareKind::Headers => "headers",
            MiddlewareKind::IpAllowList => "ipAllowList",
            MiddlewareKind::IpWhiteList => "ipWhiteList",
            MiddlewareKind::InFlightReq => "inFlightReq",
            MiddlewareKind::PassTlsClientCert => "passTLSClientCert",
            MiddlewareKind::Quota => "quota",
            MiddlewareKind::RateLimit => "rateLimit",
            MiddlewareKind::RedirectRegex => "redirectRegex",
            MiddlewareKind::RedirectScheme => "redirectScheme",
            MiddlewareKind::ReplacePath => "replacePath",
            MiddlewareKind::ReplacePathRegex => "replacePathRegex",
            MiddlewareKind::Retry => "retry",
            MiddlewareKind::StripPrefix => "stripPrefix",
            MiddlewareKind::StripPrefixRegex => "stripPrefixRegex",
            MiddlewareKind::Plugin => "plugin",
        }
    }
}

impl std::fmt::Display for MiddlewareKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MiddlewareSpec {
    /// Every type key that is set, in a stable order.
    pub fn kinds(&self) -> Vec<MiddlewareKind> {
        use MiddlewareKind as K;
        let set = [
            (self.add_prefix.is_some(), K::AddPrefix),
            (self.api_key.is_some(), K::ApiKey),
            (self.jwt.is_some() || self.plugin_jwt().is_some(), K::Jwt),
            (self.basic_auth.is_some(), K::BasicAuth),
            (self.buffering.is_some(), K::Buffering),
            (self.chain.is_some(), K::Chain),
            (self.circuit_breaker.is_some(), K::CircuitBreaker),
            (self.compress.is_some(), K::Compress),
            (self.content_type.is_some(), K::ContentType),
            (self.digest_auth.is_some(), K::DigestAuth),
            (self.encoded_characters.is_some(), K::EncodedCharacters),
            (self.errors.is_some(), K::Errors),
            (self.forward_auth.is_some(), K::ForwardAuth),
            (self.grpc_web.is_some(), K::GrpcWeb),
            (self.headers.is_some(), K::Headers),
            (self.ip_allow_list.is_some(), K::IpAllowList),
            (self.ip_white_list.is_some(), K::IpWhiteList),
            (self.in_flight_req.is_some(), K::InFlightReq),
            (self.pass_tls_client_cert.is_some(), K::PassTlsClientCert),
            (self.quota.is_some(), K::Quota),
            (self.rate_limit.is_some(), K::RateLimit),
            (self.redirect_regex.is_some(), K::RedirectRegex),
            (self.redirect_scheme.is_some(), K::RedirectScheme),
            (self.replace_path.is_some(), K::ReplacePath),
            (self.replace_path_regex.is_some(), K::ReplacePathRegex),
            (self.retry.is_some(), K::Retry),
            (self.strip_prefix.is_some(), K::StripPrefix),
            (self.strip_prefix_regex.is_some(), K::StripPrefixRegex),
            (
                self.plugin
                    .as_ref()
                    .is_some_and(|p| p.keys().any(|k| k != "jwt")),
                K::Plugin,
            ),
        ];
        set.into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, k)| k)
            .collect()
    }

    /// `plugin: {jwt: {...}}` as Traefik Hub writes it, read as `jwt`. A bad value is an error.
    pub fn plugin_jwt(&self) -> Option<Result<JwtSpec, SpecError>> {
        let v = self.plugin.as_ref()?.get("jwt")?;
        Some(
            serde_json::from_value(v.clone())
                .map_err(|e| SpecError::invalid("plugin.jwt", e.to_string())),
        )
    }

    /// The one type this definition declares. Zero or several types are errors, as in Traefik;
    /// a key that names no type is an error that suggests the nearest known one.
    pub fn kind(&self) -> Result<MiddlewareKind, SpecError> {
        if let Some(key) = self.unknown.keys().next() {
            return Err(SpecError::UnknownType {
                key: key.clone(),
                suggestion: suggest(key),
            });
        }
        let kinds = self.kinds();
        match kinds.as_slice() {
            [one] => Ok(*one),
            [] => Err(SpecError::NoType),
            many => Err(SpecError::SeveralTypes(
                many.iter().map(|k| k.as_str()).collect(),
            )),
        }
    }
}

/// Every type key, for suggestions.
const ALL_KINDS: [MiddlewareKind; 29] = [
    MiddlewareKind::AddPrefix,
    MiddlewareKind::ApiKey,
    MiddlewareKind::Jwt,
    MiddlewareKind::BasicAuth,
    MiddlewareKind::Buffering,
    MiddlewareKind::Chain,
    MiddlewareKind::CircuitBreaker,
    MiddlewareKind::Compress,
    MiddlewareKind::ContentType,
    MiddlewareKind::DigestAuth,
    MiddlewareKind::EncodedCharacters,
    MiddlewareKind::Errors,
    MiddlewareKind::ForwardAuth,
    MiddlewareKind::GrpcWeb,
    MiddlewareKind::Headers,
    MiddlewareKind::IpAllowList,
    MiddlewareKind::IpWhiteList,
    MiddlewareKind::InFlightReq,
    MiddlewareKind::PassTlsClientCert,
    MiddlewareKind::Quota,
    MiddlewareKind::RateLimit,
    MiddlewareKind::RedirectRegex,
    MiddlewareKind::RedirectScheme,
    MiddlewareKind::ReplacePath,
    MiddlewareKind::ReplacePathRegex,
    MiddlewareKind::Retry,
    MiddlewareKind::StripPrefix,
    MiddlewareKind::StripPrefixRegex,
    MiddlewareKind::Plugin,
];

/// The known type key closest to `key`: same letters ignoring case, else a small edit distance.
fn suggest(key: &str) -> Option<&'static str> {
    if let Some(k) = ALL_KINDS
        .iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(key))
    {
        return Some(k.as_str());
    }
    let lower = key.to_ascii_lowercase();
    ALL_KINDS
        .iter()
        .map(|k| {
            (
                edit_distance(&lower, &k.as_str().to_ascii_lowercase()),
                k.as_str(),
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Why a middleware definition cannot be used. The message is shown in the API and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("no middleware type in this definition (expected one of addPrefix, basicAuth, headers, stripPrefix, ...)")]
    NoType,
    #[error("two middleware types in one definition: {}; declare one per middleware", .0.join(", "))]
    SeveralTypes(Vec<&'static str>),
    #[error("unknown middleware type `{key}`{}", .suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownType {
        key: String,
        suggestion: Option<&'static str>,
    },
    #[error("missing required option `{0}`")]
    Missing(&'static str),
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    #[error("invalid regular expression in `{field}`: {reason}")]
    Regex { field: String, reason: String },
    #[error("`{0}` is not supported yet by wharf")]
    NotSupportedYet(String),
    #[error("plugin middlewares are not supported yet (plugin: {})", .0.join(", "))]
    PluginNotSupported(Vec<String>),
    #[error("users file `{0}` was not loaded (missing or unreadable)")]
    FileNotLoaded(String),
    #[error("chain cycle: {}", .0.join(" -> "))]
    ChainCycle(Vec<String>),
    #[error("middleware `{0}` does not exist")]
    UnknownMiddleware(String),
}

impl SpecError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn regex(field: impl Into<String>, err: &regex::Error) -> Self {
        SpecError::Regex {
            field: field.into(),
            reason: err.to_string(),
        }
    }
}

mod runtime;
pub use runtime::*;

#[cfg(test)]
mod runtime_tests;
#[cfg(test)]
mod spec_tests;
