//! compile's service step: validates every service of the merged config (one kind set, server
//! URLs, serversTransport and child references, cycles), reports it, and builds the runtime of
//! the valid ones. A parent (weighted/mirroring/failover) whose child is broken is disabled too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use wharf_providers::{DynamicConfig, ItemKind, Problem, Service, Severity};

use super::{CompileInput, ItemReport};
use crate::aggregate::provider_of;
use crate::service::{build_services, ServiceRuntime};

/// Checks and builds all services; fills `reports` (one entry per defined service).
pub(super) fn build(
    cfg: &DynamicConfig,
    input: &CompileInput<'_>,
    problems: &HashMap<(ItemKind, &str), Vec<&Problem>>,
    reports: &mut BTreeMap<String, ItemReport>,
) -> HashMap<String, Arc<ServiceRuntime>> {
    // Own checks first (no children), then children in dependency order with cycle detection.
    for (name, svc) in &cfg.http.services {
        let mut it = ItemReport::new(provider_of(name).unwrap_or_default());
        for p in problems
            .get(&(ItemKind::Service, name.as_str()))
            .into_iter()
            .flatten()
        {
            match p.severity {
                Severity::Error => it.disable(p.to_string()),
                Severity::Warning => it.warn(p.to_string()),
            }
        }
        for e in own_errors(cfg, svc) {
            it.disable(e);
        }
        reports.insert(name.clone(), it);
    }
    let mut state: HashMap<&str, Visit> = HashMap::new();
    for name in cfg.http.services.keys() {
        visit(cfg, input, name, &mut state, reports);
    }
    // The runtimes (balancers, health checks, pools) come from the service module, which keeps
    // their state in the registry across compiles.
    let files = |path: &str| input.files.get(path).and_then(|r| r.as_ref().ok().cloned());
    let (mut built, failed) = build_services(
        &cfg.http.services,
        &cfg.http.servers_transports,
        &files,
        &input.registries.services,
    );
    for (name, err) in failed {
        if let Some(it) = reports.get_mut(&name) {
            if !it.is_disabled() {
                it.disable(err);
            }
        }
    }
    built.retain(|name, _| reports.get(name).is_some_and(|it| !it.is_disabled()));
    built
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    InProgress,
    Done,
}

/// Children of a service (qualified names).
fn children(svc: &Service) -> Vec<&str> {
    let mut v = Vec::new();
    if let Some(w) = &svc.weighted {
        v.extend(w.services.iter().map(|c| c.name.as_str()));
    }
    if let Some(m) = &svc.mirroring {
        v.push(m.service.as_str());
        v.extend(m.mirrors.iter().map(|c| c.name.as_str()));
    }
    if let Some(f) = &svc.failover {
        v.push(f.service.as_str());
        if !f.fallback.is_empty() {
            v.push(f.fallback.as_str());
        }
    }
    v
}

fn visit<'c>(
    cfg: &'c DynamicConfig,
    input: &CompileInput<'_>,
    name: &'c str,
    state: &mut HashMap<&'c str, Visit>,
    reports: &mut BTreeMap<String, ItemReport>,
) {
    if state.contains_key(name) {
        return;
    }
    let Some(svc) = cfg.http.services.get(name) else {
        return;
    };
    state.insert(name, Visit::InProgress);
    let mut errs = Vec::new();
    for child in children(svc) {
        if child.is_empty() {
            errs.push("a child service has no name".to_string());
            continue;
        }
        if input.settings.internal_services.contains_key(child) {
            continue;
        }
        match state.get(child) {
            Some(Visit::InProgress) => {
                errs.push(format!(
                    "service `{child}` refers back to `{name}` (a cycle)"
                ));
                continue;
            }
            Some(Visit::Done) => {}
            None => visit(cfg, input, child, state, reports),
        }
        match reports.get(child) {
            None => errs.push(format!("service `{child}` does not exist")),
            Some(c) if c.is_disabled() => errs.push(format!("service `{child}` is disabled")),
            Some(_) => {}
        }
    }
    if let Some(it) = reports.get_mut(name) {
        for e in errs {
            it.disable(e);
        }
    }
    state.insert(name, Visit::Done);
}

/// Errors of the service itself (not of its children).
fn own_errors(cfg: &DynamicConfig, svc: &Service) -> Vec<String> {
    let mut errs = Vec::new();
    let kinds = [
        svc.load_balancer.is_some(),
        svc.weighted.is_some(),
        svc.mirroring.is_some(),
        svc.failover.is_some(),
    ]
    .iter()
    .filter(|k| **k)
    .count();
    match kinds {
        0 => errs.push(
            "service has no type (loadBalancer, weighted, mirroring or failover)".to_string(),
        ),
        1 => {}
        _ => errs.push(
            "service defines more than one type (loadBalancer, weighted, mirroring, failover)"
                .to_string(),
        ),
    }
    if let Some(lb) = &svc.load_balancer {
        for (i, s) in lb.servers.iter().enumerate() {
            if let Err(e) = check_server_url(&s.url) {
                errs.push(format!("servers[{i}].url `{}`: {e}", s.url));
            }
        }
        if !lb.servers_transport.is_empty()
            && !cfg
                .http
                .servers_transports
                .contains_key(&lb.servers_transport)
        {
            errs.push(format!(
                "serversTransport `{}` does not exist",
                lb.servers_transport
            ));
        }
    }
    if let Some(m) = &svc.mirroring {
        if m.service.is_empty() {
            errs.push("mirroring has no main service".to_string());
        }
        for c in &m.mirrors {
            if c.percent > 100 {
                errs.push(format!(
                    "mirror `{}`: percent {} is over 100",
                    c.name, c.percent
                ));
            }
        }
    }
    if let Some(f) = &svc.failover {
        if f.service.is_empty() {
            errs.push("failover has no main service".to_string());
        }
    }
    errs
}

/// A server URL must be absolute with a scheme wharf can speak and a host.
pub(crate) fn check_server_url(raw: &str) -> Result<(), String> {
    let u = url::Url::parse(raw).map_err(|e| e.to_string())?;
    match u.scheme() {
        "http" | "https" | "h2c" => {}
        other => {
            return Err(format!(
                "unsupported scheme `{other}` (expected http, https or h2c)"
            ))
        }
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("no host".to_string());
    }
    Ok(())
}
