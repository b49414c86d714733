//! Prometheus metrics: Traefik's names and labels (so its Grafana dashboards work) plus wharf's
//! own, exposed in the text format at `/metrics` (a pre-routing hook on
//! `metrics.prometheus.entryPoint`, `traefik` by default).
//!
//! Hot path: the entry point's label sets live in its observer; router and service label sets
//! are preallocated whenever a snapshot is stored (a task follows the generation) and found by
//! the address of the snapshot's own name `Arc` (hashing a pointer, not a label string). Within
//! one owner, the series of each (code, method, protocol) sit in a fixed array of lazily
//! initialized slots: lookup is a short scan of integers, counting is atomic adds, no lock.
//! Cardinality is bounded: methods are the nine standard ones or `other`, protocols `http`,
//! `websocket`, `sse`, and each owner holds at most [`SLOTS`] series (more is counted in
//! `wharf_metrics_series_overflow_total`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use http::{Method, Response, StatusCode};
use wharf_providers::provider::{ProviderHandle, ProviderStatus};

use super::Finished;
use crate::body::Body;
use crate::config::Prometheus;
use crate::snapshot::{Snapshot, SnapshotStore};

/// Series per owner (entry point, router, service): distinct (code, method, protocol) triples.
pub const SLOTS: usize = 48;

const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other",
];
const PROTOCOLS: [&str; 3] = ["http", "websocket", "sse"];

/// Buckets of `wharf_compile_duration_seconds`.
const COMPILE_BUCKETS: [f64; 7] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

fn method_index(m: &Method) -> u32 {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// A series key: code (16 bits), method (8), protocol (8), then one byte per header label
/// (the index of its value; see [`HeaderLabel`]).
fn key(code: StatusCode, method: &Method, protocol: u32, headers: u32) -> u64 {
    (u64::from(code.as_u16()) << 48)
        | (u64::from(method_index(method)) << 40)
        | (u64::from(protocol) << 32)
        | u64::from(headers)
}

/// The header-label bits of a key.
const HEADER_BITS: u64 = 0xffff_ffff;

/// Most header labels (one byte each in the key).
pub const MAX_HEADER_LABELS: usize = 4;

/// Distinct values kept per header label; later values are counted under `other`, so a client
/// sending random values cannot grow the registry.
pub const MAX_HEADER_VALUES: usize = 64;

/// One `headerLabels` entry: label name, request header, and its values seen so far (index 0 is
/// the empty value of a request without the header).
pub struct HeaderLabel {
    label: String,
    header: http::HeaderName,
    values: std::sync::RwLock<Vec<String>>,
}

impl HeaderLabel {
    /// The index of `v` (interned on first sight, up to the bound; past it, `other`).
    fn index(&self, v: Option<&http::HeaderValue>) -> u32 {
        let Some(v) = v.and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) else {
            return 0;
        };
        {
            let vals = self
                .values
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(i) = vals.iter().position(|x| x == v) {
                return i as u32;
            }
            if vals.len() >= MAX_HEADER_VALUES {
                return MAX_HEADER_VALUES as u32;
            }
        }
        let mut vals = self
            .values
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = vals.iter().position(|x| x == v) {
            return i as u32;
        }
        if vals.len() >= MAX_HEADER_VALUES {
            return MAX_HEADER_VALUES as u32;
        }
        vals.push(v.to_string());
        (vals.len() - 1) as u32
    }

    fn value(&self, i: usize) -> String {
        if i >= MAX_HEADER_VALUES {
            return "other".into();
        }
        self.values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(i)
            .cloned()
            .unwrap_or_default()
    }
}

/// An owner's labels (`entrypoint`, or `router` and `service`, or `service`).
type Owner = Vec<(&'static str, String)>;

/// A series summed over header values (exposition only).
#[derive(Default)]
struct Sum {
    count: u64,
    sum_nanos: u64,
    buckets: Vec<u64>,
    request_bytes: u64,
    response_bytes: u64,
}

/// One label set's counters.
struct Series {
    key: u64,
    count: AtomicU64,
    sum_nanos: AtomicU64,
    /// Per bucket (not cumulative; summed at exposition), plus +Inf last.
    buckets: Box<[AtomicU64]>,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
}

impl Series {
    fn new(key: u64, nbuckets: usize) -> Self {
        Series {
            key,
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
            buckets: (0..=nbuckets).map(|_| AtomicU64::new(0)).collect(),
            request_bytes: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
        }
    }
}

/// The series of one owner.
pub struct SeriesSet {
    slots: Box<[OnceLock<Box<Series>>]>,
}

impl Default for SeriesSet {
    fn default() -> Self {
        SeriesSet {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl SeriesSet {
    fn get(&self, key: u64, nbuckets: usize) -> Option<&Series> {
        for slot in self.slots.iter() {
            let s = match slot.get() {
                Some(s) => s,
                None => slot.get_or_init(|| Box::new(Series::new(key, nbuckets))),
            };
            if s.key == key {
                return Some(s);
            }
        }
        None
    }

    fn iter(&self) -> impl Iterator<Item = &Series> {
        self.slots.iter().filter_map(|s| s.get().map(|b| &**b))
    }
}

/// An entry point's series and open connections.
pub struct EntryPointSeries {
    name: Arc<str>,
    set: SeriesSet,
    open: AtomicI64,
}

impl EntryPointSeries {
    pub fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }
}

/// Counts one open connection until dropped.
pub struct OpenConnection(Arc<EntryPointSeries>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

struct RouterSeries {
    router: Arc<str>,
    service: Arc<str>,
    set: Arc<SeriesSet>,
}

struct ServiceSeries {
    service: Arc<str>,
    set: Arc<SeriesSet>,
}

/// Hashes a pointer-sized key as itself: the keys are addresses of the snapshot's own name
/// `Arc`s, already unique, so the request path pays no SipHash.
#[derive(Default)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        // Allocations are 8- or 16-byte aligned: drop the always-zero bits, spread the rest.
        (self.0 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

type AddrMap<V> = HashMap<usize, V, std::hash::BuildHasherDefault<AddrHasher>>;

/// Label sets of the current snapshot, keyed by the address of the snapshot's name `Arc`.
#[derive(Default)]
struct Owners {
    routers: AddrMap<RouterSeries>,
    services: AddrMap<ServiceSeries>,
}

/// Sets kept by name so counters survive reloads (a router that stays keeps counting).
#[derive(Default)]
struct ByName {
    routers: HashMap<(Arc<str>, Arc<str>), Arc<SeriesSet>>,
    services: HashMap<Arc<str>, Arc<SeriesSet>>,
}

/// A histogram without labels (compile time).
struct Plain {
    count: AtomicU64,
    sum_nanos: AtomicU64,
    buckets: [AtomicU64; COMPILE_BUCKETS.len() + 1],
}

/// Process-wide figures that the compile loop reports without holding a `Metrics`.
struct Global {
    compile: Plain,
}

static GLOBAL: Global = Global {
    compile: Plain {
        count: AtomicU64::new(0),
        sum_nanos: AtomicU64::new(0),
        buckets: [const { AtomicU64::new(0) }; COMPILE_BUCKETS.len() + 1],
    },
};

/// Records one compile's duration (`wharf_compile_duration_seconds`); called by the runtime.
pub fn record_compile(d: Duration) {
    let g = &GLOBAL.compile;
    g.count.fetch_add(1, Ordering::Relaxed);
    g.sum_nanos.fetch_add(
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let secs = d.as_secs_f64();
    let i = COMPILE_BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(COMPILE_BUCKETS.len());
    g.buckets[i].fetch_add(1, Ordering::Relaxed);
}

/// The Prometheus registry.
pub struct Metrics {
    prefix: String,
    bounds: Vec<f64>,
    entry_point_labels: bool,
    router_labels: bool,
    service_labels: bool,
    /// `headerLabels`, sorted by label name (at most [`MAX_HEADER_LABELS`]).
    header_labels: Vec<HeaderLabel>,
    entry_points: Mutex<Vec<Arc<EntryPointSeries>>>,
    owners: ArcSwap<Owners>,
    by_name: Mutex<ByName>,
    reloads: AtomicU64,
    last_reload: AtomicU64,
    generation: AtomicU64,
    store: OnceLock<SnapshotStore>,
    access_log_dropped: OnceLock<Arc<AtomicU64>>,
    provider_errors: Mutex<Vec<(String, Arc<AtomicU64>)>>,
    overflow: AtomicU64,
    following: AtomicBool,
    /// `traefik_tls_certs_not_after` series of the snapshot's certificates, by generation
    /// (parsing certificates is not done per scrape).
    certs: Mutex<Option<(u64, Arc<Vec<CertSeries>>)>>,
}

/// One certificate's `traefik_tls_certs_not_after` labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct CertSeries {
    pub cn: String,
    pub serial: String,
    pub sans: String,
    pub not_after: i64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Metrics {
    /// From `metrics.prometheus` (`buckets`, `add*Labels`). The prefix is `traefik`; wharf's
    /// own metrics use `wharf`. `WHARF_METRICS_PREFIX` (environment) changes the first, for
    /// setups that run both side by side.
    pub fn new(p: &Prometheus) -> Self {
        let mut bounds: Vec<f64> = p
            .buckets
            .iter()
            .copied()
            .filter(|b| b.is_finite())
            .collect();
        if bounds.is_empty() {
            bounds = vec![0.1, 0.3, 1.2, 5.0];
        }
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let prefix = std::env::var("WHARF_METRICS_PREFIX")
            .ok()
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or_else(|| "traefik".into());
        Metrics {
            prefix,
            bounds,
            entry_point_labels: p.add_entry_points_labels,
            router_labels: p.add_routers_labels,
            service_labels: p.add_services_labels,
            header_labels: p
                .header_labels
                .iter()
                .filter_map(|(label, header)| {
                    let header = http::HeaderName::from_bytes(header.as_bytes()).ok()?;
                    let valid = !label.is_empty()
                        && !label.starts_with(|c: char| c.is_ascii_digit())
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    valid.then(|| HeaderLabel {
                        label: label.clone(),
                        header,
                        values: std::sync::RwLock::new(vec![String::new()]),
                    })
                })
                .take(MAX_HEADER_LABELS)
                .collect(),
            entry_points: Mutex::new(Vec::new()),
            owners: ArcSwap::from_pointee(Owners::default()),
            by_name: Mutex::new(ByName::default()),
            reloads: AtomicU64::new(0),
            last_reload: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            store: OnceLock::new(),
            access_log_dropped: OnceLock::new(),
            provider_errors: Mutex::new(Vec::new()),
            overflow: AtomicU64::new(0),
            following: AtomicBool::new(false),
            certs: Mutex::new(None),
        }
    }

    /// The prefix of Traefik's metric names (`traefik` unless changed).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The header-label bits of a request's key (0 without `headerLabels`).
    pub(crate) fn header_key(&self, headers: &http::HeaderMap) -> u32 {
        let mut k = 0u32;
        for (i, h) in self.header_labels.iter().enumerate() {
            k |= h.index(headers.get(&h.header)) << (8 * i);
        }
        k
    }

    /// Whether requests need [`Metrics::header_key`].
    pub(crate) fn has_header_labels(&self) -> bool {
        !self.header_labels.is_empty()
    }

    /// The series of entry point `name` (created once, at start-up).
    pub fn entry_point_set(&self, name: &str) -> Arc<EntryPointSeries> {
        let mut eps = self
            .entry_points
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = eps.iter().find(|e| &*e.name == name) {
            return e.clone();
        }
        let e = Arc::new(EntryPointSeries {
            name: Arc::from(name),
            set: SeriesSet::default(),
            open: AtomicI64::new(0),
        });
        eps.push(e.clone());
        e
    }

    pub(crate) fn set_access_log_drops(&self, c: Arc<AtomicU64>) {
        let _ = self.access_log_dropped.set(c);
    }

    /// Counts one finished request.
    pub(crate) fn record(&self, ep: &EntryPointSeries, f: &Finished) {
        let p = &f.pending;
        let protocol = if p.websocket {
            1
        } else if p.sse {
            2
        } else {
            0
        };
        let k = key(f.status, &p.method, protocol, p.header_labels);
        let nb = self.bounds.len();
        let nanos = u64::try_from(f.duration.as_nanos()).unwrap_or(u64::MAX);
        let bucket = {
            let secs = f.duration.as_secs_f64();
            self.bounds.iter().position(|b| secs <= *b).unwrap_or(nb)
        };
        let count = |set: &SeriesSet| match set.get(k, nb) {
            Some(s) => {
                s.count.fetch_add(1, Ordering::Relaxed);
                s.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
                s.buckets[bucket].fetch_add(1, Ordering::Relaxed);
                s.request_bytes
                    .fetch_add(p.request_content_size, Ordering::Relaxed);
                s.response_bytes
                    .fetch_add(f.content_size, Ordering::Relaxed);
            }
            None => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
        };
        if self.entry_point_labels {
            count(&ep.set);
        }
        if !(self.router_labels || self.service_labels) {
            return;
        }
        let owners = self.owners.load();
        if self.router_labels {
            if let (Some(r), Some(s)) = (&f.router, &f.service) {
                match owners.routers.get(&addr(r)) {
                    Some(rs) => count(&rs.set),
                    None => count(&self.router_by_name(r, s)),
                }
            }
        }
        if self.service_labels {
            if let Some(s) = &f.service {
                match owners.services.get(&addr(s)) {
                    Some(ss) => count(&ss.set),
                    None => count(&self.service_by_name(s)),
                }
            }
        }
    }

    /// Slow path: a request on a snapshot the registry has not seen (during a reload).
    fn router_by_name(&self, r: &Arc<str>, s: &Arc<str>) -> Arc<SeriesSet> {
        let mut by = self
            .by_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        by.routers
            .entry((r.clone(), s.clone()))
            .or_default()
            .clone()
    }

    fn service_by_name(&self, s: &Arc<str>) -> Arc<SeriesSet> {
        let mut by = self
            .by_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        by.services.entry(s.clone()).or_default().clone()
    }

    /// Preallocates the label sets of `snap`'s routers and services (keeping the counters of
    /// those that stay) and counts the reload.
    pub fn index(&self, snap: &Snapshot) {
        let mut owners = Owners::default();
        let mut by = self
            .by_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = ByName::default();
        for table in snap.entry_points.values() {
            let routes = table
                .hostless
                .iter()
                .chain(table.exact.values().flat_map(|v| v.iter()))
                .chain(table.suffixes.values().flat_map(|v| v.iter()));
            for route in routes {
                let service = route.service.name.clone();
                let rk = (route.name.clone(), service.clone());
                let rset = next
                    .routers
                    .entry(rk.clone())
                    .or_insert_with(|| by.routers.get(&rk).cloned().unwrap_or_default())
                    .clone();
                owners.routers.insert(
                    addr(&route.name),
                    RouterSeries {
                        router: route.name.clone(),
                        service: service.clone(),
                        set: rset,
                    },
                );
                let sset = next
                    .services
                    .entry(service.clone())
                    .or_insert_with(|| by.services.get(&service).cloned().unwrap_or_default())
                    .clone();
                owners.services.insert(
                    addr(&route.service.name),
                    ServiceSeries { service, set: sset },
                );
            }
        }
        *by = next;
        drop(by);
        self.owners.store(Arc::new(owners));
        if snap.generation > 0 {
            self.reloads.fetch_add(1, Ordering::Relaxed);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.last_reload.store(now, Ordering::Relaxed);
        }
        self.generation.store(snap.generation, Ordering::Relaxed);
    }

    /// Follows `store`: indexes every new snapshot. Idempotent.
    pub fn follow(self: Arc<Self>, store: SnapshotStore) {
        if self.following.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.store.set(store.clone());
        let mut rx = store.subscribe();
        self.index(&store.load());
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let _ = rx.borrow_and_update();
                self.index(&store.load());
            }
        });
    }

    /// Counts provider errors (`wharf_provider_errors_total{provider}`): each time a
    /// provider's status turns to an error.
    pub fn watch_providers(self: &Arc<Self>, providers: &[ProviderHandle]) {
        for p in providers {
            let counter = Arc::new(AtomicU64::new(0));
            self.provider_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((p.name.clone(), counter.clone()));
            let mut rx = p.status.clone();
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    if matches!(*rx.borrow_and_update(), ProviderStatus::Error(_)) {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let p = &self.prefix;
        let reloads = self.reloads.load(Ordering::Relaxed);
        gauge_header(
            &mut out,
            p,
            "config_reloads_total",
            "counter",
            "Config reloads",
        );
        let _ = writeln!(out, "{p}_config_reloads_total {reloads}");
        gauge_header(
            &mut out,
            p,
            "config_last_reload_success",
            "gauge",
            "Last config reload success",
        );
        let _ = writeln!(
            out,
            "{p}_config_last_reload_success {}",
            self.last_reload.load(Ordering::Relaxed)
        );

        let eps: Vec<Arc<EntryPointSeries>> = self
            .entry_points
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        gauge_header(
            &mut out,
            p,
            "open_connections",
            "gauge",
            "How many open connections exist, by entryPoint and protocol",
        );
        for ep in &eps {
            let _ = writeln!(
                out,
                "{p}_open_connections{{entrypoint=\"{}\",protocol=\"TCP\"}} {}",
                escape(&ep.name),
                ep.open.load(Ordering::Relaxed).max(0)
            );
        }

        if self.entry_point_labels {
            let sets: Vec<(Owner, &SeriesSet)> = eps
                .iter()
                .map(|e| (vec![("entrypoint", e.name.to_string())], &e.set))
                .collect();
            self.families(&mut out, "entrypoint", "entry point", &sets);
        }
        let owners = self.owners.load();
        if self.router_labels {
            let mut sets: Vec<(Owner, &SeriesSet)> = owners
                .routers
                .values()
                .map(|r| {
                    (
                        vec![
                            ("router", r.router.to_string()),
                            ("service", r.service.to_string()),
                        ],
                        &*r.set,
                    )
                })
                .collect();
            sets.sort_by(|a, b| a.0.cmp(&b.0));
            sets.dedup_by(|a, b| a.0 == b.0);
            self.families(&mut out, "router", "router", &sets);
        }
        if self.service_labels {
            let mut sets: Vec<(Owner, &SeriesSet)> = owners
                .services
                .values()
                .map(|s| (vec![("service", s.service.to_string())], &*s.set))
                .collect();
            sets.sort_by(|a, b| a.0.cmp(&b.0));
            sets.dedup_by(|a, b| a.0 == b.0);
            self.families(&mut out, "service", "service", &sets);

            if let Some(store) = self.store.get() {
                let snap = store.load();
                gauge_header(
                    &mut out,
                    p,
                    "service_server_up",
                    "gauge",
                    "service server is up, described by gauge value of 0 or 1.",
                );
                let mut names: Vec<&String> = snap.services.keys().collect();
                names.sort();
                for name in names {
                    let Some(servers) = snap.services[name].server_status() else {
                        continue;
                    };
                    for s in servers {
                        let _ = writeln!(
                            out,
                            "{p}_service_server_up{{service=\"{}\",url=\"{}\"}} {}",
                            escape(name),
                            escape(&s.url),
                            u8::from(s.up)
                        );
                    }
                }
            }
        }

        // Traefik's gauge over every certificate the snapshot serves (file and ACME), labelled
        // as Traefik does (`cn`, `serial`, `sans`): one series per certificate, so bounded by
        // the configuration.
        gauge_header(
            &mut out,
            p,
            "tls_certs_not_after",
            "gauge",
            "Certificate expiration timestamp",
        );
        for c in self.cert_series().iter() {
            let _ = writeln!(
                out,
                "{p}_tls_certs_not_after{{cn=\"{}\",sans=\"{}\",serial=\"{}\"}} {}",
                escape(&c.cn),
                escape(&c.sans),
                escape(&c.serial),
                c.not_after
            );
        }

        // wharf's own.
        gauge_header(
            &mut out,
            "wharf",
            "config_generation",
            "gauge",
            "Generation of the snapshot serving traffic",
        );
        let _ = writeln!(
            out,
            "wharf_config_generation {}",
            self.generation.load(Ordering::Relaxed)
        );
        let g = &GLOBAL.compile;
        gauge_header(
            &mut out,
            "wharf",
            "compile_duration_seconds",
            "histogram",
            "Time to compile a configuration into a snapshot",
        );
        let mut cum = 0;
        for (i, b) in COMPILE_BUCKETS.iter().enumerate() {
            cum += g.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "wharf_compile_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                fmt_f64(*b)
            );
        }
        cum += g.buckets[COMPILE_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "wharf_compile_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            out,
            "wharf_compile_duration_seconds_sum {}",
            fmt_f64(g.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9)
        );
        let _ = writeln!(
            out,
            "wharf_compile_duration_seconds_count {}",
            g.count.load(Ordering::Relaxed)
        );
        gauge_header(
            &mut out,
            "wharf",
            "provider_errors_total",
            "counter",
            "Times a provider reported an error",
        );
        for (name, c) in self
            .provider_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "wharf_provider_errors_total{{provider=\"{}\"}} {}",
                escape(name),
                c.load(Ordering::Relaxed)
            );
        }
        gauge_header(
            &mut out,
            "wharf",
            "accesslog_dropped_total",
            "counter",
            "Access-log lines dropped because the writer could not keep up",
        );
        let _ = writeln!(
            out,
            "wharf_accesslog_dropped_total {}",
            self.access_log_dropped
                .get()
                .map_or(0, |c| c.load(Ordering::Relaxed))
        );
        gauge_header(
            &mut out,
            "wharf",
            "metrics_series_overflow_total",
            "counter",
            "Requests not counted because an owner reached its series limit",
        );
        let _ = writeln!(
            out,
            "wharf_metrics_series_overflow_total {}",
            self.overflow.load(Ordering::Relaxed)
        );
        // Shared-limit store (Redis) failures by the policy that answered them.
        let failures = &wharf_middlewares::backends::STORE_FAILURES;
        gauge_header(
            &mut out,
            "wharf",
            "redis_failures_total",
            "counter",
            "Rate-limit and quota checks whose Redis call failed, by failOpen policy",
        );
        for (policy, n) in [("open", &failures.open), ("closed", &failures.closed)] {
            let _ = writeln!(
                out,
                "wharf_redis_failures_total{{policy=\"{policy}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out
    }

    fn cert_series(&self) -> Arc<Vec<CertSeries>> {
        let Some(store) = self.store.get() else {
            return Arc::default();
        };
        let snap = store.load();
        let mut cache = self
            .certs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((g, v)) = &*cache {
            if *g == snap.generation {
                return v.clone();
            }
        }
        let mut v: Vec<CertSeries> = Vec::new();
        for c in &snap.config.tls.certificates {
            let Ok(s) = crate::api::certs::summary(&c.cert_file) else {
                continue;
            };
            let series = CertSeries {
                cn: s.common_name,
                serial: s.serial,
                sans: s.dns_names.join(","),
                not_after: s.not_after,
            };
            if !v.contains(&series) {
                v.push(series);
            }
        }
        let v = Arc::new(v);
        *cache = Some((snap.generation, v.clone()));
        v
    }

    /// The four families of one owner kind: requests, duration, request and response bytes.
    /// Header labels (`headerLabels`) split `*_requests_total` only, as Traefik's; the other
    /// families sum the series that differ only by them.
    fn families(&self, out: &mut String, kind: &str, what: &str, sets: &[(Owner, &SeriesSet)]) {
        let p = &self.prefix;
        // Label names in lexical order, as Traefik's client writes them.
        let label = |key: u64, owner: &Owner, with_headers: bool| {
            let code = (key >> 48) & 0xffff;
            let method = METHODS[((key >> 40) & 0xff) as usize % METHODS.len()];
            let protocol = PROTOCOLS[((key >> 32) & 0xff) as usize % PROTOCOLS.len()];
            let mut pairs: Vec<(&str, String)> = vec![
                ("code", code.to_string()),
                ("method", method.to_string()),
                ("protocol", protocol.to_string()),
            ];
            pairs.extend(owner.iter().map(|(k, v)| (*k, v.clone())));
            if with_headers {
                for (i, h) in self.header_labels.iter().enumerate() {
                    let idx = ((key >> (8 * i)) & 0xff) as usize;
                    pairs.push((h.label.as_str(), h.value(idx)));
                }
            }
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let mut l = String::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    l.push(',');
                }
                let _ = write!(l, "{k}=\"{}\"", escape(v));
            }
            l
        };
        gauge_header(
            out,
            p,
            &format!("{kind}_requests_total"),
            "counter",
            &format!("How many HTTP requests processed on an {what}, partitioned by status code, protocol, and method."),
        );
        for (owner, set) in sets {
            for s in set.iter() {
                let _ = writeln!(
                    out,
                    "{p}_{kind}_requests_total{{{}}} {}",
                    label(s.key, owner, true),
                    s.count.load(Ordering::Relaxed)
                );
            }
        }
        // The other families: series summed over header values.
        let nb = self.bounds.len();
        let summed: Vec<(&Owner, BTreeMap<u64, Sum>)> = sets
            .iter()
            .map(|(owner, set)| {
                let mut m: BTreeMap<u64, Sum> = BTreeMap::new();
                for s in set.iter() {
                    let e = m.entry(s.key & !HEADER_BITS).or_insert_with(|| Sum {
                        buckets: vec![0; nb + 1],
                        ..Sum::default()
                    });
                    e.count += s.count.load(Ordering::Relaxed);
                    e.sum_nanos += s.sum_nanos.load(Ordering::Relaxed);
                    for (i, b) in s.buckets.iter().enumerate() {
                        e.buckets[i] += b.load(Ordering::Relaxed);
                    }
                    e.request_bytes += s.request_bytes.load(Ordering::Relaxed);
                    e.response_bytes += s.response_bytes.load(Ordering::Relaxed);
                }
                (owner, m)
            })
            .collect();
        gauge_header(
            out,
            p,
            &format!("{kind}_request_duration_seconds"),
            "histogram",
            &format!("How long it took to process the request on an {what}, partitioned by status code, protocol, and method."),
        );
        for (owner, m) in &summed {
            for (key, s) in m {
                let l = label(*key, owner, false);
                let mut cum = 0;
                for (i, b) in self.bounds.iter().enumerate() {
                    cum += s.buckets[i];
                    let _ = writeln!(
                        out,
                        "{p}_{kind}_request_duration_seconds_bucket{{{l},le=\"{}\"}} {cum}",
                        fmt_f64(*b)
                    );
                }
                cum += s.buckets[nb];
                let _ = writeln!(
                    out,
                    "{p}_{kind}_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {cum}"
                );
                let _ = writeln!(
                    out,
                    "{p}_{kind}_request_duration_seconds_sum{{{l}}} {}",
                    fmt_f64(s.sum_nanos as f64 / 1e9)
                );
                let _ = writeln!(
                    out,
                    "{p}_{kind}_request_duration_seconds_count{{{l}}} {}",
                    s.count
                );
            }
        }
        for (name, help, pick) in [
            (
                "requests_bytes_total",
                "The total size of requests in bytes",
                0,
            ),
            (
                "responses_bytes_total",
                "The total size of responses in bytes",
                1,
            ),
        ] {
            gauge_header(
                out,
                p,
                &format!("{kind}_{name}"),
                "counter",
                &format!("{help} handled by an {what}, partitioned by status code, protocol, and method."),
            );
            for (owner, m) in &summed {
                for (key, s) in m {
                    let v = if pick == 0 {
                        s.request_bytes
                    } else {
                        s.response_bytes
                    };
                    let _ = writeln!(
                        out,
                        "{p}_{kind}_{name}{{{}}} {v}",
                        label(*key, owner, false),
                    );
                }
            }
        }
    }

    /// Registers `prometheus@internal` (for `metrics.prometheus.manualRouting`).
    pub fn register(self: &Arc<Self>, settings: &mut crate::compile::CompileSettings) {
        let h: Arc<dyn crate::service::InternalHandler> = Arc::new(PrometheusService(self.clone()));
        settings.internal_services.insert(
            "prometheus@internal".into(),
            Arc::new(crate::service::ServiceRuntime::internal(
                "prometheus@internal",
                h,
            )),
        );
    }

    /// The `/metrics` answer.
    pub fn response(&self) -> Response<Body> {
        let mut resp = Response::new(Body::full(self.render()));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        resp
    }
}

/// `prometheus@internal`: the exposition at any path the router sends it (Traefik's service
/// answers whatever reaches it).
struct PrometheusService(Arc<Metrics>);

impl crate::service::InternalHandler for PrometheusService {
    fn handle(
        &self,
        _req: http::Request<Body>,
        _ctx: &crate::service::RequestCtx,
    ) -> Response<Body> {
        self.0.response()
    }
}

fn addr(a: &Arc<str>) -> usize {
    Arc::as_ptr(a) as *const u8 as usize
}

fn gauge_header(out: &mut String, prefix: &str, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {prefix}_{name} {help}");
    let _ = writeln!(out, "# TYPE {prefix}_{name} {kind}");
}

/// A label value escaped as the text format wants (`\`, `"`, newline).
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Floats as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes bucket bounds for the common
/// cases (`0.1`, `5`, `1.2`).
fn fmt_f64(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_slots_are_bounded_and_distinct() {
        let set = SeriesSet::default();
        let nb = 4;
        let a = set
            .get(key(StatusCode::OK, &Method::GET, 0, 0), nb)
            .map(|s| s.key);
        let b = set
            .get(key(StatusCode::NOT_FOUND, &Method::GET, 0, 0), nb)
            .map(|s| s.key);
        assert_ne!(a, b);
        assert_eq!(
            set.get(key(StatusCode::OK, &Method::GET, 0, 0), nb)
                .map(|s| s.key),
            a
        );
        let mut n = 0;
        for code in 200..400u16 {
            let c = StatusCode::from_u16(code).unwrap();
            if set.get(key(c, &Method::POST, 0, 0), nb).is_some() {
                n += 1;
            }
        }
        assert_eq!(n + 2, SLOTS);
        assert_eq!(method_index(&Method::from_bytes(b"PROPFIND").unwrap()), 9);
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(fmt_f64(0.1), "0.1");
        assert_eq!(fmt_f64(5.0), "5");
        assert_eq!(fmt_f64(1.2), "1.2");
    }
}
