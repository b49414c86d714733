//! Server health, consulted by the load balancer on every pick. Active checks run one task per
//! (service, server URL, health config), owned by the `ServiceRegistry` through weak references:
//! a configuration swap that keeps the server reuses the running task, and the task stops when
//! the last snapshot using it is dropped. Passive checks count forwarding failures in a window.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue, HOST, LOCATION};
use http::{Method, Request, Uri};
use wharf_providers::{PassiveHealthCheck, ServerHealthCheck};

use super::transport::{Target, Transport, Upstream, UpstreamScheme};
use crate::body::Body;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 10;

/// Milliseconds since a process-wide origin (never 0, so 0 can mean "not set").
fn now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// The live health of one server of one service, shared across snapshots.
#[derive(Debug)]
pub(crate) struct ServerState {
    /// Last active check result (servers start healthy, as in Traefik).
    active_up: AtomicBool,
    /// Passive: out of rotation until this instant (`now_ms`), 0 when in.
    passive_down_until: AtomicU64,
    /// Passive: (window start, failures in it). Touched on failures only.
    failures: Mutex<(u64, u32)>,
    /// Requests waiting for this server's response head (p2c, leasttime).
    pub inflight: AtomicUsize,
    /// Recent times to first byte (leasttime).
    response_times: Mutex<ResponseTimes>,
}

/// The last `RESPONSE_SAMPLES` times to first byte, in milliseconds (Traefik's leasttime keeps 100).
#[derive(Debug)]
struct ResponseTimes {
    samples: [f64; RESPONSE_SAMPLES],
    next: usize,
    count: usize,
    sum: f64,
}

const RESPONSE_SAMPLES: usize = 100;

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            active_up: AtomicBool::new(true),
            passive_down_until: AtomicU64::new(0),
            failures: Mutex::new((0, 0)),
            inflight: AtomicUsize::new(0),
            response_times: Mutex::new(ResponseTimes {
                samples: [0.0; RESPONSE_SAMPLES],
                next: 0,
                count: 0,
                sum: 0.0,
            }),
        }
    }
}

impl ServerState {
    pub fn active_up(&self) -> bool {
        self.active_up.load(Ordering::Relaxed)
    }

    /// Average time to first byte over the recent samples; 0 before any (cold start).
    pub fn avg_response_ms(&self) -> f64 {
        match self.response_times.lock() {
            Ok(r) if r.count > 0 => r.sum / r.count as f64,
            _ => 0.0,
        }
    }

    pub fn record_response_time(&self, elapsed: Duration) {
        let ms = elapsed.as_millis() as f64;
        let Ok(mut r) = self.response_times.lock() else {
            return;
        };
        let i = r.next;
        if r.count < RESPONSE_SAMPLES {
            r.count += 1;
        } else {
            r.sum -= r.samples[i];
        }
        r.samples[i] = ms;
        r.sum += ms;
        r.next = (i + 1) % RESPONSE_SAMPLES;
    }

    pub fn set_active(&self, up: bool) -> bool {
        self.active_up.swap(up, Ordering::Relaxed)
    }

    pub fn passive_up(&self) -> bool {
        let until = self.passive_down_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        if now_ms() < until {
            return false;
        }
        // The window passed: back in rotation, and later picks skip the clock read.
        let _ = self.passive_down_until.compare_exchange(
            until,
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        true
    }

    /// Records a forwarding failure; `max` failures within `window` take the server out for
    /// `window`.
    pub fn record_failure(&self, cfg: &PassiveCfg) {
        let now = now_ms();
        let window = u64::try_from(cfg.window.as_millis()).unwrap_or(u64::MAX / 2);
        let Ok(mut f) = self.failures.lock() else {
            return;
        };
        if f.0 == 0 || now.saturating_sub(f.0) > window {
            *f = (now, 0);
        }
        f.1 += 1;
        if f.1 >= cfg.max_failed {
            *f = (0, 0);
            self.passive_down_until
                .store(now + window, Ordering::Relaxed);
            tracing::warn!(window = ?cfg.window, "server taken out of rotation after failed attempts");
        }
    }
}

/// Compiled `passiveHealthCheck`.
#[derive(Clone, Debug)]
pub(crate) struct PassiveCfg {
    pub window: Duration,
    pub max_failed: u32,
}

impl PassiveCfg {
    pub fn new(p: &PassiveHealthCheck) -> PassiveCfg {
        PassiveCfg {
            window: p
                .failure_window
                .map(|d| d.get())
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_FAILURE_WINDOW),
            max_failed: p.max_failed_attempts.filter(|n| *n > 0).unwrap_or(1),
        }
    }
}

/// Compiled `healthCheck` of a load balancer.
#[derive(Clone, Debug)]
pub(crate) struct HealthCfg {
    scheme: Option<String>,
    path: String,
    port: Option<u16>,
    method: Method,
    interval: Duration,
    unhealthy_interval: Duration,
    timeout: Duration,
    status: Option<u16>,
    hostname: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    follow_redirects: bool,
}

impl HealthCfg {
    pub fn new(hc: &ServerHealthCheck) -> Result<HealthCfg, String> {
        let mode = hc.mode.to_ascii_lowercase();
        if !(mode.is_empty() || mode == "http") {
            return Err(format!(
                "healthCheck.mode {:?} is not supported (only http)",
                hc.mode
            ));
        }
        let scheme = match hc.scheme.to_ascii_lowercase().as_str() {
            "" => None,
            s @ ("http" | "https") => Some(s.to_string()),
            other => {
                return Err(format!(
                    "healthCheck.scheme {other:?} must be http or https"
                ))
            }
        };
        let method = if hc.method.is_empty() {
            Method::GET
        } else {
            Method::from_bytes(hc.method.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("healthCheck.method {:?} is invalid", hc.method))?
        };
        let path = if hc.path.is_empty() {
            "/".to_string()
        } else if hc.path.starts_with('/') {
            hc.path.clone()
        } else {
            format!("/{}", hc.path)
        };
        http::uri::PathAndQuery::try_from(path.as_str())
            .map_err(|e| format!("healthCheck.path {:?}: {e}", hc.path))?;
        let interval = hc
            .interval
            .map(|d| d.get())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_INTERVAL);
        let hostname = if hc.hostname.is_empty() {
            None
        } else {
            Some(
                HeaderValue::from_str(&hc.hostname)
                    .map_err(|_| format!("healthCheck.hostname {:?} is invalid", hc.hostname))?,
            )
        };
        let mut headers = Vec::with_capacity(hc.headers.len());
        for (k, v) in &hc.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("healthCheck.headers: bad name {k:?}"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("healthCheck.headers.{k}: bad value"))?;
            headers.push((name, value));
        }
        Ok(HealthCfg {
            scheme,
            path,
            port: hc.port.filter(|p| *p != 0),
            method,
            interval,
            unhealthy_interval: hc
                .unhealthy_interval
                .map(|d| d.get())
                .filter(|d| !d.is_zero())
                .unwrap_or(interval),
            timeout: hc
                .timeout
                .map(|d| d.get())
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_TIMEOUT),
            status: hc.status.filter(|s| *s != 0),
            hostname,
            headers,
            follow_redirects: hc.follow_redirects.unwrap_or(true),
        })
    }

    /// The URL probed for a server: its host, the check's scheme/port/path.
    fn probe_uri(&self, target: &Target) -> Result<(UpstreamScheme, Uri), String> {
        let (scheme, up) = match (self.scheme.as_deref(), target.scheme) {
            (Some("https"), _) => ("https", UpstreamScheme::Https),
            (Some(_), UpstreamScheme::H2c) => ("http", UpstreamScheme::H2c),
            (Some(_), _) => ("http", UpstreamScheme::Http),
            (None, UpstreamScheme::Https) => ("https", UpstreamScheme::Https),
            (None, s) => ("http", s),
        };
        let host = target.authority.host();
        let authority = match self.port.or(target.authority.port_u16()) {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let uri = format!("{scheme}://{authority}{}", self.path)
            .parse::<Uri>()
            .map_err(|e| e.to_string())?;
        Ok((up, uri))
    }
}

/// Aborts the health task when the last snapshot holding it goes away.
#[derive(Debug)]
pub(crate) struct Monitor {
    task: tokio::task::AbortHandle,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the active health check of one server on `handle`, else on the current runtime.
/// `None` without either (the server then stays in rotation, as if the check had passed).
pub(crate) fn spawn_monitor(
    handle: Option<&tokio::runtime::Handle>,
    service: Arc<str>,
    target: Target,
    cfg: HealthCfg,
    state: Arc<ServerState>,
    transport: Arc<Transport>,
) -> Option<Monitor> {
    let handle = match tokio::runtime::Handle::try_current() {
        Ok(h) => h,
        Err(_) => handle?.clone(),
    };
    let probe_target = cfg.probe_uri(&target);
    let task = handle.spawn(async move {
        // The probed address is fixed: keep its pooled clients for the task's life.
        let first = probe_target
            .as_ref()
            .ok()
            .and_then(|(scheme, uri)| Some(transport.upstream(*scheme, uri.authority()?)));
        loop {
            let result = match (&probe_target, &first) {
                (Ok((scheme, uri)), Some(up)) => {
                    check_once(&cfg, *scheme, uri.clone(), up, &transport).await
                }
                (Err(e), _) => Err(e.clone()),
                (Ok(_), None) => Err("health check URL has no host".to_string()),
            };
            let up = result.is_ok();
            let was = state.set_active(up);
            match (&result, was) {
                (Err(e), true) => tracing::warn!(service = %service, server = %target.authority, error = %e, "health check failed: server out of rotation"),
                (Ok(()), false) => tracing::info!(service = %service, server = %target.authority, "health check passed: server back in rotation"),
                _ => {}
            }
            tokio::time::sleep(if up { cfg.interval } else { cfg.unhealthy_interval }).await;
        }
    });
    Some(Monitor {
        task: task.abort_handle(),
    })
}

/// One probe (following redirects when asked), bounded by the check's timeout.
async fn check_once(
    cfg: &HealthCfg,
    scheme: UpstreamScheme,
    uri: Uri,
    first: &Upstream,
    transport: &Transport,
) -> Result<(), String> {
    tokio::time::timeout(cfg.timeout, probe(cfg, scheme, uri, first, transport))
        .await
        .map_err(|_| format!("timeout after {:?}", cfg.timeout))?
}

async fn probe(
    cfg: &HealthCfg,
    mut scheme: UpstreamScheme,
    mut uri: Uri,
    first: &Upstream,
    transport: &Transport,
) -> Result<(), String> {
    // Redirects elsewhere get their own clients for the hop.
    let mut hop: Option<Arc<Upstream>> = None;
    for _ in 0..=MAX_REDIRECTS {
        let mut req = Request::builder()
            .method(cfg.method.clone())
            .uri(uri.clone());
        if let Some(h) = req.headers_mut() {
            for (k, v) in &cfg.headers {
                h.insert(k.clone(), v.clone());
            }
            if let Some(host) = &cfg.hostname {
                h.insert(HOST, host.clone());
            }
        }
        let req = req.body(Body::empty()).map_err(|e| e.to_string())?;
        let upstream = hop.as_deref().unwrap_or(first);
        let resp = upstream
            .send(scheme, false, req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if cfg.follow_redirects && status.is_redirection() {
            if let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| resolve(&uri, l))
            {
                scheme = if next.scheme() == Some(&http::uri::Scheme::HTTPS) {
                    UpstreamScheme::Https
                } else {
                    UpstreamScheme::Http
                };
                let authority = next.authority().ok_or("redirect without a host")?;
                hop = Some(transport.upstream(scheme, authority));
                uri = next;
                continue;
            }
        }
        return match cfg.status {
            Some(want) if status.as_u16() != want => Err(format!("status {status}, want {want}")),
            None if !(200..400).contains(&status.as_u16()) => Err(format!("status {status}")),
            _ => Ok(()),
        };
    }
    Err("too many redirects".into())
}

/// Resolves a `Location` against the probed URI (absolute URLs and absolute paths).
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    if location.starts_with('/') {
        let mut parts = http::uri::Parts::default();
        parts.scheme = base.scheme().cloned();
        parts.authority = base.authority().cloned();
        parts.path_and_query = location.parse().ok();
        return Uri::from_parts(parts).ok();
    }
    None
}
