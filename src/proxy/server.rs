//! The accept loop and the per-request path of one entry point: hyper (HTTP/1.1 and h2c with
//! prior knowledge) → pre-routing hooks → entry-point redirect → route table of the snapshot
//! loaded once for this request → forwarded and hop-by-hop headers → the route's service.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wharf_middlewares::ConnInfo;

use super::armed::Armed;
use super::headers::{self, ForwardedInput};
use super::hooks::{HookCtx, PreRouteHooks};
use super::io::ClientIo;
use super::path;
use super::proxy_protocol;
use super::settings::{EntryPointSettings, MIN_MAX_HEADER_BYTES};
use crate::body::Body;
use crate::observe::RouteMeta;
use crate::rule::RequestInfo;
use crate::service::{ProxyError, RequestCtx};
use crate::snapshot::Snapshot;

/// How long a peer may take to send its PROXY header when `readTimeout` is disabled
/// (go-proxyproto's default).
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of one entry point shares.
struct EntryPoint {
    settings: Arc<EntryPointSettings>,
    store: Arc<ArcSwap<Snapshot>>,
    hooks: Arc<PreRouteHooks>,
    builder: auto::Builder<TokioExecutor>,
    /// `:port` suffix of the redirect Location, computed once.
    redirect_port: String,
}

/// One client connection.
struct Conn {
    ep: Arc<EntryPoint>,
    /// The client: the PROXY header's source when one was accepted, else the peer.
    client_addr: SocketAddr,
    /// The client IP as a header value, rendered once per connection.
    client_ip: HeaderValue,
    /// Whether this client's X-Forwarded-* headers are believed.
    trusted: bool,
    /// Raised by the connection reader when a head had both Content-Length and
    /// Transfer-Encoding.
    ambiguous: Arc<AtomicBool>,
    /// Requests received on this connection (`keepAliveMaxRequests`, idle detection).
    requests: AtomicU64,
    /// Requests whose answer head is not ready yet (idle detection).
    active: AtomicU64,
    /// When the connection was accepted (`keepAliveMaxTime`).
    opened: Instant,
    /// Set on TLS connections (src/tls): what the handshake negotiated. Such a connection is
    /// routed with the entry point's TLS route table.
    tls: Option<Arc<crate::tls::TlsConnInfo>>,
    /// The client's certificate chain on mTLS connections, for passTLSClientCert (its PEM
    /// header value is built once per connection).
    client_certs: Option<Arc<wharf_middlewares::ClientCertChain>>,
    /// The upstream connection bound to this client connection; it closes with it.
    upstream_conn: crate::service::UpstreamConn,
}

/// Serves one entry point until `shutdown` is cancelled: then it stops accepting, lets open
/// connections finish their in-flight requests (each is told to close after them) for up to
/// `graceTimeOut`, and aborts what is left.
pub async fn serve(
    listener: TcpListener,
    settings: Arc<EntryPointSettings>,
    store: Arc<ArcSwap<Snapshot>>,
    hooks: Arc<PreRouteHooks>,
    shutdown: CancellationToken,
) {
    let ep = Arc::new(EntryPoint {
        builder: builder(&settings),
        redirect_port: settings
            .redirect
            .as_ref()
            .map(|r| r.port_suffix())
            .unwrap_or_default(),
        settings,
        store,
        hooks,
    });
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(connection(stream, peer, ep.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the listener stays.
                    tracing::warn!(entry_point = %ep.settings.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let grace = tokio::time::sleep(ep.settings.grace_timeout);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            _ = &mut grace => {
                if !conns.is_empty() {
                    tracing::warn!(entry_point = %ep.settings.name, open = conns.len(),
                        "graceTimeOut reached; closing remaining connections");
                }
                conns.abort_all();
                while conns.join_next().await.is_some() {}
                break;
            }
            next = conns.join_next() => if next.is_none() { break },
        }
    }
}

fn builder(settings: &EntryPointSettings) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    let max_head = settings.max_header_bytes.max(MIN_MAX_HEADER_BYTES);
    b.http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(settings.responding_timeouts.head_timeout())
        .max_buf_size(max_head);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX));
    b
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    ep: Arc<EntryPoint>,
    shutdown: CancellationToken,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "TCP_NODELAY");
    }
    let mut client_addr = peer;
    let mut prefix = Bytes::new();
    if let Some(pp) = &ep.settings.proxy_protocol {
        let limit = ep
            .settings
            .responding_timeouts
            .read_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(PROXY_HEADER_TIMEOUT);
        match tokio::time::timeout(limit, proxy_protocol::read_header(&mut stream)).await {
            Ok(Ok(h)) => {
                if let (true, Some(src)) = (pp.trusts(peer.ip()), h.source) {
                    client_addr = src;
                } else if h.present && !pp.trusts(peer.ip()) {
                    tracing::debug!(%peer, "PROXY header from an untrusted peer ignored");
                }
                prefix = h.rest;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "closing connection");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "timeout reading the PROXY header; closing connection");
                return;
            }
        }
    }
    let _open = ep
        .settings
        .observe
        .as_ref()
        .and_then(|o| o.connection_opened());
    // TLS (src/tls): a connection whose first byte opens a handshake record is TLS, on any
    // entry point, as Traefik sniffs it.
    let hello_limit = ep
        .settings
        .responding_timeouts
        .read_timeout
        .filter(|d| !d.is_zero())
        .unwrap_or(PROXY_HEADER_TIMEOUT);
    let first = match prefix.first() {
        Some(b) => Some(*b),
        None => {
            let mut b = [0u8; 1];
            match tokio::time::timeout(hello_limit, stream.peek(&mut b)).await {
                Ok(Ok(1)) => Some(b[0]),
                // Closed, failed or silent: nothing to serve.
                _ => return,
            }
        }
    };
    if first.is_some_and(crate::tls::is_tls_client_hello) {
        let snapshot = ep.store.load_full();
        let raw = ClientIo::new(stream, prefix, None);
        match tokio::time::timeout(hello_limit, crate::tls::accept(raw, &snapshot.tls)).await {
            Ok(Ok((s, info))) => {
                let (conn, scan) = new_conn(client_addr, &ep, Some(Arc::new(info)));
                let io = ClientIo::new(s, Bytes::new(), scan);
                return serve_io(io, conn, peer, ep, shutdown).await;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "closing connection");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out; closing connection");
                return;
            }
        }
    }
    let (conn, scan) = new_conn(client_addr, &ep, None);
    serve_io(
        ClientIo::new(stream, prefix, scan),
        conn,
        peer,
        ep,
        shutdown,
    )
    .await
}

fn new_conn(
    client_addr: SocketAddr,
    ep: &Arc<EntryPoint>,
    tls: Option<Arc<crate::tls::TlsConnInfo>>,
) -> (Arc<Conn>, Option<Arc<AtomicBool>>) {
    let ip = client_addr.ip().to_canonical();
    let client_ip = HeaderValue::from_maybe_shared(Bytes::from(ip.to_string()))
        .unwrap_or(HeaderValue::from_static("0.0.0.0"));
    let ambiguous = Arc::new(AtomicBool::new(false));
    let scan = ep
        .settings
        .reject_ambiguous_framing
        .then(|| ambiguous.clone());
    let conn = Arc::new(Conn {
        trusted: ep.settings.forwarded_headers.trusts(ip),
        client_addr: SocketAddr::new(ip, client_addr.port()),
        client_ip,
        ambiguous,
        requests: AtomicU64::new(0),
        active: AtomicU64::new(0),
        opened: Instant::now(),
        ep: ep.clone(),
        client_certs: tls
            .as_ref()
            .and_then(|t| t.peer_certificates.clone())
            .and_then(wharf_middlewares::ClientCertChain::new),
        tls,
        upstream_conn: crate::service::UpstreamConn::new(),
    });
    (conn, scan)
}

async fn serve_io<I>(
    io: I,
    conn: Arc<Conn>,
    peer: SocketAddr,
    ep: Arc<EntryPoint>,
    shutdown: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let watched = conn.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(conn.handle(req).await) }
    });
    let served = ep.builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(served);
    // idleTimeout for HTTP/2 (hyper's head timer covers HTTP/1): a connection that received
    // no request during a whole period and has none in progress is closed gracefully (GOAWAY;
    // streams still sending their bodies finish).
    let idle = ep
        .settings
        .responding_timeouts
        .idle_timeout
        .filter(|d| !d.is_zero());
    let mut closing = false;
    let mut seen = 0;
    let result = loop {
        tokio::select! {
            biased;
            r = served.as_mut() => break r,
            () = Armed::new(shutdown.cancelled(), |_| shutdown.is_cancelled()), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
            () = Armed::new(tokio::time::sleep(idle.unwrap_or_default()), tokio::time::Sleep::is_elapsed), if idle.is_some() && !closing => {
                let now = watched.requests.load(Ordering::Relaxed);
                if now == seen && watched.active.load(Ordering::Relaxed) == 0 {
                    tracing::debug!(%peer, "idleTimeout reached; closing connection");
                    closing = true;
                    served.as_mut().graceful_shutdown();
                }
                seen = now;
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

impl Conn {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let served = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let _active = ActiveGuard::new(&self.active);
        // Observability (access log, metrics, request ID, tracing): one call before, one after.
        let mut resp = match &self.ep.settings.observe {
            None => self.route(req, &mut RouteMeta::off()).await,
            Some(obs) => {
                let mut req = req;
                let started = obs.start(&mut req, self.client_addr, self.tls.as_ref());
                let mut meta = obs.route_meta(&started);
                let resp = self.route(req, &mut meta).await;
                obs.finish(started, meta, resp)
            }
        };
        self.limit_keep_alive(served, &mut resp);
        resp
    }

    /// `keepAliveMaxRequests` / `keepAliveMaxTime`: past either, the answer carries
    /// `Connection: close` and hyper closes the HTTP/1 connection after it (as Traefik does).
    fn limit_keep_alive(&self, served: u64, resp: &mut Response<Body>) {
        let s = &self.ep.settings;
        if s.keep_alive_max_requests == 0 && s.keep_alive_max_time.is_none() {
            return;
        }
        let too_many = s.keep_alive_max_requests > 0 && served >= s.keep_alive_max_requests;
        let too_old = s
            .keep_alive_max_time
            .is_some_and(|t| self.opened.elapsed() >= t);
        if too_many || too_old {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }

    async fn route(&self, req: Request<Incoming>, meta: &mut RouteMeta) -> Response<Body> {
        let settings = &*self.ep.settings;
        let mut req = req.map(Body::from);
        // readTimeout covers the body too, as Go's: a body still arriving at the deadline
        // fails (slow uploads cannot hold a connection and an upstream forever).
        if let Some(limit) = settings
            .responding_timeouts
            .read_timeout
            .filter(|d| !d.is_zero())
        {
            if !http_body::Body::is_end_stream(req.body()) {
                let deadline = tokio::time::Instant::now() + limit;
                req = req.map(|b| b.with_deadline(deadline));
            }
        }

        if req.version() <= Version::HTTP_11
            && req.headers().contains_key(header::TRANSFER_ENCODING)
            && self.ambiguous.swap(false, Ordering::AcqRel)
        {
            tracing::debug!(client = %self.client_addr, "Content-Length with Transfer-Encoding");
            return bad_request(None);
        }
        if req.version() <= Version::HTTP_11 {
            // One lookup serves Go's checks, which Traefik answers before any handler runs.
            let mut hosts = req.headers().get_all(header::HOST).iter();
            let (first, second) = (hosts.next(), hosts.next());
            if req.version() == Version::HTTP_11 && req.method() != http::Method::CONNECT {
                match (first, second) {
                    (None, _) if req.uri().authority().is_none() => {
                        return bad_request(Some("missing required Host header"));
                    }
                    // Go refuses "too many Host headers" with a plain 400.
                    (Some(_), Some(_)) => return bad_request(None),
                    _ => {}
                }
            }
            // Go's `httpguts.ValidHostHeader`: a Host with a byte no host can hold (space,
            // `/`, `@`, a quote, ...) is refused before routing, not answered 404.
            if let (Some(h), None) = (first, second) {
                if !h.as_bytes().iter().all(|&b| valid_host_byte(b)) {
                    return bad_request(Some("malformed Host header"));
                }
            }
        }

        match path::clean_target(
            req.uri(),
            settings.sanitize_path,
            settings.encode_query_semicolons,
        ) {
            Ok(None) => {}
            Ok(Some(uri)) => *req.uri_mut() = uri,
            Err(path::InvalidTarget) => return bad_request(None),
        }

        if !self.ep.hooks.is_empty() {
            let ctx = HookCtx {
                entry_point: &settings.name,
                client_addr: self.client_addr,
            };
            if let Some(resp) = self.ep.hooks.answer(&req, &ctx) {
                return resp;
            }
        }

        // The host as received: the URI authority (HTTP/2, absolute-form) wins over `Host`,
        // as in Go. Cloning a `Host` value is a reference count, not a copy.
        let host: Option<HeaderValue> = match req.uri().authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok(),
            None => req.headers().get(header::HOST).cloned(),
        };
        // The backend and the middlewares must see the host that routed the request: Go sets
        // `req.Host` from an absolute-form target (RFC 9112 3.2.2: the Host header is then
        // ignored) and from HTTP/2's `:authority`, so a different `Host` header is replaced.
        if req.uri().authority().is_some() {
            if let Some(h) = &host {
                req.headers_mut().insert(header::HOST, h.clone());
            }
        }
        let host_str = host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("");

        if let Some(redirect) = &settings.redirect {
            // The redirect stands for Traefik's generated plain-HTTP router: TLS connections
            // are routed normally.
            if !host_str.is_empty() && self.tls.is_none() {
                return self.redirect(redirect, &req, host_str);
            }
        }

        let snapshot: Arc<Snapshot> = self.ep.store.load_full();
        let tables = if self.tls.is_some() {
            &snapshot.tls_entry_points
        } else {
            &snapshot.entry_points
        };
        let Some(table) = tables.get(&settings.name) else {
            return not_found();
        };
        let route = {
            let normalized = headers::normalize_host(host_str);
            // Domain fronting (src/tls): a Host whose TLS options differ from those the
            // connection was set up with (mTLS, versions) gets 421, as Traefik's SNI check.
            if let Some(tls) = &self.tls {
                if snapshot.tls.misdirected(&normalized, &tls.options) {
                    return text_response(
                        StatusCode::MISDIRECTED_REQUEST,
                        "Misdirected Request\n",
                        Shape::HttpError,
                    );
                }
            }
            let Some(routing_path) = crate::rule::routing_path(req.uri().path()) else {
                return bad_request(None);
            };
            let info = RequestInfo {
                method: req.method(),
                host: &normalized,
                path: &routing_path,
                query: req.uri().query(),
                headers: req.headers(),
                client_ip: self.client_addr.ip(),
            };
            match table.find(&info) {
                Some(route) => route,
                None => return not_found(),
            }
        };
        if meta.wanted {
            meta.router = Some(route.name.clone());
            meta.service = Some(route.service.name.clone());
        }

        let input = ForwardedInput {
            trusted: self.trusted,
            client_ip: &self.client_ip,
            host: host.as_ref(),
            tls: self.tls.is_some(),
            server_name: &settings.server_name,
        };
        headers::prepare_forwarded_headers(req.headers_mut(), &input);

        let ctx = RequestCtx {
            client_addr: self.client_addr,
            entry_point: settings.name.clone(),
            router: route.name.clone(),
            tls: self.tls.is_some(),
            picked: if meta.server_wanted {
                crate::service::PickedServer::wanted()
            } else {
                crate::service::PickedServer::default()
            },
            upstream_conn: self.upstream_conn.share(),
        };
        if let Some(info) = &self.tls {
            // For middlewares that read the client certificate (passTLSClientCert).
            req.extensions_mut().insert(info.clone());
        }
        if let Some(certs) = &self.client_certs {
            req.extensions_mut().insert(certs.clone());
        }
        let conn_info = ConnInfo {
            remote_ip: self.client_addr.ip(),
            tls: self.tls.is_some(),
        };
        // The router's middleware chain around forwarding (src/proxy/chain.rs).
        let resp = super::chain::run(
            &snapshot,
            &route.filters,
            req,
            &conn_info,
            &self.client_ip,
            &ctx,
            meta,
            |req| self.forward(&route.service, req, &ctx),
        )
        .await;
        if meta.server_wanted {
            meta.server_url = ctx.picked.take();
        }
        resp
    }

    /// Sends one request to the route's service: hop-by-hop headers removed both ways,
    /// `writeTimeout` applied.
    async fn forward(
        &self,
        service: &crate::service::ServiceRuntime,
        mut req: Request<Body>,
        ctx: &RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        headers::remove_hop_by_hop_request(req.headers_mut());
        let write_timeout = self
            .ep
            .settings
            .responding_timeouts
            .write_timeout
            .filter(|d| !d.is_zero());
        let result = match write_timeout {
            None => service.serve(req, ctx).await,
            Some(limit) => {
                let deadline = tokio::time::Instant::now() + limit;
                match tokio::time::timeout_at(deadline, service.serve(req, ctx)).await {
                    Ok(Ok(resp)) => Ok(with_deadline(resp, deadline)),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(ProxyError::Timeout),
                }
            }
        };
        result.map(|mut resp| {
            let status = resp.status();
            headers::remove_hop_by_hop_response(status, resp.headers_mut());
            resp
        })
    }

    /// The entry-point redirection, as Traefik's generated router with a redirectScheme
    /// middleware: same host (without its port), the target scheme and port, same path and
    /// query; 301/308 when permanent, 302/307 otherwise (308/307 for methods other than GET).
    fn redirect(
        &self,
        r: &super::settings::EntryPointRedirect,
        req: &Request<Body>,
        host: &str,
    ) -> Response<Body> {
        let bare = match headers::host_port(host) {
            Some(port) => &host[..host.len() - port.len() - 1],
            None => host,
        };
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = format!("{}://{}{}{}", r.scheme, bare, self.ep.redirect_port, path);
        let get = req.method() == http::Method::GET;
        let status = match (r.permanent, get) {
            (true, true) => StatusCode::MOVED_PERMANENTLY,
            (true, false) => StatusCode::PERMANENT_REDIRECT,
            (false, true) => StatusCode::FOUND,
            (false, false) => StatusCode::TEMPORARY_REDIRECT,
        };
        let mut resp = text_response(status, status.canonical_reason().unwrap_or(""), Shape::Bare);
        match HeaderValue::from_str(&location) {
            Ok(v) => {
                resp.headers_mut().insert(header::LOCATION, v);
                resp
            }
            Err(_) => bad_request(None),
        }
    }
}

/// Counts a request as in progress until its answer head is ready (or the client left).
struct ActiveGuard<'a>(&'a AtomicU64);

impl<'a> ActiveGuard<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(counter)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `writeTimeout` on a streamed answer: past the deadline the body fails, which makes hyper
/// abort the connection (Go's write deadline has the same effect). An upgrade (101) is left
/// alone: the spliced connection is not a response body.
fn with_deadline(resp: Response<Body>, deadline: tokio::time::Instant) -> Response<Body> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        || http_body::Body::is_end_stream(resp.body())
    {
        return resp;
    }
    resp.map(|inner| {
        Body::boxed(http_body_util::combinators::BoxBody::new(DeadlineBody {
            inner,
            sleep: tokio::time::sleep_until(deadline),
        }))
    })
}

pin_project_lite::pin_project! {
    struct DeadlineBody {
        #[pin]
        inner: Body,
        #[pin]
        sleep: tokio::time::Sleep,
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if this.sleep.poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err("writeTimeout reached".into())));
        }
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

/// The three shapes of Traefik's own answers (observed against Traefik 3.7):
#[derive(Clone, Copy)]
enum Shape {
    /// `http.Error` (404, 503): text/plain and `nosniff`.
    HttpError,
    /// Go's server refusing a request (400, 431): text/plain, then the connection closes.
    ServerError,
    /// Its reverse proxy's error handler and redirects: no Content-Type at all (Traefik turns
    /// Go's sniffing off).
    Bare,
}

fn text_response(status: StatusCode, body: &'static str, shape: Shape) -> Response<Body> {
    let mut resp = Response::new(Body::full(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    match shape {
        Shape::HttpError => {
            h.insert(header::CONTENT_TYPE, TEXT_PLAIN.clone());
            h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
        }
        Shape::ServerError => {
            h.insert(header::CONTENT_TYPE, TEXT_PLAIN.clone());
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Shape::Bare => {}
    }
    resp
}

/// A 400 as Go's server writes it: `400 Bad Request[: reason]` as both the status line's
/// reason phrase and the body, text/plain, and the connection closes.
/// The bytes Go's `httpguts.ValidHostHeader` accepts in a Host header.
fn valid_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&b)
}

fn bad_request(reason: Option<&'static str>) -> Response<Body> {
    let (phrase, body): (&'static str, &'static str) = match reason {
        None => ("Bad Request", "400 Bad Request"),
        Some("missing required Host header") => (
            "Bad Request: missing required Host header",
            "400 Bad Request: missing required Host header",
        ),
        Some("malformed Host header") => (
            "Bad Request: malformed Host header",
            "400 Bad Request: malformed Host header",
        ),
        Some(_) => ("Bad Request", "400 Bad Request"),
    };
    let mut resp = text_response(StatusCode::BAD_REQUEST, body, Shape::ServerError);
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(phrase.as_bytes()));
    resp
}

/// Go's `http.NotFound`, which Traefik answers when no router matches.
pub fn not_found() -> Response<Body> {
    text_response(
        StatusCode::NOT_FOUND,
        "404 page not found\n",
        Shape::HttpError,
    )
}

/// Maps a forwarding error to Traefik's answer: `http.Error(w, "no available server", 503)`
/// from its load balancer, the bare status text for what its reverse proxy's error handler
/// answers (502, 504, 500).
pub fn error_response(e: &ProxyError, ctx: &RequestCtx) -> Response<Body> {
    let status = e.status();
    match e {
        ProxyError::Internal(_) => {
            tracing::error!(router = %ctx.router, client = %ctx.client_addr, error = %e, "{status}")
        }
        _ => {
            tracing::debug!(router = %ctx.router, client = %ctx.client_addr, error = %e, "{status}")
        }
    }
    match e {
        ProxyError::NoServer => text_response(status, "no available server\n", Shape::HttpError),
        _ => text_response(status, status.canonical_reason().unwrap_or(""), Shape::Bare),
    }
}
