//! The API and dashboard: read-only views of the snapshot that routes traffic (its compile
//! report included), served on the `traefik` entry point when `api.insecure=true` and as the
//! internal services `api@internal` / `dashboard@internal` that routers can reference.
//!
//! Every handler loads the current snapshot once and serializes from it, so the API never shows
//! a state that does not serve. Secrets (password hashes, keys, tokens) are redacted.
//!
//! Endpoints (Traefik's shapes; wharf's additions marked +):
//! `/api/version`, `/api/overview`, `/api/entrypoints[/{name}]`, `/api/http/routers[/{name}]`,
//! `/api/http/services[/{name}]`, `/api/http/middlewares[/{name}]`, `/api/rawdata`,
//! `/api/certificates`, + `/api/explain`, + `/api/events`, + `/api/sse` (Server-Sent Events, one
//! `generation` event per swap), + `/api/ready` (200 once every provider delivered its first
//! view or error, else 503), + `/api/certificates/{id}`, + `POST /api/certificates/{id}/renew`
//! (forced ACME renewal; only with `api.allowCertificateRenewal`, same-origin, and with a JSON
//! body type or `X-Requested-With`). `/dashboard/` serves the dashboard; `/` redirects to it.

pub(crate) mod certs;
mod events;
mod explain;
mod views;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;
use wharf_providers::provider::{ProviderHandle, ProviderStatus};

use crate::body::Body;
use crate::compile::CompileSettings;
use crate::config::{StaticConfig, INTERNAL_ENTRY_POINT};
use crate::proxy::{HookCtx, PreRouteHooks};
use crate::service::{InternalHandler, RequestCtx, ServiceRuntime};
use crate::snapshot::SnapshotStore;

pub use events::{diff_snapshots, Change, Event, EventLog};

/// How many configuration generations `/api/events` keeps.
pub const EVENT_CAPACITY: usize = 200;

/// The API's state: the snapshot store, the static facts it shows, provider readiness and the
/// change log.
pub struct Api {
    store: SnapshotStore,
    insecure: bool,
    dashboard: bool,
    /// Entry points as the static configuration defines them (name → JSON), sorted by name.
    entry_points: Vec<(String, Value)>,
    start_date: String,
    providers: Vec<(String, watch::Receiver<ProviderStatus>)>,
    access_log: bool,
    events: Arc<EventLog>,
    /// The served certificates parsed once per generation (it reads certificate files).
    certs: Mutex<Option<(u64, Arc<Vec<certs::Served>>)>>,
    /// The ACME runtime's inventory and renewal requests (set once the resolvers start).
    acme: std::sync::OnceLock<(crate::acme::Inventory, crate::acme::Renewals)>,
    /// `api.allowCertificateRenewal` (wharf): `POST /api/certificates/{id}/renew` is served.
    renewal: bool,
    default_syntax: crate::rule::RuleSyntax,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("insecure", &self.insecure)
            .field("dashboard", &self.dashboard)
            .finish()
    }
}

impl Api {
    /// The API when the static configuration has an `api` section (`None` otherwise). Keeps the
    /// providers' status receivers (readiness) and starts the change recorder, so call it inside
    /// the runtime before the providers' handles are handed to the aggregator.
    pub fn from_config(
        cfg: &StaticConfig,
        store: &SnapshotStore,
        providers: &[ProviderHandle],
    ) -> Option<Arc<Api>> {
        let api = cfg.api.as_ref()?;
        let entry_points = cfg
            .entry_points
            .iter()
            .map(|(n, ep)| {
                let mut v = serde_json::to_value(ep).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("name".into(), Value::String(n.clone()));
                }
                (n.clone(), v)
            })
            .collect();
        let me = Arc::new(Api {
            store: store.clone(),
            insecure: api.insecure,
            dashboard: api.dashboard,
            entry_points,
            start_date: rfc3339(SystemTime::now()),
            providers: providers
                .iter()
                .map(|h| (h.name.clone(), h.status.clone()))
                .collect(),
            access_log: cfg.access_log.is_some(),
            events: Arc::new(EventLog::new(EVENT_CAPACITY)),
            certs: Mutex::new(None),
            acme: std::sync::OnceLock::new(),
            renewal: api.allow_certificate_renewal,
            default_syntax: if cfg.core.default_rule_syntax.eq_ignore_ascii_case("v2") {
                crate::rule::RuleSyntax::V2
            } else {
                crate::rule::RuleSyntax::V3
            },
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(events::record(store.clone(), me.events.clone()));
        }
        Some(me)
    }

    /// For tests and embedders: an API over `store` with the given entry point names.
    pub fn for_store(store: SnapshotStore, entry_points: &[&str], insecure: bool) -> Arc<Api> {
        Arc::new(Api {
            store,
            insecure,
            dashboard: true,
            entry_points: entry_points
                .iter()
                .map(|n| (n.to_string(), json!({ "name": n })))
                .collect(),
            start_date: rfc3339(SystemTime::now()),
            providers: Vec::new(),
            access_log: false,
            events: Arc::new(EventLog::new(EVENT_CAPACITY)),
            certs: Mutex::new(None),
            acme: std::sync::OnceLock::new(),
            renewal: false,
            default_syntax: crate::rule::RuleSyntax::V3,
        })
    }

    /// For tests and embedders: serves `POST /api/certificates/{id}/renew` (what
    /// `api.allowCertificateRenewal` turns on).
    pub fn with_renewal(mut self: Arc<Self>, on: bool) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.renewal = on;
        }
        self
    }

    /// Joins the ACME runtime: its inventory shows in `/api/certificates` and forced renewals
    /// go to its resolvers. Called once by the runtime after the resolvers start.
    pub fn set_acme(&self, inventory: crate::acme::Inventory, renewals: crate::acme::Renewals) {
        let _ = self.acme.set((inventory, renewals));
    }

    /// The change log (fed by [`events::record`]).
    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    /// Registers `api@internal` and `dashboard@internal` so routers can name them.
    pub fn register(self: &Arc<Self>, settings: &mut CompileSettings) {
        let api: Arc<dyn InternalHandler> = Arc::new(Internal {
            api: self.clone(),
            dashboard: false,
        });
        settings.internal_services.insert(
            "api@internal".into(),
            Arc::new(ServiceRuntime::internal("api@internal", api)),
        );
        if self.dashboard {
            let dash: Arc<dyn InternalHandler> = Arc::new(Internal {
                api: self.clone(),
                dashboard: true,
            });
            settings.internal_services.insert(
                "dashboard@internal".into(),
                Arc::new(ServiceRuntime::internal("dashboard@internal", dash)),
            );
        }
    }

    /// With `api.insecure`, answers the API and dashboard on the `traefik` entry point before
    /// routing (Traefik's generated `api@internal` / `dashboard@internal` routers).
    pub fn add_hooks(self: &Arc<Self>, entry_point: &str, hooks: &mut PreRouteHooks) {
        if !self.insecure || entry_point != INTERNAL_ENTRY_POINT {
            return;
        }
        let me = self.clone();
        hooks.add("/", move |req: &Request<Body>, _: &HookCtx<'_>| {
            let path = req.uri().path();
            if path == "/" && me.dashboard {
                return Some(redirect("/dashboard/"));
            }
            if path == "/api" || path.starts_with("/api/") {
                return Some(me.handle_api(req));
            }
            if me.dashboard && (path == "/dashboard" || path.starts_with("/dashboard/")) {
                return Some(me.handle_dashboard(req));
            }
            None
        });
    }

    /// Answers one API request (any path under `/api`).
    pub fn handle_api(&self, req: &Request<Body>) -> Response<Body> {
        if let Some(refused) = refuse_cross_site(req) {
            return refused;
        }
        if req.method() == Method::POST {
            return self.post(req);
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let path = req.uri().path();
        let query = req.uri().query().unwrap_or("");
        let rest = path.strip_prefix("/api").unwrap_or(path);
        let rest = rest.trim_end_matches('/');
        let snap = self.store.load();
        let ctx = views::Ctx {
            snap: &snap,
            insecure: self.insecure,
            dashboard: self.dashboard,
        };
        let (kind, name) = match rest.strip_prefix("/http/") {
            Some(r) => match r.split_once('/') {
                Some((k, n)) => (k, Some(n)),
                None => (r, None),
            },
            None => ("", None),
        };
        let name = name.map(percent_decode);
        match (rest, kind) {
            ("/version", _) => json_ok(&json!({
                "Version": env!("CARGO_PKG_VERSION"),
                "Codename": "wharf",
                "startDate": self.start_date,
            })),
            ("/overview", _) => json_ok(&views::overview(
                &ctx,
                &self.certificates(&snap),
                &self.provider_names(),
                self.access_log,
                self.ready_state().0,
            )),
            ("/rawdata", _) => json_ok(&views::rawdata(&ctx)),
            ("/entrypoints", _) => {
                let items: Vec<Value> = self.entry_points.iter().map(|(_, v)| v.clone()).collect();
                views::list_response(items, query, |_, _| true)
            }
            ("/certificates", _) => {
                let items = self.certificates(&snap);
                views::list_response(items, query, |_, _| true)
            }
            _ if rest.starts_with("/certificates/") => {
                let id = percent_decode(&rest["/certificates/".len()..]);
                match self
                    .certificates(&snap)
                    .into_iter()
                    .find(|c| c["id"] == id.as_str() || c["name"] == id.as_str())
                {
                    Some(c) => json_ok(&c),
                    None => error(
                        StatusCode::NOT_FOUND,
                        &format!("certificate not found: {id}"),
                    ),
                }
            }
            ("/explain", _) => explain::answer(&snap, query, &self.entry_point_names()),
            ("/events", _) => json_ok(&self.events.to_json(query)),
            ("/ready", _) => {
                let (ready, detail) = self.ready_state();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_status(status, &detail)
            }
            ("/sse", _) => self.sse(),
            (_, "routers" | "services" | "middlewares") => match name {
                None => views::list(&ctx, kind, query),
                Some(n) => match views::one(&ctx, kind, &n) {
                    Some(v) => json_ok(&v),
                    None => error(
                        StatusCode::NOT_FOUND,
                        &format!("{} not found: {n}", kind.trim_end_matches('s')),
                    ),
                },
            },
            _ if rest.starts_with("/entrypoints/") => {
                let n = percent_decode(&rest["/entrypoints/".len()..]);
                match self.entry_points.iter().find(|(k, _)| *k == n) {
                    Some((_, v)) => json_ok(v),
                    None => error(
                        StatusCode::NOT_FOUND,
                        &format!("entry point not found: {n}"),
                    ),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// Serves the dashboard's files (`/dashboard/`, `/dashboard/app.js` ...; also the same paths
    /// with `/dashboard` stripped, as behind Traefik's strip-prefix middleware).
    pub fn handle_dashboard(&self, req: &Request<Body>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            if let Some(refused) = refuse_cross_site(req) {
                return refused;
            }
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let path = req.uri().path();
        if path == "/dashboard" {
            return redirect("/dashboard/");
        }
        let file = path.strip_prefix("/dashboard").unwrap_or(path);
        let (body, ctype): (&'static str, &'static str) = match file {
            "/" | "/index.html" => (DASH_HTML, "text/html; charset=utf-8"),
            "/app.js" => (DASH_JS, "text/javascript; charset=utf-8"),
            "/app.css" => (DASH_CSS, "text/css; charset=utf-8"),
            _ => return error(StatusCode::NOT_FOUND, "not found"),
        };
        let mut resp = Response::new(Body::full(Bytes::from_static(body.as_bytes())));
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        // Only our own script and style run: a name that slipped past escaping still cannot
        // execute.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }

    fn entry_point_names(&self) -> Vec<String> {
        self.entry_points.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Traefik's overview spells providers capitalized (`File`, `Docker`).
    fn provider_names(&self) -> Vec<String> {
        self.providers
            .iter()
            .map(|(n, _)| {
                let mut c = n.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().chain(c).collect(),
                    None => String::new(),
                }
            })
            .collect()
    }

    /// Ready once every provider delivered its first view or error and, if some delivered a
    /// view, a snapshot has been compiled from it.
    pub fn ready_state(&self) -> (bool, Value) {
        let mut all_reported = true;
        let mut any_view = false;
        let mut detail = serde_json::Map::new();
        for (name, rx) in &self.providers {
            let st = rx.borrow().clone();
            let text = match st {
                ProviderStatus::Starting => {
                    all_reported = false;
                    "starting".to_string()
                }
                ProviderStatus::Ready => {
                    any_view = true;
                    "ready".to_string()
                }
                ProviderStatus::Error(e) => format!("error: {e}"),
            };
            detail.insert(name.clone(), Value::String(text));
        }
        let generation = self.store.generation();
        let ready = all_reported && (!any_view || generation > 0);
        (
            ready,
            json!({ "ready": ready, "generation": generation, "providers": detail }),
        )
    }

    /// The certificate inventory: served certificates (parsed once per generation) joined
    /// with the ACME inventory as it is now (its errors and backoff change between
    /// generations).
    fn certificates(&self, snap: &crate::snapshot::Snapshot) -> Vec<Value> {
        let served = {
            let mut cache = self
                .certs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &*cache {
                Some((g, v)) if *g == snap.generation => v.clone(),
                _ => {
                    let v = Arc::new(certs::served(&snap.config, self.default_syntax));
                    *cache = Some((snap.generation, v.clone()));
                    v
                }
            }
        };
        let acme = self
            .acme
            .get()
            .map(|(inv, _)| inv.list())
            .unwrap_or_default();
        let mut list = certs::inventory(&served, &acme, SystemTime::now());
        if !self.renewal {
            for c in &mut list {
                if let Value::Object(m) = c {
                    m.insert("renewable".into(), Value::Bool(false));
                }
            }
        }
        list
    }

    /// State-changing requests: only `POST /api/certificates/{id}/renew`, opt-in
    /// (`api.allowCertificateRenewal`), same-origin, and with a body type or header a plain
    /// HTML form cannot send (so a cross-site page cannot trigger it even where the browser
    /// sends no `Sec-Fetch-Site`).
    fn post(&self, req: &Request<Body>) -> Response<Body> {
        let rest = req.uri().path().strip_prefix("/api").unwrap_or("");
        let Some(id) = rest
            .strip_prefix("/certificates/")
            .and_then(|r| r.strip_suffix("/renew"))
            .filter(|id| !id.is_empty())
        else {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        };
        if !self.renewal {
            return error(
                StatusCode::FORBIDDEN,
                "forced renewal is disabled (set api.allowCertificateRenewal=true)",
            );
        }
        let h = req.headers();
        let json_body = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json_body && !h.contains_key("x-requested-with") {
            return error(
                StatusCode::FORBIDDEN,
                "send Content-Type: application/json or X-Requested-With (cross-site protection)",
            );
        }
        let id = percent_decode(id);
        let Some((_, renewals)) = self.acme.get() else {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no ACME certificate `{id}`"),
            );
        };
        match renewals.request(&id) {
            Ok(()) => {
                tracing::info!(certificate = %id, "forced renewal requested through the API");
                json_status(
                    StatusCode::ACCEPTED,
                    &json!({ "message": "renewal queued", "id": id }),
                )
            }
            Err(e @ crate::acme::RenewError::Unknown(_)) => {
                error(StatusCode::NOT_FOUND, &e.to_string())
            }
            Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
        }
    }

    /// `/api/sse`: a `generation` event now and on every swap, a comment every 15 s to keep
    /// proxies from closing the stream.
    fn sse(&self) -> Response<Body> {
        use futures_util::StreamExt;
        use http_body::Frame;
        let rx = self.store.subscribe();
        let first = self.store.generation();
        let stream = futures_util::stream::unfold((rx, Some(first)), |(mut rx, first)| async move {
            if let Some(g) = first {
                return Some((sse_event(g), (rx, None)));
            }
            let msg = tokio::select! {
                r = rx.changed() => match r {
                    Ok(()) => sse_event(*rx.borrow_and_update()),
                    Err(_) => return None,
                },
                _ = tokio::time::sleep(Duration::from_secs(15)) => Bytes::from_static(b": keep-alive\n\n"),
            };
            Some((msg, (rx, None)))
        })
        .map(|b| Ok::<_, crate::body::BoxError>(Frame::data(b)));
        let body = http_body_util::BodyExt::boxed(http_body_util::StreamBody::new(stream));
        let mut resp = Response::new(Body::boxed(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }
}

fn sse_event(generation: u64) -> Bytes {
    Bytes::from(format!(
        "event: generation\ndata: {{\"generation\":{generation}}}\n\n"
    ))
}

/// `api@internal` / `dashboard@internal` as services.
struct Internal {
    api: Arc<Api>,
    dashboard: bool,
}

impl InternalHandler for Internal {
    fn handle(&self, req: Request<Body>, _ctx: &RequestCtx) -> Response<Body> {
        let path = req.uri().path();
        if self.dashboard {
            if path == "/" && req.method() == Method::GET {
                // Traefik's dashboard router redirects `/` to the dashboard.
                return redirect("/dashboard/");
            }
            if path.starts_with("/api/") {
                // The dashboard calls the API at the same origin.
                return self.api.handle_api(&req);
            }
            return self.api.handle_dashboard(&req);
        }
        self.api.handle_api(&req)
    }
}

const DASH_HTML: &str = include_str!("dashboard/index.html");
const DASH_JS: &str = include_str!("dashboard/app.js");
const DASH_CSS: &str = include_str!("dashboard/app.css");

/// Refuses state-changing requests from another site: a browser sends `Sec-Fetch-Site` (and
/// `Origin` on cross-origin requests), so a page elsewhere cannot make a victim's browser act
/// on the API port, which is often unauthenticated.
fn refuse_cross_site(req: &Request<Body>) -> Option<Response<Body>> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Some(error(StatusCode::FORBIDDEN, "cross-site request refused"));
        }
    }
    if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, r)| r);
        if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
            return Some(error(StatusCode::FORBIDDEN, "cross-site request refused"));
        }
    }
    None
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    resp
}

pub(crate) fn json_ok(v: &Value) -> Response<Body> {
    json_status(StatusCode::OK, v)
}

pub(crate) fn json_status(status: StatusCode, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Traefik's error body: `{"message": "..."}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_status(status, &json!({ "message": message }))
}

/// Decodes `%XX` escapes (names in paths, query values); `+` stays as it is in paths.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Query parameters, `+` as space, in order (repeated keys kept).
pub(crate) fn query_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `2026-12-03T18:51:30Z` (UTC, seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    rfc3339_secs(secs)
}

/// Formats Unix seconds as RFC 3339 UTC (civil-from-days, proleptic Gregorian).
pub fn rfc3339_secs(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
