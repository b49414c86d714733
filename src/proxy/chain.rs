//! The router's middleware chain around forwarding, walked in one `async fn` (no boxed future
//! per middleware): the request phase (answers, RateLimit delays, ForwardAuth calls), Buffering's
//! request limit, the service call (with Retry and CircuitBreaker outcomes), Errors pages, then
//! the response phase in reverse over the filters that ran.
//!
//! The filters themselves are synchronous (`wharf_middlewares::run_request`); the await points
//! are here: a RateLimit delay, the ForwardAuth call, reading a bounded body copy, the service.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{request, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use wharf_middlewares::{self as mw, Action, ChainOutcome, ConnInfo, Filter, FlowState};

use super::headers;
use super::spool::{SpoolError, Spooled};
use crate::body::Body;
use crate::service::transport::{Transport, Upstream, UpstreamScheme};
use crate::service::{ProxyError, RequestCtx};
use crate::snapshot::Snapshot;

/// What this proxy runs beyond the synchronous filters (compile turns the other proxy-run
/// middlewares into "not supported yet" instead of a silent no-op).
pub fn support() -> mw::ProxySupport {
    mw::ProxySupport {
        forward_auth: true,
        circuit_breaker: true,
        retry: true,
        errors: true,
        buffering: true,
        compress: true,
        grpc_web: true,
    }
}

/// Largest request body Retry keeps as a replay copy; larger bodies are sent once.
const RETRY_REPLAY_LIMIT: u64 = 1 << 20;

/// Runs `chain` around `forward` (which sends one request to the route's service and strips
/// hop-by-hop headers) and returns the client's answer.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run<F, Fut>(
    snapshot: &Snapshot,
    chain: &[Filter],
    req: Request<Body>,
    conn: &ConnInfo,
    client_ip: &HeaderValue,
    ctx: &RequestCtx,
    meta: &mut crate::observe::RouteMeta,
    forward: F,
) -> Response<Body>
where
    F: Fn(Request<Body>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ProxyError>>,
{
    let mut flow = FlowState::default();
    let (mut parts, mut body) = req.into_parts();

    // Request phase.
    let mut start = 0;
    loop {
        match mw::run_request(chain, start, &mut parts, conn, &mut flow) {
            ChainOutcome::Forward => break,
            ChainOutcome::Respond { index, response } => {
                return answer(chain, index, response, conn, &flow);
            }
            ChainOutcome::Delay { index, delay } => {
                tokio::time::sleep(delay).await;
                start = index + 1;
            }
            // A shared-store check (Redis-backed rateLimit / quota); the future bounds its
            // own time and follows `failOpen` on failure.
            ChainOutcome::Await { index, pending } => match pending.settle(&mut flow).await {
                Action::Continue => start = index + 1,
                Action::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    start = index + 1;
                }
                Action::Respond(r) => return answer(chain, index, r, conn, &flow),
                other => {
                    tracing::error!(router = %ctx.router, action = ?other, "unexpected awaited action");
                    return answer(chain, index, status_only(500), conn, &flow);
                }
            },
            ChainOutcome::Call { index, request } => {
                let Filter::ForwardAuth(fa) = &chain[index] else {
                    return answer(chain, index, mw::forward_auth::call_failed(), conn, &flow);
                };
                // forwardBody: the auth server gets a copy of the client's body (bounded); the
                // service gets the same bytes afterwards.
                let auth_body = match fa.forward_body() {
                    None => Bytes::new(),
                    Some(limit) => {
                        let taken = std::mem::replace(&mut body, Body::empty());
                        match read_limited(taken, (limit >= 0).then_some(limit as u64)).await {
                            Ok(bytes) => {
                                body = Body::full(bytes.clone());
                                bytes
                            }
                            Err(ReadError::TooLarge) => {
                                return answer(chain, index, status_only(401), conn, &flow);
                            }
                            Err(ReadError::Body) => {
                                return answer(chain, index, status_only(400), conn, &flow);
                            }
                        }
                    }
                };
                let limit = fa.max_response_body_size();
                let limit = (limit >= 0).then_some(limit as u64);
                let client = fa
                    .client()
                    .and_then(|c| c.as_ref().downcast_ref::<AuthClient>());
                let action = match call(client, *request, auth_body, limit).await {
                    Ok((ap, abody)) => {
                        chain[index].on_call_response(&ap, abody, &mut parts, &mut flow)
                    }
                    Err(CallError::TooLarge) => Action::Respond(status_only(401)),
                    Err(CallError::Failed(e)) => {
                        tracing::debug!(router = %ctx.router, error = %e, "forwardAuth call failed");
                        Action::Respond(mw::forward_auth::call_failed())
                    }
                };
                match action {
                    Action::Continue => start = index + 1,
                    Action::Respond(r) => return answer(chain, index, r, conn, &flow),
                    other => {
                        tracing::error!(router = %ctx.router, action = ?other, "unexpected forwardAuth action");
                        return answer(chain, index, status_only(500), conn, &flow);
                    }
                }
            }
            other => {
                tracing::error!(router = %ctx.router, outcome = ?other, "unsupported middleware outcome");
                return answer(chain, chain.len(), status_only(500), conn, &flow);
            }
        }
    }

    // GrpcWeb: a grpc-web-text body is base64-decoded on its way to the gRPC server.
    if let Some(ex) = flow.grpc_web {
        let taken = std::mem::replace(&mut body, Body::empty());
        body = super::grpc_web::request_body(taken, ex.text);
    }

    // Buffering (oxy's buffer, as Traefik): the request body is read whole before the service
    // sees it, the first `memRequestBodyBytes` in memory and the rest in a temporary file; over
    // `maxRequestBodyBytes` → 413 (a declared Content-Length over it is refused unread). It then
    // goes out with its exact length.
    let buffering = chain.iter().find_map(Filter::buffering_policy);
    let mut spooled: Option<Spooled> = None;
    if let Some(policy) = buffering {
        let max = chain
            .iter()
            .filter_map(|f| f.buffering_policy().and_then(|p| p.max_request_body_bytes))
            .min();
        let declared = content_length(&parts.headers);
        if let (Some(max), Some(n)) = (max, declared) {
            if n > max {
                return answer(chain, chain.len(), status_only(413), conn, &flow);
            }
        }
        let taken = std::mem::replace(&mut body, Body::empty());
        match Spooled::read(taken, policy.mem_request_body_bytes, max).await {
            Ok(s) => {
                if s.len() > 0 || declared.is_some() {
                    parts.headers.remove(header::TRANSFER_ENCODING);
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(s.len()));
                }
                body = s.replay();
                spooled = Some(s);
            }
            Err(SpoolError::TooLarge) => {
                return answer(chain, chain.len(), status_only(413), conn, &flow)
            }
            Err(SpoolError::Body) => {
                return answer(chain, chain.len(), status_only(400), conn, &flow)
            }
            Err(SpoolError::Io(e)) => {
                tracing::error!(router = %ctx.router, error = %e, "buffering: cannot store the request body");
                return answer(chain, chain.len(), status_only(500), conn, &flow);
            }
        }
    }

    // Go's reverse proxy: the client IP joins X-Forwarded-For when forwarding, unless a
    // Headers middleware set it empty.
    if !flow.suppress_forwarded_for {
        headers::append_forwarded_for(&mut parts.headers, client_ip);
    }

    // The access log's view of the request as it goes to the service.
    if meta.wanted {
        meta.user = flow.user.clone();
        if meta.capture_headers {
            meta.request_headers = Some(parts.headers.clone());
        }
    }

    // Errors pages need the original request's URI and headers after it was sent.
    let wants_pages = chain.iter().any(|f| f.error_pages().is_some());
    let original = wants_pages.then(|| (parts.uri.clone(), parts.headers.clone()));

    // Retry: a bounded replay copy of the body, idempotent methods only, transport errors only
    // (nothing reached the client yet: the response head is not ours until `forward` returns).
    // A body stored by Buffering is the replay copy whatever its size.
    let retry = chain
        .iter()
        .find_map(Filter::retry_policy)
        .filter(|_| mw::retry::is_idempotent(&parts.method));
    let replay: Option<Replay> = match (spooled, retry) {
        (Some(s), _) => Some(Replay::Spool(s)),
        (None, None) => None,
        (None, Some(_)) if http_body::Body::is_end_stream(&body) => {
            Some(Replay::Bytes(Bytes::new()))
        }
        (None, Some(_)) => match content_length(&parts.headers) {
            Some(n) if n <= RETRY_REPLAY_LIMIT => {
                let taken = std::mem::replace(&mut body, Body::empty());
                match read_limited(taken, Some(RETRY_REPLAY_LIMIT)).await {
                    Ok(b) => Some(Replay::Bytes(b)),
                    Err(_) => return answer(chain, chain.len(), status_only(400), conn, &flow),
                }
            }
            _ => None,
        },
    };
    // Buffering's `retryExpression`: the stored request is sent again while the expression
    // holds for the answer (at most oxy's 10 retries).
    let buffer_retry = buffering.and_then(|p| p.retry.as_ref());

    let started = Instant::now();
    // Every send, retries of both kinds included (the access log's RetryAttempts).
    let mut tries = 1u32;
    let result = match &replay {
        None => forward(Request::from_parts(parts, body)).await,
        Some(replay) => {
            tries = 0;
            let mut attempt = 1u32;
            loop {
                let r = send_retrying(&forward, &parts, replay, retry, ctx, &mut tries).await;
                let code = match &r {
                    Ok(resp) => resp.status(),
                    Err(e) => e.status(),
                };
                match buffer_retry {
                    Some(expr)
                        if attempt <= BUFFER_MAX_RETRIES
                            && expr.eval(&RetryFacts { attempt, code }) =>
                    {
                        tracing::debug!(router = %ctx.router, attempt, status = code.as_u16(), "buffering: retrying the request");
                        attempt += 1;
                    }
                    _ => break r,
                }
            }
        }
    };
    let latency = started.elapsed();
    let status = match &result {
        Ok(r) => r.status(),
        Err(e) => e.status(),
    };
    if meta.wanted {
        meta.retries = tries.saturating_sub(1);
        if let Ok(r) = &result {
            // The service answered (not one of wharf's own error answers).
            meta.origin = Some((r.status(), started + latency));
        }
    }
    for f in chain {
        f.record_outcome(status, latency);
    }
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => super::server::error_response(&e, ctx),
    };

    // Errors: the innermost errors middleware handling the status fetches its page.
    if let Some((uri, hdrs)) = &original {
        for pages in chain.iter().rev().filter_map(Filter::error_pages) {
            let code = resp.status().as_u16();
            if !pages.handles(code) {
                continue;
            }
            if let Some(page) = error_page(snapshot, pages, code, uri, hdrs, ctx).await {
                resp = page;
            }
            break;
        }
    }

    let (mut rp, mut rbody) = resp.into_parts();
    // Buffering: the response body is read whole (memory up to `memResponseBodyBytes`, then
    // a temporary file) before the client gets the head; over `maxResponseBodyBytes` → 500, as
    // Traefik. It then goes out with its exact length.
    if let Some(policy) = buffering {
        let max = chain
            .iter()
            .filter_map(|f| f.buffering_policy().and_then(|p| p.max_response_body_bytes))
            .min();
        let declared = content_length(&rp.headers);
        if let (Some(max), Some(n)) = (max, declared) {
            if n > max {
                return answer(chain, chain.len(), status_only(500), conn, &flow);
            }
        }
        match Spooled::read(rbody, policy.mem_response_body_bytes, max).await {
            Ok(s) => {
                if s.len() > 0 && declared.is_none() {
                    rp.headers.remove(header::TRANSFER_ENCODING);
                    rp.headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(s.len()));
                }
                rbody = s.replay();
            }
            Err(e) => {
                if let SpoolError::Io(e) = &e {
                    tracing::error!(router = %ctx.router, error = %e, "buffering: cannot store the response body");
                }
                return answer(chain, chain.len(), status_only(500), conn, &flow);
            }
        }
    }
    // ContentType: a response without `Content-Type` gets one sniffed from its first bytes.
    if let Some(Filter::ContentType(ct)) = chain.iter().find(|f| f.wants_content_sniffing()) {
        let bodiless = rp.status.is_informational()
            || rp.status == StatusCode::NO_CONTENT
            || rp.status == StatusCode::NOT_MODIFIED;
        if !bodiless && !rp.headers.contains_key(header::CONTENT_TYPE) {
            let (prefix, rest) = sniff(rbody).await;
            ct.apply(&mut rp, &prefix);
            rbody = rest;
        }
    }
    rbody = response_phase(chain, chain.len(), &mut rp, rbody, conn, &flow).await;
    // GrpcWeb: the server's trailers go back in the body (and the text format is base64).
    if let Some(ex) = flow.grpc_web.take() {
        rbody = super::grpc_web::response_body(rbody, ex.text);
    }
    // InFlightReq counts a request until its answer is sent, as Traefik's handler returns only
    // then: its slot lives in `flow`, which the body carries to its end.
    if chain.iter().any(|f| matches!(f, Filter::InFlightReq(_))) {
        rbody = Body::boxed(BodyExt::boxed(HoldFlow {
            inner: rbody,
            _flow: flow,
        }));
    }
    Response::from_parts(rp, rbody)
}

pin_project_lite::pin_project! {
    /// A response body that keeps the middleware flow state (in-flight slots) until it ends.
    struct HoldFlow {
        #[pin]
        inner: Body,
        _flow: FlowState,
    }
}

impl http_body::Body for HoldFlow {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Bytes Go's `DetectContentType` looks at.
const SNIFF_LEN: usize = 512;

/// Reads up to [`SNIFF_LEN`] bytes of a response body; returns them and a body that replays
/// them before the rest (frames already read are kept in order, an error included).
async fn sniff(mut body: Body) -> (Bytes, Body) {
    use futures_util::StreamExt;
    let mut seen = bytes::BytesMut::new();
    let mut frames: Vec<Result<http_body::Frame<Bytes>, crate::body::BoxError>> = Vec::new();
    let mut ended = false;
    while seen.len() < SNIFF_LEN {
        match body.frame().await {
            None => {
                ended = true;
                break;
            }
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    seen.extend_from_slice(d);
                }
                frames.push(Ok(frame));
            }
            Some(Err(e)) => {
                frames.push(Err(e));
                ended = true;
                break;
            }
        }
    }
    let prefix = seen.freeze();
    let head = futures_util::stream::iter(frames);
    let rest = if ended {
        Body::boxed(BodyExt::boxed(http_body_util::StreamBody::new(head)))
    } else {
        let tail = http_body_util::BodyStream::new(body);
        Body::boxed(BodyExt::boxed(http_body_util::StreamBody::new(
            head.chain(tail),
        )))
    };
    (prefix, rest)
}

/// The response phase over `chain[..ran]`, last filter first. A Compress filter whose request
/// negotiated a coding encodes the body at its place, so it sees the headers that the filters
/// after it set, and the filters before it see the compressed answer (as in Traefik).
async fn response_phase(
    chain: &[Filter],
    ran: usize,
    rp: &mut http::response::Parts,
    mut body: Body,
    conn: &ConnInfo,
    flow: &FlowState,
) -> Body {
    let ran = ran.min(chain.len());
    let mut hi = ran;
    for (k, f) in chain[..ran].iter().enumerate().rev() {
        let Some(policy) = f.compress_policy() else {
            continue;
        };
        mw::run_response_between(chain, k + 1, hi, rp, conn, flow);
        hi = k;
        if let Some(enc) = flow.compress_choice(k) {
            body = super::compress::apply(policy, enc, rp, body).await;
        }
    }
    mw::run_response_between(chain, 0, hi, rp, conn, flow);
    body
}

/// A filter answered: the response phase runs over the filters before it (a Compress filter
/// among them compresses the answer, which wharf holds whole).
fn answer(
    chain: &[Filter],
    index: usize,
    response: Response<Bytes>,
    conn: &ConnInfo,
    flow: &FlowState,
) -> Response<Body> {
    let (mut rp, mut bytes) = response.into_parts();
    let ran = index.min(chain.len());
    let mut hi = ran;
    for (k, f) in chain[..ran].iter().enumerate().rev() {
        let Some(policy) = f.compress_policy() else {
            continue;
        };
        mw::run_response_between(chain, k + 1, hi, &mut rp, conn, flow);
        hi = k;
        if let Some(enc) = flow.compress_choice(k) {
            bytes = super::compress::apply_full(policy, enc, &mut rp, bytes);
        }
    }
    mw::run_response_between(chain, 0, hi, &mut rp, conn, flow);
    Response::from_parts(rp, Body::full(bytes))
}

/// A bare answer with the status text as body (Go's proxy style, no Content-Type).
fn status_only(code: u16) -> Response<Bytes> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Go's status text where it differs from the http crate's (as Traefik writes it, reason
    // phrase included).
    let text = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or(""),
    };
    let mut r = Response::new(Bytes::from_static(text.as_bytes()));
    *r.status_mut() = status;
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        r.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(text.as_bytes()));
    }
    r
}

/// oxy's `DefaultMaxRetryAttempts`: Buffering's retryExpression sends a request at most 11 times.
const BUFFER_MAX_RETRIES: u32 = 10;

/// What a request body is replayed from: Retry's bounded copy or Buffering's store.
enum Replay {
    Bytes(Bytes),
    Spool(Spooled),
}

impl Replay {
    fn body(&self) -> Body {
        match self {
            Replay::Bytes(b) => Body::full(b.clone()),
            Replay::Spool(s) => s.replay(),
        }
    }
}

/// The facts Buffering's retryExpression reads (oxy's): `Attempts()` (1 for the first answer),
/// `ResponseCode()`, `IsNetworkError()` (a 502 or 504: wharf answers transport errors so).
struct RetryFacts {
    attempt: u32,
    code: StatusCode,
}

impl mw::expr::Metrics for RetryFacts {
    fn number(&self, name: &str, _args: &[f64]) -> f64 {
        match name {
            "Attempts" => f64::from(self.attempt),
            "ResponseCode" => f64::from(self.code.as_u16()),
            _ => 0.0,
        }
    }
    fn condition(&self, name: &str, _args: &[f64]) -> bool {
        name == "IsNetworkError"
            && matches!(
                self.code,
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
            )
    }
}

/// One send of a replayable request, with Retry's tries on transport errors when configured.
async fn send_retrying<F, Fut>(
    forward: &F,
    parts: &request::Parts,
    replay: &Replay,
    retry: Option<&mw::RetryPolicy>,
    ctx: &RequestCtx,
    tries: &mut u32,
) -> Result<Response<Body>, ProxyError>
where
    F: Fn(Request<Body>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ProxyError>>,
{
    *tries += 1;
    let Some(policy) = retry else {
        return forward(Request::from_parts(copy_parts(parts), replay.body())).await;
    };
    // The Retry middleware's own count (its `attempts`), apart from Buffering's re-sends.
    let mut own = 1u32;
    loop {
        let req = Request::from_parts(copy_parts(parts), replay.body());
        match forward(req).await {
            Err(ProxyError::Upstream(e)) if policy.may_retry(own, false) => {
                tracing::debug!(router = %ctx.router, attempt = own, error = %e, "retrying");
                let wait = policy.backoff_jittered(own, rand::random::<f64>());
                own += 1;
                *tries += 1;
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            r => return r,
        }
    }
}

fn content_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

fn copy_parts(p: &request::Parts) -> request::Parts {
    let (mut out, ()) = Request::new(()).into_parts();
    out.method = p.method.clone();
    out.uri = p.uri.clone();
    out.version = p.version;
    out.headers = p.headers.clone();
    out
}

enum ReadError {
    TooLarge,
    Body,
}

/// Reads a body whole, refusing more than `limit` bytes.
async fn read_limited(body: Body, limit: Option<u64>) -> Result<Bytes, ReadError> {
    match limit {
        None => body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| ReadError::Body),
        Some(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            match Limited::new(body, n).collect().await {
                Ok(c) => Ok(c.to_bytes()),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ReadError::TooLarge),
                Err(_) => Err(ReadError::Body),
            }
        }
    }
}

/// Auth servers' upstreams by scheme and authority.
type HeldUpstreams = std::sync::Mutex<HashMap<(UpstreamScheme, String), Arc<Upstream>>>;

enum CallError {
    TooLarge,
    Failed(String),
}

/// The client of forwardAuth calls: a transport (TLS settings, pools) and the upstreams it
/// reached. The transport keeps only weak references to its upstreams; holding them here keeps
/// the auth servers' connection pools alive between calls (a handful of addresses).
pub(crate) struct AuthClient {
    transport: Transport,
    held: HeldUpstreams,
}

impl AuthClient {
    fn new(transport: Transport) -> AuthClient {
        AuthClient {
            transport,
            held: HeldUpstreams::default(),
        }
    }

    fn upstream(&self, scheme: UpstreamScheme, authority: &http::uri::Authority) -> Arc<Upstream> {
        let mut map = match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Addresses come from the configuration; past a few dozen (many reloads with changing
        // addresses) start over rather than grow.
        if map.len() >= 64 {
            map.clear();
        }
        map.entry((scheme, authority.as_str().to_ascii_lowercase()))
            .or_insert_with(|| self.transport.upstream(scheme, authority))
            .clone()
    }
}

/// The client of forwardAuth middlewares without `tls`: default serversTransport settings
/// (system and webpki roots, pooled connections), shared by all of them.
fn default_auth_client() -> Option<&'static AuthClient> {
    static C: OnceLock<Option<AuthClient>> = OnceLock::new();
    C.get_or_init(|| {
        match Transport::new(&wharf_providers::ServersTransport::default(), &|_| None) {
            Ok(t) => Some(AuthClient::new(t)),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the forwardAuth client");
                None
            }
        }
    })
    .as_ref()
}

/// The client for a forwardAuth `tls` section, as Traefik's ClientTLS: `ca` replaces the system
/// roots, `cert` + `key` are presented when the auth server asks, `insecureSkipVerify` skips
/// verification (`caOptional` is a deprecated server-side option: ignored). Each of `ca`,
/// `cert`, `key` is a path (loaded before compile) or inline PEM. Clients are shared by
/// identical settings (file contents included) and kept while a snapshot uses them, so a
/// reload that changes nothing keeps the pooled connections.
pub(crate) fn auth_client_for(
    tls: &wharf_middlewares::ClientTlsSpec,
    files: &crate::compile::FileContents,
) -> Result<Arc<AuthClient>, String> {
    use std::sync::Weak;
    type Clients = std::sync::Mutex<HashMap<String, Weak<AuthClient>>>;
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    let cfg = wharf_providers::ServersTransport {
        insecure_skip_verify: tls.insecure_skip_verify,
        root_cas: [tls.ca.trim()]
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        certificates: if tls.cert.trim().is_empty() {
            Vec::new()
        } else {
            vec![wharf_providers::CertificateFiles {
                cert_file: tls.cert.trim().to_string(),
                key_file: tls.key.trim().to_string(),
            }]
        },
        ..Default::default()
    };
    let read = |p: &str| files.get(p).and_then(|r| r.as_ref().ok().cloned());
    let key = crate::service::transport::transport_key(&cfg, &read);
    let clients = CLIENTS.get_or_init(Default::default);
    let mut map = match clients.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(c) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(c);
    }
    map.retain(|_, w| w.strong_count() > 0);
    let client = Arc::new(AuthClient::new(
        Transport::new(&cfg, &read).map_err(|e| format!("invalid `forwardAuth.tls`: {e}"))?,
    ));
    map.insert(key, Arc::downgrade(&client));
    Ok(client)
}

/// Sends the auth request and reads the answer (bounded).
async fn call(
    client: Option<&AuthClient>,
    parts: request::Parts,
    body: Bytes,
    limit: Option<u64>,
) -> Result<(http::response::Parts, Bytes), CallError> {
    let client: &AuthClient = match client {
        Some(c) => c,
        None => default_auth_client().ok_or(CallError::Failed("no client".into()))?,
    };
    let scheme = match parts.uri.scheme_str() {
        Some("https") => UpstreamScheme::Https,
        Some("http") => UpstreamScheme::Http,
        _ => return Err(CallError::Failed(format!("bad address {}", parts.uri))),
    };
    let authority = parts
        .uri
        .authority()
        .cloned()
        .ok_or_else(|| CallError::Failed(format!("bad address {}", parts.uri)))?;
    let mut req = Request::from_parts(parts, Body::full(body));
    if !req.headers().contains_key(header::HOST) {
        if let Ok(v) = HeaderValue::from_str(authority.as_str()) {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    let upstream = client.upstream(scheme, &authority);
    let resp = upstream
        .send(scheme, false, req)
        .await
        .map_err(|e| CallError::Failed(e.to_string()))?;
    let (ap, abody) = resp.into_parts();
    let bytes = match limit {
        None => abody
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| CallError::Failed(e.to_string()))?,
        Some(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            match Limited::new(abody, n).collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(CallError::TooLarge)
                }
                Err(e) => return Err(CallError::Failed(e.to_string())),
            }
        }
    };
    Ok((ap, bytes))
}

/// Fetches the error page for `code` from the errors service: a GET with the original headers
/// to the `query` path. The client gets the page with the (rewritten) status; when the page
/// cannot be fetched the original answer stays.
async fn error_page(
    snapshot: &Snapshot,
    pages: &mw::ErrorPages,
    code: u16,
    uri: &http::Uri,
    hdrs: &http::HeaderMap,
    ctx: &RequestCtx,
) -> Option<Response<Body>> {
    let Some(service) = snapshot.services.get(pages.service()) else {
        tracing::warn!(router = %ctx.router, service = pages.service(), "errors service not found");
        return None;
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let page_uri: http::Uri = pages.page_uri(code, target).parse().ok()?;
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = page_uri;
    *req.headers_mut() = hdrs.clone();
    for h in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONTENT_TYPE,
    ] {
        req.headers_mut().remove(h);
    }
    headers::remove_hop_by_hop_request(req.headers_mut());
    match tokio::time::timeout(Duration::from_secs(30), service.serve(req, ctx)).await {
        Ok(Ok(mut page)) => {
            headers::remove_hop_by_hop_response(page.status(), page.headers_mut());
            let status = StatusCode::from_u16(pages.client_status(code)).ok()?;
            *page.status_mut() = status;
            Some(page)
        }
        Ok(Err(e)) => {
            tracing::debug!(router = %ctx.router, error = %e, "error page fetch failed");
            None
        }
        Err(_) => None,
    }
}
