//! `http:` section of the dynamic configuration: routers, services, middlewares, serversTransports.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use wharf_middlewares::MiddlewareSpec;

use crate::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpConfig {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub routers: BTreeMap<String, Router>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub middlewares: BTreeMap<String, MiddlewareSpec>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub servers_transports: BTreeMap<String, ServersTransport>,
}

impl HttpConfig {
    pub fn is_empty(&self) -> bool {
        self.routers.is_empty()
            && self.services.is_empty()
            && self.middlewares.is_empty()
            && self.servers_transports.is_empty()
    }
}

/// A router: a rule, the entry points it listens on, its middlewares and its service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Router {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
    pub service: String,
    pub rule: String,
    /// `v3` (default) or `v2`; unset means `core.defaultRuleSyntax`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_syntax: Option<String>,
    /// Unset (or 0) means the rule's length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Boxed (as `observability`): most routers have neither, and every copy of every router
    /// (provider view, merged config) would carry their inline size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<RouterTls>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observability: Option<Box<RouterObservability>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RouterTls {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub options: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_resolver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Domain {
    pub main: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RouterObservability {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<bool>,
    /// `minimal` (default) or `detailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_verbosity: Option<String>,
}

/// A service: exactly one of the four kinds is set (checked at compile, reported if not).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted: Option<Weighted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirroring: Option<Mirroring>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<Failover>,
    /// Weighted, sticky by client IP, over child services (Traefik v3.7+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_random_weight: Option<HighestRandomWeight>,
    /// Middlewares applied by the service itself, before it picks a server (Traefik v3.7+).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ServerHealthCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passive_health_check: Option<PassiveHealthCheck>,
    /// Default true.
    pub pass_host_header: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_forwarding: Option<ResponseForwarding>,
    /// Name of a serversTransport (`name` or `name@provider`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub servers_transport: String,
    /// `wrr` (default) or `p2c`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

impl Default for LoadBalancer {
    fn default() -> Self {
        LoadBalancer {
            servers: Vec::new(),
            sticky: None,
            health_check: None,
            passive_health_check: None,
            pass_host_header: true,
            response_forwarding: None,
            servers_transport: String::new(),
            strategy: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Server {
    pub url: String,
    /// Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preserve_path: Option<bool>,
    /// Label-only (`loadbalancer.server.port`): the container port; the Docker provider builds
    /// `url` from it and the container's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Label-only (`loadbalancer.server.scheme`, default `http`): the scheme of the built `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Sticky {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<StickyCookie>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct StickyCookie {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub secure: bool,
    pub http_only: bool,
    /// `none`, `lax`, `strict` or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub same_site: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerHealthCheck {
    /// `http` (default) or `grpc`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Default 30s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_interval: Option<Duration>,
    /// Default 5s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PassiveHealthCheck {
    /// Default 10s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_window: Option<Duration>,
    /// Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failed_attempts: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ResponseForwarding {
    /// Default 100ms; negative (as a string) flushes after every write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_interval: Option<Duration>,
}

/// Health checking of a parent service (weighted/mirroring/failover): `{}` turns it on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthCheckEnabled {}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Weighted {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<WeightedService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckEnabled>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct WeightedService {
    pub name: String,
    /// Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Mirroring {
    pub service: String,
    /// Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_body: Option<bool>,
    /// Bytes; unset or -1 means unlimited (wharf caps the replay copy, see the service docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_size: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckEnabled>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct MirrorService {
    pub name: String,
    /// 0..=100.
    pub percent: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Failover {
    pub service: String,
    pub fallback: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckEnabled>,
    /// Fail over on these response statuses too, not only when the main service is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FailoverErrors>,
}

/// Status-based failover: a response from the main service with one of these statuses is
/// replayed to the fallback (the request body is kept up to `maxRequestBodyBytes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct FailoverErrors {
    /// Status codes or ranges: `"500-504"`, `"429"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    /// Default -1 (no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_request_body_bytes: Option<i64>,
}

/// Highest-random-weight (rendezvous hashing on the client IP) over child services.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HighestRandomWeight {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<WeightedService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckEnabled>,
}

/// How wharf talks to servers: TLS trust, client certificates, timeouts, pool size.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ServersTransport {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    pub insecure_skip_verify: bool,
    /// CA certificate files (paths; the content is loaded before compile).
    #[serde(rename = "rootCAs", skip_serializing_if = "Vec::is_empty")]
    pub root_cas: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateFiles>,
    /// Default 200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_idle_conns_per_host: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding_timeouts: Option<ForwardingTimeouts>,
    #[serde(rename = "disableHTTP2")]
    pub disable_http2: bool,
    #[serde(rename = "peerCertURI", skip_serializing_if = "String::is_empty")]
    pub peer_cert_uri: String,
    /// SANs the server certificate must carry (Traefik v3.8+).
    #[serde(rename = "peerCertSANs", skip_serializing_if = "Vec::is_empty")]
    pub peer_cert_sans: Vec<PeerCertSan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<Spiffe>,
    /// TLS to servers: cipher suites (Go names) and version bounds (`VersionTLS12`, `VersionTLS13`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_version: String,
}

/// One subject alternative name a server certificate must present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PeerCertSan {
    /// `DNSName`, `IPAddress`, `URI` or `EmailAddress`.
    #[serde(rename = "type")]
    pub san_type: String,
    pub value: String,
}

/// SPIFFE identities accepted from servers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Spiffe {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trust_domain: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ForwardingTimeouts {
    /// Default 30s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial_timeout: Option<Duration>,
    /// Default 0 (none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_header_timeout: Option<Duration>,
    /// Default 90s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_conn_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_idle_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_timeout: Option<Duration>,
    /// Whole-response read and request write limits (Traefik v3.8+); unset = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_timeout: Option<Duration>,
}

/// A certificate and key given as file paths (contents are loaded before compile) or inline PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CertificateFiles {
    pub cert_file: String,
    pub key_file: String,
}
