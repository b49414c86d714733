//! The Docker provider: bollard list + events → per-container inspect cache → pure `build()` →
//! a full `DynamicConfig` on the provider's watch channel (`crate::provider::channel("docker")`).
//!
//! - `client`: the loop (read calls only: version, list, inspect, events), throttling, reconnects.
//! - `build`: pure translation of containers into config (fixture-tested).
//! - `model`: `ContainerInfo`, what is kept of an inspect result.
//!
//! Labels decode through the shared `crate::labels` decoder (one item fails alone).
//! - `template`: the `defaultRule` template; `constraints`: the constraints expression.
//!
//! The runtime starts it with `wharf_providers::docker::spawn(settings)`.

pub mod build;
pub mod client;
pub mod constraints;
pub mod model;
pub mod template;

use serde::{Deserialize, Serialize};

pub use build::{build, service_name, BuildSettings};
pub use client::spawn;
pub use model::ContainerInfo;

/// Traefik's default rule for containers without a `rule` label.
pub const DEFAULT_RULE: &str = "Host(`{{ normalize .Name }}`)";
/// Where the engine listens when neither `providers.docker.endpoint` nor `DOCKER_HOST` says.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// `providers.docker.*` static options (Traefik's names; wharf's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct DockerSettings {
    /// `unix:///path` or `tcp://host:port` (a socket proxy). Unset: `DOCKER_HOST`, then
    /// `unix:///var/run/docker.sock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Containers without `traefik.enable` are routed (default true).
    pub exposed_by_default: bool,
    /// Template for routers without a rule (default ``Host(`{{ normalize .Name }}`)``).
    pub default_rule: String,
    /// Default network to reach containers on.
    pub network: String,
    /// Expression over labels selecting the containers that make routes.
    pub constraints: String,
    /// Keep routers of starting/unhealthy containers with an empty service (503). wharf's default
    /// is `true`; Traefik's is `false` (its routers vanish and clients see 404).
    pub allow_empty_services: bool,
    /// Use the published host IP:port of the container instead of its network IP.
    #[serde(rename = "useBindPortIP")]
    pub use_bind_port_ip: bool,
    /// Follow the events stream (default true); false lists once.
    pub watch: bool,
    /// Label prefix (default `traefik`), so compose files written for Traefik work unchanged.
    pub label_prefix: String,
    /// `providersThrottleDuration`: the first change publishes at once, then at most one per window.
    #[serde(skip)]
    pub throttle: std::time::Duration,
    /// Request timeout for list/inspect/version (the events stream is not cut by it).
    #[serde(skip)]
    pub request_timeout: std::time::Duration,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            endpoint: None,
            exposed_by_default: true,
            default_rule: DEFAULT_RULE.to_string(),
            network: String::new(),
            constraints: String::new(),
            allow_empty_services: true,
            use_bind_port_ip: false,
            watch: true,
            label_prefix: "traefik".to_string(),
            throttle: std::time::Duration::from_secs(2),
            request_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Why the Docker provider's static options are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    DefaultRule(#[from] template::TemplateError),
    #[error(transparent)]
    Constraints(#[from] constraints::ConstraintError),
    #[error("providers.docker.endpoint {0:?}: use unix:///path/to/docker.sock or tcp://host:port")]
    Endpoint(String),
    #[error("providers.docker.labelPrefix must not be empty")]
    LabelPrefix,
}

impl DockerSettings {
    /// The endpoint to use: the option, else `DOCKER_HOST`, else the default socket.
    pub fn resolved_endpoint(&self) -> String {
        match self
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(e) => e.to_string(),
            None => std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        }
    }

    /// Parses the template and the constraints once; checks the endpoint's form.
    pub fn prepare(&self) -> Result<BuildSettings, SettingsError> {
        let ep = self.resolved_endpoint();
        if !(ep.starts_with("unix://") || ep.starts_with("tcp://") || ep.starts_with("http://")) {
            return Err(SettingsError::Endpoint(ep));
        }
        if self.label_prefix.trim().is_empty() {
            return Err(SettingsError::LabelPrefix);
        }
        let rule = if self.default_rule.trim().is_empty() {
            DEFAULT_RULE
        } else {
            self.default_rule.as_str()
        };
        let constraints = match self.constraints.trim() {
            "" => None,
            c => Some(constraints::Constraint::parse(c)?),
        };
        Ok(BuildSettings {
            exposed_by_default: self.exposed_by_default,
            default_rule: template::Template::parse(rule)?,
            network: self.network.clone(),
            constraints,
            allow_empty_services: self.allow_empty_services,
            use_bind_port_ip: self.use_bind_port_ip,
            label_prefix: self.label_prefix.trim().to_string(),
        })
    }
}
