//! What the Docker provider keeps per container: the few facts of an inspect result that
//! `build()` needs. The client loop fills a cache of these (one inspect per container an event
//! names); `build()` is a pure function over them, and fixtures build them from inspect JSON.

use std::collections::BTreeMap;

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};

/// A container's lifecycle state, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    /// created, exited, dead, removing, restarting: not serving.
    NotRunning,
}

/// Docker health status (`State.Health.Status`); `None` when the container has no health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// One network endpoint of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkEndpoint {
    pub network_id: String,
    /// IPv4 address, or the global IPv6 address when there is no IPv4 one (as Traefik).
    pub ip: String,
}

/// A published port binding (`HostConfig`/`NetworkSettings.Ports`), for `useBindPortIP`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// The inputs of `build()` for one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// The container name without Docker's leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: RunState,
    pub health: Health,
    /// Network name → endpoint. Sorted by name, so "the first network" is deterministic.
    pub networks: BTreeMap<String, NetworkEndpoint>,
    /// `HostConfig.NetworkMode`: `bridge`, `host`, `none`, `container:<id>`, or a network name.
    pub network_mode: String,
    /// Exposed TCP ports (`NetworkSettings.Ports` keys and `Config.ExposedPorts`), ascending.
    pub ports: Vec<u16>,
    /// `"<port>/<proto>"` → host bindings.
    pub bindings: BTreeMap<String, Vec<PortBinding>>,
}

impl Default for ContainerInfo {
    fn default() -> Self {
        ContainerInfo {
            id: String::new(),
            name: String::new(),
            labels: BTreeMap::new(),
            state: RunState::Running,
            health: Health::None,
            networks: BTreeMap::new(),
            network_mode: "bridge".to_string(),
            ports: Vec::new(),
            bindings: BTreeMap::new(),
        }
    }
}

impl ContainerInfo {
    /// Extracts what routing needs from an inspect response (engine JSON, any API version ≥ 1.24).
    pub fn from_inspect(c: &ContainerInspectResponse) -> Self {
        let mut info = ContainerInfo {
            id: c.id.clone().unwrap_or_default(),
            name: c
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            ..ContainerInfo::default()
        };
        if let Some(state) = &c.state {
            info.state = match state.status {
                Some(ContainerStateStatusEnum::RUNNING) => RunState::Running,
                Some(ContainerStateStatusEnum::PAUSED) => RunState::Paused,
                Some(_) => RunState::NotRunning,
                // Old engines without Status: fall back on the booleans.
                None if state.paused == Some(true) => RunState::Paused,
                None if state.running == Some(true) => RunState::Running,
                None => RunState::NotRunning,
            };
            info.health = match state.health.as_ref().and_then(|h| h.status) {
                Some(HealthStatusEnum::STARTING) => Health::Starting,
                Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
                Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
                _ => Health::None,
            };
        }
        if let Some(cfg) = &c.config {
            if let Some(labels) = &cfg.labels {
                info.labels = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            }
            for p in cfg.exposed_ports.iter().flatten() {
                push_port(&mut info.ports, p);
            }
        }
        if let Some(hc) = &c.host_config {
            if let Some(mode) = &hc.network_mode {
                info.network_mode = mode.clone();
            }
        }
        if let Some(ns) = &c.network_settings {
            for (port, bindings) in ns.ports.iter().flatten() {
                push_port(&mut info.ports, port);
                let list = bindings
                    .iter()
                    .flatten()
                    .map(|b| PortBinding {
                        host_ip: b.host_ip.clone().unwrap_or_default(),
                        host_port: b.host_port.clone().unwrap_or_default(),
                    })
                    .collect();
                info.bindings.insert(port.to_ascii_lowercase(), list);
            }
            for (name, ep) in ns.networks.iter().flatten() {
                let ip = ep
                    .ip_address
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| ep.global_ipv6_address.clone())
                    .unwrap_or_default();
                info.networks.insert(
                    name.clone(),
                    NetworkEndpoint {
                        network_id: ep.network_id.clone().unwrap_or_default(),
                        ip,
                    },
                );
            }
        }
        info.ports.sort_unstable();
        info.ports.dedup();
        info
    }

    /// The compose service label, if this container belongs to a compose project.
    pub fn compose_service(&self) -> Option<(&str, &str)> {
        let svc = self.labels.get("com.docker.compose.service")?;
        let proj = self.labels.get("com.docker.compose.project")?;
        Some((svc.as_str(), proj.as_str()))
    }
}

/// Keeps TCP ports only: a `udp` port is no HTTP server port.
fn push_port(ports: &mut Vec<u16>, spec: &str) {
    let (num, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if !proto.eq_ignore_ascii_case("tcp") {
        return;
    }
    if let Ok(p) = num.parse::<u16>() {
        ports.push(p);
    }
}
