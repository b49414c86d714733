//! aggregate: merges the providers' views into one config with qualified `name@provider` names
//! and default entry points, before compile.
//!
//! Two parts:
//! - [`merge`]: pure. Provider views in (in a fixed provider order), one `DynamicConfig` out, with
//!   every item and every reference qualified once, here. References without `@` resolve to the
//!   provider of the item that holds them (Traefik's rule). Problems are re-keyed to the qualified
//!   names so compile can attach them to report entries.
//! - [`spawn`]: the throttle. One task per provider: the first change is applied at once, later
//!   ones at most once per `providersThrottleDuration` (a throttle, not a debounce: a provider that
//!   changes continuously still gets applied once per window), and a view equal to the last
//!   applied one is skipped. The result is a watch of the latest per-provider views.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use wharf_providers::provider::ProviderHandle;
use wharf_providers::{DynamicConfig, ItemKind, Problem, Service};

/// Qualifies `name` with `provider` unless it already carries a provider (`x@docker`).
/// An empty name stays empty (a missing reference is reported by compile, not invented here).
pub fn qualify(name: &str, provider: &str) -> String {
    if name.is_empty() || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}@{provider}")
    }
}

/// The provider part of a qualified name (`api@docker` → `docker`), if any.
pub fn provider_of(qualified: &str) -> Option<&str> {
    qualified.rsplit_once('@').map(|(_, p)| p)
}

/// Merges provider views into one config. `views` are `(provider name, view)` in a fixed order
/// (the order providers were started); on a name clash (`a@docker` defined by two providers,
/// possible only for names carrying an explicit `@`), the first one wins and the clash is reported.
/// Routers without entry points get `default_entry_points`.
pub fn merge(
    views: &[(String, Arc<DynamicConfig>)],
    default_entry_points: &[String],
) -> DynamicConfig {
    let mut out = DynamicConfig::default();
    // Items are collected from every view, then sorted and built into each map at once (full
    // B-tree nodes, no search per insert): merging is on the path of every change.
    let mut routers = Vec::new();
    let mut services = Vec::new();
    let mut middlewares = Vec::new();
    let mut transports = Vec::new();
    for (provider, view) in views {
        let p = provider.as_str();
        let http = &view.http;
        routers.reserve(http.routers.len());
        for (name, router) in &http.routers {
            let mut r = router.clone();
            r.service = qualify(&r.service, p);
            for m in &mut r.middlewares {
                *m = qualify(m, p);
            }
            if r.entry_points.is_empty() {
                r.entry_points = default_entry_points.to_vec();
            }
            if let Some(tls) = r.tls.as_mut() {
                if !tls.options.is_empty() && tls.options != "default" {
                    tls.options = qualify(&tls.options, p);
                }
            }
            routers.push((qualify(name, p), p, r));
        }
        for (name, svc) in &http.services {
            services.push((qualify(name, p), p, qualify_service(svc, p)));
        }
        for (name, mw) in &http.middlewares {
            // References inside middleware specs resolve to the middleware's own provider too.
            let mut mw = mw.clone();
            if let Some(chain) = mw.chain.as_mut() {
                for m in &mut chain.middlewares {
                    *m = qualify(m, p);
                }
            }
            if let Some(errors) = mw.errors.as_mut() {
                errors.service = qualify(&errors.service, p);
            }
            middlewares.push((qualify(name, p), p, mw));
        }
        for (name, st) in &http.servers_transports {
            transports.push((qualify(name, p), p, st.clone()));
        }
    }
    out.http.routers = first_wins(routers, ItemKind::Router, &mut out.problems);
    out.http.services = first_wins(services, ItemKind::Service, &mut out.problems);
    out.http.middlewares = first_wins(middlewares, ItemKind::Middleware, &mut out.problems);
    out.http.servers_transports =
        first_wins(transports, ItemKind::ServersTransport, &mut out.problems);
    for (provider, view) in views {
        let p = provider.as_str();
        // TLS: certificates are a list (no names); options are qualified except `default`, which
        // any provider may define (Traefik's rule); stores are global (not qualified).
        out.tls
            .certificates
            .extend(view.tls.certificates.iter().cloned());
        for (name, o) in &view.tls.options {
            let q = if name == "default" {
                name.clone()
            } else {
                qualify(name, p)
            };
            out.tls.options.entry(q).or_insert_with(|| o.clone());
        }
        for (name, s) in &view.tls.stores {
            out.tls
                .stores
                .entry(name.clone())
                .or_insert_with(|| s.clone());
        }
        if out.tcp.is_none() {
            out.tcp = view.tcp.clone();
        }
        if out.udp.is_none() {
            out.udp = view.udp.clone();
        }
        for pr in &view.problems {
            let mut pr = pr.clone();
            pr.name = match pr.kind {
                ItemKind::Source => format!("{}@{p}", pr.name),
                ItemKind::TlsStore | ItemKind::TlsCertificate => pr.name,
                ItemKind::TlsOptions if pr.name == "default" => pr.name,
                _ => qualify(&pr.name, p),
            };
            out.problems.push(pr);
        }
    }
    out
}

/// One map of qualified items from every view's items (in view order). A name defined twice
/// (possible only with an explicit `@`) keeps its first definition; the others are reported.
fn first_wins<V>(
    mut items: Vec<(String, &str, V)>,
    kind: ItemKind,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, V> {
    // Stable: equal names stay in view order, so the first definition comes first.
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(String, V)> = Vec::with_capacity(items.len());
    for (q, p, v) in items {
        if kept.last().is_some_and(|(last, _)| *last == q) {
            problems.push(clash(kind, &q, p));
        } else {
            kept.push((q, v));
        }
    }
    // Sorted and unique: `collect` builds the tree bottom-up with full nodes.
    kept.into_iter().collect()
}

fn clash(kind: ItemKind, q: &str, provider: &str) -> Problem {
    Problem::error(
        kind,
        q,
        format!("`{q}` is also defined by provider `{provider}`; the first definition is used"),
    )
}

fn qualify_service(svc: &Service, p: &str) -> Service {
    let mut s = svc.clone();
    if let Some(lb) = s.load_balancer.as_mut() {
        lb.servers_transport = qualify(&lb.servers_transport, p);
    }
    if let Some(w) = s.weighted.as_mut() {
        for c in &mut w.services {
            c.name = qualify(&c.name, p);
        }
    }
    if let Some(m) = s.mirroring.as_mut() {
        m.service = qualify(&m.service, p);
        for c in &mut m.mirrors {
            c.name = qualify(&c.name, p);
        }
    }
    if let Some(f) = s.failover.as_mut() {
        f.service = qualify(&f.service, p);
        f.fallback = qualify(&f.fallback, p);
    }
    s
}

/// What an entry point adds to each of its routers (Traefik's "model" of an entry point):
/// `entryPoints.<name>.http.middlewares`, run before the router's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryPointModel {
    pub middlewares: Vec<String>,
}

/// Applies entry point models after [`merge`], as Traefik does: a router on an entry point with
/// a model gets the model's middlewares first (unqualified names resolve to the router's
/// provider). A router on several entry points is split per modelled entry point, the copy named
/// `<entryPoint>-<router>` (Traefik's naming), so each keeps its own chain.
pub fn apply_models(cfg: &mut DynamicConfig, models: &BTreeMap<String, EntryPointModel>) {
    if models.is_empty() {
        return;
    }
    let routers = std::mem::take(&mut cfg.http.routers);
    for (name, router) in routers {
        let provider = provider_of(&name).unwrap_or_default().to_string();
        let several = router.entry_points.len() > 1;
        let mut plain = router.clone();
        plain.entry_points.clear();
        for ep in &router.entry_points {
            match models.get(ep) {
                Some(model) => {
                    let mut cp = router.clone();
                    cp.entry_points = vec![ep.clone()];
                    let mut mws: Vec<String> = model
                        .middlewares
                        .iter()
                        .map(|m| qualify(m, &provider))
                        .collect();
                    mws.append(&mut cp.middlewares);
                    cp.middlewares = mws;
                    let cp_name = if several {
                        format!("{ep}-{name}")
                    } else {
                        name.clone()
                    };
                    cfg.http.routers.insert(cp_name, cp);
                }
                None => plain.entry_points.push(ep.clone()),
            }
        }
        if !plain.entry_points.is_empty() || router.entry_points.is_empty() {
            cfg.http.routers.insert(name, plain);
        }
    }
}

/// The latest applied view of every provider that has reported, in provider start order.
pub type Views = Arc<Vec<(String, Arc<DynamicConfig>)>>;

/// Starts one throttle task per provider and returns a watch of the applied views. The watch
/// starts empty; it changes once per applied provider change. Tasks end when their provider's
/// sender is dropped.
pub fn spawn(handles: Vec<ProviderHandle>, throttle: Duration) -> watch::Receiver<Views> {
    let order: Vec<String> = handles.iter().map(|h| h.name.clone()).collect();
    let (tx, rx) = watch::channel::<Views>(Arc::new(Vec::new()));
    let tx = Arc::new(tx);
    for h in handles {
        let tx = tx.clone();
        let order = order.clone();
        tokio::spawn(throttle_loop(h, throttle, tx, order));
    }
    rx
}

async fn throttle_loop(
    mut h: ProviderHandle,
    throttle: Duration,
    tx: Arc<watch::Sender<Views>>,
    order: Vec<String>,
) {
    let mut last: Option<Arc<DynamicConfig>> = None;
    let mut last_applied: Option<Instant> = None;
    // A view published before we subscribed counts as the first change.
    let mut pending = h.config.borrow().is_some();
    loop {
        if !pending && h.config.changed().await.is_err() {
            return;
        }
        pending = false;
        if let Some(t) = last_applied {
            // Throttle: wait out the window; changes arriving meanwhile coalesce into the latest.
            tokio::time::sleep_until(t + throttle).await;
        }
        let Some(view) = h.config.borrow_and_update().clone() else {
            continue;
        };
        if last
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(l, &view) || (**l == *view && l.problems == view.problems))
        {
            continue;
        }
        last = Some(view.clone());
        last_applied = Some(Instant::now());
        tracing::debug!(provider = %h.name, "provider configuration applied");
        tx.send_modify(|views| {
            let mut v: Vec<(String, Arc<DynamicConfig>)> = views
                .iter()
                .filter(|(n, _)| *n != h.name)
                .cloned()
                .collect();
            v.push((h.name.clone(), view));
            v.sort_by_key(|(n, _)| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
            *views = Arc::new(v);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_providers::provider::channel;
    use wharf_providers::{LoadBalancer, Router, Weighted, WeightedService};

    fn router_names(cfg: &DynamicConfig) -> Vec<&str> {
        cfg.http.routers.keys().map(String::as_str).collect()
    }

    fn view(routers: &[(&str, &str)]) -> DynamicConfig {
        let mut c = DynamicConfig::default();
        for (n, s) in routers {
            c.http.routers.insert(
                n.to_string(),
                Router {
                    service: s.to_string(),
                    rule: "Path(`/`)".into(),
                    ..Default::default()
                },
            );
        }
        c
    }

    /// A name with an explicit provider can be defined by two providers: the first provider's
    /// definition is kept, the other is reported on that name, and the rest merge as usual.
    #[test]
    fn a_name_defined_twice_keeps_the_first_and_reports_the_clash() {
        let file = view(&[("shared@docker", "from-file"), ("f", "s")]);
        let docker = view(&[("shared", "from-docker"), ("d", "s")]);
        let out = merge(
            &[
                ("file".to_string(), Arc::new(file)),
                ("docker".to_string(), Arc::new(docker)),
            ],
            &["web".to_string()],
        );
        assert_eq!(router_names(&out), ["d@docker", "f@file", "shared@docker"]);
        assert_eq!(out.http.routers["shared@docker"].service, "from-file@file");
        assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
        assert_eq!(out.problems[0].kind, ItemKind::Router);
        assert_eq!(out.problems[0].name, "shared@docker");
        assert!(
            out.problems[0].message.contains("provider `docker`"),
            "{:?}",
            out.problems[0]
        );
    }

    #[test]
    fn qualifies_items_and_references() {
        let mut a = view(&[("r", "s"), ("x", "s@docker")]);
        if let Some(r) = a.http.routers.get_mut("r") {
            r.middlewares = vec!["m".into(), "n@docker".into()];
        }
        a.http.services.insert(
            "w".into(),
            Service {
                weighted: Some(Weighted {
                    services: vec![WeightedService {
                        name: "s".into(),
                        weight: None,
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        a.http.services.insert(
            "s".into(),
            Service {
                load_balancer: Some(LoadBalancer {
                    servers_transport: "t".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        a.problems
            .push(Problem::error(ItemKind::Router, "r", "bad"));
        let m = merge(&[("file".into(), Arc::new(a))], &["web".into()]);
        let r = &m.http.routers["r@file"];
        assert_eq!(r.service, "s@file");
        assert_eq!(
            r.middlewares,
            vec!["m@file".to_string(), "n@docker".to_string()]
        );
        assert_eq!(r.entry_points, vec!["web".to_string()]);
        assert_eq!(m.http.routers["x@file"].service, "s@docker");
        let w = m.http.services["w@file"]
            .weighted
            .as_ref()
            .map(|w| w.services[0].name.clone());
        assert_eq!(w.as_deref(), Some("s@file"));
        let lb = m.http.services["s@file"]
            .load_balancer
            .as_ref()
            .map(|l| l.servers_transport.clone());
        assert_eq!(lb.as_deref(), Some("t@file"));
        assert_eq!(m.problems[0].name, "r@file");
    }

    #[test]
    fn keeps_explicit_entry_points_and_at_names() {
        let mut a = view(&[("api@internal", "api@internal")]);
        if let Some(r) = a.http.routers.get_mut("api@internal") {
            r.entry_points = vec!["traefik".into()];
        }
        let m = merge(&[("internal".into(), Arc::new(a))], &["web".into()]);
        assert_eq!(
            m.http.routers["api@internal"].entry_points,
            vec!["traefik".to_string()]
        );
    }

    #[test]
    fn merges_two_providers() {
        let a = view(&[("r", "s")]);
        let b = view(&[("r", "s")]);
        let m = merge(
            &[("file".into(), Arc::new(a)), ("docker".into(), Arc::new(b))],
            &[],
        );
        assert_eq!(router_names(&m), vec!["r@docker", "r@file"]);
        assert_eq!(m.http.routers["r@docker"].service, "s@docker");
    }

    #[test]
    fn entry_point_models_prepend_middlewares() {
        let mut a = view(&[("one", "s"), ("both", "s")]);
        if let Some(r) = a.http.routers.get_mut("one") {
            r.entry_points = vec!["websecure".into()];
            r.middlewares = vec!["own".into()];
        }
        if let Some(r) = a.http.routers.get_mut("both") {
            r.entry_points = vec!["web".into(), "websecure".into()];
        }
        let mut m = merge(&[("file".into(), Arc::new(a))], &[]);
        let models = BTreeMap::from([(
            "websecure".to_string(),
            EntryPointModel {
                middlewares: vec!["auth".into(), "x@docker".into()],
            },
        )]);
        apply_models(&mut m, &models);
        let one = &m.http.routers["one@file"];
        assert_eq!(one.middlewares, vec!["auth@file", "x@docker", "own@file"]);
        // Split: the plain copy keeps `web`, the modelled copy is `websecure-both@file`.
        assert_eq!(
            m.http.routers["both@file"].entry_points,
            vec!["web".to_string()]
        );
        let ws = &m.http.routers["websecure-both@file"];
        assert_eq!(ws.entry_points, vec!["websecure".to_string()]);
        assert_eq!(ws.middlewares, vec!["auth@file", "x@docker"]);
    }

    #[tokio::test]
    async fn throttle_applies_first_at_once_and_skips_equal() {
        let (tx, h) = channel("file");
        let mut rx = spawn(vec![h], Duration::from_millis(200));
        tx.publish(view(&[("a", "s")]));
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .ok();
        assert_eq!(rx.borrow_and_update().len(), 1);
        // Equal view: the provider's publish skips it; a new one arrives after the window.
        tx.publish(view(&[("a", "s")]));
        tx.publish(view(&[("b", "s")]));
        tx.publish(view(&[("c", "s")]));
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .ok();
        let v = rx.borrow_and_update().clone();
        // Coalesced: only the latest view of the window is applied.
        assert!(v[0].1.http.routers.contains_key("c"));
    }
}
