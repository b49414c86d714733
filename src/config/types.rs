//! The static configuration model: Traefik v3's static keys as serde types (camelCase, with a
//! JSON schema that guides the case-insensitive key canonicalizer). Sources (file, env, flags)
//! are merged into a JSON tree upstream in `load`; this module only says what the tree may hold
//! and what the defaults are.
//!
//! Defaults follow Traefik v3, except where marked "wharf" in a field's doc:
//! `providers.providersThrottleDuration` (100ms, Traefik 2s) and
//! `providers.docker.allowEmptyServices` (true, Traefik false).
//!
//! Sections that wharf accepts but does not act on yet are typed loosely
//! (`serde_json::Value`) or fully; `load` lists each present one as a "not yet used" warning
//! (see [`NOT_YET_USED`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wharf_providers::Duration;

/// Name of the entry point that the API, ping and metrics use by default (Traefik's
/// `DefaultInternalEntryPointName`); it never joins the default entry points of routers.
pub const INTERNAL_ENTRY_POINT: &str = "traefik";

/// Key paths (canonical spelling, `*` = any map key) that parse but that wharf does not act on
/// yet. A present key at or under one of these paths produces a "not yet used" warning.
pub const NOT_YET_USED: &[&str] = &[
    "serversTransport.spiffe",
    "tcpServersTransport",
    "entryPoints.*.reusePort",
    "entryPoints.*.allowACMEByPass",
    "entryPoints.*.http3",
    "entryPoints.*.udp",
    "entryPoints.*.observability.traceVerbosity",
    "providers.file.debugLogGeneratedTemplate",
    "providers.docker.tls",
    "providers.docker.httpClientTimeout",
    "providers.docker.username",
    "providers.docker.password",
    "providers.swarm",
    "providers.kubernetesIngress",
    "providers.kubernetesCRD",
    "providers.kubernetesGateway",
    "providers.kubernetesIngressNGINX",
    "providers.rest",
    "providers.consul",
    "providers.consulCatalog",
    "providers.etcd",
    "providers.zooKeeper",
    "providers.redis",
    "providers.http",
    "providers.nomad",
    "providers.ecs",
    "providers.plugin",
    "api.debug",
    "api.disableDashboardAd",
    "log.filePath",
    "log.noColor",
    "log.maxSize",
    "log.maxAge",
    "log.maxBackups",
    "log.compress",
    "log.otlp",
    "accessLog.otlp",
    "metrics.datadog",
    "metrics.statsD",
    "metrics.influxDB2",
    "metrics.otlp",
    "tracing.otlp.grpc",
    "tracing.capturedRequestHeaders",
    "tracing.capturedResponseHeaders",
    "tracing.safeQueryParams",
    "hostResolver",
    "experimental",
    "spiffe",
    "ocsp",
    "certificatesResolvers.*.tailscale",
    "certificatesResolvers.*.acme.preferredChain",
    "certificatesResolvers.*.acme.profile",
    "certificatesResolvers.*.acme.emailAddresses",
];

/// The whole static configuration (Traefik v3 keys).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StaticConfig {
    pub global: Global,
    pub servers_transport: StaticServersTransport,
    #[serde(
        rename = "tcpServersTransport",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_servers_transport: Option<Value>,
    pub entry_points: BTreeMap<String, EntryPoint>,
    pub providers: Providers,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<Ping>,
    pub log: Log,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLog>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_resolver: Option<Value>,
    pub certificates_resolvers: BTreeMap<String, CertificateResolver>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experimental: Option<Value>,
    pub core: Core,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocsp: Option<Value>,
    /// wharf-specific: `requestId.{enabled,headerName}` (see `observe::request_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// wharf-specific: `quotas.{stateFile,flushInterval}`: where local `quota` counters are
    /// saved so they survive a restart (see `gateway::quota_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quotas: Option<Quotas>,
}

/// `quotas` (wharf-specific): persistence of the local `quota` middleware counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Quotas {
    /// JSON file holding the counters (written atomically: temp file + rename). Empty: counters
    /// live in memory only and restart from zero.
    pub state_file: String,
    /// How often changed counters are written (default 10s); also written on shutdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_interval: Option<Duration>,
}

/// `requestId` (wharf-specific): add an ID header to requests that lack one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RequestId {
    /// Default: on when `accessLog` or `tracing` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Default `X-Request-Id`.
    pub header_name: String,
}

/// `global`: both are about Traefik Labs' services. wharf never phones home whatever they say,
/// so they parse without a "not yet used" warning (users' files commonly set them to false).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Global {
    pub check_new_version: bool,
    pub send_anonymous_usage: bool,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            check_new_version: true,
            send_anonymous_usage: false,
        }
    }
}

/// `serversTransport`: the defaults for connections to servers (a dynamic `serversTransports`
/// entry overrides them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StaticServersTransport {
    pub insecure_skip_verify: bool,
    #[serde(rename = "rootCAs")]
    pub root_cas: Vec<String>,
    /// Default 200.
    pub max_idle_conns_per_host: i64,
    pub forwarding_timeouts: StaticForwardingTimeouts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<Value>,
}

impl Default for StaticServersTransport {
    fn default() -> Self {
        StaticServersTransport {
            insecure_skip_verify: false,
            root_cas: Vec::new(),
            max_idle_conns_per_host: 200,
            forwarding_timeouts: StaticForwardingTimeouts::default(),
            spiffe: None,
        }
    }
}

/// Defaults: dial 30s, response header 0 (none), idle connection 90s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StaticForwardingTimeouts {
    pub dial_timeout: Duration,
    pub response_header_timeout: Duration,
    pub idle_conn_timeout: Duration,
}

impl Default for StaticForwardingTimeouts {
    fn default() -> Self {
        StaticForwardingTimeouts {
            dial_timeout: Duration::from_secs(30),
            response_header_timeout: Duration::default(),
            idle_conn_timeout: Duration::from_secs(90),
        }
    }
}

/// `entryPoints.<name>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntryPoint {
    /// `:80`, `0.0.0.0:80`, `[::]:443`, `:80/tcp` (see [`crate::config::parse_address`]).
    pub address: String,
    /// Routers without `entryPoints` join the `asDefault` entry points (if any has it).
    pub as_default: bool,
    pub reuse_port: bool,
    #[serde(rename = "allowACMEByPass")]
    pub allow_acme_bypass: bool,
    pub http: EntryPointHttp,
    pub http2: Http2,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http3: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<Value>,
    pub forwarded_headers: ForwardedHeaders,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    pub transport: EntryPointTransport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observability: Option<EntryPointObservability>,
}

/// `entryPoints.<name>.http`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntryPointHttp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirections: Option<Redirections>,
    /// Middlewares prepended to every router of this entry point.
    pub middlewares: Vec<String>,
    /// Default TLS for the routers of this entry point (`tls: {}` or `tls: true` turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<EntryPointTls>,
    pub encode_query_semicolons: bool,
    /// Default true.
    pub sanitize_path: bool,
    /// Default 1 MiB.
    pub max_header_bytes: u64,
}

impl Default for EntryPointHttp {
    fn default() -> Self {
        EntryPointHttp {
            redirections: None,
            middlewares: Vec::new(),
            tls: None,
            encode_query_semicolons: false,
            sanitize_path: true,
            max_header_bytes: 1 << 20,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Redirections {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<RedirectEntryPoint>,
}

/// `http.redirections.entryPoint`: redirect every request of this entry point to another one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RedirectEntryPoint {
    /// Target entry point name (or an address such as `:443`, as Traefik accepts).
    pub to: String,
    /// Default `https`.
    pub scheme: String,
    /// Default true (301/308).
    pub permanent: bool,
    /// Priority of the generated router; default `i64::MAX - 1`, below only `MaxInt64` routers.
    pub priority: i64,
}

impl Default for RedirectEntryPoint {
    fn default() -> Self {
        RedirectEntryPoint {
            to: String::new(),
            scheme: "https".into(),
            permanent: true,
            priority: i64::MAX - 1,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntryPointTls {
    pub options: String,
    pub cert_resolver: String,
    pub domains: Vec<TlsDomain>,
}

/// A certificate's main name and subject alternative names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TlsDomain {
    pub main: String,
    pub sans: Vec<String>,
}

/// Default 250 concurrent streams per connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Http2 {
    pub max_concurrent_streams: u32,
}

impl Default for Http2 {
    fn default() -> Self {
        Http2 {
            max_concurrent_streams: 250,
        }
    }
}

/// Which peers' `X-Forwarded-*` headers are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ForwardedHeaders {
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
    pub insecure: bool,
    /// `Connection` header values allowed through before hop-by-hop removal.
    pub connection: Vec<String>,
}

/// PROXY protocol (v1/v2) accepted from these peers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProxyProtocol {
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
    pub insecure: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntryPointTransport {
    pub responding_timeouts: RespondingTimeouts,
    pub life_cycle: LifeCycle,
    /// 0 = unlimited.
    pub keep_alive_max_requests: u64,
    /// 0 = unlimited.
    pub keep_alive_max_time: Duration,
}

/// Traefik v3 defaults: read 60s, write 0 (none), idle 180s. Zero means no timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RespondingTimeouts {
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for RespondingTimeouts {
    fn default() -> Self {
        RespondingTimeouts {
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::default(),
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// Graceful shutdown: `graceTimeOut` (Traefik's spelling) default 10s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LifeCycle {
    pub request_accept_grace_timeout: Duration,
    #[serde(rename = "graceTimeOut")]
    pub grace_time_out: Duration,
}

impl Default for LifeCycle {
    fn default() -> Self {
        LifeCycle {
            request_accept_grace_timeout: Duration::default(),
            grace_time_out: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntryPointObservability {
    pub access_logs: bool,
    pub metrics: bool,
    pub tracing: bool,
    pub trace_verbosity: String,
}

impl Default for EntryPointObservability {
    fn default() -> Self {
        EntryPointObservability {
            access_logs: true,
            metrics: true,
            tracing: true,
            trace_verbosity: "minimal".into(),
        }
    }
}

/// `providers`: which dynamic-configuration sources run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Providers {
    /// Throttle window per provider: the first change applies at once, later ones at most once
    /// per window. wharf: default 100ms (Traefik: 2s), so a change serves within the 1 s promise.
    pub providers_throttle_duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_ingress: Option<KubernetesIngress>,
    #[serde(rename = "kubernetesCRD", skip_serializing_if = "Option::is_none")]
    pub kubernetes_crd: Option<KubernetesCrd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_gateway: Option<Value>,
    #[serde(
        rename = "kubernetesIngressNGINX",
        skip_serializing_if = "Option::is_none"
    )]
    pub kubernetes_ingress_nginx: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consul: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consul_catalog: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoo_keeper: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomad: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
}

/// wharf's provider throttle default (Traefik: 2s).
pub const DEFAULT_THROTTLE: Duration = Duration::from_millis(100);

impl Default for Providers {
    fn default() -> Self {
        Providers {
            providers_throttle_duration: DEFAULT_THROTTLE,
            file: None,
            docker: None,
            swarm: None,
            kubernetes_ingress: None,
            kubernetes_crd: None,
            kubernetes_gateway: None,
            kubernetes_ingress_nginx: None,
            rest: None,
            consul: None,
            consul_catalog: None,
            etcd: None,
            zoo_keeper: None,
            redis: None,
            http: None,
            nomad: None,
            ecs: None,
            plugin: None,
        }
    }
}

/// `providers.file`: one file or a directory of `.yml`/`.yaml`/`.toml`; watched by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FileProvider {
    pub filename: String,
    pub directory: String,
    pub watch: bool,
    pub debug_log_generated_template: bool,
}

impl Default for FileProvider {
    fn default() -> Self {
        FileProvider {
            filename: String::new(),
            directory: String::new(),
            watch: true,
            debug_log_generated_template: false,
        }
    }
}

/// Default Docker endpoint (overridden by `DOCKER_HOST` when `endpoint` is not set).
pub const DEFAULT_DOCKER_ENDPOINT: &str = "unix:///var/run/docker.sock";
/// Traefik's default rule for containers without a `rule` label.
pub const DEFAULT_DOCKER_RULE: &str = "Host(`{{ normalize .Name }}`)";

/// `providers.docker`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DockerProvider {
    /// `unix:///var/run/docker.sock` (default; `DOCKER_HOST` when set), `tcp://host:port`.
    pub endpoint: String,
    pub exposed_by_default: bool,
    pub default_rule: String,
    pub network: String,
    pub constraints: String,
    /// wharf: default true (Traefik false): a starting or unhealthy container keeps its router
    /// with no healthy servers (503) instead of vanishing (404). `false` restores Traefik's way.
    pub allow_empty_services: bool,
    #[serde(rename = "useBindPortIP")]
    pub use_bind_port_ip: bool,
    pub watch: bool,
    /// wharf's addition: the label prefix (default `traefik`, so Traefik compose files work).
    pub label_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    pub http_client_timeout: Duration,
    pub username: String,
    pub password: String,
}

impl Default for DockerProvider {
    fn default() -> Self {
        DockerProvider {
            endpoint: DEFAULT_DOCKER_ENDPOINT.into(),
            exposed_by_default: true,
            default_rule: DEFAULT_DOCKER_RULE.into(),
            network: String::new(),
            constraints: String::new(),
            allow_empty_services: true,
            use_bind_port_ip: false,
            watch: true,
            label_prefix: "traefik".into(),
            tls: None,
            http_client_timeout: Duration::default(),
            username: String::new(),
            password: String::new(),
        }
    }
}

/// TLS client settings for a provider's API connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClientTls {
    pub ca: String,
    pub ca_optional: bool,
    pub cert: String,
    pub key: String,
    pub insecure_skip_verify: bool,
}

/// `providers.kubernetesIngress` (accepted; the Kubernetes issue acts on it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct KubernetesIngress {
    pub endpoint: String,
    pub token: String,
    pub cert_auth_file_path: String,
    pub namespaces: Vec<String>,
    pub label_selector: String,
    pub ingress_class: String,
    pub throttle_duration: Duration,
    pub allow_empty_services: bool,
    pub allow_external_name_services: bool,
    pub disable_ingress_class_lookup: bool,
    pub disable_cluster_scope_resources: bool,
    #[serde(rename = "nativeLBByDefault")]
    pub native_lb_by_default: bool,
    pub strict_prefix_matching: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_endpoint: Option<IngressEndpoint>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IngressEndpoint {
    pub ip: String,
    pub hostname: String,
    pub published_service: String,
}

/// `providers.kubernetesCRD` (accepted; the Kubernetes issue acts on it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct KubernetesCrd {
    pub endpoint: String,
    pub token: String,
    pub cert_auth_file_path: String,
    pub namespaces: Vec<String>,
    pub label_selector: String,
    pub ingress_class: String,
    pub throttle_duration: Duration,
    pub allow_cross_namespace: bool,
    pub allow_external_name_services: bool,
    pub allow_empty_services: bool,
    #[serde(rename = "nativeLBByDefault")]
    pub native_lb_by_default: bool,
    pub disable_cluster_scope_resources: bool,
}

/// `api`: `insecure` serves it on the `traefik` entry point (created on :8080 if missing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Api {
    pub insecure: bool,
    /// Default true.
    pub dashboard: bool,
    pub debug: bool,
    /// Default `/`.
    pub base_path: String,
    pub disable_dashboard_ad: bool,
    /// wharf: serve `POST /api/certificates/{id}/renew` (forced ACME renewal). Off by default:
    /// the API is often reachable without authentication.
    pub allow_certificate_renewal: bool,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            insecure: false,
            dashboard: true,
            debug: false,
            base_path: "/".into(),
            disable_dashboard_ad: false,
            allow_certificate_renewal: false,
        }
    }
}

/// `ping`: `/ping` on `entryPoint` (default `traefik`); 503 while shutting down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Ping {
    pub entry_point: String,
    pub manual_routing: bool,
    pub terminating_status_code: u16,
}

impl Default for Ping {
    fn default() -> Self {
        Ping {
            entry_point: INTERNAL_ENTRY_POINT.into(),
            manual_routing: false,
            terminating_status_code: 503,
        }
    }
}

/// `log`: level default `ERROR`, format `common` or `json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Log {
    pub level: String,
    pub format: String,
    pub file_path: String,
    pub no_color: bool,
    pub max_size: u64,
    pub max_age: u64,
    pub max_backups: u64,
    pub compress: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Value>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "ERROR".into(),
            format: "common".into(),
            file_path: String::new(),
            no_color: false,
            max_size: 0,
            max_age: 0,
            max_backups: 0,
            compress: false,
            otlp: None,
        }
    }
}

/// `accessLog`: present = on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccessLog {
    /// Stdout when empty.
    pub file_path: String,
    /// `common` (default) or `json`.
    pub format: String,
    pub buffering_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<AccessLogFilters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<AccessLogFields>,
    pub add_internals: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Value>,
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog {
            file_path: String::new(),
            format: "common".into(),
            buffering_size: 0,
            filters: None,
            fields: None,
            add_internals: false,
            otlp: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccessLogFilters {
    /// Ranges such as `200-299` or single codes.
    pub status_codes: Vec<String>,
    pub retry_attempts: bool,
    pub min_duration: Duration,
}

/// Field modes: `keep` | `drop` (| `redact` for headers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccessLogFields {
    /// Default `keep`.
    pub default_mode: String,
    pub names: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<AccessLogHeaders>,
}

impl Default for AccessLogFields {
    fn default() -> Self {
        AccessLogFields {
            default_mode: "keep".into(),
            names: BTreeMap::new(),
            headers: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccessLogHeaders {
    /// Default `drop`.
    pub default_mode: String,
    pub names: BTreeMap<String, String>,
}

impl Default for AccessLogHeaders {
    fn default() -> Self {
        AccessLogHeaders {
            default_mode: "drop".into(),
            names: BTreeMap::new(),
        }
    }
}

/// `metrics` (accepted; the observability issue acts on it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Metrics {
    pub add_internals: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Prometheus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<Value>,
    #[serde(rename = "statsD", skip_serializing_if = "Option::is_none")]
    pub stats_d: Option<Value>,
    #[serde(rename = "influxDB2", skip_serializing_if = "Option::is_none")]
    pub influx_db2: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Value>,
}

/// `metrics.prometheus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Prometheus {
    pub buckets: Vec<f64>,
    pub add_entry_points_labels: bool,
    pub add_routers_labels: bool,
    pub add_services_labels: bool,
    /// Default `traefik`.
    pub entry_point: String,
    pub manual_routing: bool,
    pub header_labels: BTreeMap<String, String>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            buckets: vec![0.1, 0.3, 1.2, 5.0],
            add_entry_points_labels: true,
            add_routers_labels: false,
            add_services_labels: true,
            entry_point: INTERNAL_ENTRY_POINT.into(),
            manual_routing: false,
            header_labels: BTreeMap::new(),
        }
    }
}

/// `tracing` (accepted; the observability issue acts on it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tracing {
    pub service_name: String,
    pub sample_rate: f64,
    pub add_internals: bool,
    pub resource_attributes: BTreeMap<String, String>,
    pub global_attributes: BTreeMap<String, String>,
    pub captured_request_headers: Vec<String>,
    pub captured_response_headers: Vec<String>,
    pub safe_query_params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Value>,
}

impl Default for Tracing {
    fn default() -> Self {
        Tracing {
            service_name: "traefik".into(),
            sample_rate: 1.0,
            add_internals: false,
            resource_attributes: BTreeMap::new(),
            global_attributes: BTreeMap::new(),
            captured_request_headers: Vec::new(),
            captured_response_headers: Vec::new(),
            safe_query_params: Vec::new(),
            otlp: None,
        }
    }
}

/// `core.defaultRuleSyntax`: `v3` (default) or `v2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Core {
    pub default_rule_syntax: String,
}

impl Default for Core {
    fn default() -> Self {
        Core {
            default_rule_syntax: "v3".into(),
        }
    }
}

/// `certificatesResolvers.<name>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CertificateResolver {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tailscale: Option<Value>,
}

/// Let's Encrypt's production directory, Traefik's default `caServer`.
pub const DEFAULT_CA_SERVER: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `certificatesResolvers.<name>.acme`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Acme {
    pub email: String,
    /// Default Let's Encrypt production.
    pub ca_server: String,
    /// Default `acme.json`.
    pub storage: String,
    /// `EC256`, `EC384`, `RSA2048`, `RSA4096` (default), `RSA8192`.
    pub key_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eab: Option<Eab>,
    /// Hours; default 2160 (90 days).
    pub certificates_duration: u64,
    pub ca_certificates: Vec<String>,
    pub ca_system_cert_pool: bool,
    pub ca_server_name: String,
    pub preferred_chain: String,
    pub profile: String,
    pub email_addresses: Vec<String>,
    /// Default 120s.
    pub client_timeout: Duration,
    /// Default 30s.
    pub client_response_header_timeout: Duration,
    #[serde(rename = "httpChallenge", skip_serializing_if = "Option::is_none")]
    pub http_challenge: Option<HttpChallenge>,
    #[serde(rename = "tlsChallenge", skip_serializing_if = "Option::is_none")]
    pub tls_challenge: Option<TlsChallenge>,
    #[serde(rename = "dnsChallenge", skip_serializing_if = "Option::is_none")]
    pub dns_challenge: Option<DnsChallenge>,
}

impl Default for Acme {
    fn default() -> Self {
        Acme {
            email: String::new(),
            ca_server: DEFAULT_CA_SERVER.into(),
            storage: "acme.json".into(),
            key_type: "RSA4096".into(),
            eab: None,
            certificates_duration: 2160,
            ca_certificates: Vec::new(),
            ca_system_cert_pool: false,
            ca_server_name: String::new(),
            preferred_chain: String::new(),
            profile: String::new(),
            email_addresses: Vec::new(),
            client_timeout: Duration::from_secs(120),
            client_response_header_timeout: Duration::from_secs(30),
            http_challenge: None,
            tls_challenge: None,
            dns_challenge: None,
        }
    }
}

/// External account binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Eab {
    pub kid: String,
    pub hmac_encoded: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpChallenge {
    pub entry_point: String,
    pub delay: Duration,
}

/// TLS-ALPN-01: no options (`tlsChallenge: {}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TlsChallenge {}

/// DNS-01. `provider` names a lego provider (credentials from its environment variables).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DnsChallenge {
    pub provider: String,
    pub resolvers: Vec<String>,
    /// Deprecated in Traefik v3 (use `propagation.delayBeforeChecks`).
    pub delay_before_check: Duration,
    /// Deprecated in Traefik v3 (use `propagation.disableChecks`).
    pub disable_propagation_check: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<DnsPropagation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DnsPropagation {
    pub delay_before_checks: Duration,
    #[serde(rename = "disableANSChecks")]
    pub disable_ans_checks: bool,
    pub disable_checks: bool,
    #[serde(rename = "requireAllRNS")]
    pub require_all_rns: bool,
}
