//! The flat label decoder: `traefik.http.routers.a.rule=...` style keys (Docker labels, later
//! Kubernetes annotations) → a tree → typed config per item, with a problem per bad label.
//!
//! Flow: provider client (Docker inspect result) → `decode(labels, prefix)` → the provider's pure
//! `build` adds defaults (default router/service, server URL from the container address) → its
//! `DynamicConfig`. Each router/service/middleware decodes on its own through `keys::decode_at`,
//! so one bad label disables only its item; the problem names the label and the nearest valid one.
//!
//! Grammar (keys are case-insensitive; values are strings, coerced by the target schema):
//! - `<prefix>.enable`, `<prefix>.docker.network`, `<prefix>.docker.allownonrunning`
//! - `<prefix>.http.routers.<name>.<field path>` (`tls.domains[0].main`, `entrypoints=a,b`)
//! - `<prefix>.http.services.<name>.loadbalancer.server.<port|scheme|url|weight|preservepath>`
//!   (singular `server` as in Traefik; `servers[i].<field>` works too) and the other
//!   `loadbalancer.*` fields
//! - `<prefix>.http.middlewares.<name>.<type>.<option path>`
//! - `<prefix>.http.serverstransports.<name>.<field path>`
//! - `<prefix>.tcp.*` / `<prefix>.udp.*`: names are collected and reported as unsupported.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::keys::{self, KeyProblem};
use crate::model::{DynamicConfig, ItemKind, Problem};

/// Traefik's default label prefix.
pub const DEFAULT_PREFIX: &str = "traefik";

/// Docker-specific per-container options carried in labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerLabelOptions {
    /// `<prefix>.docker.network`: the network whose address is used for the servers.
    pub network: Option<String>,
    /// `<prefix>.docker.allownonrunning`: keep the container's config while it is not running.
    pub allow_non_running: Option<bool>,
}

/// TCP and UDP item names found in labels (wharf serves HTTP only for now; they are reported).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsupportedItems {
    pub tcp_routers: BTreeSet<String>,
    pub tcp_services: BTreeSet<String>,
    pub tcp_middlewares: BTreeSet<String>,
    pub udp_routers: BTreeSet<String>,
    pub udp_services: BTreeSet<String>,
}

impl UnsupportedItems {
    pub fn is_empty(&self) -> bool {
        self.tcp_routers.is_empty()
            && self.tcp_services.is_empty()
            && self.tcp_middlewares.is_empty()
            && self.udp_routers.is_empty()
            && self.udp_services.is_empty()
    }
}

/// What one set of labels says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelConfig {
    /// The items that decoded (only `http` routers, services, middlewares, serversTransports).
    /// `config.problems` is left empty: the problems are in `problems`.
    pub config: DynamicConfig,
    /// One per bad label (location = the label key). Item problems name the item (its router,
    /// service, ... is absent from `config`); `ItemKind::Source` problems (labels outside the
    /// grammar) carry an empty name for the caller to fill in (e.g. the container name).
    pub problems: Vec<Problem>,
    /// `<prefix>.enable`.
    pub enable: Option<bool>,
    pub docker: DockerLabelOptions,
    pub unsupported: UnsupportedItems,
}

/// One label in the tree: its value (if the label itself is set) and its sub-keys.
#[derive(Default)]
struct Node<'a> {
    value: Option<(&'a str, &'a str)>, // (value, label key)
    children: BTreeMap<String, Node<'a>>,
}

/// The labels of one item, and where each of its paths came from.
#[derive(Default)]
struct Item<'a> {
    root: Node<'a>,
    /// Lower-cased canonical-ish path (`http.routers.a.tls.domains[0].main`) → label key.
    origins: Vec<(String, &'a str)>,
}

type ItemMap<'a> = BTreeMap<String, Item<'a>>;

/// Decodes `labels` under `prefix` (`traefik` unless configured otherwise).
pub fn decode(labels: &BTreeMap<String, String>, prefix: &str) -> LabelConfig {
    let mut out = LabelConfig::default();
    let mut routers: ItemMap = BTreeMap::new();
    let mut services: ItemMap = BTreeMap::new();
    let mut middlewares: ItemMap = BTreeMap::new();
    let mut transports: ItemMap = BTreeMap::new();
    let dot_prefix = format!("{}.", prefix.to_ascii_lowercase());

    for (key, value) in labels {
        // `get` rather than slicing: label keys are arbitrary UTF-8.
        let rest = match (key.get(..dot_prefix.len()), key.get(dot_prefix.len()..)) {
            (Some(head), Some(rest)) if head.eq_ignore_ascii_case(&dot_prefix) => rest,
            _ => continue,
        };
        let segs = match split_key(rest) {
            Some(s) => s,
            None => {
                out.problems
                    .push(source_problem(key, format!("malformed label `{key}`")));
                continue;
            }
        };
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l.as_slice() {
            ["enable"] => match parse_bool(value) {
                Some(b) => out.enable = Some(b),
                None => out.problems.push(source_problem(
                    key,
                    format!("label `{key}`: expected true or false, got `{value}`"),
                )),
            },
            ["docker", "network"] => out.docker.network = Some(value.clone()),
            ["docker", "allownonrunning"] => match parse_bool(value) {
                Some(b) => out.docker.allow_non_running = Some(b),
                None => out.problems.push(source_problem(
                    key,
                    format!("label `{key}`: expected true or false, got `{value}`"),
                )),
            },
            ["http", kind, _, ..] => {
                let (map, canon_kind) = match *kind {
                    "routers" => (&mut routers, "routers"),
                    "services" => (&mut services, "services"),
                    "middlewares" => (&mut middlewares, "middlewares"),
                    "serverstransports" => (&mut transports, "serversTransports"),
                    _ => {
                        let msg = unknown_label_message(
                            key,
                            &segs[..2],
                            ["routers", "services", "middlewares", "serverstransports"],
                            prefix,
                        );
                        out.problems.push(source_problem(key, msg));
                        continue;
                    }
                };
                let name = segs[2].clone();
                let mut field: Vec<String> = segs[3..].to_vec();
                if canon_kind == "services" {
                    singular_server(&mut field);
                }
                let item = map.entry(name.clone()).or_default();
                let mut path = format!(
                    "http.{}.{}",
                    canon_kind.to_ascii_lowercase(),
                    name.to_ascii_lowercase()
                );
                for f in &field {
                    if f.bytes().all(|b| b.is_ascii_digit()) && !f.is_empty() {
                        path.push_str(&format!("[{f}]"));
                    } else {
                        path.push('.');
                        path.push_str(&f.to_ascii_lowercase());
                    }
                }
                item.origins.push((path, key.as_str()));
                let mut node = &mut item.root;
                for f in field {
                    node = node.children.entry(f).or_default();
                }
                node.value = Some((value.as_str(), key.as_str()));
            }
            [proto @ ("tcp" | "udp"), kind, _, ..] => {
                let name = segs[2].clone();
                let u = &mut out.unsupported;
                let set = match (*proto, *kind) {
                    ("tcp", "routers") => &mut u.tcp_routers,
                    ("tcp", "services") => &mut u.tcp_services,
                    ("tcp", "middlewares") => &mut u.tcp_middlewares,
                    ("udp", "routers") => &mut u.udp_routers,
                    ("udp", "services") => &mut u.udp_services,
                    _ => {
                        let msg = format!("unknown label `{key}`");
                        out.problems.push(source_problem(key, msg));
                        continue;
                    }
                };
                set.insert(name);
            }
            _ => {
                let msg = unknown_top_label(key, &segs, prefix);
                out.problems.push(source_problem(key, msg));
            }
        }
    }

    decode_items(
        routers,
        ItemKind::Router,
        "routers",
        &mut out,
        |cfg, n, v| {
            cfg.http.routers.insert(n, v);
        },
    );
    decode_items(
        services,
        ItemKind::Service,
        "services",
        &mut out,
        |cfg, n, v| {
            cfg.http.services.insert(n, v);
        },
    );
    decode_items(
        middlewares,
        ItemKind::Middleware,
        "middlewares",
        &mut out,
        |cfg, n, v| {
            cfg.http.middlewares.insert(n, v);
        },
    );
    decode_items(
        transports,
        ItemKind::ServersTransport,
        "serversTransports",
        &mut out,
        |cfg, n, v| {
            cfg.http.servers_transports.insert(n, v);
        },
    );
    out
}

fn decode_items<T: DeserializeOwned + schemars::JsonSchema>(
    items: ItemMap<'_>,
    kind: ItemKind,
    kind_key: &str,
    out: &mut LabelConfig,
    insert: impl Fn(&mut DynamicConfig, String, T),
) {
    for (name, item) in items {
        let first_label = item
            .origins
            .first()
            .map(|(_, l)| *l)
            .unwrap_or_default()
            .to_string();
        if name.contains('@') {
            out.problems.push(
                Problem::error(
                    kind,
                    name.clone(),
                    format!(
                        "the character `@` is not allowed in a {} name",
                        singular(kind_key)
                    ),
                )
                .at(first_label),
            );
            continue;
        }
        let mut tree_problems = Vec::new();
        let value = node_to_value(&item.root, &mut tree_problems);
        let mut failed = false;
        for (label, msg) in tree_problems {
            out.problems
                .push(Problem::error(kind, name.clone(), msg).at(label));
            failed = true;
        }
        if item.root.value.is_some() && item.root.children.is_empty() {
            let label = item.root.value.map(|(_, l)| l).unwrap_or_default();
            out.problems.push(
                Problem::error(
                    kind,
                    name.clone(),
                    format!(
                        "label `{label}` names a {} but no field",
                        singular(kind_key)
                    ),
                )
                .at(label),
            );
            continue;
        }
        let base = format!("http.{kind_key}.{name}");
        match keys::decode_at::<T>(value, &base) {
            Ok(v) if !failed => insert(&mut out.config, name, v),
            Ok(_) => {}
            Err(problems) => {
                for p in problems {
                    let (label, msg) = label_problem(&p, &item, &first_label);
                    out.problems
                        .push(Problem::error(kind, name.clone(), msg).at(label));
                }
            }
        }
    }
}

fn singular(kind_key: &str) -> &str {
    match kind_key {
        "routers" => "router",
        "services" => "service",
        "middlewares" => "middleware",
        _ => "serversTransport",
    }
}

/// Maps a key problem on an item back to the label that caused it, with a label-shaped message.
fn label_problem(p: &KeyProblem, item: &Item<'_>, fallback: &str) -> (String, String) {
    let want = p.path.to_ascii_lowercase();
    let label = item
        .origins
        .iter()
        .find(|(path, _)| *path == want)
        .or_else(|| {
            item.origins.iter().find(|(path, _)| {
                path.starts_with(&want)
                    && matches!(path.as_bytes().get(want.len()), Some(b'.' | b'['))
            })
        })
        .map(|(_, l)| (*l).to_string())
        .unwrap_or_else(|| fallback.to_string());
    if p.message.starts_with("unknown key") {
        let bad = p.path.rsplit('.').next().unwrap_or_default();
        let msg = match suggestion_of(&p.message).and_then(|s| replace_segment(&label, bad, s)) {
            Some(fixed) => format!("unknown label `{label}`; did you mean `{fixed}`?"),
            None => format!("unknown label `{label}`"),
        };
        return (label, msg);
    }
    let inner = p
        .message
        .strip_prefix(&format!("`{}`: ", p.path))
        .unwrap_or(&p.message);
    (label.clone(), format!("label `{label}`: {inner}"))
}

/// `label` with its last segment spelled `bad` replaced by `good` (lower-cased, as labels are
/// usually written); `None` when `bad` is not a segment of `label`.
fn replace_segment(label: &str, bad: &str, good: &str) -> Option<String> {
    let mut segs: Vec<String> = label.split('.').map(str::to_string).collect();
    let i = segs
        .iter()
        .rposition(|s| s.split('[').next() == Some(bad))?;
    let suffix = segs[i]
        .find('[')
        .map(|b| segs[i][b..].to_string())
        .unwrap_or_default();
    segs[i] = format!("{}{suffix}", good.to_ascii_lowercase());
    Some(segs.join("."))
}

/// The suggestion in a `keys` unknown-key message (`...; did you mean `x`?`).
pub fn suggestion_of(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("did you mean `")?;
    rest.split_once('`').map(|(s, _)| s)
}

/// `loadbalancer.server.x` → `loadbalancer.servers.0.x` (Traefik's label-slice-as-struct).
fn singular_server(field: &mut Vec<String>) {
    if field.len() >= 2
        && field[0].eq_ignore_ascii_case("loadbalancer")
        && field[1].eq_ignore_ascii_case("server")
    {
        field[1] = "servers".to_string();
        field.insert(2, "0".to_string());
    }
}

/// Splits `a.b[0].c` into `a`, `b`, `0`, `c`. `None` for empty segments or broken brackets.
fn split_key(rest: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for part in rest.split('.') {
        let (name, mut idx) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return None;
        }
        out.push(name.to_string());
        while !idx.is_empty() {
            let close = idx.find(']')?;
            let n = &idx[1..close];
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            out.push(n.to_string());
            idx = &idx[close + 1..];
            if !idx.is_empty() && !idx.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

/// Builds the JSON tree of one item. A label that has both a value and sub-keys keeps the
/// sub-keys when the value is empty or `true` (`tls=true` with `tls.certresolver=le`).
fn node_to_value<'a>(node: &Node<'a>, problems: &mut Vec<(String, String)>) -> Value {
    if node.children.is_empty() {
        return match node.value {
            Some((v, _)) => Value::String(v.to_string()),
            None => Value::Object(Map::new()),
        };
    }
    if let Some((v, label)) = node.value {
        if !(v.trim().is_empty() || parse_bool(v) == Some(true)) {
            problems.push((
                label.to_string(),
                format!("label `{label}` has the value `{v}` and also sub-keys; only `true` or empty may be combined with sub-keys"),
            ));
        }
    }
    let mut map = Map::new();
    for (k, child) in &node.children {
        map.insert(k.clone(), node_to_value(child, problems));
    }
    Value::Object(map)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn source_problem(label: &str, message: String) -> Problem {
    Problem::error(ItemKind::Source, "", message).at(label)
}

fn unknown_label_message<'a>(
    key: &str,
    segs: &[String],
    candidates: impl IntoIterator<Item = &'a str>,
    prefix: &str,
) -> String {
    let last = segs.last().map(String::as_str).unwrap_or_default();
    match keys::suggest(last, candidates) {
        Some(s) => {
            let parent: Vec<&str> = segs[..segs.len() - 1].iter().map(String::as_str).collect();
            let mut full = prefix.to_string();
            for p in parent {
                full.push('.');
                full.push_str(p);
            }
            format!("unknown label `{key}`; did you mean `{full}.{s}`?")
        }
        None => format!("unknown label `{key}`"),
    }
}

fn unknown_top_label(key: &str, segs: &[String], prefix: &str) -> String {
    let first = segs[0].to_ascii_lowercase();
    match first.as_str() {
        "http" | "tcp" | "udp" if segs.len() < 3 => {
            format!("label `{key}` is incomplete: expected `{prefix}.{first}.<routers|services|middlewares>.<name>.<field>`")
        }
        "docker" if segs.len() >= 2 => {
            unknown_label_message(key, &segs[..2], ["network", "allownonrunning"], prefix)
        }
        _ => unknown_label_message(
            key,
            &segs[..1],
            ["enable", "http", "tcp", "udp", "docker"],
            prefix,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    struct Case {
        name: &'static str,
        labels: &'static [(&'static str, &'static str)],
        /// Expected `http` section as JSON.
        http: Value,
        /// Expected problems: (location, message substring).
        problems: &'static [(&'static str, &'static str)],
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "router with rule, entry points list, middlewares, tls and domains",
                labels: &[
                    ("traefik.http.routers.api.rule", "Host(`a.example.com`)"),
                    ("traefik.http.routers.api.entrypoints", "web,websecure"),
                    ("traefik.http.routers.api.middlewares", "auth, strip"),
                    ("traefik.http.routers.api.priority", "42"),
                    ("traefik.http.routers.api.tls", "true"),
                    ("traefik.http.routers.api.tls.certresolver", "le"),
                    ("traefik.http.routers.api.tls.domains[0].main", "example.com"),
                    ("traefik.http.routers.api.tls.domains[0].sans", "a.example.com,b.example.com"),
                    ("traefik.http.routers.api.tls.domains[1].main", "example.org"),
                    ("traefik.http.routers.api.service", "api-svc"),
                    ("traefik.http.routers.api.rulesyntax", "v2"),
                    ("traefik.http.routers.api.observability.accesslogs", "false"),
                ],
                http: json!({"routers": {"api": {
                    "rule": "Host(`a.example.com`)",
                    "entryPoints": ["web", "websecure"],
                    "middlewares": ["auth", "strip"],
                    "priority": 42,
                    "service": "api-svc",
                    "ruleSyntax": "v2",
                    "observability": {"accessLogs": false},
                    "tls": {"certResolver": "le", "domains": [
                        {"main": "example.com", "sans": ["a.example.com", "b.example.com"]},
                        {"main": "example.org"}]}
                }}}),
                problems: &[],
            },
            Case {
                name: "keys are case-insensitive, names kept as written",
                labels: &[
                    ("Traefik.HTTP.Routers.MyApp.Rule", "PathPrefix(`/`)"),
                    ("traefik.http.routers.MyApp.EntryPoints", "web"),
                    ("traefik.http.routers.MyApp.TLS", "true"),
                ],
                http: json!({"routers": {"MyApp": {"rule": "PathPrefix(`/`)", "service": "",
                    "entryPoints": ["web"], "tls": {}}}}),
                problems: &[],
            },
            Case {
                name: "service with singular server and load balancer options",
                labels: &[
                    ("traefik.http.services.web.loadbalancer.server.port", "8080"),
                    ("traefik.http.services.web.loadbalancer.server.scheme", "h2c"),
                    ("traefik.http.services.web.loadbalancer.server.weight", "3"),
                    ("traefik.http.services.web.loadbalancer.server.preservepath", "true"),
                    ("traefik.http.services.web.loadbalancer.passhostheader", "false"),
                    ("traefik.http.services.web.loadbalancer.healthcheck.path", "/health"),
                    ("traefik.http.services.web.loadbalancer.healthcheck.interval", "10s"),
                    ("traefik.http.services.web.loadbalancer.healthcheck.headers.X-Probe", "wharf"),
                    ("traefik.http.services.web.loadbalancer.sticky.cookie", "true"),
                    ("traefik.http.services.web.loadbalancer.sticky.cookie.name", "sid"),
                    ("traefik.http.services.web.loadbalancer.sticky.cookie.httponly", "true"),
                    ("traefik.http.services.web.loadbalancer.serverstransport", "mytransport@file"),
                    ("traefik.http.services.web.loadbalancer.responseforwarding.flushinterval", "250ms"),
                    ("traefik.http.services.web.loadbalancer.strategy", "p2c"),
                ],
                http: json!({"services": {"web": {"loadBalancer": {
                    "servers": [{"url": "", "port": "8080", "scheme": "h2c", "weight": 3, "preservePath": true}],
                    "passHostHeader": false,
                    "healthCheck": {"path": "/health", "interval": "10s", "headers": {"X-Probe": "wharf"}},
                    "sticky": {"cookie": {"name": "sid", "httpOnly": true, "secure": false}},
                    "serversTransport": "mytransport@file",
                    "responseForwarding": {"flushInterval": "250ms"},
                    "strategy": "p2c"
                }}}}),
                problems: &[],
            },
            Case {
                name: "server url and servers[i] syntax",
                labels: &[
                    ("traefik.http.services.ext.loadbalancer.server.url", "http://10.0.0.1:80"),
                    ("traefik.http.services.multi.loadbalancer.servers[0].url", "http://a"),
                    ("traefik.http.services.multi.loadbalancer.servers[1].url", "http://b"),
                ],
                http: json!({"services": {
                    "ext": {"loadBalancer": {"servers": [{"url": "http://10.0.0.1:80"}], "passHostHeader": true}},
                    "multi": {"loadBalancer": {"servers": [{"url": "http://a"}, {"url": "http://b"}], "passHostHeader": true}}
                }}),
                problems: &[],
            },
            Case {
                name: "bad router label disables only that router",
                labels: &[
                    ("traefik.http.routers.bad.rulee", "Host(`x`)"),
                    ("traefik.http.routers.good.rule", "Host(`y`)"),
                    ("traefik.http.services.s.loadbalancer.server.port", "80"),
                ],
                http: json!({"routers": {"good": {"rule": "Host(`y`)", "service": ""}},
                    "services": {"s": {"loadBalancer": {"servers": [{"url": "", "port": "80"}], "passHostHeader": true}}}}),
                problems: &[(
                    "traefik.http.routers.bad.rulee",
                    "unknown label `traefik.http.routers.bad.rulee`; did you mean `traefik.http.routers.bad.rule`?",
                )],
            },
            Case {
                name: "type error names the label",
                labels: &[
                    ("traefik.http.routers.r.priority", "high"),
                    ("traefik.http.services.s.loadbalancer.server.weight", "heavy"),
                    ("traefik.http.services.s2.loadbalancer.passhostheader", "maybe"),
                ],
                http: json!({}),
                problems: &[
                    ("traefik.http.routers.r.priority", "label `traefik.http.routers.r.priority`: invalid type"),
                    ("traefik.http.services.s.loadbalancer.server.weight", "invalid type"),
                    ("traefik.http.services.s2.loadbalancer.passhostheader", "invalid type"),
                ],
            },
            Case {
                name: "value and sub-keys conflict",
                labels: &[
                    ("traefik.http.routers.r.tls", "le"),
                    ("traefik.http.routers.r.tls.options", "modern"),
                ],
                http: json!({}),
                problems: &[("traefik.http.routers.r.tls", "also sub-keys")],
            },
            Case {
                name: "unknown top-level and kind labels",
                labels: &[
                    ("traefik.http.router.r.rule", "Host(`a`)"),
                    ("traefik.enabel", "true"),
                    ("traefik.http.routers.r", "x"),
                    ("traefik.http.routers.a@b.rule", "Host(`a`)"),
                    ("other.label", "ignored"),
                ],
                http: json!({}),
                problems: &[
                    ("traefik.enabel", "did you mean `traefik.enable`?"),
                    ("traefik.http.router.r.rule", "did you mean `traefik.http.routers`?"),
                    ("traefik.http.routers.a@b.rule", "`@` is not allowed"),
                    ("traefik.http.routers.r", "names a router but no field"),
                ],
            },
            Case {
                name: "malformed index",
                labels: &[("traefik.http.routers.r.tls.domains[x].main", "a")],
                http: json!({}),
                problems: &[("traefik.http.routers.r.tls.domains[x].main", "malformed label")],
            },
        ]
    }

    #[test]
    fn label_fixtures() {
        for case in cases() {
            let out = decode(&labels(case.labels), DEFAULT_PREFIX);
            let got = serde_json::to_value(&out.config.http).unwrap();
            assert_eq!(got, case.http, "case `{}`", case.name);
            assert_eq!(
                out.problems.len(),
                case.problems.len(),
                "case `{}`: problems {:#?}",
                case.name,
                out.problems
            );
            for (loc, msg) in case.problems {
                assert!(
                    out.problems
                        .iter()
                        .any(|p| p.location.as_deref() == Some(loc) && p.message.contains(msg)),
                    "case `{}`: no problem at {loc} containing {msg:?} in {:#?}",
                    case.name,
                    out.problems
                );
            }
        }
    }

    #[test]
    fn enable_and_docker_options() {
        let out = decode(
            &labels(&[
                ("traefik.enable", "true"),
                ("traefik.docker.network", "proxy"),
                ("traefik.docker.allownonrunning", "TRUE"),
            ]),
            DEFAULT_PREFIX,
        );
        assert_eq!(out.enable, Some(true));
        assert_eq!(out.docker.network.as_deref(), Some("proxy"));
        assert_eq!(out.docker.allow_non_running, Some(true));
        assert!(out.problems.is_empty());
        let out = decode(&labels(&[("traefik.enable", "yes")]), DEFAULT_PREFIX);
        assert_eq!(out.enable, None);
        assert_eq!(out.problems[0].kind, ItemKind::Source);
        assert_eq!(out.problems[0].location.as_deref(), Some("traefik.enable"));
    }

    #[test]
    fn custom_prefix() {
        let out = decode(
            &labels(&[
                ("wharf.http.routers.a.rule", "Host(`a`)"),
                ("traefik.http.routers.b.rule", "Host(`b`)"),
            ]),
            "wharf",
        );
        assert_eq!(
            out.config.http.routers.keys().collect::<Vec<_>>(),
            vec!["a"]
        );
    }

    #[test]
    fn tcp_and_udp_are_collected() {
        let out = decode(
            &labels(&[
                ("traefik.tcp.routers.db.rule", "HostSNI(`*`)"),
                ("traefik.tcp.services.db.loadbalancer.server.port", "5432"),
                ("traefik.udp.routers.dns.entrypoints", "dns"),
                ("traefik.udp.services.dns.loadbalancer.server.port", "53"),
            ]),
            DEFAULT_PREFIX,
        );
        assert!(out.config.is_empty());
        assert!(out.problems.is_empty());
        assert!(out.unsupported.tcp_routers.contains("db"));
        assert!(out.unsupported.tcp_services.contains("db"));
        assert!(out.unsupported.udp_routers.contains("dns"));
        assert!(out.unsupported.udp_services.contains("dns"));
    }

    #[test]
    fn middleware_labels_decode_per_item() {
        let out = decode(
            &labels(&[(
                "traefik.http.middlewares.strip.stripprefix.prefixes",
                "/a,/b",
            )]),
            DEFAULT_PREFIX,
        );
        // The spec's exact shape depends on the middlewares crate; the item must decode.
        assert!(out.problems.is_empty(), "{:#?}", out.problems);
        let spec = serde_json::to_value(&out.config.http.middlewares["strip"]).unwrap();
        let prefixes = spec
            .get("stripPrefix")
            .and_then(|s| s.get("prefixes"))
            .cloned()
            .unwrap_or(Value::Null);
        assert!(
            prefixes == json!(["/a", "/b"]) || prefixes == json!("/a,/b"),
            "{spec}"
        );
        let out = decode(
            &labels(&[("traefik.http.middlewares.bad.stripprefixx.prefixes", "/a")]),
            DEFAULT_PREFIX,
        );
        assert_eq!(out.problems.len(), 1, "{:#?}", out.problems);
        assert_eq!(out.problems[0].kind, ItemKind::Middleware);
        assert_eq!(out.problems[0].name, "bad");
        assert!(out.problems[0]
            .message
            .contains("did you mean `traefik.http.middlewares.bad.stripprefix.prefixes`?"));
    }

    #[test]
    fn split_key_handles_indexes() {
        assert_eq!(
            split_key("http.routers.a.tls.domains[0].main").unwrap(),
            vec!["http", "routers", "a", "tls", "domains", "0", "main"]
        );
        assert_eq!(split_key("a[1][2].b").unwrap(), vec!["a", "1", "2", "b"]);
        assert!(split_key("a..b").is_none());
        assert!(split_key("a[x]").is_none());
        assert!(split_key("a[1]b").is_none());
    }
}

#[cfg(test)]
mod middleware_label_tests {
    use super::*;

    /// Label spellings from Traefik's Docker middleware documentation: each must decode cleanly.
    #[test]
    fn traefik_documented_middleware_labels_decode() {
        let cases: &[(&str, &str)] = &[
            ("addprefix.prefix", "/foo"),
            ("basicauth.users", "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"),
            ("basicauth.realm", "MyRealm"),
            ("basicauth.removeheader", "true"),
            ("buffering.maxrequestbodybytes", "2000000"),
            ("buffering.retryexpression", "IsNetworkError() && Attempts() < 2"),
            ("chain.middlewares", "a,b"),
            ("circuitbreaker.expression", "NetworkErrorRatio() > 0.5"),
            ("compress", "true"),
            ("compress.excludedcontenttypes", "text/event-stream"),
            ("compress.minresponsebodybytes", "1200"),
            ("contenttype.autodetect", "false"),
            ("digestauth.users", "test:traefik:a2688e031edb4be6a3797f3882655c05"),
            ("errors.status", "500,501,503,505-599"),
            ("errors.service", "serviceError"),
            ("errors.query", "/{status}.html"),
            ("forwardauth.address", "https://example.com/auth"),
            ("forwardauth.trustforwardheader", "true"),
            ("forwardauth.authresponseheaders", "X-Auth-User, X-Secret"),
            ("grpcweb.alloworigins", "*"),
            ("headers.customrequestheaders.X-Script-Name", "test"),
            ("headers.customresponseheaders.X-Custom-Response-Header", "value"),
            ("headers.accesscontrolallowmethods", "GET,OPTIONS,PUT"),
            ("headers.accesscontrolalloworiginlist", "https://foo.bar.org,https://example.org"),
            ("headers.accesscontrolmaxage", "100"),
            ("headers.addvaryheader", "true"),
            ("headers.framedeny", "true"),
            ("headers.sslproxyheaders.X-Forwarded-Proto", "https"),
            ("headers.stsseconds", "31536000"),
            ("inflightreq.amount", "10"),
            ("inflightreq.sourcecriterion.ipstrategy.depth", "2"),
            ("ipallowlist.sourcerange", "127.0.0.1/32, 192.168.1.7"),
            ("ipallowlist.ipstrategy.excludedips", "127.0.0.1/32, 192.168.1.7"),
            ("passtlsclientcert.pem", "true"),
            ("passtlsclientcert.info.subject.commonname", "true"),
            ("ratelimit.average", "100"),
            ("ratelimit.burst", "50"),
            ("ratelimit.period", "1m"),
            ("ratelimit.sourcecriterion.requestheadername", "username"),
            ("redirectregex.regex", "^http://localhost/(.*)"),
            ("redirectregex.replacement", "http://mydomain/${1}"),
            ("redirectregex.permanent", "true"),
            ("redirectscheme.scheme", "https"),
            ("redirectscheme.permanent", "true"),
            ("replacepath.path", "/foo"),
            ("replacepathregex.regex", "^/foo/(.*)"),
            ("replacepathregex.replacement", "/bar/$1"),
            ("retry.attempts", "4"),
            ("retry.initialinterval", "100ms"),
            ("stripprefix.prefixes", "/foobar,/fiibar"),
            ("stripprefixregex.regex", "/foo/[a-z0-9]+/[0-9]+/"),
        ];
        let mut failures = Vec::new();
        for (i, (suffix, value)) in cases.iter().enumerate() {
            let key = format!("traefik.http.middlewares.m{i}.{suffix}");
            let labels: BTreeMap<String, String> = [(key.clone(), value.to_string())].into();
            let out = decode(&labels, DEFAULT_PREFIX);
            if !out.problems.is_empty()
                || !out.config.http.middlewares.contains_key(&format!("m{i}"))
            {
                failures.push(format!("{key}={value}: {:?}", out.problems));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
