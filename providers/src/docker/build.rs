//! The pure heart of the Docker provider: containers (cached inspect results) in, one full
//! `DynamicConfig` out. No I/O: the client loop calls it after every (throttled) change, and the
//! fixture table tests it. Follows Traefik v3's docker provider (label grammar, defaults, merge
//! of replicas), plus wharf's "nothing vanishes silently": every bad label, guessed port or
//! network, and conflict becomes a `Problem` on the item it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use wharf_middlewares::MiddlewareSpec;

use super::constraints::Constraint;
use super::decode::{self, Entries, ItemSchema, LabelError};
use super::model::{ContainerInfo, Health, RunState};
use super::template::{normalize, Template, TemplateModel};
use crate::{DynamicConfig, ItemKind, LoadBalancer, Problem, Router, Server, Service, ServersTransport};

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
            default_rule: Template::parse(super::DEFAULT_RULE).unwrap_or_else(|_| Template::text(super::DEFAULT_RULE)),
            network: String::new(),
            constraints: None,
            allow_empty_services: true,
            use_bind_port_ip: false,
            label_prefix: "traefik".to_string(),
        }
    }
}

fn schema<T: schemars::JsonSchema>(cell: &'static OnceLock<ItemSchema>) -> &'static ItemSchema {
    cell.get_or_init(ItemSchema::of::<T>)
}
static ROUTER_SCHEMA: OnceLock<ItemSchema> = OnceLock::new();
static SERVICE_SCHEMA: OnceLock<ItemSchema> = OnceLock::new();
static MIDDLEWARE_SCHEMA: OnceLock<ItemSchema> = OnceLock::new();
static TRANSPORT_SCHEMA: OnceLock<ItemSchema> = OnceLock::new();

/// The labels of one container, split by item.
#[derive(Debug, Default)]
struct ContainerLabels {
    enable: Option<bool>,
    network: Option<String>,
    allow_non_running: bool,
    routers: BTreeMap<String, Entries>,
    services: BTreeMap<String, Entries>,
    middlewares: BTreeMap<String, Entries>,
    transports: BTreeMap<String, Entries>,
    /// `(protocol, kind, name)` → labels, for "unsupported yet".
    tcp_udp: BTreeMap<(String, String, String), Entries>,
    /// Labels under the prefix that name no item (`traefik.http.routerz.a.rule`).
    stray: Vec<LabelError>,
}

const TOP_KEYS: &[&str] = &["enable", "docker", "http", "tcp", "udp", "tls"];
const HTTP_KEYS: &[&str] = &["routers", "services", "middlewares", "serverstransports"];
const DOCKER_KEYS: &[&str] = &["network", "allownonrunning"];

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn split_labels(labels: &BTreeMap<String, String>, prefix: &str) -> ContainerLabels {
    let mut out = ContainerLabels::default();
    let want = format!("{}.", prefix.to_ascii_lowercase());
    for (key, value) in labels {
        if key.len() <= want.len() || !key[..want.len()].eq_ignore_ascii_case(&want) {
            continue;
        }
        let rest = &key[want.len()..];
        let segs: Vec<&str> = rest.split('.').collect();
        let stray = |message: String| LabelError { label: key.clone(), message };
        let top = segs[0].to_ascii_lowercase();
        match top.as_str() {
            "enable" if segs.len() == 1 => match parse_bool(value) {
                Some(b) => out.enable = Some(b),
                None => out.stray.push(stray(format!("expected true or false, got {value:?}"))),
            },
            "docker" if segs.len() == 2 => match segs[1].to_ascii_lowercase().as_str() {
                "network" => out.network = Some(value.clone()),
                "allownonrunning" => match parse_bool(value) {
                    Some(b) => out.allow_non_running = b,
                    None => out.stray.push(stray(format!("expected true or false, got {value:?}"))),
                },
                other => out.stray.push(stray(decode::unknown_key(other, DOCKER_KEYS, key))),
            },
            "http" | "tcp" | "udp" if segs.len() >= 3 && !segs[2].is_empty() => {
                let kind = segs[1].to_ascii_lowercase();
                let name = segs[2].to_string();
                let sub = segs[3..].join(".");
                if top != "http" {
                    out.tcp_udp.entry((top.clone(), kind, name)).or_default().push((sub, value.clone(), key.clone()));
                    continue;
                }
                let map = match kind.as_str() {
                    "routers" => &mut out.routers,
                    "services" => &mut out.services,
                    "middlewares" => &mut out.middlewares,
                    "serverstransports" => &mut out.transports,
                    other => {
                        out.stray.push(stray(decode::unknown_key(other, HTTP_KEYS, key)));
                        continue;
                    }
                };
                map.entry(name).or_default().push((sub, value.clone(), key.clone()));
            }
            "tls" => out.stray.push(stray(
                "TLS options, stores and certificates from labels are not supported yet (use the file provider)".into(),
            )),
            "enable" | "docker" | "http" | "tcp" | "udp" => {
                out.stray.push(stray(format!("incomplete label key {key:?}: an item name and an option are missing")))
            }
            other => out.stray.push(stray(decode::unknown_key(other, TOP_KEYS, key))),
        }
    }
    out
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

/// The `loadbalancer.server.*` labels, which are not fields of the service model.
#[derive(Debug, Default)]
struct ServerLabels {
    port: Option<(String, String)>,
    scheme: Option<String>,
    url: Option<String>,
    weight: Option<(String, String)>,
    preserve_path: Option<(String, String)>,
}

const SERVER_KEYS: &[&str] = &["port", "scheme", "url", "weight", "preservepath"];

fn split_server_labels(entries: &Entries) -> (Entries, ServerLabels, Vec<LabelError>) {
    let mut rest = Vec::new();
    let mut server = ServerLabels::default();
    let mut errors = Vec::new();
    for (sub, value, label) in entries {
        let lower = sub.to_ascii_lowercase();
        let Some(field) = lower.strip_prefix("loadbalancer.server.") else {
            if lower == "loadbalancer.server" {
                errors.push(LabelError { label: label.clone(), message: "expected loadbalancer.server.port, .scheme or .url".into() });
            } else {
                rest.push((sub.clone(), value.clone(), label.clone()));
            }
            continue;
        };
        match field {
            "port" => server.port = Some((value.clone(), label.clone())),
            "scheme" => server.scheme = Some(value.clone()),
            "url" => server.url = Some(value.clone()),
            "weight" => server.weight = Some((value.clone(), label.clone())),
            "preservepath" => server.preserve_path = Some((value.clone(), label.clone())),
            other => errors.push(LabelError { label: label.clone(), message: decode::unknown_key(other, SERVER_KEYS, label) }),
        }
    }
    (rest, server, errors)
}

fn label_problem(kind: ItemKind, name: &str, e: &LabelError) -> Problem {
    Problem::error(kind, name, e.message.clone()).at(e.label.clone())
}

/// The service name Traefik gives a container: compose `service_project`, else its name.
pub fn service_name(c: &ContainerInfo) -> String {
    match c.compose_service() {
        Some((svc, proj)) => normalize(&format!("{svc}_{proj}")),
        None => normalize(&c.name),
    }
}

/// Builds the provider's full view from every known container.
pub fn build(containers: &[ContainerInfo], settings: &BuildSettings, own_networks: &BTreeSet<String>) -> DynamicConfig {
    let mut sorted: Vec<&ContainerInfo> = containers.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let parts: Vec<Part> =
        sorted.iter().filter_map(|c| build_container(c, containers, settings, own_networks)).collect();
    merge(parts)
}

fn build_container(
    c: &ContainerInfo,
    all: &[ContainerInfo],
    s: &BuildSettings,
    own_networks: &BTreeSet<String>,
) -> Option<Part> {
    let labels = split_labels(&c.labels, &s.label_prefix);
    if !labels.enable.unwrap_or(s.exposed_by_default) {
        return None;
    }
    if let Some(con) = &s.constraints {
        if !con.matches(&c.labels) {
            return None;
        }
    }
    if c.state == RunState::NotRunning && !labels.allow_non_running {
        return None;
    }
    let serving = c.state == RunState::Running && matches!(c.health, Health::None | Health::Healthy);
    if !serving && !s.allow_empty_services && !labels.allow_non_running {
        return None;
    }

    let svc_name = service_name(c);
    let mut part = Part { container: c.name.clone(), ..Part::default() };
    for e in &labels.stray {
        part.problems.push(Problem::warning(ItemKind::Source, format!("container {}", c.name), e.message.clone()).at(e.label.clone()));
    }

    // tcp / udp: shown as items with "unsupported yet", never dropped silently.
    for ((proto, kind, name), entries) in &labels.tcp_udp {
        let item_kind = match kind.as_str() {
            "routers" => ItemKind::Router,
            "services" => ItemKind::Service,
            _ => ItemKind::Middleware,
        };
        let first = entries.first().map(|e| e.2.clone()).unwrap_or_default();
        part.problems.push(
            Problem::error(item_kind, name.clone(), format!("{} {kind} are not supported yet", proto.to_uppercase())).at(first),
        );
        let raw: serde_json::Map<String, serde_json::Value> =
            entries.iter().map(|(k, v, _)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let section = if proto == "tcp" { &mut part.tcp } else { &mut part.udp };
        section.entry(kind.clone()).or_default().insert(name.clone(), serde_json::Value::Object(raw));
    }
    let only_tcp_udp = !labels.tcp_udp.is_empty()
        && labels.routers.is_empty()
        && labels.services.is_empty()
        && labels.middlewares.is_empty();
    if only_tcp_udp {
        return Some(part);
    }

    // Services (a default one when the labels define none), each with this container's server.
    let service_entries: BTreeMap<String, Entries> = if labels.services.is_empty() {
        BTreeMap::from([(svc_name.clone(), Vec::new())])
    } else {
        labels.services.clone()
    };
    let mut guessed: BTreeMap<String, String> = BTreeMap::new();
    let network = choose_network(c, all, labels.network.as_deref(), s, own_networks);
    for (name, entries) in &service_entries {
        let (rest, server_labels, mut errors) = split_server_labels(entries);
        let (mut service, more): (Service, _) = schema::<Service>(&SERVICE_SCHEMA).decode(&rest);
        errors.extend(more);
        for e in &errors {
            part.problems.push(label_problem(ItemKind::Service, name, e));
        }
        let other_kind = service.weighted.is_some() || service.mirroring.is_some() || service.failover.is_some();
        if !other_kind && service.load_balancer.is_none() {
            service.load_balancer = Some(LoadBalancer::default());
        }
        if let Some(lb) = service.load_balancer.as_mut() {
            if serving {
                match server_for(c, &server_labels, s, &network) {
                    Ok((server, warning)) => {
                        lb.servers.push(server);
                        if let Some(w) = warning {
                            guessed.insert(name.clone(), w);
                        }
                    }
                    Err(p) => part.problems.push(Problem::error(ItemKind::Service, name, p.0).at(p.1)),
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
                    name,
                    format!("container {} is {why}: no server until it is running and healthy", c.name),
                ));
            }
        }
        part.services.insert(name.clone(), service);
    }
    if let Ok((_, Some(w))) = &network {
        for name in part.services.keys() {
            part.problems.push(Problem::warning(ItemKind::Service, name, w.clone()));
        }
    }

    // Routers: decoded, then defaulted (rule from the template, the only service).
    let model = TemplateModel { name: &svc_name, container_name: &c.name, labels: &c.labels };
    let mut router_entries = labels.routers.clone();
    if router_entries.is_empty() {
        if part.services.len() == 1 {
            router_entries.insert(svc_name.clone(), Vec::new());
        } else {
            let names: Vec<&str> = part.services.keys().map(String::as_str).collect();
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
    for (name, entries) in &router_entries {
        let (mut router, errors): (Router, _) = schema::<Router>(&ROUTER_SCHEMA).decode(entries);
        for e in &errors {
            part.problems.push(label_problem(ItemKind::Router, name, e));
        }
        if router.rule.is_empty() {
            match s.default_rule.render(&model) {
                Ok(rule) if !rule.trim().is_empty() => router.rule = rule,
                Ok(_) => part.problems.push(Problem::error(ItemKind::Router, name, "the default rule template gave an empty rule; set a rule label")),
                Err(e) => part.problems.push(Problem::error(ItemKind::Router, name, e.to_string())),
            }
        }
        if router.service.is_empty() {
            if part.services.len() == 1 {
                router.service = part.services.keys().next().cloned().unwrap_or_default();
            } else {
                let names: Vec<&str> = part.services.keys().map(String::as_str).collect();
                part.problems.push(Problem::error(
                    ItemKind::Router,
                    name,
                    format!(
                        "which service? the container defines {} ({}); set {}.http.routers.{name}.service",
                        names.len(),
                        names.join(", "),
                        s.label_prefix
                    ),
                ));
            }
        }
        if let Some(w) = guessed.get(&router.service) {
            part.problems.push(Problem::warning(ItemKind::Router, name, w.clone()));
        }
        if let Ok((_, Some(w))) = &network {
            if part.services.contains_key(&router.service) {
                part.problems.push(Problem::warning(ItemKind::Router, name, w.clone()));
            }
        }
        part.routers.insert(name.clone(), router);
    }

    for (name, entries) in &labels.middlewares {
        let is_plugin = entries.iter().any(|(sub, _, _)| sub.split('.').next().is_some_and(|t| t.eq_ignore_ascii_case("plugin")));
        if is_plugin {
            let label = entries.first().map(|e| e.2.clone()).unwrap_or_default();
            part.problems.push(Problem::error(ItemKind::Middleware, name, "plugin middlewares are not supported yet").at(label));
            part.middlewares.insert(name.clone(), MiddlewareSpec::default());
            continue;
        }
        let (mw, errors): (MiddlewareSpec, _) = schema::<MiddlewareSpec>(&MIDDLEWARE_SCHEMA).decode(entries);
        for e in &errors {
            part.problems.push(label_problem(ItemKind::Middleware, name, e));
        }
        part.middlewares.insert(name.clone(), mw);
    }
    for (name, entries) in &labels.transports {
        let (t, errors): (ServersTransport, _) = schema::<ServersTransport>(&TRANSPORT_SCHEMA).decode(entries);
        for e in &errors {
            part.problems.push(label_problem(ItemKind::ServersTransport, name, e));
        }
        part.transports.insert(name.clone(), t);
    }
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
        let Some(other) = all.iter().find(|o| o.id.starts_with(target) || o.name == target) else {
            return Err(format!("network mode container:{target}: that container is not known"));
        };
        if other.network_mode.starts_with("container:") {
            return Err(format!("network mode container:{target}: chained container network modes are not followed"));
        }
        let other_label = split_labels(&other.labels, &s.label_prefix).network;
        return choose_network(other, all, other_label.as_deref().or(label), s, own);
    }
    let project = c.compose_service().map(|(_, p)| p.to_string());
    let lookup = |want: &str| -> Option<String> {
        let direct = c.networks.get(want);
        let prefixed = project.as_ref().and_then(|p| c.networks.get(&format!("{p}_{want}")));
        direct.or(prefixed).map(|n| n.ip.clone())
    };
    let names: Vec<&str> = c.networks.keys().map(String::as_str).collect();
    let mut note: Option<String> = None;
    for (want, source) in [(label.unwrap_or(""), "label traefik.docker.network"), (s.network.as_str(), "providers.docker.network")] {
        if want.is_empty() {
            continue;
        }
        match lookup(want) {
            Some(ip) if !ip.is_empty() => return Ok((ip, None)),
            _ => {
                note.get_or_insert_with(|| {
                    format!("network {want:?} ({source}) is not one of the container's networks ({})", names.join(", "))
                });
            }
        }
    }
    let shared = c
        .networks
        .iter()
        .find(|(name, ep)| !ep.ip.is_empty() && (own.contains(*name) || (!ep.network_id.is_empty() && own.contains(&ep.network_id))));
    if let Some((_, ep)) = shared {
        return Ok((ep.ip.clone(), note));
    }
    let Some((first, ep)) = c.networks.iter().find(|(_, ep)| !ep.ip.is_empty()) else {
        return Err(match note {
            Some(n) => format!("{n}; and the container has no IP address on any network"),
            None => format!("the container has no IP address (network mode {:?})", c.network_mode),
        });
    };
    let with_ip = c.networks.values().filter(|ep| !ep.ip.is_empty()).count();
    if with_ip > 1 || note.is_some() {
        let guess = format!(
            "network guessed: using {first:?} (first by name of {}); set the label traefik.docker.network or providers.docker.network",
            names.join(", ")
        );
        return Ok((ep.ip.clone(), Some(note.map(|n| format!("{n}; {guess}")).unwrap_or(guess))));
    }
    Ok((ep.ip.clone(), None))
}

fn server_for(
    c: &ContainerInfo,
    l: &ServerLabels,
    s: &BuildSettings,
    network: &NetworkChoice,
) -> Result<(Server, Option<String>), ServerError> {
    let mut server = Server::default();
    if let Some((w, label)) = &l.weight {
        server.weight = Some(w.trim().parse().map_err(|_| ServerError(format!("expected a weight (integer), got {w:?}"), label.clone()))?);
    }
    if let Some((p, label)) = &l.preserve_path {
        server.preserve_path = Some(parse_bool(p).ok_or_else(|| ServerError(format!("expected true or false, got {p:?}"), label.clone()))?);
    }
    if let Some(url) = &l.url {
        server.url = url.clone();
        return Ok((server, None));
    }
    let mut warning = None;
    let port: u16 = match &l.port {
        Some((p, label)) => p.trim().parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            ServerError(format!("loadbalancer.server.port: {p:?} is not a port number (1-65535)"), label.clone())
        })?,
        None => match c.ports.as_slice() {
            [] => {
                return Err(ServerError(
                    format!(
                        "no port: the container exposes none; set {}.http.services.<name>.loadbalancer.server.port",
                        s.label_prefix
                    ),
                    String::new(),
                ))
            }
            [only] => *only,
            [lowest, ..] => {
                let list: Vec<String> = c.ports.iter().map(u16::to_string).collect();
                warning = Some(format!(
                    "port guessed: using {lowest}, the lowest of the exposed ports {}; set {}.http.services.<name>.loadbalancer.server.port",
                    list.join(", "),
                    s.label_prefix
                ));
                *lowest
            }
        },
    };
    let scheme = l.scheme.as_deref().filter(|s| !s.is_empty()).unwrap_or("http");
    if s.use_bind_port_ip {
        let bound = c
            .bindings
            .get(&format!("{port}/tcp"))
            .and_then(|b| b.iter().find(|b| !b.host_ip.is_empty() && b.host_ip != "0.0.0.0" && !b.host_port.is_empty()));
        if let Some(b) = bound {
            server.url = format!("{scheme}://{}", join_host_port(&b.host_ip, &b.host_port));
            return Ok((server, warning));
        }
    }
    let (ip, _) = network.as_ref().map_err(|e| ServerError(e.clone(), String::new()))?;
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
                let slot = target.entry(kind).or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
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
        let mut who: Vec<String> = owners.get(&(kind, name.clone())).cloned().unwrap_or_default();
        who.dedup();
        problems.push(Problem::error(
            kind,
            name,
            format!("defined differently by several containers ({}); only identical definitions merge", who.join(", ")),
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
