//! run: the runtime wiring. Static config → logging → listeners (all bound before anything
//! serves) → providers → aggregate (throttled) → load referenced files → compile → store →
//! proxy on every entry point; SIGTERM/SIGINT stop accepting and let in-flight requests finish.
//!
//! Kept free of `anyhow` (the binary adds context); errors here are [`RunError`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use wharf_providers::DynamicConfig;

use std::sync::atomic::{AtomicBool, Ordering};

use wharf_providers::provider::ProviderHandle;

use crate::aggregate::{self, Views};
use crate::body::Body;
use crate::compile::{self, CompileInput, CompileSettings, FileContents, Registries, Report};
use crate::config::{self, Loaded, StaticConfig};
use crate::proxy::{
    self, CancellationToken, EntryPointRedirect, EntryPointSettings, HookCtx, PreRouteHook,
    PreRouteHooks, RespondingTimeouts, TrustSettings,
};
use crate::rule::RuleSyntax;

mod locate;
use crate::snapshot::SnapshotStore;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("entry point `{name}`: {reason}")]
    EntryPoint { name: String, reason: String },
    #[error("entry point `{name}`: cannot listen on {address}: {source} (is another process using the port?)")]
    Bind {
        name: String,
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("logging: {0}")]
    Logging(String),
    #[error("{0}")]
    Provider(String),
    #[error("{0}")]
    Observe(String),
}

/// Binds one listener. `[::]` is bound dual-stack; where IPv6 is unavailable it falls back to
/// `0.0.0.0`.
pub fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    let mk = |addr: SocketAddr| -> std::io::Result<std::net::TcpListener> {
        let domain = socket2::Domain::for_address(addr);
        let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
        if addr.is_ipv6() {
            s.set_only_v6(false)?;
        }
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(1024)?;
        Ok(s.into())
    };
    let std_l = match mk(addr) {
        Ok(l) => l,
        Err(e)
            if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                && e.kind() != std::io::ErrorKind::AddrInUse =>
        {
            let v4 = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), addr.port());
            mk(v4).map_err(|source| RunError::Bind {
                name: name.into(),
                address: v4,
                source,
            })?
        }
        Err(source) => {
            return Err(RunError::Bind {
                name: name.into(),
                address: addr,
                source,
            })
        }
    };
    TcpListener::from_std(std_l).map_err(|source| RunError::Bind {
        name: name.into(),
        address: addr,
        source,
    })
}

/// Binds every entry point before any serves, so a taken port fails the start with its name.
pub fn bind_all(
    entry_points: &[(String, SocketAddr)],
) -> Result<Vec<(String, TcpListener)>, RunError> {
    let mut out = Vec::with_capacity(entry_points.len());
    for (name, addr) in entry_points {
        let l = bind(name, *addr)?;
        let local = l.local_addr().unwrap_or(*addr);
        // Tests (and operators using port 0) read the bound address from this line.
        tracing::info!(entry_point = %name, address = %local, "entry point listening");
        out.push((name.clone(), l));
    }
    Ok(out)
}

/// Every file path the configuration refers to: serversTransport CAs and client certificates,
/// TLS certificates and client CAs, users files of basicAuth/digestAuth, forwardAuth TLS files.
/// Inline PEM (Traefik accepts it in the same fields) is not a path and is skipped.
pub fn referenced_paths(cfg: &DynamicConfig) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut add = |p: &str| {
        if !p.is_empty() && !p.contains("-----BEGIN") {
            paths.insert(p.to_string());
        }
    };
    for st in cfg.http.servers_transports.values() {
        st.root_cas.iter().for_each(|p| add(p));
        for c in &st.certificates {
            add(&c.cert_file);
            add(&c.key_file);
        }
    }
    for m in cfg.http.middlewares.values() {
        // usersFile of basicAuth / digestAuth, as the middlewares crate lists them.
        wharf_middlewares::referenced_files(m)
            .into_iter()
            .for_each(&mut add);
        if let Some(tls) = m.forward_auth.as_ref().and_then(|f| f.tls.as_ref()) {
            add(&tls.ca);
            add(&tls.cert);
            add(&tls.key);
        }
    }
    for c in &cfg.tls.certificates {
        add(&c.cert_file);
        add(&c.key_file);
    }
    for o in cfg.tls.options.values() {
        if let Some(ca) = &o.client_auth {
            ca.ca_files.iter().for_each(|p| add(p));
        }
    }
    for s in cfg.tls.stores.values() {
        if let Some(c) = &s.default_certificate {
            add(&c.cert_file);
            add(&c.key_file);
        }
    }
    paths
}

/// Reads every referenced file (see [`referenced_paths`]). This is the only I/O before compile.
pub fn load_files(cfg: &DynamicConfig) -> FileContents {
    referenced_paths(cfg)
        .into_iter()
        .map(|p| {
            let r = std::fs::read(&p).map(Arc::from).map_err(|e| e.to_string());
            (p, r)
        })
        .collect()
}

/// What identifies a file's content cheaply: modification time and length (`None`: unreadable).
type Stamp = Option<(SystemTime, u64)>;

fn stamps(paths: &BTreeSet<String>) -> Vec<(String, Stamp)> {
    paths
        .iter()
        .map(|p| {
            // `metadata` follows symlinks, so a Kubernetes secret's `..data` swap is seen.
            let st = std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (p.clone(), st)
        })
        .collect()
}

/// How often referenced files are checked for changes (a stat per file: cheap).
const FILE_POLL: Duration = Duration::from_secs(1);

/// What the compile loop needs besides the views.
#[derive(Debug)]
pub struct CompileLoop {
    pub settings: CompileSettings,
    pub default_entry_points: Vec<String>,
    /// `entryPoints.<name>.http.middlewares`, applied to the routers of each entry point.
    pub models: BTreeMap<String, aggregate::EntryPointModel>,
    pub registries: Arc<Registries>,
    pub store: SnapshotStore,
}

impl CompileLoop {
    /// Merges, loads files, compiles and stores once. Returns the new generation.
    pub fn apply(&self, views: &Views) -> u64 {
        self.apply_watched(views).0
    }

    /// [`apply`](Self::apply), also returning the stamps of the referenced files, taken before
    /// they were read (so a change during the read is seen on the next poll).
    fn apply_watched(&self, views: &Views) -> (u64, Vec<(String, Stamp)>) {
        let mut merged = aggregate::merge(views, &self.default_entry_points);
        aggregate::apply_models(&mut merged, &self.models);
        let merged = Arc::new(merged);
        let watched = stamps(&referenced_paths(&merged));
        let files = load_files(&merged);
        let started = std::time::Instant::now();
        let snap = compile::compile(CompileInput {
            config: merged,
            settings: &self.settings,
            files: &files,
            now: SystemTime::now(),
            registries: &self.registries,
        });
        crate::observe::metrics::record_compile(started.elapsed());
        let previous = self.store.load();
        log_report_changes(&previous.report, &snap.report);
        let routers = snap.report.routers.len();
        let g = self.store.store(snap);
        tracing::info!(
            generation = g,
            routers,
            took_ms = started.elapsed().as_millis() as u64,
            "configuration applied"
        );
        (g, watched)
    }

    /// Applies every change of `views` until the channel closes or `shutdown` fires.
    pub async fn run(
        self: Arc<Self>,
        mut views: watch::Receiver<Views>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Referenced files (certificates, CAs, users files) are watched by polling their stamps:
        // a change recompiles with the same views.
        let mut watched: Vec<(String, Stamp)> = Vec::new();
        let mut tick = tokio::time::interval(FILE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = views.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
                _ = tick.tick(), if !watched.is_empty() => {
                    let w = watched.clone();
                    let changed = tokio::task::spawn_blocking(move || {
                        let paths: BTreeSet<String> = w.iter().map(|(p, _)| p.clone()).collect();
                        stamps(&paths) != w
                    })
                    .await
                    .unwrap_or(false);
                    if !changed {
                        continue;
                    }
                    tracing::info!("a referenced file changed; recompiling");
                }
            }
            let v = views.borrow_and_update().clone();
            let me = self.clone();
            // Compile is CPU work (10k routers take a while): keep it off the async workers.
            match tokio::task::spawn_blocking(move || me.apply_watched(&v)).await {
                Ok((_, w)) => watched = w,
                Err(_) => tracing::error!("compile panicked; the previous snapshot keeps serving"),
            }
        }
    }
}

/// Logs errors that are new since the previous report (not every compile's full list).
fn log_report_changes(prev: &Report, next: &Report) {
    let old: BTreeSet<String> = prev.error_lines().into_iter().collect();
    for line in next.error_lines() {
        if old.contains(&line) {
            continue;
        }
        // A disabled item is an error (as Traefik logs it); a warning keeps serving.
        if line.starts_with("error") {
            tracing::error!("{line}");
        } else {
            tracing::warn!("{line}");
        }
    }
}

/// The entry points whose `http.middlewares` apply to their routers.
pub fn entry_point_models(cfg: &StaticConfig) -> BTreeMap<String, aggregate::EntryPointModel> {
    cfg.entry_points
        .iter()
        .filter(|(_, ep)| !ep.http.middlewares.is_empty())
        .map(|(name, ep)| {
            let model = aggregate::EntryPointModel {
                middlewares: ep.http.middlewares.clone(),
            };
            (name.clone(), model)
        })
        .collect()
}

/// What compile needs from the static configuration.
pub fn compile_settings(cfg: &StaticConfig) -> CompileSettings {
    CompileSettings {
        entry_points: cfg.entry_points.keys().cloned().collect(),
        default_rule_syntax: if cfg.core.default_rule_syntax.eq_ignore_ascii_case("v2") {
            RuleSyntax::V2
        } else {
            RuleSyntax::V3
        },
        internal_services: Default::default(),
        entry_point_tls: entry_point_tls(cfg),
    }
}

/// `entryPoints.<name>.http.tls` as the router-level TLS it stands for (src/tls).
fn entry_point_tls(
    cfg: &StaticConfig,
) -> std::collections::BTreeMap<String, wharf_providers::RouterTls> {
    cfg.entry_points
        .iter()
        .filter_map(|(name, ep)| {
            let t = ep.http.tls.as_ref()?;
            let domains = t
                .domains
                .iter()
                .map(|d| wharf_providers::Domain {
                    main: d.main.clone(),
                    sans: d.sans.clone(),
                })
                .collect();
            Some((
                name.clone(),
                wharf_providers::RouterTls {
                    options: t.options.clone(),
                    cert_resolver: t.cert_resolver.clone(),
                    domains,
                },
            ))
        })
        .collect()
}

fn trust(name: &str, key: &str, ips: &[String], insecure: bool) -> Result<TrustSettings, RunError> {
    let mut trusted_ips = Vec::with_capacity(ips.len());
    for ip in ips {
        let net =
            match ip.parse::<ipnet::IpNet>() {
                Ok(n) => n,
                Err(_) => ip.parse::<IpAddr>().map(ipnet::IpNet::from).map_err(|_| {
                    RunError::EntryPoint {
                        name: name.into(),
                        reason: format!("{key}: `{ip}` is neither an IP address nor a CIDR"),
                    }
                })?,
            };
        trusted_ips.push(net);
    }
    Ok(TrustSettings {
        trusted_ips,
        insecure,
    })
}

/// The proxy's view of entry point `name` (bound at `addr`).
pub fn entry_point_settings(
    cfg: &StaticConfig,
    name: &str,
    addr: SocketAddr,
) -> Result<EntryPointSettings, RunError> {
    let Some(ep) = cfg.entry_points.get(name) else {
        return Err(RunError::EntryPoint {
            name: name.into(),
            reason: "not configured".into(),
        });
    };
    let mut s = EntryPointSettings::new(name, addr);
    s.forwarded_headers = trust(
        name,
        "forwardedHeaders.trustedIPs",
        &ep.forwarded_headers.trusted_ips,
        ep.forwarded_headers.insecure,
    )?;
    if let Some(pp) = &ep.proxy_protocol {
        s.proxy_protocol = Some(trust(
            name,
            "proxyProtocol.trustedIPs",
            &pp.trusted_ips,
            pp.insecure,
        )?);
    }
    let nonzero = |d: wharf_providers::Duration| Some(d.get()).filter(|d| !d.is_zero());
    let rt = &ep.transport.responding_timeouts;
    s.responding_timeouts = RespondingTimeouts {
        read_timeout: nonzero(rt.read_timeout),
        write_timeout: nonzero(rt.write_timeout),
        idle_timeout: nonzero(rt.idle_timeout),
    };
    s.grace_timeout = ep.transport.life_cycle.grace_time_out.get();
    s.keep_alive_max_requests = ep.transport.keep_alive_max_requests;
    s.keep_alive_max_time = nonzero(ep.transport.keep_alive_max_time);
    s.sanitize_path = ep.http.sanitize_path;
    s.encode_query_semicolons = ep.http.encode_query_semicolons;
    s.http2_max_concurrent_streams = ep.http2.max_concurrent_streams;
    if ep.http.max_header_bytes > 0 {
        s.max_header_bytes = usize::try_from(ep.http.max_header_bytes).unwrap_or(usize::MAX);
    }
    if let Some(r) = ep
        .http
        .redirections
        .as_ref()
        .and_then(|r| r.entry_point.as_ref())
    {
        // `to` names an entry point (its port) or is an address such as `:443`.
        let target = cfg
            .entry_points
            .get(&r.to)
            .map(|t| t.address.as_str())
            .unwrap_or(r.to.as_str());
        let port = config::parse_address(target).ok().map(|a| a.addr.port());
        let scheme = if r.scheme.is_empty() {
            "https".to_string()
        } else {
            r.scheme.clone()
        };
        s.redirect = Some(EntryPointRedirect {
            scheme,
            port,
            permanent: r.permanent,
        });
    }
    Ok(s)
}

/// The ping endpoint as a pre-routing hook: `OK` while serving, `terminatingStatusCode` once
/// shutdown has begun (so load balancers stop sending traffic during the grace period).
pub fn ping_hook(terminating: Arc<AtomicBool>, terminating_status: u16) -> impl PreRouteHook {
    move |req: &http::Request<Body>, _ctx: &HookCtx<'_>| {
        if req.uri().path() != "/ping" {
            return None;
        }
        let (status, body) = if terminating.load(Ordering::Relaxed) {
            (
                http::StatusCode::from_u16(terminating_status)
                    .unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE),
                "",
            )
        } else {
            (http::StatusCode::OK, "OK")
        };
        let mut resp = http::Response::new(Body::full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Some(resp)
    }
}

/// Serves until SIGTERM/SIGINT: binds every entry point first (a taken port fails the start),
/// starts the throttled aggregate and the compile loop over `providers`, then the proxy on each
/// listener. On a signal: ping turns to its terminating status, listeners stop accepting, and
/// in-flight requests get each entry point's `graceTimeOut`.
pub async fn run(loaded: &Loaded, providers: Vec<ProviderHandle>) -> Result<(), RunError> {
    let cfg = &loaded.config;
    let listeners: Vec<(String, SocketAddr)> = cfg
        .listeners()
        .into_iter()
        .map(|(name, a)| (name, a.addr))
        .collect();
    let bound = bind_all(&listeners)?;

    let store = SnapshotStore::new();
    let api = crate::api::Api::from_config(cfg, &store, &providers);
    let mut settings = compile_settings(cfg);
    if let Some(api) = &api {
        api.register(&mut settings);
    }
    // Access log, metrics, request IDs, tracing (observe/): built once, one observer per
    // entry point below.
    let observability = crate::observe::Observability::from_config(cfg)
        .map_err(|e| RunError::Observe(e.to_string()))?;
    if let (Some(m), Some(prom)) = (
        &observability.metrics,
        cfg.metrics.as_ref().and_then(|m| m.prometheus.as_ref()),
    ) {
        if prom.manual_routing {
            // `metrics.prometheus.manualRouting`: no `/metrics` on the entry point; routers
            // name `prometheus@internal` (and can put middlewares in front of it).
            m.register(&mut settings);
        }
    }
    // API-gateway helpers: JWKS fetchers, Redis clients, local quota counters (restored from
    // `quotas.stateFile`, flushed periodically and at shutdown).
    let gateway = Arc::new(crate::gateway::Gateway::new());
    let quota_file = cfg
        .quotas
        .as_ref()
        .filter(|q| !q.state_file.is_empty())
        .map(|q| {
            let path = std::path::PathBuf::from(&q.state_file);
            crate::gateway::quota_file::load(gateway.quota_book(), &path);
            let every = q
                .flush_interval
                .map(|d| d.get())
                .unwrap_or(Duration::from_secs(10));
            tokio::spawn(crate::gateway::quota_file::flush_loop(
                gateway.quota_book().clone(),
                path.clone(),
                every,
            ));
            path
        });
    let compile_loop = Arc::new(CompileLoop {
        settings,
        default_entry_points: cfg.default_router_entry_points(),
        models: entry_point_models(cfg),
        registries: Arc::new(Registries {
            backends: Some(gateway.clone()),
            ..Registries::default()
        }),
        store: store.clone(),
    });
    observability.follow(&store);
    if let Some(m) = &observability.metrics {
        m.watch_providers(&providers);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    // ACME resolvers watch the snapshots and publish their certificates as providers.
    let acme = crate::acme::start(
        &cfg.certificates_resolvers,
        store.clone(),
        crate::acme::AcmeOptions {
            default_rule_syntax: compile_loop.settings.default_rule_syntax,
            entry_point_tls: compile_loop.settings.entry_point_tls.clone(),
            ..Default::default()
        },
    );
    if let Some(api) = &api {
        api.set_acme(acme.inventory.clone(), acme.renewals.clone());
    }
    let mut providers = providers;
    providers.extend(acme.providers.iter().cloned());
    let views = aggregate::spawn(providers, cfg.providers.providers_throttle_duration.get());
    let compiler = tokio::spawn(compile_loop.clone().run(views, stop_rx));

    let terminating = Arc::new(AtomicBool::new(false));
    let shutdown = CancellationToken::new();
    let mut servers = tokio::task::JoinSet::new();
    for (name, listener) in bound {
        let addr = listener.local_addr().map_err(|source| RunError::Bind {
            name: name.clone(),
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let mut settings = entry_point_settings(cfg, &name, addr)?;
        settings.observe = observability.for_entry_point(cfg, &name).map(Arc::new);
        let settings = Arc::new(settings);
        let mut hooks = PreRouteHooks::new();
        if acme.http_entry_points.contains(&name) {
            // Before any redirect, router or middleware (Traefik's HTTP-01 trap).
            hooks.add(crate::acme::HTTP01_PREFIX, acme.http01_hook());
        }
        if let (Some(m), Some(prom)) = (
            &observability.metrics,
            cfg.metrics.as_ref().and_then(|m| m.prometheus.as_ref()),
        ) {
            if !prom.manual_routing && prom.entry_point == name {
                let m = m.clone();
                hooks.add(
                    "/metrics",
                    move |req: &http::Request<Body>, _: &HookCtx<'_>| {
                        (req.uri().path() == "/metrics").then(|| m.response())
                    },
                );
            }
        }
        if let Some(ping) = cfg
            .ping
            .as_ref()
            .filter(|p| !p.manual_routing && p.entry_point == name)
        {
            hooks.add(
                "/ping",
                ping_hook(terminating.clone(), ping.terminating_status_code),
            );
        }
        if let Some(api) = &api {
            api.add_hooks(&name, &mut hooks);
        }
        servers.spawn(proxy::serve(
            listener,
            settings,
            store.cell(),
            Arc::new(hooks),
            shutdown.clone(),
        ));
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "wharf started");

    shutdown_signal().await;
    tracing::info!("shutting down: no new connections; in-flight requests get graceTimeOut");
    terminating.store(true, Ordering::Relaxed);
    shutdown.cancel();
    while servers.join_next().await.is_some() {}
    let _ = stop_tx.send(true);
    let _ = compiler.await;
    if let Some(path) = &quota_file {
        crate::gateway::quota_file::flush(gateway.quota_book(), path);
    }
    tracing::info!("stopped");
    Ok(())
}

/// Starts the providers the static configuration enables, in a fixed order (`file`, then
/// `docker` ...). The order decides which definition wins when two providers define the same
/// explicitly qualified name.
///
/// Hook for new providers: start it here and push its handle (the docker provider joins with
/// `providers.docker`; kubernetes and ACME likewise).
pub fn start_providers(cfg: &StaticConfig) -> Result<Vec<ProviderHandle>, RunError> {
    let mut handles = Vec::new();
    if let Some(file) = &cfg.providers.file {
        handles.push(start_file_provider(file)?);
    }
    if let Some(docker) = &cfg.providers.docker {
        handles.push(start_docker_provider(
            docker,
            cfg.providers.providers_throttle_duration.get(),
        ));
    }
    Ok(handles)
}

/// One `wharf check` result: printable lines and the number of errors among them.
#[derive(Debug, Default)]
pub struct CheckOutcome {
    pub lines: Vec<String>,
    pub errors: usize,
}

/// `wharf check` beyond the static config: every file-provider problem (file, key path, line)
/// and every compile-report error, located in the file that defines the item where possible.
/// Call inside a tokio runtime (service building may start health checks).
pub fn check_dynamic(cfg: &StaticConfig) -> CheckOutcome {
    let mut out = CheckOutcome::default();
    let Some(file) = &cfg.providers.file else {
        return out;
    };
    let view = match load_file_provider_once(file) {
        Ok((v, problems)) => {
            // Problems of whole files and of items the provider could not decode, each already
            // `file:line: key: message`.
            for (is_error, p) in problems {
                if is_error {
                    out.errors += 1;
                    out.lines.push(format!("error: {p}"));
                } else {
                    out.lines.push(format!("warning: {p}"));
                }
            }
            v
        }
        Err(e) => {
            out.lines.push(format!("error: providers.file: {e}"));
            out.errors += 1;
            return out;
        }
    };
    let sources = locate::read_sources(&file.filename, &file.directory);
    // The provider's problems were printed above; the report repeats them on their items.
    let seen: BTreeSet<String> = view.problems.iter().map(ToString::to_string).collect();
    let mut merged = aggregate::merge(
        &[("file".to_string(), Arc::new(view))],
        &cfg.default_router_entry_points(),
    );
    aggregate::apply_models(&mut merged, &entry_point_models(cfg));
    let settings = compile_settings(cfg);
    let registries = Registries::default();
    let files = load_files(&merged);
    let snap = compile::compile(CompileInput {
        config: Arc::new(merged),
        settings: &settings,
        files: &files,
        now: SystemTime::now(),
        registries: &registries,
    });
    let report = &snap.report;
    for (section, kind, items) in [
        ("routers", "router", &report.routers),
        ("services", "service", &report.services),
        ("middlewares", "middleware", &report.middlewares),
    ] {
        for (name, item) in items {
            let local = name.rsplit_once('@').map_or(name.as_str(), |(n, _)| n);
            for e in &item.errors {
                if seen.contains(e) {
                    continue;
                }
                let sev = if item.is_disabled() {
                    out.errors += 1;
                    "error"
                } else {
                    "warning"
                };
                let field = locate::field_of(kind, e);
                let key = match field {
                    Some(f) => format!("http.{section}.{local}.{f}"),
                    None => format!("http.{section}.{local}"),
                };
                let loc = locate::find(&sources, section, local, field)
                    .map(|(path, line)| format!("{}:{line}: ", path.display()))
                    .unwrap_or_default();
                out.lines
                    .push(format!("{sev}: {loc}{key}: {kind} `{name}`: {e}"));
            }
        }
    }
    // Problems of no router/service/middleware (a TLS certificate that cannot be read, unknown
    // TLS options): the running wharf logs them, so check must print them too.
    for p in &report.problems {
        let text = p.to_string();
        if seen.contains(&text) {
            continue;
        }
        let sev = match p.severity {
            wharf_providers::Severity::Error => {
                out.errors += 1;
                "error"
            }
            wharf_providers::Severity::Warning => "warning",
        };
        out.lines.push(format!("{sev}: {text}"));
    }
    out
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sets up tracing: `level` is Traefik's (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`,
/// `PANIC`; default `ERROR` in Traefik, wharf's default `INFO` when empty); `format` is
/// `common` (default) or `json`. `RUST_LOG` overrides the level when set.
pub fn init_logging(level: &str, format: &str) -> Result<(), RunError> {
    use tracing_subscriber::EnvFilter;
    let lvl = match level.to_ascii_lowercase().as_str() {
        "" | "info" => "info",
        "trace" => "trace",
        "debug" => "debug",
        "warn" | "warning" => "warn",
        "error" | "fatal" | "panic" => "error",
        other => {
            return Err(RunError::Logging(format!(
                "unknown log.level `{other}` (trace, debug, info, warn, error)"
            )))
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(lvl));
    // Colours only on a terminal: piped logs (containers, tests) stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stdout);
    let r = match format.to_ascii_lowercase().as_str() {
        "" | "common" => b.try_init(),
        "json" => b.json().try_init(),
        other => {
            return Err(RunError::Logging(format!(
                "unknown log.format `{other}` (common or json)"
            )))
        }
    };
    r.map_err(|e| RunError::Logging(e.to_string()))
}

/// `wharf healthcheck --ping`: GETs `http://<addr><path>` and succeeds on 200. A plain HTTP/1.1
/// exchange over a socket, so a `FROM scratch` image needs nothing else.
pub async fn healthcheck(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: wharf-healthcheck\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&buf);
        let status = line.split_whitespace().nth(1).unwrap_or("");
        if status == "200" {
            Ok(())
        } else {
            Err(format!(
                "ping answered `{}`",
                line.lines().next().unwrap_or("")
            ))
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer from {addr} within {timeout:?}"))?
}

fn file_settings(file: &config::FileProvider) -> wharf_providers::file::FileProviderSettings {
    let path = |s: &str| (!s.is_empty()).then(|| std::path::PathBuf::from(s));
    wharf_providers::file::FileProviderSettings {
        filename: path(&file.filename),
        directory: path(&file.directory),
        watch: file.watch,
    }
}

/// Starts the file provider (watching when `providers.file.watch`).
fn start_file_provider(file: &config::FileProvider) -> Result<ProviderHandle, RunError> {
    if file.filename.is_empty() && file.directory.is_empty() {
        return Err(RunError::Provider(
            "providers.file needs `filename` or `directory`".into(),
        ));
    }
    Ok(wharf_providers::file::spawn(file_settings(file)))
}

/// Reads the file provider's sources once (for `wharf check`): the view, and its problems as
/// `(is_error, "file:line: key.path: message")`.
fn load_file_provider_once(
    file: &config::FileProvider,
) -> Result<(DynamicConfig, Vec<(bool, String)>), String> {
    if file.filename.is_empty() && file.directory.is_empty() {
        return Err("providers.file needs `filename` or `directory`".into());
    }
    let (cfg, problems) = wharf_providers::file::load_once(&file_settings(file));
    let warnings: BTreeSet<String> = cfg
        .problems
        .iter()
        .filter(|p| p.severity == wharf_providers::Severity::Warning)
        .map(ToString::to_string)
        .collect();
    let lines = problems
        .into_iter()
        .map(|p| {
            let is_error = !warnings.contains(&p.message);
            // Messages start with `file:line:`; add the key path when the message lacks it.
            let text = if p.path.is_empty() || p.message.contains(&p.path) {
                p.message
            } else {
                match p.message.split_once(": ") {
                    Some((loc, rest)) => format!("{loc}: {}: {rest}", p.path),
                    None => format!("{}: {}", p.path, p.message),
                }
            };
            (is_error, text)
        })
        .collect();
    Ok((cfg, lines))
}

/// Starts the Docker provider (owner: the docker work). Returns at once: an engine that is down
/// never blocks the start; the provider reports `Error` and retries with backoff. Needs a tokio
/// runtime (it spawns its loop).
pub fn start_docker_provider(
    docker: &config::DockerProvider,
    throttle: std::time::Duration,
) -> ProviderHandle {
    // The static default equals Traefik's socket path; treat it as "not set" so DOCKER_HOST wins.
    let endpoint = Some(docker.endpoint.trim())
        .filter(|e| !e.is_empty() && *e != config::DEFAULT_DOCKER_ENDPOINT)
        .map(str::to_string);
    let settings = wharf_providers::docker::DockerSettings {
        endpoint,
        exposed_by_default: docker.exposed_by_default,
        default_rule: docker.default_rule.clone(),
        network: docker.network.clone(),
        constraints: docker.constraints.clone(),
        allow_empty_services: docker.allow_empty_services,
        use_bind_port_ip: docker.use_bind_port_ip,
        watch: docker.watch,
        label_prefix: docker.label_prefix.clone(),
        throttle,
        request_timeout: Some(docker.http_client_timeout.get())
            .filter(|d| !d.is_zero())
            .unwrap_or(std::time::Duration::from_secs(30)),
    };
    wharf_providers::docker::spawn(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_point_settings_from_static() {
        let mut cfg = StaticConfig::default();
        let mut web = config::EntryPoint {
            address: ":80".into(),
            ..Default::default()
        };
        web.forwarded_headers.trusted_ips = vec!["10.0.0.0/8".into(), "192.168.1.1".into()];
        web.http.redirections = Some(config::Redirections {
            entry_point: Some(config::RedirectEntryPoint {
                to: "websecure".into(),
                scheme: "https".into(),
                permanent: true,
                priority: 1,
            }),
        });
        cfg.entry_points.insert("web".into(), web);
        let secure = config::EntryPoint {
            address: ":8443".into(),
            ..Default::default()
        };
        cfg.entry_points.insert("websecure".into(), secure);
        let addr = SocketAddr::from(([127, 0, 0, 1], 80));
        let s = entry_point_settings(&cfg, "web", addr).map_err(|e| e.to_string());
        let Ok(s) = s else { panic!("{s:?}") };
        assert!(s
            .forwarded_headers
            .trusts("10.1.2.3".parse().unwrap_or(addr.ip())));
        assert!(s
            .forwarded_headers
            .trusts("192.168.1.1".parse().unwrap_or(addr.ip())));
        assert!(!s
            .forwarded_headers
            .trusts("192.168.1.2".parse().unwrap_or(addr.ip())));
        let r = s
            .redirect
            .as_ref()
            .map(|r| (r.scheme.as_str(), r.port, r.permanent));
        assert_eq!(r, Some(("https", Some(8443), true)));

        if let Some(e) = cfg.entry_points.get_mut("web") {
            e.forwarded_headers.trusted_ips = vec!["nope".into()];
        }
        let e = entry_point_settings(&cfg, "web", addr)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(e.as_ref().is_err_and(|m| m.contains("nope")), "{e:?}");
    }

    #[test]
    fn ping_answers_ok_then_terminating_status() {
        let terminating = Arc::new(AtomicBool::new(false));
        let hook = ping_hook(terminating.clone(), 503);
        let req = |path: &str| http::Request::builder().uri(path).body(Body::empty());
        let ctx = HookCtx {
            entry_point: "traefik",
            client_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
        };
        let Ok(ping) = req("/ping") else {
            panic!("request")
        };
        let status = hook.handle(&ping, &ctx).map(|r| r.status().as_u16());
        assert_eq!(status, Some(200));
        let Ok(other) = req("/pingx") else {
            panic!("request")
        };
        assert!(hook.handle(&other, &ctx).is_none());
        terminating.store(true, Ordering::Relaxed);
        let status = hook.handle(&ping, &ctx).map(|r| r.status().as_u16());
        assert_eq!(status, Some(503));
    }

    #[tokio::test]
    async fn bind_reports_taken_port() {
        let l = bind("a", SocketAddr::from(([127, 0, 0, 1], 0)));
        let Ok(l) = l else { panic!("bind failed") };
        let addr = l.local_addr().unwrap_or_else(|_| unreachable!());
        match bind("b", addr) {
            Err(e) => assert!(e.to_string().contains("entry point `b`"), "{e}"),
            Ok(_) => panic!("second bind should fail"),
        }
    }
}
