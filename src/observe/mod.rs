//! Observability around the proxy's request path: access log, Prometheus metrics, request IDs
//! and W3C trace context / OTLP spans. The proxy calls [`EntryPointObserver::start`] when a
//! request arrives and [`EntryPointObserver::finish`] with the answer; everything else (line
//! formatting, file writes, exposition, span export) happens off the request path.
//!
//! Cost model: an entry point with nothing turned on has no observer at all (`None` in its
//! settings). With logging or metrics on, one record is built per request and travels with the
//! response body (one allocation for the wrapped body); it is finished when the body ends (so
//! durations and sizes are the ones the client saw, as Traefik measures them) and sent to the
//! log writer through a bounded channel (full: the line is counted as dropped, never awaited).
//!
//! Static configuration read here (Traefik's keys unless marked):
//! - `accessLog.{filePath,format,bufferingSize,addInternals}`,
//!   `accessLog.filters.{statusCodes,retryAttempts,minDuration}`,
//!   `accessLog.fields.{defaultMode,names}`, `accessLog.fields.headers.{defaultMode,names}`;
//! - `metrics.addInternals`, `metrics.prometheus.{buckets,addEntryPointsLabels,
//!   addRoutersLabels,addServicesLabels,entryPoint,manualRouting,headerLabels}`
//!   (`manualRouting` registers `prometheus@internal` instead of `/metrics` on the entry point);
//!   the `traefik_` prefix can be changed with the `WHARF_METRICS_PREFIX` environment variable
//!   (wharf-specific);
//! - `tracing.{sampleRate,serviceName,resourceAttributes,globalAttributes,addInternals}`,
//!   `tracing.otlp.http.{endpoint,headers}`;
//! - `entryPoints.<ep>.observability.{accessLogs,metrics,tracing}`;
//! - wharf-specific: `requestId.{enabled,headerName}` (see [`request_id`]).
//!
//! Not done: OTLP over gRPC or https, Kubernetes access-log fields (no Kubernetes provider).

pub mod access_log;
pub mod metrics;
pub mod request_id;
pub mod trace_context;
pub mod tracing_otlp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Frame, SizeHint};

use crate::body::{Body, BoxError};
use crate::config::StaticConfig;
use crate::snapshot::SnapshotStore;

pub use access_log::{AccessLog, AccessLogError};
pub use metrics::Metrics;
pub use request_id::RequestIdSettings;
pub use trace_context::TraceContext;
pub use tracing_otlp::Tracer;

/// What the route lookup tells the observer (filled by the proxy's `route` only when
/// [`RouteMeta::wanted`] is set, so an unobserved entry point pays nothing).
#[derive(Debug, Default)]
pub struct RouteMeta {
    /// Whether an observer reads this (set by the proxy from its settings).
    pub wanted: bool,
    /// The router that matched (qualified name, the snapshot's own `Arc`).
    pub router: Option<Arc<str>>,
    /// Its service.
    pub service: Option<Arc<str>>,
    /// The service answered (not one of wharf's own error answers): its status and when the
    /// head arrived.
    pub origin: Option<(StatusCode, Instant)>,
    /// Whether the access log wants the request headers as forwarded to the service.
    pub capture_headers: bool,
    /// Those headers (set by the proxy right before it calls the service).
    pub request_headers: Option<HeaderMap>,
    /// The user an auth middleware accepted (`ClientUsername`).
    pub user: Option<Arc<str>>,
    /// Whether the access log wants the server the load balancer picks.
    pub server_wanted: bool,
    /// The server URL the load balancer picked (`ServiceURL`, `ServiceAddr`).
    pub server_url: Option<Arc<str>>,
    /// Retries the retry middleware made (`RetryAttempts`).
    pub retries: u32,
}

impl RouteMeta {
    /// What an unobserved request passes (nothing is filled).
    pub fn off() -> Self {
        Self::default()
    }
}

/// A response extension through which an authentication middleware names the user it
/// accepted (`ClientUsername` in the access log, as Traefik's basicAuth/digestAuth set it).
#[derive(Clone, Debug)]
pub struct AuthenticatedUser(pub Arc<str>);

/// Everything observability needs, shared by every entry point (built once from the static
/// configuration by the runtime).
#[derive(Clone, Default)]
pub struct Observability {
    pub access_log: Option<Arc<AccessLog>>,
    pub metrics: Option<Arc<Metrics>>,
    pub request_id: Option<Arc<RequestIdSettings>>,
    pub tracer: Option<Arc<Tracer>>,
}

/// Why observability could not start.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("accessLog: {0}")]
    AccessLog(#[from] AccessLogError),
    #[error("tracing: {0}")]
    Tracing(String),
    #[error("requestId: {0}")]
    RequestId(String),
}

impl Observability {
    /// Builds from the static configuration. Spawns the access-log writer and the span
    /// exporter, so it needs a tokio runtime.
    pub fn from_config(cfg: &StaticConfig) -> Result<Self, ObserveError> {
        let access_log = match &cfg.access_log {
            Some(a) => Some(Arc::new(AccessLog::start(a)?)),
            None => None,
        };
        let metrics = cfg
            .metrics
            .as_ref()
            .and_then(|m| m.prometheus.as_ref())
            .map(|p| Arc::new(Metrics::new(p)));
        let tracer = match &cfg.tracing {
            Some(t) => Tracer::start(t)
                .map_err(ObserveError::Tracing)?
                .map(Arc::new),
            None => None,
        };
        let request_id = RequestIdSettings::from_config(
            cfg.request_id.as_ref(),
            access_log.is_some() || tracer.is_some(),
        )
        .map_err(ObserveError::RequestId)?
        .map(Arc::new);
        if let (Some(m), Some(a)) = (&metrics, &access_log) {
            m.set_access_log_drops(a.dropped_counter());
        }
        Ok(Observability {
            access_log,
            metrics,
            request_id,
            tracer,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.access_log.is_none()
            && self.metrics.is_none()
            && self.request_id.is_none()
            && self.tracer.is_none()
    }

    /// The observer of one entry point, or `None` when nothing is on for it
    /// (`entryPoints.<ep>.observability.{accessLogs,metrics,tracing}` turn parts off).
    pub fn for_entry_point(&self, cfg: &StaticConfig, name: &str) -> Option<EntryPointObserver> {
        let obs = cfg
            .entry_points
            .get(name)
            .and_then(|e| e.observability.clone())
            .unwrap_or_default();
        // Traefik's internal entry point is not observed unless `addInternals` asks for it.
        let internal = name == crate::config::INTERNAL_ENTRY_POINT;
        let access_internals = cfg.access_log.as_ref().is_some_and(|a| a.add_internals);
        let metric_internals = cfg.metrics.as_ref().is_some_and(|m| m.add_internals);
        let trace_internals = cfg.tracing.as_ref().is_some_and(|t| t.add_internals);
        let o = EntryPointObserver {
            entry_point: Arc::from(name),
            access_log: self
                .access_log
                .clone()
                .filter(|_| obs.access_logs && (!internal || access_internals)),
            metrics: self
                .metrics
                .as_ref()
                .filter(|_| obs.metrics && (!internal || metric_internals))
                .map(|m| (m.clone(), m.entry_point_set(name))),
            request_id: self.request_id.clone().filter(|_| !internal),
            tracer: self
                .tracer
                .clone()
                .filter(|_| obs.tracing && (!internal || trace_internals)),
        };
        (o.access_log.is_some()
            || o.metrics.is_some()
            || o.request_id.is_some()
            || o.tracer.is_some())
        .then_some(o)
    }

    /// Keeps router/service metric label sets in step with the snapshots (a task that follows
    /// the generation), and counts reloads.
    pub fn follow(&self, store: &SnapshotStore) {
        if let Some(m) = &self.metrics {
            m.clone().follow(store.clone());
        }
    }
}

/// One entry point's observer (in its proxy settings).
pub struct EntryPointObserver {
    entry_point: Arc<str>,
    access_log: Option<Arc<AccessLog>>,
    metrics: Option<(Arc<Metrics>, Arc<metrics::EntryPointSeries>)>,
    request_id: Option<Arc<RequestIdSettings>>,
    tracer: Option<Arc<Tracer>>,
}

impl std::fmt::Debug for EntryPointObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryPointObserver")
            .field("entry_point", &self.entry_point)
            .field("access_log", &self.access_log.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("request_id", &self.request_id.is_some())
            .field("tracing", &self.tracer.is_some())
            .finish()
    }
}

/// What [`EntryPointObserver::start`] returns, for [`EntryPointObserver::finish`].
pub struct Started {
    /// The request ID, when there is no record to carry it.
    request_id: Option<HeaderValue>,
    pending: Option<Box<Pending>>,
}

impl Started {
    /// Whether a record is being built (access log, metrics or tracing on).
    pub fn is_recording(&self) -> bool {
        self.pending.is_some()
    }
}

/// What is known when the request arrives; finished when the answer's body ends.
pub struct Pending {
    pub(crate) start: Instant,
    pub(crate) start_time: SystemTime,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) host: Option<HeaderValue>,
    pub(crate) client: SocketAddr,
    /// The connection's TLS facts (`RequestScheme`, `TLSVersion`, `TLSCipher`,
    /// `TLSClientSubject`).
    pub(crate) tls: Option<Arc<crate::tls::TlsConnInfo>>,
    /// Request headers as forwarded (kept only when the access log keeps some headers).
    pub(crate) request_headers: Option<HeaderMap>,
    pub(crate) request_content_size: u64,
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) request_count: u64,
    /// `metrics.prometheus.headerLabels` values of this request (see `metrics::key`).
    pub(crate) header_labels: u32,
    pub(crate) websocket: bool,
    pub(crate) sse: bool,
}

/// A request's record once the answer is known.
pub struct Finished {
    /// From an [`AuthenticatedUser`] extension on the answer.
    pub user: Option<Arc<str>>,
    pub pending: Box<Pending>,
    pub entry_point: Arc<str>,
    pub router: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub status: StatusCode,
    pub origin_status: Option<StatusCode>,
    pub origin_duration: Option<std::time::Duration>,
    pub server_url: Option<Arc<str>>,
    pub retries: u32,
    pub response_headers: Option<HeaderMap>,
    pub content_size: u64,
    pub duration: std::time::Duration,
}

impl EntryPointObserver {
    /// At request start: adds the request ID and the trace context to the request (they are
    /// forwarded to the backend) and records what the log and metrics need.
    pub fn start<B>(
        &self,
        req: &mut Request<B>,
        client: SocketAddr,
        tls: Option<&Arc<crate::tls::TlsConnInfo>>,
    ) -> Started {
        let request_id = self
            .request_id
            .as_ref()
            .map(|r| r.ensure(req.headers_mut()));
        let trace = self
            .tracer
            .as_ref()
            .map(|t| t.start_request(req.headers_mut()));
        if self.access_log.is_none() && self.metrics.is_none() && self.tracer.is_none() {
            return Started {
                request_id,
                pending: None,
            };
        }
        let h = req.headers();
        let request_count = self
            .access_log
            .as_ref()
            .map_or(0, |a| a.next_request_count());
        let upgrade_ws = h
            .get(header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        let sse = h
            .get(header::ACCEPT)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let host = match req.uri().authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok(),
            None => h.get(header::HOST).cloned(),
        };
        let pending = Some(Box::new(Pending {
            start: Instant::now(),
            start_time: SystemTime::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            host,
            client,
            tls: tls.cloned(),
            // As received; replaced by the forwarded ones once a router matched (a request no
            // router takes is logged with the headers it arrived with).
            request_headers: self
                .access_log
                .as_ref()
                .filter(|a| a.keeps_headers())
                .map(|_| h.clone()),
            request_content_size: h
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            request_id,
            trace,
            request_count,
            header_labels: self
                .metrics
                .as_ref()
                .filter(|(m, _)| m.has_header_labels())
                .map_or(0, |(m, _)| m.header_key(h)),
            websocket: upgrade_ws,
            sse,
        }));
        Started {
            request_id: None,
            pending,
        }
    }

    /// With the answer: adds the request ID to it, and wraps its body so the record is
    /// finished when the body ends (or is dropped).
    pub fn finish(
        self: &Arc<Self>,
        started: Started,
        meta: RouteMeta,
        mut resp: Response<Body>,
    ) -> Response<Body> {
        let Started {
            request_id,
            pending,
        } = started;
        let id = request_id.or_else(|| pending.as_ref().and_then(|p| p.request_id.clone()));
        let Some(pending) = pending else {
            add_request_id(self.request_id.as_deref(), id, &mut resp);
            return resp;
        };
        let keep_headers = self.access_log.as_ref().is_some_and(|a| a.keeps_headers());
        let mut pending = pending;
        if meta.request_headers.is_some() {
            pending.request_headers = meta.request_headers;
        }
        let user = meta.user.or_else(|| {
            resp.extensions()
                .get::<AuthenticatedUser>()
                .map(|u| u.0.clone())
        });
        let finished = Finished {
            user,
            entry_point: self.entry_point.clone(),
            router: meta.router,
            service: meta.service,
            status: resp.status(),
            origin_status: meta.origin.map(|(s, _)| s),
            origin_duration: meta.origin.map(|(_, t)| t.duration_since(pending.start)),
            server_url: meta.server_url,
            retries: meta.retries,
            response_headers: keep_headers.then(|| resp.headers().clone()),
            content_size: 0,
            duration: std::time::Duration::ZERO,
            pending,
        };
        // After the headers were captured: the log shows what the backend answered (as
        // Traefik's `origin_`/`downstream_` fields); the ID is in `RequestId`.
        add_request_id(self.request_id.as_deref(), id, &mut resp);
        // One reference count for the whole observer, not one per part.
        let sink = Sink(self.clone());
        let body_done = resp.status() == StatusCode::SWITCHING_PROTOCOLS
            || http_body::Body::is_end_stream(resp.body());
        if body_done {
            let size = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);
            let mut f = finished;
            f.content_size = size;
            sink.complete(f);
            return resp;
        }
        resp.map(|inner| {
            Body::boxed(http_body_util::combinators::BoxBody::new(ObservedBody {
                inner,
                bytes: 0,
                record: Some((finished, sink)),
            }))
        })
    }

    /// The [`RouteMeta`] the proxy fills for this request.
    pub fn route_meta(&self, started: &Started) -> RouteMeta {
        let recording = started.pending.is_some();
        RouteMeta {
            wanted: recording,
            capture_headers: recording
                && self.access_log.as_ref().is_some_and(|a| a.keeps_headers()),
            server_wanted: recording && self.access_log.is_some(),
            ..Default::default()
        }
    }

    /// Counts an open connection until the guard drops (`traefik_open_connections`).
    pub fn connection_opened(&self) -> Option<metrics::OpenConnection> {
        self.metrics.as_ref().map(|(_, ep)| ep.open_connection())
    }
}

/// The client gets the ID it sent or the one wharf made, unless the backend set one.
fn add_request_id(
    rid: Option<&RequestIdSettings>,
    id: Option<HeaderValue>,
    resp: &mut Response<Body>,
) {
    if let (Some(rid), Some(v)) = (rid, id) {
        if !resp.headers().contains_key(&rid.header) {
            resp.headers_mut().insert(rid.header.clone(), v);
        }
    }
}

/// Where a finished record goes: the entry point's observer.
struct Sink(Arc<EntryPointObserver>);

impl Sink {
    fn complete(self, f: Finished) {
        let o = &*self.0;
        if let Some((m, ep)) = &o.metrics {
            m.record(ep, &f);
        }
        if let Some(t) = &o.tracer {
            t.end_request(&f);
        }
        if let Some(a) = &o.access_log {
            a.log(f);
        }
    }
}

/// The answer's body, counting bytes; finishes the record at its end.
struct ObservedBody {
    inner: Body,
    bytes: u64,
    record: Option<(Finished, Sink)>,
}

impl ObservedBody {
    fn done(&mut self) {
        if let Some((mut f, sink)) = self.record.take() {
            f.content_size = self.bytes;
            f.duration = f.pending.start.elapsed();
            sink.complete(f);
        }
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes += d.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.done();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.done(),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // The client went away (or hyper dropped the body early): still log what was sent.
        self.done();
    }
}

/// A header name that is valid by construction (used for configured names).
pub(crate) fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))
}
