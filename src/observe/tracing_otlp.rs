//! Tracing (`tracing.*`): W3C trace-context propagation (see [`super::trace_context`]) and one
//! OpenTelemetry span per request exported over OTLP/HTTP with the JSON encoding
//! (`POST <endpoint>` with `{"resourceSpans": ...}`), batched by an exporter task off the
//! request path. Off unless `tracing` is configured; `tracing.sampleRate` (default 1.0) decides
//! for new traces, a continued trace keeps its parent's decision (parent-based sampling, as
//! Traefik's OpenTelemetry SDK does).
//!
//! Config: `tracing.otlp.http.endpoint` (default `http://localhost:4318/v1/traces`, as
//! Traefik), `tracing.otlp.http.headers`, `tracing.serviceName` (default `traefik`),
//! `tracing.resourceAttributes`, `tracing.globalAttributes`. Only `http://` endpoints are
//! supported; `tracing.otlp.grpc` and an `https://` endpoint are refused at start-up with a
//! message (never a silent no-op).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{Finished, TraceContext};
use crate::config::Tracing as TracingConfig;

const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";
const BATCH: usize = 512;
const QUEUE: usize = 8192;
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// One ended span, waiting for export.
struct SpanData {
    ctx: TraceContext,
    start: SystemTime,
    end: SystemTime,
    method: String,
    target: String,
    host: String,
    status: u16,
    entry_point: Arc<str>,
    router: Option<Arc<str>>,
    service: Option<Arc<str>>,
    request_id: Option<String>,
}

/// The tracer: sampling settings and the exporter's queue.
pub struct Tracer {
    sample_rate: f64,
    tx: mpsc::Sender<SpanData>,
    dropped: Arc<AtomicU64>,
    exported: Arc<AtomicU64>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("sample_rate", &self.sample_rate)
            .finish()
    }
}

impl Tracer {
    /// Starts the exporter (needs a tokio runtime). `Ok(None)` never happens today; kept so a
    /// future "propagation only" mode needs no signature change.
    pub fn start(cfg: &TracingConfig) -> Result<Option<Tracer>, String> {
        let otlp = cfg.otlp.clone().unwrap_or(Value::Null);
        if otlp.get("grpc").is_some_and(|g| !g.is_null()) {
            return Err("tracing.otlp.grpc is not supported; use tracing.otlp.http".into());
        }
        let http = otlp.get("http").cloned().unwrap_or(Value::Null);
        let endpoint = http
            .get("endpoint")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .unwrap_or(DEFAULT_ENDPOINT)
            .to_string();
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("tracing.otlp.http.endpoint `{endpoint}`: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "tracing.otlp.http.endpoint `{endpoint}`: only http:// endpoints are supported"
            ));
        }
        let mut headers = HeaderMap::new();
        if let Some(h) = http.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                let name = super::header_name(k)?;
                let value = v
                    .as_str()
                    .and_then(|v| http::HeaderValue::from_str(v).ok())
                    .ok_or_else(|| format!("tracing.otlp.http.headers.{k}: not a header value"))?;
                headers.insert(name, value);
            }
        }
        if !(0.0..=1.0).contains(&cfg.sample_rate) {
            return Err(format!(
                "tracing.sampleRate {} is not between 0 and 1",
                cfg.sample_rate
            ));
        }
        let mut resource: BTreeMap<String, String> = cfg.resource_attributes.clone();
        resource.insert(
            "service.name".into(),
            if cfg.service_name.is_empty() {
                "traefik".into()
            } else {
                cfg.service_name.clone()
            },
        );
        let (tx, rx) = mpsc::channel(QUEUE);
        let exported = Arc::new(AtomicU64::new(0));
        let exporter = Exporter {
            uri,
            headers,
            resource: attrs(&resource),
            global: cfg.global_attributes.clone(),
            exported: exported.clone(),
        };
        tokio::spawn(exporter.run(rx));
        Ok(Some(Tracer {
            sample_rate: cfg.sample_rate,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            exported,
        }))
    }

    /// At request start: the trace context, with `traceparent` set for the backend.
    pub(crate) fn start_request(&self, headers: &mut HeaderMap) -> TraceContext {
        TraceContext::start(headers, self.sample_rate)
    }

    /// At the end of the answer: queues the span when sampled (a full queue drops it).
    pub(crate) fn end_request(&self, f: &Finished) {
        let p = &f.pending;
        let Some(ctx) = p.trace.filter(|t| t.sampled) else {
            return;
        };
        let span = SpanData {
            ctx,
            start: p.start_time,
            end: p.start_time + f.duration,
            method: p.method.as_str().to_string(),
            target: p.uri.path().to_string(),
            host: p
                .host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string(),
            status: f.status.as_u16(),
            entry_point: f.entry_point.clone(),
            router: f.router.clone(),
            service: f.service.clone(),
            request_id: p
                .request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        };
        if self.tx.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Spans handed to the collector successfully.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn attrs(m: &BTreeMap<String, String>) -> Value {
    Value::Array(
        m.iter()
            .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
            .collect(),
    )
}

struct Exporter {
    uri: http::Uri,
    headers: HeaderMap,
    resource: Value,
    global: BTreeMap<String, String>,
    exported: Arc<AtomicU64>,
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

impl Exporter {
    async fn run(self, mut rx: mpsc::Receiver<SpanData>) {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut batch: Vec<SpanData> = Vec::with_capacity(BATCH);
        loop {
            let first = rx.recv().await;
            let Some(first) = first else { return };
            batch.push(first);
            let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(s)) => batch.push(s),
                    Ok(None) | Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            let body = self.encode(&batch);
            batch.clear();
            let mut req = Request::post(self.uri.clone());
            if let Some(h) = req.headers_mut() {
                h.extend(self.headers.clone());
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
            }
            let Ok(req) = req.body(Full::new(Bytes::from(body))) else {
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
                Ok(Ok(resp)) if resp.status().is_success() => {
                    self.exported.fetch_add(n, Ordering::Relaxed);
                }
                Ok(Ok(resp)) => {
                    tracing::warn!(status = %resp.status(), spans = n, "OTLP export refused")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, spans = n, "OTLP export failed"),
                Err(_) => tracing::warn!(spans = n, "OTLP export timed out"),
            }
        }
    }

    fn encode(&self, batch: &[SpanData]) -> Vec<u8> {
        let spans: Vec<Value> = batch
            .iter()
            .map(|s| {
                let mut a = vec![
                    json!({"key": "http.request.method", "value": {"stringValue": s.method}}),
                    json!({"key": "url.path", "value": {"stringValue": s.target}}),
                    json!({"key": "url.scheme", "value": {"stringValue": "http"}}),
                    json!({"key": "server.address", "value": {"stringValue": s.host}}),
                    json!({"key": "http.response.status_code", "value": {"intValue": s.status.to_string()}}),
                    json!({"key": "entry_point", "value": {"stringValue": &*s.entry_point}}),
                ];
                if let Some(r) = &s.router {
                    a.push(json!({"key": "http.router", "value": {"stringValue": &**r}}));
                }
                if let Some(sv) = &s.service {
                    a.push(json!({"key": "http.service", "value": {"stringValue": &**sv}}));
                }
                if let Some(id) = &s.request_id {
                    a.push(json!({"key": "http.request.id", "value": {"stringValue": id}}));
                }
                for (k, v) in &self.global {
                    a.push(json!({"key": k, "value": {"stringValue": v}}));
                }
                let mut span = json!({
                    "traceId": s.ctx.trace_id_hex(),
                    "spanId": s.ctx.span_id_hex(),
                    "name": format!("{} {}", s.method, s.router.as_deref().unwrap_or("")).trim_end().to_string(),
                    "kind": 2,
                    "startTimeUnixNano": unix_nanos(s.start),
                    "endTimeUnixNano": unix_nanos(s.end),
                    "attributes": a,
                    "status": {"code": if s.status >= 500 { 2 } else { 0 }},
                });
                if let Some(p) = s.ctx.parent_span_id_hex() {
                    span["parentSpanId"] = Value::from(p);
                }
                span
            })
            .collect();
        let doc = json!({
            "resourceSpans": [{
                "resource": {"attributes": self.resource},
                "scopeSpans": [{
                    "scope": {"name": "wharf", "version": env!("CARGO_PKG_VERSION")},
                    "spans": spans,
                }],
            }],
        });
        serde_json::to_vec(&doc).unwrap_or_default()
    }
}
