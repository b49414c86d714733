//! Services: where a matched request goes. Load balancers over servers (weighted round robin,
//! sticky cookies, active and passive health), weighted/mirroring/failover services, and the
//! pooled upstream clients described by serversTransports.
//!
//! Contract used by compile and proxy (keep these signatures):
//! - `ServiceRuntime::serve(&self, req, &RequestCtx) -> Result<Response<Body>, ProxyError>`: the
//!   proxy has already set forwarded headers and removed hop-by-hop headers; `serve` picks a
//!   server, rewrites the URI to it, sends, and handles WebSocket/`Upgrade` (101) by splicing the
//!   two upgraded connections.
//! - `ServiceRegistry` outlives snapshots: health state, pools, sticky and WRR state are keyed by
//!   a stable identity and carried across compiles.
//! - `build_services(services, transports, files, registry)`: compiles every service; a broken
//!   one is reported and left out, the rest build.
//!
//! Where wharf deliberately differs from Traefik v3 (documented, tested):
//! - weighted services skip children without a healthy server, and failover switches when the
//!   main service has none, whether or not the parent sets `healthCheck: {}`;
//! - the first active health check runs at once rather than after one interval;
//! - mirroring keeps at most `maxBodySize` bytes (4 MiB when unset or -1, where Traefik buffers
//!   without limit) and streams the main request instead of reading it first;
//! - passive health counts failures to connect or to get a response head (no status codes).
//!
//! Files: `loadbalancer.rs` (server pick and forwarding), `wrr.rs`, `sticky.rs`, `health.rs`
//! (active and passive), `weighted.rs`, `mirroring.rs`, `failover.rs`, `transport.rs` (pooled
//! clients, TLS, URI rewrite), `upgrade.rs` (101 splice).

mod failover;
mod health;
mod loadbalancer;
mod mirroring;
mod sticky;
pub(crate) mod transport;
mod upgrade;
mod weighted;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};

use http::{Request, Response, StatusCode};
use wharf_providers::{LoadBalancer, ServersTransport, Service};

use crate::body::Body;

pub use mirroring::DEFAULT_MIRROR_BODY_CAP;
pub use sticky::{
    cookie_value as sticky_cookie_value, default_cookie_name as sticky_default_cookie_name,
};
pub use transport::{ConnUpstream, Transport, TransportError};

use failover::FailoverRt;
use health::{HealthCfg, Monitor, PassiveCfg, ServerState};
use loadbalancer::{LoadBalancerRt, ServerRt, Strategy};
use mirroring::{Mirror, MirroringRt};
use transport::Target;
use weighted::WeightedRt;
use wrr::WrrState;

mod wrr;

/// Per-request facts the service and the access log need. Built by the proxy.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    pub client_addr: SocketAddr,
    pub entry_point: Arc<str>,
    pub router: Arc<str>,
    /// The request arrived over TLS.
    pub tls: bool,
    /// Where the load balancer notes the server it picked, for the access log.
    pub picked: PickedServer,
    /// The client connection's own upstream connection (see `transport::ConnUpstream`).
    pub upstream_conn: UpstreamConn,
}

/// A client connection's hold on its bound upstream connection, shared by its requests. A clone
/// (mirrors' copies of the context) starts without one: a mirror never takes the client's.
#[derive(Debug, Default)]
pub struct UpstreamConn(Option<Arc<ConnUpstream>>);

impl Clone for UpstreamConn {
    fn clone(&self) -> Self {
        UpstreamConn(None)
    }
}

impl UpstreamConn {
    /// A slot for one client connection (made once per connection by the proxy).
    pub fn new() -> Self {
        UpstreamConn(Some(Arc::default()))
    }

    /// The same slot, for one request of that connection.
    pub fn share(&self) -> Self {
        UpstreamConn(self.0.clone())
    }

    pub(crate) fn get(&self) -> Option<&Arc<ConnUpstream>> {
        self.0.as_ref()
    }
}

/// The server a load balancer picked (`ServiceURL` in the access log). Only written when
/// `wanted` (the access log is on), so an unobserved request takes no lock. A clone (mirrors'
/// copies of the context) starts empty and unwanted: mirrors never report.
#[derive(Debug, Default)]
pub struct PickedServer {
    wanted: bool,
    url: std::sync::Mutex<Option<Arc<str>>>,
}

impl Clone for PickedServer {
    fn clone(&self) -> Self {
        PickedServer::default()
    }
}

impl PickedServer {
    /// A slot that records (the access log is on).
    pub fn wanted() -> Self {
        PickedServer {
            wanted: true,
            url: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn set(&self, url: &Arc<str>) {
        if self.wanted {
            *self
                .url
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.clone());
        }
    }

    /// The last server picked (the one that answered, after retries).
    pub fn take(&self) -> Option<Arc<str>> {
        if !self.wanted {
            return None;
        }
        self.url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Why forwarding failed; its source decides the status code, the log line and retries.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No server is healthy (or the service has none): 503.
    #[error("no available server")]
    NoServer,
    /// Connecting to or talking with the server failed: 502.
    #[error("bad gateway: {0}")]
    Upstream(String),
    /// The server did not answer in time: 504.
    #[error("gateway timeout")]
    Timeout,
    /// The client's request could not be forwarded (bad URI for the target, body too large): 4xx.
    #[error("bad request: {0}")]
    Downstream(String),
    /// A bug or an impossible state: 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoServer => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Downstream(_) => StatusCode::BAD_REQUEST,
            ProxyError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A compiled service, shared by every route that uses it.
pub struct ServiceRuntime {
    pub name: Arc<str>,
    kind: Kind,
}

enum Kind {
    LoadBalancer(LoadBalancerRt),
    Weighted(WeightedRt),
    Mirroring(MirroringRt),
    Failover(FailoverRt),
    /// A placeholder that always answers 503 (for callers that need a service object for a
    /// name that failed to build).
    Unavailable,
    /// Answered inside wharf (`api@internal`, `dashboard@internal`).
    Internal(Arc<dyn InternalHandler>),
}

/// A service wharf answers itself (the API and dashboard as `api@internal` /
/// `dashboard@internal`), so routers can reference it and protect it with middlewares.
pub trait InternalHandler: Send + Sync + 'static {
    fn handle(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body>;
}

impl std::fmt::Debug for ServiceRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceRuntime")
            .field("name", &self.name)
            .field("kind", &self.kind_name())
            .finish()
    }
}

/// Health of one server as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStatus {
    pub url: Arc<str>,
    pub up: bool,
}

impl ServiceRuntime {
    /// A service that always answers 503 `no available server`.
    pub fn unavailable(name: impl Into<Arc<str>>) -> ServiceRuntime {
        ServiceRuntime {
            name: name.into(),
            kind: Kind::Unavailable,
        }
    }

    /// A service answered by `handler` inside wharf (`@internal` services).
    pub fn internal(
        name: impl Into<Arc<str>>,
        handler: Arc<dyn InternalHandler>,
    ) -> ServiceRuntime {
        ServiceRuntime {
            name: name.into(),
            kind: Kind::Internal(handler),
        }
    }

    /// The configuration key of the service's kind (`loadBalancer`, `weighted`, ...), for the API.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::LoadBalancer(_) => "loadBalancer",
            Kind::Weighted(_) => "weighted",
            Kind::Mirroring(_) => "mirroring",
            Kind::Failover(_) => "failover",
            Kind::Unavailable => "unavailable",
            Kind::Internal(_) => "internal",
        }
    }

    pub async fn serve(
        &self,
        req: Request<Body>,
        ctx: &RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        match &self.kind {
            Kind::LoadBalancer(lb) => lb.serve(req, ctx).await,
            Kind::Weighted(w) => w.serve(req, ctx).await,
            Kind::Mirroring(m) => m.serve(req, ctx).await,
            Kind::Failover(f) => f.serve(req, ctx).await,
            Kind::Unavailable => Err(ProxyError::NoServer),
            Kind::Internal(h) => Ok(h.handle(req, ctx)),
        }
    }

    /// `serve` behind a named future type, for parents calling children (recursion needs a box).
    pub(crate) fn serve_dyn<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Body>, ProxyError>> + Send + 'a>> {
        Box::pin(self.serve(req, ctx))
    }

    /// Whether the service has at least one healthy server (through its children).
    pub fn is_up(&self) -> bool {
        match &self.kind {
            Kind::LoadBalancer(lb) => lb.is_up(),
            Kind::Weighted(w) => w.is_up(),
            Kind::Mirroring(m) => m.is_up(),
            Kind::Failover(f) => f.is_up(),
            Kind::Unavailable => false,
            Kind::Internal(_) => true,
        }
    }

    /// Per-server health of a load balancer (`None` for other kinds), for the API.
    pub fn server_status(&self) -> Option<Vec<ServerStatus>> {
        match &self.kind {
            Kind::LoadBalancer(lb) => Some(
                lb.servers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ServerStatus {
                        url: s.url.clone(),
                        up: lb.server_up(i),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// State that survives configuration swaps (health, pools, balancer positions). Entries are
/// weak: whatever no snapshot uses any more is dropped (health tasks stop) and pruned.
pub struct ServiceRegistry {
    inner: Mutex<RegistryInner>,
    /// Where health checks run when `build_services` is called off the runtime (captured at
    /// creation when there is one).
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for ServiceRegistry {
    fn default() -> Self {
        ServiceRegistry {
            inner: Mutex::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

#[derive(Default)]
struct RegistryInner {
    /// transport config key → pooled clients.
    transports: HashMap<String, Weak<Transport>>,
    /// (service, server URL) → health state.
    servers: HashMap<(String, String), Weak<ServerState>>,
    /// (service, server URL, health config) → running active check.
    monitors: HashMap<(String, String, String), Weak<Monitor>>,
    /// (service, handler list) → round-robin position.
    wrr: HashMap<String, Weak<WrrState>>,
}

impl std::fmt::Debug for ServiceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ServiceRegistry");
        if let Ok(inner) = self.inner.lock() {
            d.field("transports", &inner.transports.len())
                .field("servers", &inner.servers.len())
                .field("health_checks", &inner.monitors.len());
        }
        d.finish()
    }
}

impl ServiceRegistry {
    pub fn new() -> ServiceRegistry {
        ServiceRegistry::default()
    }

    /// A registry whose health checks run on `runtime` (for callers that compile on a thread
    /// outside the Tokio runtime).
    pub fn with_runtime(runtime: tokio::runtime::Handle) -> ServiceRegistry {
        ServiceRegistry {
            inner: Mutex::default(),
            runtime: Some(runtime),
        }
    }

    /// Number of active health checks running (for the API and tests).
    pub fn health_check_count(&self) -> usize {
        self.lock()
            .monitors
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Number of pooled transports alive.
    pub fn transport_count(&self) -> usize {
        self.lock()
            .transports
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryInner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl RegistryInner {
    fn prune(&mut self) {
        self.transports.retain(|_, w| w.strong_count() > 0);
        self.servers.retain(|_, w| w.strong_count() > 0);
        self.monitors.retain(|_, w| w.strong_count() > 0);
        self.wrr.retain(|_, w| w.strong_count() > 0);
    }
}

fn reuse<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, Weak<V>>,
    key: K,
    make: impl FnOnce() -> V,
) -> Arc<V> {
    if let Some(v) = map.get(&key).and_then(Weak::upgrade) {
        return v;
    }
    let v = Arc::new(make());
    map.insert(key, Arc::downgrade(&v));
    v
}

/// Compiled services by qualified name.
pub type BuiltServices = HashMap<String, Arc<ServiceRuntime>>;

/// Compiles every service. Names (and references inside weighted/mirroring/failover) are
/// qualified by the caller. A service with a bad server URL, none or several kinds, an unknown
/// child, a reference cycle or a broken serversTransport is reported and left out; the rest
/// build. Pure except that it reuses long-lived state from the registry (and starts the health
/// checks of servers that are new to it).
pub fn build_services(
    services: &BTreeMap<String, Service>,
    transports: &BTreeMap<String, ServersTransport>,
    files: &dyn Fn(&str) -> Option<Arc<[u8]>>,
    registry: &Arc<ServiceRegistry>,
) -> (BuiltServices, Vec<(String, String)>) {
    let mut b = Builder {
        services,
        transports,
        files,
        registry,
        built: HashMap::new(),
        failed: BTreeMap::new(),
        visiting: HashSet::new(),
        transport_cache: HashMap::new(),
    };
    for name in services.keys() {
        let _ = b.build(name);
    }
    let Builder { built, failed, .. } = b;
    registry.lock().prune();
    (built, failed.into_iter().collect())
}

struct Builder<'a> {
    services: &'a BTreeMap<String, Service>,
    transports: &'a BTreeMap<String, ServersTransport>,
    files: &'a dyn Fn(&str) -> Option<Arc<[u8]>>,
    registry: &'a Arc<ServiceRegistry>,
    built: HashMap<String, Arc<ServiceRuntime>>,
    failed: BTreeMap<String, String>,
    visiting: HashSet<String>,
    transport_cache: HashMap<String, Result<Arc<Transport>, String>>,
}

impl Builder<'_> {
    fn build(&mut self, name: &str) -> Result<Arc<ServiceRuntime>, String> {
        if let Some(rt) = self.built.get(name) {
            return Ok(rt.clone());
        }
        if let Some(e) = self.failed.get(name) {
            return Err(e.clone());
        }
        let Some(svc) = self.services.get(name) else {
            return Err(format!("unknown service {name:?}"));
        };
        if !self.visiting.insert(name.to_string()) {
            return Err(format!("reference cycle through service {name:?}"));
        }
        let result = self.build_kind(name, svc).map(|kind| {
            Arc::new(ServiceRuntime {
                name: Arc::from(name),
                kind,
            })
        });
        self.visiting.remove(name);
        match &result {
            Ok(rt) => {
                self.built.insert(name.to_string(), rt.clone());
            }
            Err(e) => {
                self.failed.insert(name.to_string(), e.clone());
            }
        }
        result
    }

    /// A child reference: its own error is prefixed so the parent's report names the chain.
    fn child(&mut self, parent: &str, child: &str) -> Result<Arc<ServiceRuntime>, String> {
        if child.is_empty() {
            return Err("a child service name is empty".into());
        }
        if child == parent {
            return Err(format!(
                "reference cycle: service {child:?} refers to itself"
            ));
        }
        if !self.services.contains_key(child) {
            return Err(format!("unknown service {child:?}"));
        }
        self.build(child).map_err(|e| {
            if e.starts_with("reference cycle") {
                e
            } else {
                format!("service {child:?} is broken: {e}")
            }
        })
    }

    fn build_kind(&mut self, name: &str, svc: &Service) -> Result<Kind, String> {
        let kinds = [
            svc.load_balancer.is_some().then_some("loadBalancer"),
            svc.weighted.is_some().then_some("weighted"),
            svc.mirroring.is_some().then_some("mirroring"),
            svc.failover.is_some().then_some("failover"),
        ];
        let set: Vec<&str> = kinds.iter().flatten().copied().collect();
        match set.len() {
            0 => {
                return Err(
                    "service has no type: set one of loadBalancer, weighted, mirroring, failover"
                        .into(),
                )
            }
            1 => {}
            _ => {
                return Err(format!(
                    "service has more than one type: {}",
                    set.join(", ")
                ))
            }
        }
        if let Some(lb) = &svc.load_balancer {
            return self.build_lb(name, lb).map(Kind::LoadBalancer);
        }
        if let Some(w) = &svc.weighted {
            let mut children = Vec::with_capacity(w.services.len());
            let mut weights = Vec::with_capacity(w.services.len());
            for ws in &w.services {
                children.push(self.child(name, &ws.name)?);
                weights.push(ws.weight.unwrap_or(1));
            }
            let names: Vec<&str> = w.services.iter().map(|s| s.name.as_str()).collect();
            let sticky = match w.sticky.as_ref().and_then(|s| s.cookie.as_ref()) {
                Some(c) => Some(sticky::Sticky::new(c, name, &names)?),
                None => None,
            };
            let wrr = self.wrr_state(
                name,
                w.services
                    .iter()
                    .map(|s| (s.name.as_str(), s.weight.unwrap_or(1))),
            );
            return Ok(Kind::Weighted(WeightedRt {
                children: children.into(),
                weights: weights.into(),
                wrr,
                sticky,
            }));
        }
        if let Some(m) = &svc.mirroring {
            let main = self.child(name, &m.service)?;
            let mut mirrors = Vec::with_capacity(m.mirrors.len());
            for ms in &m.mirrors {
                if ms.percent > 100 {
                    return Err(format!(
                        "mirror {:?}: percent {} is above 100",
                        ms.name, ms.percent
                    ));
                }
                mirrors.push(Mirror {
                    service: self.child(name, &ms.name)?,
                    percent: u64::from(ms.percent),
                    sent: AtomicU64::new(0),
                });
            }
            let max_body = match m.max_body_size {
                None | Some(-1) => DEFAULT_MIRROR_BODY_CAP,
                Some(n) if n < 0 => {
                    return Err(format!(
                        "mirroring.maxBodySize {n} is invalid (use -1 or a size)"
                    ))
                }
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            };
            return Ok(Kind::Mirroring(MirroringRt {
                main,
                mirrors: mirrors.into(),
                mirror_body: m.mirror_body.unwrap_or(true),
                max_body,
                total: AtomicU64::new(0),
            }));
        }
        if let Some(f) = &svc.failover {
            let main = self.child(name, &f.service)?;
            let fallback = if f.fallback.is_empty() {
                None
            } else {
                Some(self.child(name, &f.fallback)?)
            };
            return Ok(Kind::Failover(FailoverRt { main, fallback }));
        }
        Err("service has no type".into())
    }

    fn wrr_state<'s>(
        &self,
        service: &str,
        handlers: impl Iterator<Item = (&'s str, u32)>,
    ) -> Arc<WrrState> {
        let mut key = String::from(service);
        let mut len = 0;
        for (h, w) in handlers {
            key.push('\0');
            key.push_str(h);
            key.push('=');
            key.push_str(&w.to_string());
            len += 1;
        }
        reuse(&mut self.registry.lock().wrr, key, || WrrState::new(len))
    }

    /// Resolves a `serversTransport` reference: exact, then qualified with the service's
    /// provider; empty or `default` means the default transport.
    fn transport(&mut self, service: &str, reference: &str) -> Result<Arc<Transport>, String> {
        let provider = service.rsplit_once('@').map(|(_, p)| p);
        let resolved: Option<(&str, Option<&ServersTransport>)> = if let Some(t) =
            self.transports.get(reference)
        {
            Some((reference, Some(t)))
        } else if let Some(t) = provider
            .filter(|_| !reference.contains('@'))
            .and_then(|p| self.transports.get_key_value(&format!("{reference}@{p}")))
        {
            Some((t.0.as_str(), Some(t.1)))
        } else if reference.is_empty() || reference == "default" || reference == "default@internal"
        {
            Some(("", None))
        } else {
            None
        };
        let Some((key_name, cfg)) = resolved else {
            return Err(format!("unknown serversTransport {reference:?}"));
        };
        if let Some(cached) = self.transport_cache.get(key_name) {
            return cached.clone();
        }
        let default_cfg = ServersTransport::default();
        let cfg = cfg.unwrap_or(&default_cfg);
        let key = transport::transport_key(cfg, self.files);
        let existing = self
            .registry
            .lock()
            .transports
            .get(&key)
            .and_then(Weak::upgrade);
        let result = match existing {
            Some(t) => Ok(t),
            None => match Transport::new(cfg, self.files) {
                Ok(t) => {
                    let t = Arc::new(t);
                    self.registry
                        .lock()
                        .transports
                        .insert(key, Arc::downgrade(&t));
                    Ok(t)
                }
                Err(e) => Err(format!(
                    "serversTransport {:?}: {e}",
                    if key_name.is_empty() {
                        "default"
                    } else {
                        key_name
                    }
                )),
            },
        };
        self.transport_cache
            .insert(key_name.to_string(), result.clone());
        result
    }

    fn build_lb(&mut self, name: &str, lb: &LoadBalancer) -> Result<LoadBalancerRt, String> {
        let transport = self.transport(name, &lb.servers_transport)?;
        let strategy = match lb
            .strategy
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("wrr") => None,
            Some("p2c") => Some(Strategy::P2c),
            Some("hrw") => Some(Strategy::Hrw),
            Some("leasttime") => Some(Strategy::LeastTime(Arc::default())),
            Some(other) => {
                return Err(format!(
                    "loadBalancer.strategy {other:?} must be wrr, p2c, hrw or leasttime"
                ))
            }
        };
        let health = match &lb.health_check {
            Some(hc) => Some(HealthCfg::new(hc)?),
            None => None,
        };
        let health_key = lb
            .health_check
            .as_ref()
            .map(|hc| serde_json::to_string(hc).unwrap_or_default());
        let passive = lb.passive_health_check.as_ref().map(PassiveCfg::new);

        let mut servers = Vec::with_capacity(lb.servers.len());
        for (i, s) in lb.servers.iter().enumerate() {
            let target = Target::parse(&s.url, s.preserve_path.unwrap_or(false))
                .map_err(|e| format!("servers[{i}]: {e}"))?;
            let url = s.url.trim().to_string();
            let state = reuse(
                &mut self.registry.lock().servers,
                (name.to_string(), url.clone()),
                ServerState::default,
            );
            let monitor = match (&health, &health_key) {
                (Some(cfg), Some(hkey)) => {
                    // The transport shapes the probe too: a new one means a new check.
                    let key = (
                        name.to_string(),
                        url.clone(),
                        format!("{hkey}#{:p}", Arc::as_ptr(&transport)),
                    );
                    let mut inner = self.registry.lock();
                    match inner.monitors.get(&key).and_then(Weak::upgrade) {
                        Some(m) => Some(m),
                        None => {
                            let m = health::spawn_monitor(
                                self.registry.runtime.as_ref(),
                                Arc::from(name),
                                target.clone(),
                                cfg.clone(),
                                state.clone(),
                                transport.clone(),
                            )
                            .map(Arc::new);
                            match &m {
                                Some(m) => {
                                    inner.monitors.insert(key, Arc::downgrade(m));
                                }
                                None => tracing::warn!(
                                    service = name,
                                    server = %url,
                                    "no Tokio runtime: health check not started"
                                ),
                            }
                            m
                        }
                    }
                }
                _ => None,
            };
            let upstream = transport.upstream(target.scheme, &target.authority);
            servers.push(ServerRt {
                url: Arc::from(url.as_str()),
                target,
                upstream,
                weight: s.weight.unwrap_or(1),
                state,
                _monitor: monitor,
            });
        }
        let urls: Vec<&str> = servers.iter().map(|s| &*s.url).collect();
        let sticky = match lb.sticky.as_ref().and_then(|s| s.cookie.as_ref()) {
            Some(c) => Some(sticky::Sticky::new(c, name, &urls)?),
            None => None,
        };
        // Round-robin state (also leasttime's tie-break) survives rebuilds of the same servers.
        let strategy = match strategy {
            None => {
                Strategy::Wrr(self.wrr_state(name, servers.iter().map(|s| (&*s.url, s.weight))))
            }
            Some(Strategy::LeastTime(_)) => Strategy::LeastTime(
                self.wrr_state(name, servers.iter().map(|s| (&*s.url, s.weight))),
            ),
            Some(s) => s,
        };
        let weights: Box<[u32]> = servers.iter().map(|s| s.weight).collect();
        Ok(LoadBalancerRt {
            servers: servers.into(),
            weights,
            strategy,
            sticky,
            pass_host_header: lb.pass_host_header,
            active_health: health.is_some(),
            passive,
        })
    }
}
