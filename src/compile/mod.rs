//! compile(): the only door into the data plane. Pure: merged config + file contents + `now` +
//! registries in, an immutable `Snapshot` out. A broken router/service/middleware is disabled
//! with a reason in the report; the rest serve.
//!
//! Contract used by the proxy (keep these signatures):
//! - `RouteTable::find(&self, &RequestInfo) -> Option<&Arc<Route>>`: exact host candidates, then
//!   wildcard suffixes, then host-less routes; each list pre-merged and sorted by priority.
//!
//! Order of work: middlewares, then services, then routers (a router is disabled when its rule,
//! its entry points, its service or one of its middlewares is broken), then one route table per
//! entry point. Priority: explicit `priority` if set and non-zero, else the rule's length in
//! bytes; ties are broken by the qualified router name, ascending (Traefik leaves them to map
//! iteration order).

mod middlewares;
mod report;
mod services;
mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use wharf_middlewares::{self as mw, Filter};
use wharf_providers::{DynamicConfig, ItemKind, Problem, Severity};

pub use report::{ItemReport, Report, Status};
pub use table::{route_order, RouteTable};

use crate::aggregate::provider_of;
use crate::rule::{self, Rule, RuleSyntax};
use crate::service::{ServiceRegistry, ServiceRuntime};
use crate::snapshot::Snapshot;

/// One enabled router, compiled.
#[derive(Debug)]
pub struct Route {
    /// Qualified name (`name@provider`).
    pub name: Arc<str>,
    pub rule: Rule,
    pub priority: i64,
    pub service: Arc<ServiceRuntime>,
    /// Qualified names of the router's middlewares as configured (chains not expanded).
    pub middlewares: Arc<[Arc<str>]>,
    /// The compiled filter chain, chains expanded, in order: what the proxy walks per request
    /// (`wharf_middlewares::run_request` / `run_response`).
    pub filters: Arc<[Filter]>,
}

impl Route {
    /// A route without middlewares (tests and internal routers); set the other fields after.
    pub fn new(name: &str, rule: Rule, priority: i64, service: Arc<ServiceRuntime>) -> Route {
        Route {
            name: Arc::from(name),
            rule,
            priority,
            service,
            middlewares: no_middlewares(),
            filters: no_filters(),
        }
    }
}

// Most routers have no middlewares: they share one empty slice each instead of allocating an
// `Arc` header per router (32 bytes each for 10,000 routers).
fn no_middlewares() -> Arc<[Arc<str>]> {
    static EMPTY: std::sync::LazyLock<Arc<[Arc<str>]>> = std::sync::LazyLock::new(|| Arc::from([]));
    EMPTY.clone()
}

fn no_filters() -> Arc<[Filter]> {
    static EMPTY: std::sync::LazyLock<Arc<[Filter]>> = std::sync::LazyLock::new(|| Arc::from([]));
    EMPTY.clone()
}

/// The contents of files the configuration refers to (CA bundles, certificates, users files),
/// read and watched before compile: path → bytes, or the read error.
pub type FileContents = BTreeMap<String, Result<Arc<[u8]>, String>>;

/// What compile needs from the static configuration.
#[derive(Clone, Debug, Default)]
pub struct CompileSettings {
    /// Names of the configured entry points (routers naming another one get a warning).
    pub entry_points: Vec<String>,
    /// `core.defaultRuleSyntax`.
    pub default_rule_syntax: RuleSyntax,
    /// Services provided by wharf itself (`api@internal`, `ping@internal`, `noop@internal`...),
    /// which routers may name without a definition. Filled by the runtime as those land.
    pub internal_services: BTreeMap<String, Arc<ServiceRuntime>>,
    /// `entryPoints.<name>.http.tls`: default TLS for every router of that entry point (such a
    /// router then answers on TLS connections only, as if it had `tls` itself).
    pub entry_point_tls: BTreeMap<String, wharf_providers::RouterTls>,
}

/// State that outlives snapshots, keyed by stable identities (health, pools, buckets).
#[derive(Debug, Default)]
pub struct Registries {
    pub services: Arc<ServiceRegistry>,
    /// Rate-limit buckets, in-flight counters, digest nonces: swept of what a compile no longer
    /// uses.
    pub middlewares: Arc<mw::state::StateRegistry>,
    /// JWKS fetchers, Redis clients, quota book (`gateway::Gateway`); `None` in `wharf check`
    /// and tests that need no network helpers.
    pub backends: Option<Arc<dyn mw::Backends>>,
}

/// What the proxy runs beyond synchronous filters (src/proxy/chain.rs); the other proxy-run
/// middlewares report "not supported yet" instead of silently doing nothing.
fn mw_support() -> mw::ProxySupport {
    crate::proxy::middleware_support()
}

/// ForwardAuth with `tls`: builds (or reuses) the proxy's client for those settings from the
/// loaded files and attaches it to the filter. A bad CA/certificate/key is the middleware's error.
fn attach_auth_client(filter: &mut mw::Filter, files: &FileContents) -> Result<(), String> {
    if let mw::Filter::ForwardAuth(fa) = filter {
        if let Some(tls) = fa.tls.as_ref().filter(|t| t.is_set()) {
            let client = crate::proxy::auth_client_for(tls, files)?;
            fa.set_client(client);
        }
    }
    Ok(())
}

/// Everything compile reads. No I/O happens inside compile.
#[derive(Debug)]
pub struct CompileInput<'a> {
    /// The merged (aggregated, qualified) configuration.
    pub config: Arc<DynamicConfig>,
    pub settings: &'a CompileSettings,
    pub files: &'a FileContents,
    pub now: SystemTime,
    pub registries: &'a Registries,
}

/// Compiles the merged configuration into a snapshot (generation 0; the store numbers it).
pub fn compile(input: CompileInput<'_>) -> Snapshot {
    let cfg = &*input.config;
    let mut report = Report::default();

    // Provider problems, by kind and qualified name.
    let mut problems: HashMap<(ItemKind, &str), Vec<&Problem>> = HashMap::new();
    for p in &cfg.problems {
        match p.kind {
            ItemKind::Router | ItemKind::Service | ItemKind::Middleware => problems
                .entry((p.kind, p.name.as_str()))
                .or_default()
                .push(p),
            _ => report.problems.push(p.clone()),
        }
    }
    let attach = |item: &mut ItemReport, ps: Option<&Vec<&Problem>>| {
        for p in ps.into_iter().flatten() {
            match p.severity {
                Severity::Error => item.disable(p.to_string()),
                Severity::Warning => item.warn(p.to_string()),
            }
        }
    };
    // Items that exist only as problems (a router whose labels could not be decoded) still show.
    for ((kind, name), ps) in &problems {
        let map = match kind {
            ItemKind::Router => &mut report.routers,
            ItemKind::Service => &mut report.services,
            _ => &mut report.middlewares,
        };
        let defined = match kind {
            ItemKind::Router => cfg.http.routers.contains_key(*name),
            ItemKind::Service => cfg.http.services.contains_key(*name),
            _ => cfg.http.middlewares.contains_key(*name),
        };
        if !defined {
            let mut it = ItemReport::new(provider_of(name).unwrap_or_default());
            attach(&mut it, Some(ps));
            if it.status != Status::Disabled {
                it.disable("not defined");
            }
            map.insert(name.to_string(), it);
        }
    }

    // Middlewares: one type each; chains and errors pages refer to existing items, no cycles.
    input.registries.middlewares.begin();
    let mw_files: BTreeMap<String, String> = input
        .files
        .iter()
        .filter_map(|(p, c)| {
            let text = std::str::from_utf8(c.as_ref().ok()?).ok()?;
            Some((p.clone(), text.to_string()))
        })
        .collect();
    for (name, spec) in &cfg.http.middlewares {
        let mut it = ItemReport::new(provider_of(name).unwrap_or_default());
        attach(
            &mut it,
            problems.get(&(ItemKind::Middleware, name.as_str())),
        );
        match spec.kind() {
            Err(e) => it.disable(e.to_string()),
            // Chains are checked by `check_chains`; others compile once here for their errors.
            Ok(mw::MiddlewareKind::Chain) => {}
            Ok(_) => {
                let ctx = mw::CompileCtx {
                    files: &mw_files,
                    registry: None,
                    scope: name,
                    support: mw_support(),
                    backends: None,
                };
                match mw::compile(name, spec, &ctx) {
                    Err(e) => it.disable(e.to_string()),
                    Ok(mut f) => {
                        if let Err(e) = attach_auth_client(&mut f, input.files) {
                            it.disable(e);
                        }
                    }
                }
            }
        }
        if let Some(errors) = &spec.errors {
            if !errors.service.is_empty()
                && !cfg.http.services.contains_key(&errors.service)
                && !input
                    .settings
                    .internal_services
                    .contains_key(&errors.service)
            {
                it.disable(format!("service `{}` does not exist", errors.service));
            }
        }
        report.middlewares.insert(name.clone(), it);
    }
    middlewares::check_chains(cfg, &mut report.middlewares);

    // Services.
    let built = services::build(cfg, &input, &problems, &mut report.services);

    // Routers.
    let known_eps: BTreeSet<&str> = input
        .settings
        .entry_points
        .iter()
        .map(String::as_str)
        .collect();
    // Routers with a `tls` section serve TLS connections only, the others plain ones only
    // (Traefik keeps an HTTP and an HTTPS muxer per entry point).
    let mut per_ep: BTreeMap<String, Vec<Arc<Route>>> = BTreeMap::new();
    // TLS (src/tls): certificates and options first; TLS routers go to `per_ep_tls`.
    let mut tls = crate::tls::TlsBuilder::new(cfg, input.files, input.now);
    let mut per_ep_tls: BTreeMap<String, Vec<Arc<Route>>> = BTreeMap::new();
    for (name, r) in &cfg.http.routers {
        let mut it = ItemReport::new(provider_of(name).unwrap_or_default());
        attach(&mut it, problems.get(&(ItemKind::Router, name.as_str())));

        // Entry points.
        let mut eps = Vec::new();
        for ep in &r.entry_points {
            if known_eps.contains(ep.as_str()) {
                if !eps.contains(ep) {
                    eps.push(ep.clone());
                }
            } else {
                it.warn(format!("entry point `{ep}` does not exist"));
            }
        }
        if eps.is_empty() {
            it.disable("no valid entry point for this router");
        }
        it.using = eps.clone();

        // Rule.
        let syntax = match r
            .rule_syntax
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") => Some(input.settings.default_rule_syntax),
            Some("v3") => Some(RuleSyntax::V3),
            Some("v2") => Some(RuleSyntax::V2),
            Some(other) => {
                it.disable(format!(
                    "unknown rule syntax `{other}` (expected `v3` or `v2`)"
                ));
                None
            }
        };
        let rule = if r.rule.trim().is_empty() {
            it.disable("router has no rule");
            None
        } else if let Some(syntax) = syntax {
            match rule::parse(&r.rule, syntax) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    it.disable(format!("invalid rule `{}`: {e}", r.rule));
                    None
                }
            }
        } else {
            None
        };
        let priority = match r.priority {
            Some(p) if p != 0 => p,
            _ => r.rule.len() as i64,
        };
        it.priority = Some(priority);

        // Service.
        let service = if r.service.is_empty() {
            it.disable("router has no service");
            None
        } else if let Some(s) = input.settings.internal_services.get(&r.service) {
            Some(s.clone())
        } else if let Some(srep) = report.services.get_mut(&r.service) {
            srep.used_by.push(name.clone());
            match built.get(&r.service) {
                Some(s) if !srep.is_disabled() => Some(s.clone()),
                _ => {
                    it.disable(format!("service `{}` is disabled", r.service));
                    None
                }
            }
        } else {
            it.disable(format!("service `{}` does not exist", r.service));
            None
        };

        // Middlewares.
        let mut mws = Vec::with_capacity(r.middlewares.len());
        for m in &r.middlewares {
            match report.middlewares.get_mut(m) {
                Some(mrep) => {
                    mrep.used_by.push(name.clone());
                    if mrep.is_disabled() {
                        it.disable(format!("middleware `{m}` is disabled"));
                    }
                    mws.push(Arc::<str>::from(m.as_str()));
                }
                None => it.disable(format!("middleware `{m}` does not exist")),
            }
        }
        // The filter chain: chains flattened, one instance per router (rate-limit buckets and
        // in-flight counters are per router, as in Traefik), state kept in the registry.
        let mut filters = Vec::new();
        if !it.is_disabled() && !r.middlewares.is_empty() {
            let provider = provider_of(name).unwrap_or_default();
            let lookup = |n: &str| cfg.http.middlewares.get(n);
            match mw::expand_chains(&r.middlewares, provider, &lookup) {
                Err(e) => it.disable(e.to_string()),
                Ok(flat) => {
                    let ctx = mw::CompileCtx {
                        files: &mw_files,
                        registry: Some(&input.registries.middlewares),
                        scope: name,
                        support: mw_support(),
                        backends: input.registries.backends.as_deref(),
                    };
                    for m in &flat {
                        let Some(spec) = cfg.http.middlewares.get(m) else {
                            continue;
                        };
                        match mw::compile(m, spec, &ctx) {
                            // The negotiated coding is kept per chain position in 2 bits of
                            // a u128 (`FlowState`): no allocation per request.
                            Ok(f) if f.compress_policy().is_some() && filters.len() >= 64 => {
                                it.disable(format!(
                                    "middleware `{m}`: compress must be among the first 64 middlewares of a router"
                                ))
                            }
                            Ok(mut f) => match attach_auth_client(&mut f, input.files) {
                                Ok(()) => filters.push(f),
                                Err(e) => it.disable(format!("middleware `{m}`: {e}")),
                            },
                            Err(e) => it.disable(format!("middleware `{m}`: {e}")),
                        }
                    }
                }
            }
        }

        // TLS per entry point: the router's own `tls`, else the entry point's default.
        let tls_of: Vec<Option<&wharf_providers::RouterTls>> = eps
            .iter()
            .map(|ep| r.tls.as_deref().or(input.settings.entry_point_tls.get(ep)))
            .collect();
        for t in tls_of.iter().flatten() {
            if let Err(e) = tls.options(&t.options) {
                it.disable(e);
            }
        }
        let domains = rule.as_ref().map(Rule::domains).unwrap_or_default();

        if let (false, Some(rule), Some(service)) = (it.is_disabled(), rule, service) {
            let route = Arc::new(Route {
                name: Arc::from(name.as_str()),
                rule,
                priority,
                service,
                middlewares: if mws.is_empty() {
                    no_middlewares()
                } else {
                    mws.into()
                },
                filters: if filters.is_empty() {
                    no_filters()
                } else {
                    filters.into()
                },
            });
            for (ep, t) in eps.iter().zip(&tls_of) {
                let Some(t) = t else {
                    per_ep.entry(ep.clone()).or_default().push(route.clone());
                    continue;
                };
                per_ep_tls
                    .entry(ep.clone())
                    .or_default()
                    .push(route.clone());
                let mut names: Vec<String> = Vec::new();
                for d in &t.domains {
                    names.push(d.main.to_ascii_lowercase());
                    names.extend(d.sans.iter().map(|s| s.to_ascii_lowercase()));
                }
                names.extend(domains.iter().cloned());
                names.retain(|n| !n.is_empty());
                names.dedup();
                for w in tls.add_router(crate::tls::RouterTlsUse {
                    router: name.clone(),
                    options: t.options.clone(),
                    domains: names,
                }) {
                    if !it.errors.contains(&w) {
                        it.warn(w);
                    }
                }
            }
        }
        report.routers.insert(name.clone(), it);
    }

    input.registries.middlewares.sweep();

    let mut entry_points = HashMap::new();
    let mut tls_entry_points = HashMap::new();
    for ep in &input.settings.entry_points {
        let routes = per_ep.remove(ep).unwrap_or_default();
        entry_points.insert(Arc::from(ep.as_str()), RouteTable::build(routes));
        // Absent for entry points without TLS routers (their TLS connections get 404).
        if let Some(routes) = per_ep_tls.remove(ep) {
            tls_entry_points.insert(Arc::from(ep.as_str()), RouteTable::build(routes));
        }
    }
    let (tls, tls_problems) = tls.finish();
    report.problems.extend(tls_problems.problems);
    for (router, warnings) in tls_problems.router_warnings {
        if let Some(it) = report.routers.get_mut(&router) {
            for w in warnings {
                if !it.errors.contains(&w) {
                    it.warn(w);
                }
            }
        }
    }

    // The report was filled in ascending name order: half-full B-tree nodes without this.
    wharf_providers::compact(&mut report.routers);
    wharf_providers::compact(&mut report.services);
    wharf_providers::compact(&mut report.middlewares);

    Snapshot {
        generation: 0,
        entry_points,
        tls_entry_points,
        tls: Arc::new(tls),
        services: built,
        report,
        config: input.config.clone(),
    }
}

#[cfg(test)]
mod tests;
