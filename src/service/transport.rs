//! Upstream clients: the last hop of the data plane. One `Transport` per serversTransport (plus
//! the default one) holds pooled hyper-util clients (plain HTTP/1.1, TLS with ALPN, h2c prior
//! knowledge) and sends the already-rewritten request to the chosen server. Transports live in
//! the `ServiceRegistry`, keyed by their configuration, so pools survive configuration swaps.
//!
//! Plain `http://` requests of a client connection go first through the upstream HTTP/1.1
//! connection bound to that client connection ([`ConnUpstream`]): no pool checkout, no shared
//! lock, no task per request. The pool serves what the bound connection cannot (another server,
//! busy, TLS, h2c, upgrades).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, UPGRADE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proxy::armed::Armed;
use tokio::net::TcpStream;
use wharf_providers::ServersTransport;

use super::ProxyError;
use crate::body::Body;

/// Traefik's defaults for a serversTransport.
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_IDLE_CONN_TIMEOUT: Duration = Duration::from_secs(90);
const DEFAULT_MAX_IDLE_PER_HOST: usize = 200;

/// Why a serversTransport could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("file {0:?} is not loaded")]
    MissingFile(String),
    #[error("{what} {file:?}: {reason}")]
    BadPem {
        what: &'static str,
        file: String,
        reason: String,
    },
    #[error("serverName {0:?} is not a valid DNS name or IP address")]
    BadServerName(String),
    #[error("tls: {0}")]
    Tls(String),
    /// Refused rather than ignored: a transport that should pin a peer must not silently not.
    #[error("peerCertURI is not supported yet")]
    PeerCertUri,
}

/// Which client a server URL needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum UpstreamScheme {
    Http,
    Https,
    /// `h2c://`: cleartext HTTP/2 with prior knowledge.
    H2c,
}

/// A server URL, parsed once at build time; the per-request rewrite only clones refcounted parts.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub scheme: UpstreamScheme,
    pub uri_scheme: Scheme,
    pub authority: Authority,
    /// The server's authority as a Host header (`passHostHeader: false`).
    pub host_header: HeaderValue,
    /// The server URL's path without a trailing slash ("" when none); used with `preservePath`.
    pub base_path: String,
    pub preserve_path: bool,
}

impl Target {
    /// Parses a server URL (`http://`, `https://` or `h2c://`, with an authority).
    pub fn parse(url: &str, preserve_path: bool) -> Result<Target, String> {
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => UpstreamScheme::Http,
            Some("https") => UpstreamScheme::Https,
            Some("h2c") => UpstreamScheme::H2c,
            Some(other) => {
                return Err(format!("invalid URL {url:?}: unsupported scheme {other:?}"))
            }
            None => {
                return Err(format!(
                    "invalid URL {url:?}: missing scheme (http, https or h2c)"
                ))
            }
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| format!("invalid URL {url:?}: missing host"))?;
        // Userinfo never reaches the server (as with Go's URL.Host): keep host and port only.
        let authority = match authority.as_str().rsplit_once('@') {
            Some((_, host_port)) => {
                Authority::try_from(host_port).map_err(|e| format!("invalid URL {url:?}: {e}"))?
            }
            None => authority.clone(),
        };
        let host_header = HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("invalid URL {url:?}: bad host"))?;
        let uri_scheme = match scheme {
            UpstreamScheme::Https => Scheme::HTTPS,
            _ => Scheme::HTTP,
        };
        let base_path = uri.path().trim_end_matches('/').to_string();
        Ok(Target {
            scheme,
            uri_scheme,
            authority,
            host_header,
            base_path,
            preserve_path,
        })
    }

    /// The request's path and query rewritten for this server (Traefik drops the server URL's
    /// path unless `preservePath`, which joins both with a single slash).
    fn path_and_query(&self, req_uri: &Uri) -> Result<PathAndQuery, ProxyError> {
        if !self.preserve_path || self.base_path.is_empty() {
            return Ok(req_uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")));
        }
        let path = req_uri.path();
        let mut s = String::with_capacity(
            self.base_path.len() + path.len() + 1 + req_uri.query().map_or(0, |q| q.len() + 1),
        );
        s.push_str(&self.base_path);
        if !path.starts_with('/') {
            s.push('/');
        }
        s.push_str(path);
        if let Some(q) = req_uri.query() {
            s.push('?');
            s.push_str(q);
        }
        PathAndQuery::try_from(s)
            .map_err(|e| ProxyError::Downstream(format!("cannot rewrite path: {e}")))
    }
}

/// One serversTransport: TLS settings, timeouts and pool sizes, and the pooled clients of every
/// server it reaches (`Upstream`s, shared by the snapshots that use the same server).
pub struct Transport {
    tls_main: Arc<rustls::ClientConfig>,
    tls_h1: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    dial_timeout: Duration,
    response_header_timeout: Option<Duration>,
    /// `idleConnTimeout` (None: never closed for idleness), for bound connections.
    idle_timeout: Option<Duration>,
    /// `maxIdleConnsPerHost`, as a bound on the connections bound to client connections.
    max_idle: usize,
    builder: hyper_util::client::legacy::Builder,
    upstreams: Mutex<HashMap<(UpstreamScheme, String), Weak<Upstream>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("dial_timeout", &self.dial_timeout)
            .field("response_header_timeout", &self.response_header_timeout)
            .finish()
    }
}

/// The pooled clients bound to one server address. The connector always dials that address,
/// whatever the request URI says, so the URI's authority can carry the Host the client asked
/// for: HTTP/2 sends it as `:authority` (as Traefik does with `passHostHeader`), HTTP/1.1 as Host.
pub(crate) struct Upstream {
    /// `http://` (HTTP/1.1) and `https://` (ALPN h2 or http/1.1 unless disableHTTP2).
    main: Client<Connector, Body>,
    /// `https://` upgrade requests (WebSocket): ALPN http/1.1 only, since h2 cannot answer 101.
    h1: Client<Connector, Body>,
    /// `h2c://`: HTTP/2 prior knowledge.
    h2c: Client<Connector, Body>,
    response_header_timeout: Option<Duration>,
    /// Dials the connections bound to client connections (plain `http://` only).
    connector: Connector,
    idle_timeout: Option<Duration>,
    /// At most this many bound connections at once (`maxIdleConnsPerHost`; 0: none).
    max_bound: usize,
    /// Bound connections open now.
    bound: Arc<AtomicUsize>,
    /// Idle bound connections of client connections that closed, kept (at most `max_bound`)
    /// for the next client connection: without them, a client that opens a connection per
    /// request costs an upstream dial and close per request too.
    parked: Mutex<Vec<Parked>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

/// Reads a referenced file's contents; a value that is itself PEM is used inline.
fn load<'a>(
    name: &'a str,
    files: &dyn Fn(&str) -> Option<Arc<[u8]>>,
) -> Result<Arc<[u8]>, TransportError> {
    if name.trim_start().starts_with("-----BEGIN") {
        return Ok(Arc::from(name.as_bytes()));
    }
    files(name).ok_or_else(|| TransportError::MissingFile(name.to_string()))
}

fn pem_certs(
    what: &'static str,
    name: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    let certs = certs.map_err(|e| TransportError::BadPem {
        what,
        file: short(name),
        reason: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TransportError::BadPem {
            what,
            file: short(name),
            reason: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// Inline PEM is long; name it by its first line in errors.
fn short(name: &str) -> String {
    if name.trim_start().starts_with("-----BEGIN") {
        "<inline PEM>".to_string()
    } else {
        name.to_string()
    }
}

/// A stable identity for a transport configuration, including the contents of its files, so
/// the registry reuses the pool exactly when nothing that shapes a connection changed.
pub(crate) fn transport_key(
    cfg: &ServersTransport,
    files: &dyn Fn(&str) -> Option<Arc<[u8]>>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(cfg).unwrap_or_default());
    let names = cfg.root_cas.iter().chain(
        cfg.certificates
            .iter()
            .flat_map(|c| [&c.cert_file, &c.key_file]),
    );
    for name in names {
        h.update([0u8]);
        if let Ok(bytes) = load(name, files) {
            h.update(&bytes[..]);
        }
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Transport {
    /// Builds the clients of a serversTransport. Needs no runtime: connections open lazily.
    pub fn new(
        cfg: &ServersTransport,
        files: &dyn Fn(&str) -> Option<Arc<[u8]>>,
    ) -> Result<Transport, TransportError> {
        if !cfg.peer_cert_uri.is_empty() {
            return Err(TransportError::PeerCertUri);
        }
        let timeouts = cfg.forwarding_timeouts.clone().unwrap_or_default();
        let dial_timeout = timeouts
            .dial_timeout
            .map(|d| d.get())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_DIAL_TIMEOUT);
        let idle = timeouts
            .idle_conn_timeout
            .map(|d| d.get())
            .unwrap_or(DEFAULT_IDLE_CONN_TIMEOUT);
        let response_header_timeout = timeouts
            .response_header_timeout
            .map(|d| d.get())
            .filter(|d| !d.is_zero());
        // Go semantics: unset → Traefik's 200; 0 → Go's default of 2; negative → keep none.
        let max_idle = match cfg.max_idle_conns_per_host {
            None => DEFAULT_MAX_IDLE_PER_HOST,
            Some(n) if n < 0 => 0,
            Some(0) => 2,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let server_name = if cfg.server_name.is_empty() {
            None
        } else {
            Some(
                ServerName::try_from(cfg.server_name.clone())
                    .map_err(|_| TransportError::BadServerName(cfg.server_name.clone()))?,
            )
        };

        let alpn_main: Vec<Vec<u8>> = if cfg.disable_http2 {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        let tls_main = Arc::new(tls_config(cfg, files, alpn_main)?);
        let tls_h1 = Arc::new(tls_config(cfg, files, vec![b"http/1.1".to_vec()])?);

        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(idle)
            .pool_max_idle_per_host(max_idle);
        if let Some(d) = timeouts
            .read_idle_timeout
            .map(|d| d.get())
            .filter(|d| !d.is_zero())
        {
            builder.http2_keep_alive_interval(d);
            builder.http2_keep_alive_timeout(
                timeouts
                    .ping_timeout
                    .map(|d| d.get())
                    .unwrap_or(Duration::from_secs(15)),
            );
        }
        Ok(Transport {
            tls_main,
            tls_h1,
            server_name,
            dial_timeout,
            response_header_timeout,
            idle_timeout: Some(idle).filter(|d| !d.is_zero()),
            max_idle,
            builder,
            upstreams: Mutex::new(HashMap::new()),
        })
    }

    /// The clients for one server address (`host:port`), shared while anything holds them.
    pub(crate) fn upstream(&self, scheme: UpstreamScheme, authority: &Authority) -> Arc<Upstream> {
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(match scheme {
            UpstreamScheme::Https => 443,
            _ => 80,
        });
        let key = (scheme, format!("{host}:{port}"));
        let mut map = match self.upstreams.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(u) = map.get(&key).and_then(Weak::upgrade) {
            return u;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let dest = Arc::new(Dest {
            host: host.to_string(),
            port,
            tls: scheme == UpstreamScheme::Https,
        });
        let connector = |tls: &Arc<rustls::ClientConfig>| Connector {
            dest: dest.clone(),
            tls: tls.clone(),
            server_name: self.server_name.clone(),
            dial_timeout: self.dial_timeout,
        };
        let main = self.builder.build(connector(&self.tls_main));
        let h1 = self.builder.build(connector(&self.tls_h1));
        let mut h2 = self.builder.clone();
        h2.http2_only(true);
        let h2c = h2.build(connector(&self.tls_main));
        let u = Arc::new(Upstream {
            main,
            h1,
            h2c,
            response_header_timeout: self.response_header_timeout,
            connector: connector(&self.tls_main),
            idle_timeout: self.idle_timeout,
            max_bound: if scheme == UpstreamScheme::Http {
                self.max_idle
            } else {
                0
            },
            bound: Arc::default(),
            parked: Mutex::default(),
        });
        map.insert(key, Arc::downgrade(&u));
        u
    }
}

impl Upstream {
    /// Sends a request to this upstream's server. The response header timeout covers
    /// connecting, sending and waiting for the response head.
    pub(crate) async fn send(
        &self,
        scheme: UpstreamScheme,
        upgrade: bool,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let client = match scheme {
            UpstreamScheme::H2c => &self.h2c,
            UpstreamScheme::Https if upgrade => &self.h1,
            _ => &self.main,
        };
        let fut = client.request(req);
        let res = match self.response_header_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| ProxyError::Timeout)?,
            None => fut.await,
        };
        res.map_err(|e| ProxyError::Upstream(error_chain(&e)))
    }
}

/// The upstream HTTP/1.1 connection bound to one client connection. The load balancer still
/// picks the server of every request; the bound connection carries the request when it goes to
/// that same server and is idle, else the pool does. Dropping this (the client connection
/// closed) drops the sender, and hyper then closes the upstream connection once it is idle.
#[derive(Default)]
pub struct ConnUpstream {
    slot: Mutex<Slot>,
}

impl std::fmt::Debug for ConnUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnUpstream").finish_non_exhaustive()
    }
}

#[derive(Default)]
enum Slot {
    #[default]
    Empty,
    Idle(Bound),
    /// A request of this client connection is on it (HTTP/2 clients send concurrent ones).
    InUse,
}

struct Bound {
    /// Which server (and transport) the connection goes to; kept alive by the binding.
    upstream: Arc<Upstream>,
    sender: hyper::client::conn::http1::SendRequest<Body>,
    /// When its last response head arrived (`idleConnTimeout`).
    last_used: Instant,
    /// Tells the connection's idle watcher which binding it watches.
    id: u64,
    /// The client connection it is bound to now, for its idle watcher.
    owner: Owner,
}

/// Where a bound connection's idle watcher finds it: the slot of the client connection that
/// holds it (rebound when a parked connection goes to another client connection).
type Owner = Arc<Mutex<Weak<ConnUpstream>>>;

/// An idle bound connection waiting in its upstream for the next client connection.
struct Parked {
    sender: hyper::client::conn::http1::SendRequest<Body>,
    last_used: Instant,
    id: u64,
    owner: Owner,
}

/// What the slot offers a request to one upstream.
enum Checkout {
    /// The bound connection, idle and to that server.
    Reuse(Bound),
    /// Nothing bound: dial one and bind it.
    Bind,
    /// Bound elsewhere or busy: the pool.
    Pool,
}

impl Drop for ConnUpstream {
    /// The client connection closed: its idle upstream connection waits in the upstream for
    /// the next one instead of being closed.
    fn drop(&mut self) {
        let slot = self
            .slot
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Slot::Idle(b) = std::mem::take(slot) {
            if b.sender.is_ready() {
                let upstream = b.upstream.clone();
                upstream.park(b);
            }
        }
    }
}

impl ConnUpstream {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn checkout(&self, upstream: &Arc<Upstream>) -> Checkout {
        let mut slot = self.lock();
        match &*slot {
            Slot::InUse => Checkout::Pool,
            Slot::Empty => {
                *slot = Slot::InUse;
                Checkout::Bind
            }
            Slot::Idle(b) if b.sender.is_closed() => {
                *slot = Slot::InUse;
                Checkout::Bind
            }
            Slot::Idle(b) if !Arc::ptr_eq(&b.upstream, upstream) || !b.sender.is_ready() => {
                Checkout::Pool
            }
            Slot::Idle(_) => match std::mem::replace(&mut *slot, Slot::InUse) {
                Slot::Idle(b) => Checkout::Reuse(b),
                // Unreachable: matched just above under the same lock.
                _ => Checkout::Bind,
            },
        }
    }

    /// The idle watcher of binding `id`: closes it (drops its sender) when it has been idle
    /// for `idle`; else tells when to look again.
    fn reap(&self, id: u64, idle: Duration) -> Option<Instant> {
        let mut slot = self.lock();
        let now = Instant::now();
        match &*slot {
            Slot::Idle(b) if b.id == id && b.sender.is_ready() => {
                let due = b.last_used + idle;
                if due <= now {
                    *slot = Slot::Empty;
                    None
                } else {
                    Some(due)
                }
            }
            // In use (or its body still streams), or no longer bound (it closes by itself).
            _ => Some(now + idle),
        }
    }
}

/// A request's hold on the slot: gives the connection back when the response head arrived,
/// and frees the slot (dropping the connection) when the request failed or was abandoned.
struct Lease<'a> {
    conn: &'a ConnUpstream,
    bound: Option<Bound>,
    done: bool,
}

impl Lease<'_> {
    fn give_back(mut self) {
        self.done = true;
        *self.conn.lock() = match self.bound.take() {
            Some(mut b) => {
                b.last_used = Instant::now();
                Slot::Idle(b)
            }
            None => Slot::Empty,
        };
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.bound = None;
            *self.conn.lock() = Slot::Empty;
        }
    }
}

/// Counts a bound connection until its task ends.
struct BoundCount(Arc<AtomicUsize>);

impl Drop for BoundCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

static BOUND_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Upstream {
    /// Whether requests to this upstream may use a bound connection (plain HTTP/1.1 with
    /// keep-alive: `maxIdleConnsPerHost` not negative).
    fn bindable(&self) -> bool {
        self.max_bound > 0
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, Vec<Parked>> {
        self.parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps an idle bound connection for the next client connection (dropped, so closed, when
    /// `max_bound` are parked already).
    fn park(&self, b: Bound) {
        let mut parked = self.parked();
        parked.retain(|p| !p.sender.is_closed());
        if parked.len() < self.max_bound {
            parked.push(Parked {
                sender: b.sender,
                last_used: b.last_used,
                id: b.id,
                owner: b.owner,
            });
        }
    }

    /// The most recently parked connection that is still open, bound to `conn` from now on.
    fn unpark(self: &Arc<Self>, conn: &Arc<ConnUpstream>) -> Option<Bound> {
        let mut parked = self.parked();
        while let Some(p) = parked.pop() {
            if p.sender.is_closed() || !p.sender.is_ready() {
                continue;
            }
            *p.owner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::downgrade(conn);
            return Some(Bound {
                upstream: self.clone(),
                sender: p.sender,
                last_used: p.last_used,
                id: p.id,
                owner: p.owner,
            });
        }
        None
    }

    /// The idle watcher of parked connection `id`: closes it when it has been idle for `idle`
    /// (`None`); else when to look again (also when it is not here: on its way between a
    /// closing client connection and this list, or bound again).
    fn reap_parked(&self, id: u64, idle: Duration) -> Option<Instant> {
        let mut parked = self.parked();
        let now = Instant::now();
        match parked.iter().position(|p| p.id == id) {
            Some(i) if parked[i].last_used + idle <= now => {
                parked.swap_remove(i);
                None
            }
            Some(i) => Some(parked[i].last_used + idle),
            None => Some(now + idle),
        }
    }

    /// Sends an origin-form request over the client connection's bound connection (or binds a
    /// new one). `Err(req)`: it cannot (bound elsewhere, busy, or `maxIdleConnsPerHost`
    /// bound connections exist): the caller uses the pool.
    async fn send_bound(
        self: &Arc<Self>,
        conn: &Arc<ConnUpstream>,
        req: Request<Body>,
    ) -> Result<Result<Response<Incoming>, ProxyError>, Request<Body>> {
        let (mut lease, reused) = match conn.checkout(self) {
            Checkout::Pool => return Err(req),
            Checkout::Reuse(b) => (
                Lease {
                    conn,
                    bound: Some(b),
                    done: false,
                },
                true,
            ),
            Checkout::Bind => {
                let mut lease = Lease {
                    conn,
                    bound: None,
                    done: false,
                };
                // A connection parked by a client connection that closed, else a new one.
                if let Some(b) = self.unpark(conn) {
                    lease.bound = Some(b);
                    (lease, true)
                } else if self.bound.load(Ordering::Relaxed) >= self.max_bound {
                    // Dropping the lease frees the slot.
                    return Err(req);
                } else {
                    (lease, false)
                }
            }
        };
        let fut = async {
            let mut req = req;
            if reused {
                let Some(b) = lease.bound.as_mut() else {
                    return Err(ProxyError::Internal("bound connection missing".into()));
                };
                match b.sender.try_send_request(req).await {
                    Ok(resp) => return Ok(resp),
                    // The server closed the idle connection before the request went out (as
                    // hyper's pool does): a fresh connection gets it.
                    Err(mut e) => match e.take_message() {
                        Some(r) => {
                            tracing::debug!(error = %error_chain(e.error()), "bound connection closed; dialing again");
                            lease.bound = None;
                            req = r;
                        }
                        None => {
                            lease.bound = None;
                            return Err(ProxyError::Upstream(error_chain(e.error())));
                        }
                    },
                }
            }
            let mut b = self.bind(conn).await?;
            let resp = b
                .sender
                .send_request(req)
                .await
                .map_err(|e| ProxyError::Upstream(error_chain(&e)));
            lease.bound = Some(b);
            resp
        };
        // As with the pool, the response header timeout covers dialing, sending and the head.
        let res = match self.response_header_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .unwrap_or(Err(ProxyError::Timeout)),
            None => fut.await,
        };
        match res {
            Ok(resp) => {
                lease.give_back();
                Ok(Ok(resp))
            }
            // The lease's drop frees the slot and the connection.
            Err(e) => Ok(Err(e)),
        }
    }

    /// Dials a connection to bind to `conn`. Its task closes it once it has been idle for
    /// `idleConnTimeout` (dropping the sender: hyper then closes the idle connection).
    async fn bind(self: &Arc<Self>, conn: &Arc<ConnUpstream>) -> Result<Bound, ProxyError> {
        let timeout = self.connector.dial_timeout;
        let io = tokio::time::timeout(timeout, self.connector.connect())
            .await
            .map_err(|_| ConnectError::Timeout(timeout))
            .and_then(|r| r)
            .map_err(|e| ProxyError::Upstream(format!("client error (Connect): {e}")))?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Body>(io)
            .await
            .map_err(|e| ProxyError::Upstream(error_chain(&e)))?;
        self.bound.fetch_add(1, Ordering::Relaxed);
        let count = BoundCount(self.bound.clone());
        let id = BOUND_IDS.fetch_add(1, Ordering::Relaxed);
        let owner: Owner = Arc::new(Mutex::new(Arc::downgrade(conn)));
        let watch = self
            .idle_timeout
            .map(|idle| (idle, owner.clone(), Arc::downgrade(self)));
        tokio::spawn(async move {
            let _count = count;
            let connection = std::pin::pin!(connection);
            let ended = match watch {
                None => connection.await,
                Some((idle, owner, upstream)) => {
                    watch_idle(connection, id, idle, owner, upstream).await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "bound upstream connection ended with an error");
            }
        });
        Ok(Bound {
            upstream: self.clone(),
            sender,
            last_used: Instant::now(),
            id,
            owner,
        })
    }
}

/// Drives a bound connection; when it has been idle for `idle` (bound to a client connection or
/// parked in its upstream), unbinds it, so hyper closes it.
async fn watch_idle<F>(
    mut connection: Pin<&mut F>,
    id: u64,
    idle: Duration,
    owner: Owner,
    upstream: Weak<Upstream>,
) -> hyper::Result<()>
where
    F: Future<Output = hyper::Result<()>>,
{
    let mut due = tokio::time::Instant::now() + idle;
    loop {
        tokio::select! {
            biased;
            r = connection.as_mut() => return r,
            () = Armed::new(tokio::time::sleep_until(due), tokio::time::Sleep::is_elapsed) => {
                let slot = owner
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .upgrade();
                let next = match (slot, upstream.upgrade()) {
                    (Some(s), _) => s.reap(id, idle),
                    // Its client connection closed: parked (or on the way), or dropped.
                    (None, Some(u)) => u.reap_parked(id, idle),
                    // The upstream is gone, and its parked senders with it.
                    (None, None) => None,
                };
                // Unbound: hyper closes the connection once its sender is gone.
                let Some(next) = next else {
                    return connection.await;
                };
                due = tokio::time::Instant::from_std(next);
            }
        }
    }
}

/// An error and its sources on one line (hyper-util's top-level message alone says little).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.ends_with(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

fn tls_config(
    cfg: &ServersTransport,
    files: &dyn Fn(&str) -> Option<Arc<[u8]>>,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ClientConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let builder = if cfg.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider.clone())))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if cfg.root_cas.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        } else {
            // As Go's tls.Config.RootCAs: the given CAs replace the system pool.
            for name in &cfg.root_cas {
                let pem = load(name, files)?;
                for cert in pem_certs("rootCAs", name, &pem)? {
                    roots.add(cert).map_err(|e| TransportError::BadPem {
                        what: "rootCAs",
                        file: short(name),
                        reason: e.to_string(),
                    })?;
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = if cfg.certificates.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut keys = Vec::with_capacity(cfg.certificates.len());
        for c in &cfg.certificates {
            let cert_pem = load(&c.cert_file, files)?;
            let chain = pem_certs("certificates.certFile", &c.cert_file, &cert_pem)?;
            let key_pem = load(&c.key_file, files)?;
            let bad_key = |reason: String| TransportError::BadPem {
                what: "certificates.keyFile",
                file: short(&c.key_file),
                reason,
            };
            let key = rustls_pemfile::private_key(&mut &key_pem[..])
                .map_err(|e| bad_key(e.to_string()))?
                .ok_or_else(|| bad_key("no private key found".into()))?;
            let signing = provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| bad_key(e.to_string()))?;
            keys.push(Arc::new(rustls::sign::CertifiedKey::new(chain, signing)));
        }
        builder.with_client_cert_resolver(Arc::new(ClientCerts(keys)))
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

/// `certificates`: like Go's client, present the first certificate whose key can sign with a
/// scheme the server accepts.
#[derive(Debug)]
struct ClientCerts(Vec<Arc<rustls::sign::CertifiedKey>>);

impl rustls::client::ResolvesClientCert for ClientCerts {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0
            .iter()
            .find(|k| k.key.choose_scheme(sigschemes).is_some())
            .cloned()
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

/// `insecureSkipVerify`: accept any server certificate, but still check handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Where an upstream's connections go.
#[derive(Debug)]
struct Dest {
    host: String,
    port: u16,
    tls: bool,
}

/// Opens TCP to a fixed server (bounded by dialTimeout, TLS handshake included), and TLS for
/// `https` servers with SNI = `serverName` or the server's host.
#[derive(Clone)]
pub(crate) struct Connector {
    dest: Arc<Dest>,
    tls: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    dial_timeout: Duration,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("dial timeout after {0:?}")]
    Timeout(Duration),
    #[error("dial {0}: {1}")]
    Io(String, io::Error),
    #[error("tls handshake with {0}: {1}")]
    Tls(String, io::Error),
    #[error("invalid server name {0:?}")]
    Name(String),
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// The URI only names the pool (and the `:authority`); the destination is fixed.
    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let timeout = this.dial_timeout;
            tokio::time::timeout(timeout, this.connect())
                .await
                .map_err(|_| ConnectError::Timeout(timeout))?
        })
    }
}

impl Connector {
    async fn connect(&self) -> Result<TokioIo<Stream>, ConnectError> {
        let Dest { host, port, tls } = &*self.dest;
        let tcp = TcpStream::connect((host.as_str(), *port))
            .await
            .map_err(|e| ConnectError::Io(format!("{host}:{port}"), e))?;
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok(TokioIo::new(Stream::Plain(tcp)));
        }
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => {
                ServerName::try_from(host.clone()).map_err(|_| ConnectError::Name(host.clone()))?
            }
        };
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Tls(format!("{host}:{port}"), e))?;
        Ok(TokioIo::new(Stream::Tls(Box::new(tls))))
    }
}

/// A connection to a server, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Plain(_) => Connected::new(),
            Stream::Tls(s) if s.get_ref().1.alpn_protocol() == Some(b"h2") => {
                Connected::new().negotiated_h2()
            }
            Stream::Tls(_) => Connected::new(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
/// Forwards a request to one server: rewrites URI and Host, sends it (over the client
/// connection's bound connection when `bound` is given and the request suits it, else through
/// the pool), and on `101 Switching Protocols` splices the client's and the server's upgraded
/// connections.
pub(crate) async fn forward(
    upstream: &Arc<Upstream>,
    target: &Target,
    pass_host_header: bool,
    bound: Option<&Arc<ConnUpstream>>,
    mut req: Request<Body>,
) -> Result<Response<Body>, ProxyError> {
    if pass_host_header {
        // HTTP/2 clients send :authority, not Host: keep the name they asked for.
        if !req.headers().contains_key(HOST) {
            if let Some(v) = req
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                req.headers_mut().insert(HOST, v);
            }
        }
    } else {
        req.headers_mut().insert(HOST, target.host_header.clone());
    }
    // The URI's authority becomes HTTP/2's `:authority`, so it carries the Host; plain HTTP is
    // always HTTP/1.1, where the Host header alone counts (no parse needed).
    let authority = match (target.scheme, pass_host_header) {
        (UpstreamScheme::Http, _) | (_, false) => target.authority.clone(),
        _ => req
            .headers()
            .get(HOST)
            .and_then(|h| Authority::try_from(h.as_bytes()).ok())
            .unwrap_or_else(|| target.authority.clone()),
    };
    let pq = target.path_and_query(req.uri())?;
    // The client picks h1 or h2 per connection; an h1 version is accepted by both.
    *req.version_mut() = Version::HTTP_11;
    // Go's transport, so Traefik, announces an empty body on the methods that carry one with
    // `Content-Length: 0`; hyper sends no length for an empty body. Servers that insist on a
    // length for POST (411) then behave the same behind both.
    if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
        && http_body::Body::is_end_stream(req.body())
        && !req.headers().contains_key(CONTENT_LENGTH)
    {
        req.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    }

    // An HTTP/1.1 → h2c upgrade offer is between the client and wharf, which answers in
    // HTTP/1.1: it is not passed on (its HTTP2-Settings header is hop-by-hop and gone anyway).
    // (One lookup: most requests carry no `Upgrade`.)
    let offer = req
        .headers()
        .get(UPGRADE)
        .map(|u| u.as_bytes().eq_ignore_ascii_case(b"h2c"));
    let upgrade = match offer {
        None => false,
        Some(true) => {
            req.headers_mut().remove(UPGRADE);
            false
        }
        Some(false) => target.scheme != UpstreamScheme::H2c,
    };
    let client_upgrade = if upgrade {
        req.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        Some(hyper::upgrade::on(&mut req))
    } else {
        None
    };

    let bound = bound.filter(|_| {
        target.scheme == UpstreamScheme::Http
            && !upgrade
            && req.method() != Method::CONNECT
            && upstream.bindable()
    });
    let mut resp = match bound {
        Some(conn) => {
            // What hyper-util's client does for an HTTP/1.1 connection: origin-form target,
            // and a Host from the URI when none is set.
            if !req.headers().contains_key(HOST) {
                req.headers_mut()
                    .insert(HOST, default_host(&target.authority));
            }
            *req.uri_mut() = Uri::from(pq.clone());
            match upstream.send_bound(conn, req).await {
                Ok(sent) => sent?,
                Err(mut req) => {
                    *req.uri_mut() = absolute_uri(target, authority, pq)?;
                    upstream.send(target.scheme, upgrade, req).await?
                }
            }
        }
        None => {
            *req.uri_mut() = absolute_uri(target, authority, pq)?;
            upstream.send(target.scheme, upgrade, req).await?
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(ProxyError::Upstream(
                "server switched protocols without an upgrade request".into(),
            ));
        };
        let server_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(super::upgrade::splice(client_upgrade, server_upgrade));
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    // The server's hop-by-hop headers; the proxy's final pass over the response then finds
    // none left, which costs one scan of the names.
    crate::proxy::remove_hop_by_hop_response(resp.status(), resp.headers_mut());
    Ok(resp.map(Body::from))
}

fn absolute_uri(
    target: &Target,
    authority: Authority,
    pq: PathAndQuery,
) -> Result<Uri, ProxyError> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(target.uri_scheme.clone());
    parts.authority = Some(authority);
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).map_err(|e| ProxyError::Downstream(format!("cannot rewrite URI: {e}")))
}

/// The Host hyper-util's client would set from a plain `http://` URI: the port only when it
/// is not 80.
fn default_host(authority: &Authority) -> HeaderValue {
    let s = match authority.port_u16() {
        Some(80) => authority.host(),
        _ => authority.as_str(),
    };
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parsing() {
        let t = Target::parse("http://user:pw@10.0.0.1:8080/api/", true).expect("target");
        assert_eq!(t.authority.as_str(), "10.0.0.1:8080");
        assert_eq!(t.host_header, "10.0.0.1:8080");
        assert_eq!(t.base_path, "/api");
        let uri: Uri = "/x/y?z=1".parse().expect("uri");
        assert_eq!(t.path_and_query(&uri).expect("pq").as_str(), "/api/x/y?z=1");
        let t = Target::parse("h2c://[::1]:9000", false).expect("target");
        assert_eq!(t.scheme, UpstreamScheme::H2c);
        assert_eq!(t.uri_scheme, Scheme::HTTP);
        assert!(Target::parse("ftp://x", false).is_err());
        assert!(Target::parse("127.0.0.1:80", false).is_err());
        assert!(Target::parse("http://", false).is_err());
    }
}
