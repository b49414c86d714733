//! The pure heart of the Docker provider: containers (cached inspect results) in, one full
//! `DynamicConfig` out. No I/O: the client loop calls it after every (throttled) change, and the
//! fixture table tests it. Follows Traefik v3's docker provider (label grammar, defaults, merge
//! of replicas), plus wharf's "nothing vanishes silently": every bad label, guessed port or
//! network, and conflict becomes a `Problem` on the item it concerns.

use std::collections::{BTreeMap, BTreeSet};

use wharf_middlewares::MiddlewareSpec;

use super::constraints::Constraint;
use super::model::{ContainerInfo, Health, RunState};
use super::template::{normalize, Template, TemplateModel};
use crate::labels::{self, LabelConfig};
use crate::{
    DynamicConfig, ItemKind, LoadBalancer, Problem, Router, Server, ServersTransport, Service,
};

/// The static options `build()` needs, parsed once (see `DockerSettings::prepare`).
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub exposed_by_default: bool,
    pub default_rule: Template,
    pub network: String,
    pub constraints: Option<Constraint>,
    pub allow_empty_services: bool,
    pub use_bind_port_ip: bool,
    pub label_prefix: String,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            exposed_by_default: true,
            default_rule: Template::parse(super::DEFAULT_RULE)
                .unwrap_or_else(|_| Template::text(super::DEFAULT_RULE)),
            network: String::new(),
            constraints: None,
            allow_empty_services: true,
            use_bind_port_ip: false,
            label_prefix: "traefik".to_string(),
        }
    }
}

/// What one container contributes, before replicas and other containers are merged.
#[derive(Debug, Default)]
struct Part {
    container: String,
    routers: BTreeMap<String, Router>,
    services: BTreeMap<String, Service>,
    middlewares: BTreeMap<String, MiddlewareSpec>,
    transports: BTreeMap<String, ServersTransport>,
    tcp: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    udp: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    problems: Vec<Problem>,
}

/// Names of the items of `kind` whose labels failed to decode (they are absent from the config).
fn failed_names(problems: &[Problem], kind: ItemKind) -> BTreeSet<String> {
    problems
        .iter()
        .filter(|p| p.kind == kind && !p.name.is_empty())
        .map(|p| p.name.clone())
        .collect()
}

/// The service name Traefik gives a container: compose `service_project`, else its name.
pub fn service_name(c: &ContainerInfo) -> String {
    match c.compose_service() {
        Some((svc, proj)) => normalize(&format!("{svc}_{proj}")),
        None => normalize(&c.name),
    }
}

/// Builds the provider's full view from every known container.
pub fn build(
    containers: &[ContainerInfo],
    settings: &BuildSettings,
    own_networks: &BTreeSet<String>,
) -> DynamicConfig {
    let mut sorted: Vec<&ContainerInfo> = containers.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let parts: Vec<Part> = sorted
        .iter()
        .filter_map(|c| build_container(c, containers, settings, own_networks))
        .collect();
    merge(parts)
}

fn build_container(
    c: &ContainerInfo,
    all: &[ContainerInfo],
    s: &BuildSettings,
    own_networks: &BTreeSet<String>,
) -> Option<Part> {
    let LabelConfig {
        config: decoded,
        problems: label_problems,
        enable,
        docker,
        unsupported,
    } = labels::decode(&c.labels, &s.label_prefix);
    if !enable.unwrap_or(s.exposed_by_default) {
        return None;
    }
    if let Some(con) = &s.constraints {
        if !con.matches(&c.labels) {
            return None;
        }
    }
    let allow_non_running = docker.allow_non_running.unwrap_or(false);
    if c.state == RunState::NotRunning && !allow_non_running {
        return None;
    }
    let serving =
        c.state == RunState::Running && matches!(c.health, Health::None | Health::Healthy);
    if !serving && !s.allow_empty_services && !allow_non_running {
        return None;
    }

    let svc_name = service_name(c);
    let prefix = &s.label_prefix;
    let mut part = Part {
        container: c.name.clone(),
        ..Part::default()
    };
    let failed_routers = failed_names(&label_problems, ItemKind::Router);
    let failed_services = failed_names(&label_problems, ItemKind::Service);
    let mut plugin_reported: BTreeSet<String> = BTreeSet::new();
    for mut p in label_problems {
        if p.kind == ItemKind::Source && p.name.is_empty() {
            p.name = format!("container {}", c.name);
        }
        let is_plugin = p.kind == ItemKind::Middleware
            && p.location
                .as_deref()
                .is_some_and(|l| l.to_ascii_lowercase().contains(".plugin."));
        if is_plugin {
            // Plugins are a known feature that wharf does not have yet, not a typo.
            if plugin_reported.insert(p.name.clone()) {
                part.problems.push(
                    Problem::error(
                        ItemKind::Middleware,
                        p.name.clone(),
                        "plugin middlewares are not supported yet",
                    )
                    .at(p.location.unwrap_or_default()),
                );
            }
            continue;
        }
        part.problems.push(p);
    }

    let http_labels =
        !decoded.http.is_empty() || part.problems.iter().any(|p| p.kind != ItemKind::Source);
    // tcp / udp: shown as items with "unsupported yet", never dropped silently.
    let groups = [
        ("tcp", "routers", ItemKind::Router, &unsupported.tcp_routers),
        (
            "tcp",
            "services",
            ItemKind::Service,
            &unsupported.tcp_services,
        ),
        (
            "tcp",
            "middlewares",
            ItemKind::Middleware,
            &unsupported.tcp_middlewares,
        ),
        ("udp", "routers", ItemKind::Router, &unsupported.udp_routers),
        (
            "udp",
            "services",
            ItemKind::Service,
            &unsupported.udp_services,
        ),
    ];
    for (proto, kind, item_kind, names) in groups {
        for name in names {
            part.problems.push(
                Problem::error(
                    item_kind,
                    name.clone(),
                    format!("{} {kind} are not supported yet", proto.to_uppercase()),
                )
                .at(format!("{prefix}.{proto}.{kind}.{name}")),
            );
            let section = if proto == "tcp" {
                &mut part.tcp
            } else {
                &mut part.udp
            };
            section
                .entry(kind.to_string())
                .or_default()
                .insert(name.clone(), serde_json::json!({}));
        }
    }
    if !unsupported.is_empty() && !http_labels {
        return Some(part);
    }

    // Services (a default one when the labels define none), each with this container's server.
    let mut services = decoded.http.services;
    if services.is_empty() && failed_services.is_empty() {
        services.insert(svc_name.clone(), Service::default());
    }
    let mut guessed: BTreeMap<String, String> = BTreeMap::new();
    let network = choose_network(c, all, docker.network.as_deref(), s, own_networks);
    for (name, service) in services.iter_mut() {
        let other_kind =
            service.weighted.is_some() || service.mirroring.is_some() || service.failover.is_some();
        if !other_kind && service.load_balancer.is_none() {
            service.load_balancer = Some(LoadBalancer::default());
        }
        let Some(lb) = service.load_balancer.as_mut() else {
            continue;
        };
        // `loadbalancer.server.*` labels decode into one template server.
        let template = lb.servers.first().cloned().unwrap_or_default();
        lb.servers.clear();
        if serving {
            match server_for(c, name, &template, s, &network) {
                Ok((server, warning)) => {
                    lb.servers.push(server);
                    if let Some(w) = warning {
                        guessed.insert(name.clone(), w);
                    }
                }
                Err(ServerError(msg, label)) => {
                    let p = Problem::error(ItemKind::Service, name.clone(), msg);
                    part.problems
                        .push(if label.is_empty() { p } else { p.at(label) });
                }
            }
        } else {
            // wharf keeps the router: an empty service answers 503, not 404.
            let why = match (c.state, c.health) {
                (RunState::Paused, _) => "paused",
                (RunState::NotRunning, _) => "not running",
                (_, Health::Starting) => "health: starting",
                _ => "health: unhealthy",
            };
            part.problems.push(Problem::warning(
                ItemKind::Service,
                name.clone(),
                format!(
                    "container {} is {why}: no server until it is running and healthy",
                    c.name
                ),
            ));
        }
    }
    if let Ok((_, Some(w))) = &network {
        for name in services.keys() {
            part.problems
                .push(Problem::warning(ItemKind::Service, name.clone(), w.clone()));
        }
    }
    let all_services: BTreeSet<String> = services
        .keys()
        .cloned()
        .chain(failed_services.iter().cloned())
        .collect();

    // Routers: defaulted (rule from the template, the container's only service).
    let model = TemplateModel {
        name: &svc_name,
        container_name: &c.name,
        labels: &c.labels,
    };
    let mut routers = decoded.http.routers;
    if routers.is_empty() && failed_routers.is_empty() {
        if all_services.len() == 1 {
            routers.insert(svc_name.clone(), Router::default());
        } else if !all_services.is_empty() {
            let names: Vec<&str> = all_services.iter().map(String::as_str).collect();
            part.problems.push(Problem::warning(
                ItemKind::Source,
                format!("container {}", c.name),
                format!(
                    "no router: the container defines several services ({}) and no router label to say which one to route to",
                    names.join(", ")
                ),
            ));
        }
    }
    for (name, router) in routers.iter_mut() {
        if router.rule.is_empty() {
            match s.default_rule.render(&model) {
                Ok(rule) if !rule.trim().is_empty() => router.rule = rule,
                Ok(_) => part.problems.push(Problem::error(
                    ItemKind::Router,
                    name.clone(),
                    "the default rule template gave an empty rule; set a rule label",
                )),
                Err(e) => part.problems.push(Problem::error(
                    ItemKind::Router,
                    name.clone(),
                    e.to_string(),
                )),
            }
        }
        if router.service.is_empty() {
            if all_services.len() == 1 {
                router.service = all_services.iter().next().cloned().unwrap_or_default();
            } else {
                let names: Vec<&str> = all_services.iter().map(String::as_str).collect();
                part.problems.push(Problem::error(
                    ItemKind::Router,
                    name.clone(),
                    format!(
                        "which service? the container defines {} ({}); set {prefix}.http.routers.{name}.service",
                        names.len(),
                        names.join(", "),
                    ),
                ));
            }
        }
        if let Some(w) = guessed.get(&router.service) {
            part.problems
                .push(Problem::warning(ItemKind::Router, name.clone(), w.clone()));
        }
        if let Ok((_, Some(w))) = &network {
            if services.contains_key(&router.service) {
                part.problems
                    .push(Problem::warning(ItemKind::Router, name.clone(), w.clone()));
            }
        }
    }
    part.routers = routers;
    part.services = services;
    part.middlewares = decoded.http.middlewares;
    part.transports = decoded.http.servers_transports;
    Some(part)
}

/// `(message, label)` of a server that could not be made.
struct ServerError(String, String);

type NetworkChoice = Result<(String, Option<String>), String>;

/// The container's IP, chosen deterministically: label, `providers.docker.network`, a network
/// shared with wharf's own container, then the only/first network by name (a warning when guessed).
fn choose_network(
    c: &ContainerInfo,
    all: &[ContainerInfo],
    label: Option<&str>,
    s: &BuildSettings,
    own: &BTreeSet<String>,
) -> NetworkChoice {
    if c.network_mode == "host" {
        return Ok(("127.0.0.1".to_string(), None));
    }
    if let Some(target) = c.network_mode.strip_prefix("container:") {
        let Some(other) = all
            .iter()
            .find(|o| o.id.starts_with(target) || o.name == target)
        else {
            return Err(format!(
                "network mode container:{target}: that container is not known"
            ));
        };
        if other.network_mode.starts_with("container:") {
            return Err(format!(
                "network mode container:{target}: chained container network modes are not followed"
            ));
        }
        let other_label = labels::decode(&other.labels, &s.label_prefix)
            .docker
            .network;
        return choose_network(other, all, other_label.as_deref().or(label), s, own);
    }
    let project = c.compose_service().map(|(_, p)| p.to_string());
    let lookup = |want: &str| -> Option<String> {
        let direct = c.networks.get(want);
        let prefixed = project
            .as_ref()
            .and_then(|p| c.networks.get(&format!("{p}_{want}")));
        direct.or(prefixed).map(|n| n.ip.clone())
    };
    let names: Vec<&str> = c.networks.keys().map(String::as_str).collect();
    let mut note: Option<String> = None;
    for (want, source) in [
        (label.unwrap_or(""), "label traefik.docker.network"),
        (s.network.as_str(), "providers.docker.network"),
    ] {
        if want.is_empty() {
            continue;
        }
        match lookup(want) {
            Some(ip) if !ip.is_empty() => return Ok((ip, None)),
            _ => {
                note.get_or_insert_with(|| {
                    format!(
                        "network {want:?} ({source}) is not one of the container's networks ({})",
                        names.join(", ")
                    )
                });
            }
        }
    }
    let shared = c.networks.iter().find(|(name, ep)| {
        !ep.ip.is_empty()
            && (own.contains(*name) || (!ep.network_id.is_empty() && own.contains(&ep.network_id)))
    });
    if let Some((_, ep)) = shared {
        return Ok((ep.ip.clone(), note));
    }
    let Some((first, ep)) = c.networks.iter().find(|(_, ep)| !ep.ip.is_empty()) else {
        return Err(match note {
            Some(n) => format!("{n}; and the container has no IP address on any network"),
            None => format!(
                "the container has no IP address (network mode {:?})",
                c.network_mode
            ),
        });
    };
    let with_ip = c.networks.values().filter(|ep| !ep.ip.is_empty()).count();
    if with_ip > 1 || note.is_some() {
        let guess = format!(
            "network guessed: using {first:?} (first by name of {}); set the label traefik.docker.network or providers.docker.network",
            names.join(", ")
        );
        return Ok((
            ep.ip.clone(),
            Some(note.map(|n| format!("{n}; {guess}")).unwrap_or(guess)),
        ));
    }
    Ok((ep.ip.clone(), None))
}

fn server_for(
    c: &ContainerInfo,
    service: &str,
    template: &Server,
    s: &BuildSettings,
    network: &NetworkChoice,
) -> Result<(Server, Option<String>), ServerError> {
    let prefix = &s.label_prefix;
    let mut server = Server {
        weight: template.weight,
        preserve_path: template.preserve_path,
        ..Server::default()
    };
    if !template.url.is_empty() {
        server.url = template.url.clone();
        return Ok((server, None));
    }
    let mut warning = None;
    let port: u16 = match template.port.as_deref() {
        Some(p) => p.trim().parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            ServerError(
                format!("loadbalancer.server.port: {p:?} is not a port number (1-65535)"),
                format!("{prefix}.http.services.{service}.loadbalancer.server.port"),
            )
        })?,
        None => match c.ports.as_slice() {
            [] => {
                return Err(ServerError(
                    format!("no port: the container exposes none; set {prefix}.http.services.{service}.loadbalancer.server.port"),
                    String::new(),
                ))
            }
            [only] => *only,
            [lowest, ..] => {
                let list: Vec<String> = c.ports.iter().map(u16::to_string).collect();
                warning = Some(format!(
                    "port guessed: using {lowest}, the lowest of the exposed ports {}; set {prefix}.http.services.{service}.loadbalancer.server.port",
                    list.join(", "),
                ));
                *lowest
            }
        },
    };
    let scheme = template
        .scheme
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("http");
    if s.use_bind_port_ip {
        let bound = c.bindings.get(&format!("{port}/tcp")).and_then(|b| {
            b.iter().find(|b| {
                !b.host_ip.is_empty() && b.host_ip != "0.0.0.0" && !b.host_port.is_empty()
            })
        });
        if let Some(b) = bound {
            server.url = format!("{scheme}://{}", join_host_port(&b.host_ip, &b.host_port));
            return Ok((server, warning));
        }
    }
    let (ip, _) = network
        .as_ref()
        .map_err(|e| ServerError(e.clone(), String::new()))?;
    server.url = format!("{scheme}://{}", join_host_port(ip, &port.to_string()));
    Ok((server, warning))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Merges every container's part: identical definitions (replicas) merge, load balancers pool
/// their servers, conflicting definitions keep the first and carry an error naming the containers.
fn merge(parts: Vec<Part>) -> DynamicConfig {
    let mut dc = DynamicConfig::default();
    let mut owners: BTreeMap<(ItemKind, String), Vec<String>> = BTreeMap::new();
    let mut conflicts: BTreeMap<(ItemKind, String), BTreeSet<String>> = BTreeMap::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut tcp: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    let mut udp: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();

    for part in parts {
        let who = part.container.clone();
        for (name, r) in part.routers {
            let key = (ItemKind::Router, name.clone());
            owners.entry(key.clone()).or_default().push(who.clone());
            match dc.http.routers.get(&name) {
                None => {
                    dc.http.routers.insert(name, r);
                }
                Some(existing) if *existing == r => {}
                Some(_) => {
                    conflicts.entry(key).or_default().insert(who.clone());
                }
            }
        }
        for (name, svc) in part.services {
            let key = (ItemKind::Service, name.clone());
            owners.entry(key.clone()).or_default().push(who.clone());
            match dc.http.services.get_mut(&name) {
                None => {
                    dc.http.services.insert(name, svc);
                }
                Some(existing) => {
                    if !merge_service(existing, svc) {
                        conflicts.entry(key).or_default().insert(who.clone());
                    }
                }
            }
        }
        for (name, m) in part.middlewares {
            let key = (ItemKind::Middleware, name.clone());
            owners.entry(key.clone()).or_default().push(who.clone());
            match dc.http.middlewares.get(&name) {
                None => {
                    dc.http.middlewares.insert(name, m);
                }
                Some(existing) if *existing == m => {}
                Some(_) => {
                    conflicts.entry(key).or_default().insert(who.clone());
                }
            }
        }
        for (name, t) in part.transports {
            let key = (ItemKind::ServersTransport, name.clone());
            owners.entry(key.clone()).or_default().push(who.clone());
            match dc.http.servers_transports.get(&name) {
                None => {
                    dc.http.servers_transports.insert(name, t);
                }
                Some(existing) if *existing == t => {}
                Some(_) => {
                    conflicts.entry(key).or_default().insert(who.clone());
                }
            }
        }
        for (target, section) in [(&mut tcp, part.tcp), (&mut udp, part.udp)] {
            for (kind, items) in section {
                let slot = target
                    .entry(kind)
                    .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                if let Some(obj) = slot.as_object_mut() {
                    obj.extend(items);
                }
            }
        }
        for p in part.problems {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    for ((kind, name), _) in conflicts {
        let mut who: Vec<String> = owners
            .get(&(kind, name.clone()))
            .cloned()
            .unwrap_or_default();
        who.dedup();
        problems.push(Problem::error(
            kind,
            name,
            format!(
                "defined differently by several containers ({}); only identical definitions merge",
                who.join(", ")
            ),
        ));
    }
    if !tcp.is_empty() {
        dc.tcp = Some(serde_json::Value::Object(tcp));
    }
    if !udp.is_empty() {
        dc.udp = Some(serde_json::Value::Object(udp));
    }
    dc.problems = problems;
    dc
}

/// Adds `other`'s servers to `into` when both are the same load balancer otherwise.
fn merge_service(into: &mut Service, other: Service) -> bool {
    let strip = |s: &Service| {
        let mut s = s.clone();
        if let Some(lb) = s.load_balancer.as_mut() {
            lb.servers.clear();
        }
        s
    };
    if strip(into) != strip(&other) {
        return false;
    }
    if let (Some(lb), Some(o)) = (into.load_balancer.as_mut(), other.load_balancer) {
        for srv in o.servers {
            if !lb.servers.contains(&srv) {
                lb.servers.push(srv);
            }
        }
    }
    true
}
