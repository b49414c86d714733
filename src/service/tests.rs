//! Service tests against real backends on 127.0.0.1:0: small hyper servers (plain, h2c, TLS
//! with a generated CA, WebSocket) that record what they received.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use super::*;

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    /// HTTP/2's `:authority`, else the Host header.
    authority: String,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    client_cert: bool,
    /// The connection's client address: equal across requests when the pool reused it.
    peer: SocketAddr,
}

type Handler =
    Arc<dyn Fn(Seen) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>> + Send + Sync>;

struct Backend {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
    fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

fn named(name: &'static str) -> Handler {
    Arc::new(move |_s| Box::pin(async move { text(StatusCode::OK, name) }))
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

async fn spawn_backend(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let (handler, seen, tls) = (handler.clone(), seen2.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve_conn(TokioIo::new(stream), peer, false, handler, seen).await,
                    Some(cfg) => {
                        let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                        else {
                            return;
                        };
                        let cert = s
                            .get_ref()
                            .1
                            .peer_certificates()
                            .is_some_and(|c| !c.is_empty());
                        serve_conn(TokioIo::new(s), peer, cert, handler, seen).await
                    }
                }
            });
        }
    });
    Backend { addr, seen, task }
}

async fn serve_conn<I>(
    io: I,
    peer: SocketAddr,
    client_cert: bool,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (handler, seen) = (handler.clone(), seen.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let authority = match parts.uri.authority() {
                Some(a) => a.to_string(),
                None => parts
                    .headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
            };
            let s = Seen {
                authority,
                method: parts.method.to_string(),
                path: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                version: parts.version,
                headers: parts.headers,
                body,
                client_cert,
                peer,
            };
            seen.lock().expect("lock").push(s.clone());
            Ok::<_, Infallible>(handler(s).await)
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

/// An address where nothing listens.
async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

fn ctx() -> RequestCtx {
    RequestCtx {
        client_addr: "127.0.0.1:40000".parse().expect("addr"),
        entry_point: Arc::from("web"),
        router: Arc::from("r@file"),
        tls: false,
        picked: Default::default(),
        upstream_conn: Default::default(),
    }
}

type Files = BTreeMap<String, Vec<u8>>;

fn build(
    registry: &Arc<ServiceRegistry>,
    services: Value,
    transports: Value,
    files: &Files,
) -> (BuiltServices, Vec<(String, String)>) {
    let services: BTreeMap<String, Service> =
        serde_json::from_value(services).expect("services json");
    let transports: BTreeMap<String, ServersTransport> =
        serde_json::from_value(transports).expect("transports json");
    let lookup = |p: &str| files.get(p).map(|v| Arc::<[u8]>::from(v.as_slice()));
    build_services(&services, &transports, &lookup, registry)
}

fn build_ok(
    registry: &Arc<ServiceRegistry>,
    services: Value,
) -> HashMap<String, Arc<ServiceRuntime>> {
    let (built, errors) = build(registry, services, json!({}), &Files::new());
    assert!(errors.is_empty(), "{errors:?}");
    built
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn call_with(svc: &ServiceRuntime, req: Request<Body>) -> Result<Answer, ProxyError> {
    let resp = svc.serve(req, &ctx()).await?;
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Ok(Answer {
        status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn get(path: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("host", "front.example")
        .body(Body::empty())
        .expect("request")
}

async fn call(svc: &ServiceRuntime, path: &str) -> Result<Answer, ProxyError> {
    call_with(svc, get(path)).await
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn wrr_follows_weights_and_forwards_path_and_host() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"svc@file": {"loadBalancer": {"servers": [
            {"url": a.url(), "weight": 3}, {"url": b.url(), "weight": 1}
        ]}}}),
    );
    let svc = &built["svc@file"];
    let mut order = String::new();
    for i in 0..8 {
        let ans = call(svc, &format!("/p/{i}?q=1")).await.expect("answer");
        assert_eq!(ans.status, StatusCode::OK);
        order.push_str(&ans.body);
    }
    assert_eq!(order, "aabaaaba");
    let seen = a.seen();
    assert_eq!(seen[0].path, "/p/0?q=1");
    assert_eq!(seen[0].headers["host"], "front.example");
    assert_eq!(seen[0].version, Version::HTTP_11);
    assert_eq!(b.seen()[0].path, "/p/2?q=1");
}

#[tokio::test]
async fn pass_host_header_false_and_preserve_path() {
    let a = spawn_backend(named("a"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "plain@file": {"loadBalancer": {"passHostHeader": false, "servers": [{"url": format!("{}/base/", a.url())}]}},
            "kept@file": {"loadBalancer": {"servers": [{"url": format!("{}/base", a.url()), "preservePath": true}]}}
        }),
    );
    call(&built["plain@file"], "/x?y=1").await.expect("answer");
    call(&built["kept@file"], "/x?y=1").await.expect("answer");
    let seen = a.seen();
    assert_eq!(seen[0].path, "/x?y=1");
    assert_eq!(seen[0].headers["host"], a.addr.to_string().as_str());
    assert_eq!(seen[1].path, "/base/x?y=1");
    assert_eq!(seen[1].headers["host"], "front.example");
}

#[tokio::test]
async fn request_and_response_bodies_stream_through() {
    let echo: Handler = Arc::new(|s: Seen| {
        Box::pin(async move {
            let mut r = Response::new(Full::new(s.body.clone()));
            r.headers_mut()
                .insert("x-method", s.method.parse().expect("hv"));
            r
        })
    });
    let a = spawn_backend(echo, None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"s@file": {"loadBalancer": {"servers": [{"url": a.url()}]}}}),
    );
    let payload = "x".repeat(256 * 1024);
    let req = Request::builder()
        .method("POST")
        .uri("/echo")
        .body(Body::full(payload.clone()))
        .expect("req");
    let ans = call_with(&built["s@file"], req).await.expect("answer");
    assert_eq!(ans.body.len(), payload.len());
    assert_eq!(ans.headers["x-method"], "POST");
}

#[tokio::test]
async fn sticky_cookie_pins_and_falls_back() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"st@file": {"loadBalancer": {
            "sticky": {"cookie": {"httpOnly": true}},
            "servers": [{"url": a.url()}, {"url": b.url()}]
        }}}),
    );
    let svc = &built["st@file"];
    let name = sticky::default_cookie_name("st@file");
    let first = call(svc, "/").await.expect("answer");
    assert_eq!(first.body, "a");
    let set = first.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(
        set,
        format!(
            "{name}={}; Path=/; HttpOnly",
            sticky::cookie_value(&a.url())
        )
    );
    let cookie = set.split(';').next().expect("pair").to_string();
    for _ in 0..5 {
        let req = Request::builder()
            .uri("/")
            .header("cookie", &cookie)
            .body(Body::empty())
            .expect("req");
        let ans = call_with(svc, req).await.expect("answer");
        assert_eq!(ans.body, "a");
        assert!(ans.headers.get("set-cookie").is_none());
    }
    // Traefik's older value (the raw URL) still sticks, and is rewritten.
    let req = Request::builder()
        .uri("/")
        .header("cookie", format!("{name}={}", b.url()))
        .body(Body::empty())
        .expect("req");
    let ans = call_with(svc, req).await.expect("answer");
    assert_eq!(ans.body, "b");
    assert!(ans.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .contains(&sticky::cookie_value(&b.url())));
    // A cookie naming no known server falls back to balancing and gets a new cookie.
    let req = Request::builder()
        .uri("/")
        .header("cookie", format!("{name}=0123456789abcdef"))
        .body(Body::empty())
        .expect("req");
    let ans = call_with(svc, req).await.expect("answer");
    assert!(ans.headers.contains_key("set-cookie"));
}

fn health_handler(name: &'static str, health: Arc<AtomicU16>) -> Handler {
    Arc::new(move |s: Seen| {
        let health = health.clone();
        Box::pin(async move {
            if s.path.starts_with("/health") {
                let code = StatusCode::from_u16(health.load(Ordering::SeqCst)).expect("status");
                text(code, "health")
            } else {
                text(StatusCode::OK, name)
            }
        })
    })
}

#[tokio::test]
async fn active_health_check_takes_server_out_and_back_and_survives_rebuild() {
    let health_a = Arc::new(AtomicU16::new(200));
    let a = spawn_backend(health_handler("a", health_a.clone()), None).await;
    let b = spawn_backend(health_handler("b", Arc::new(AtomicU16::new(200))), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let config = json!({"hc@file": {"loadBalancer": {
        "healthCheck": {"path": "/health?full=1", "interval": "50ms", "timeout": "2s",
                         "hostname": "probe.example", "headers": {"X-Probe": "wharf"}},
        "servers": [{"url": a.url()}, {"url": b.url()}]
    }}});
    let built = build_ok(&reg, config.clone());
    assert_eq!(reg.health_check_count(), 2);
    let svc = built["hc@file"].clone();
    wait_until("a first probe", || a.count("/health?full=1") > 0).await;
    let probe = a
        .seen()
        .into_iter()
        .find(|s| s.path == "/health?full=1")
        .expect("probe");
    assert_eq!(probe.headers["host"], "probe.example");
    assert_eq!(probe.headers["x-probe"], "wharf");
    assert_eq!(probe.method, "GET");

    health_a.store(500, Ordering::SeqCst);
    wait_until("a out of rotation", || {
        svc.server_status().expect("lb").iter().any(|s| !s.up)
    })
    .await;
    let status = svc.server_status().expect("lb");
    assert_eq!(
        status,
        vec![
            ServerStatus {
                url: a.url().into(),
                up: false
            },
            ServerStatus {
                url: b.url().into(),
                up: true
            }
        ]
    );
    for _ in 0..4 {
        assert_eq!(call(&svc, "/").await.expect("answer").body, "b");
    }

    // A rebuild with the same registry reuses the checks and the state: a stays out at once.
    let rebuilt = build_ok(&reg, config.clone());
    assert_eq!(reg.health_check_count(), 2);
    let svc2 = rebuilt["hc@file"].clone();
    assert!(!svc2.server_status().expect("lb")[0].up);

    health_a.store(200, Ordering::SeqCst);
    wait_until("a back in rotation", || {
        svc2.server_status().expect("lb").iter().all(|s| s.up)
    })
    .await;
    let mut bodies = String::new();
    for _ in 0..4 {
        bodies.push_str(&call(&svc2, "/").await.expect("answer").body);
    }
    assert!(bodies.contains('a') && bodies.contains('b'), "{bodies}");

    // The service disappears: once no snapshot holds it, its checks stop.
    drop((built, rebuilt, svc, svc2));
    let (after, _) = build(&reg, json!({}), json!({}), &Files::new());
    assert!(after.is_empty());
    assert_eq!(reg.health_check_count(), 0);
}

#[tokio::test]
async fn wrr_position_survives_rebuild() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let config =
        json!({"rr@file": {"loadBalancer": {"servers": [{"url": a.url()}, {"url": b.url()}]}}});
    let first = build_ok(&reg, config.clone());
    assert_eq!(
        call(&first["rr@file"], "/").await.expect("answer").body,
        "a"
    );
    let transports = reg.transport_count();
    let second = build_ok(&reg, config);
    assert_eq!(
        call(&second["rr@file"], "/").await.expect("answer").body,
        "b"
    );
    assert_eq!(reg.transport_count(), transports);
}

#[tokio::test]
async fn passive_health_takes_failing_server_out() {
    let dead = dead_addr().await;
    let live = spawn_backend(named("live"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"ph@file": {"loadBalancer": {
            "passiveHealthCheck": {"failureWindow": "30s", "maxFailedAttempts": 1},
            "servers": [{"url": format!("http://{dead}")}, {"url": live.url()}]
        }}}),
    );
    let svc = &built["ph@file"];
    let err = call(svc, "/").await.err().expect("dead server first");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    for _ in 0..4 {
        assert_eq!(call(svc, "/").await.expect("answer").body, "live");
    }
    assert!(!svc.server_status().expect("lb")[0].up);
}

#[tokio::test]
async fn dead_server_is_502_and_no_server_is_503() {
    let dead = dead_addr().await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "dead@file": {"loadBalancer": {"servers": [{"url": format!("http://{dead}")}]}},
            "empty@file": {"loadBalancer": {"servers": []}}
        }),
    );
    let err = call(&built["dead@file"], "/").await.err().expect("error");
    assert!(matches!(err, ProxyError::Upstream(_)), "{err:?}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    let err = call(&built["empty@file"], "/").await.err().expect("error");
    assert!(matches!(err, ProxyError::NoServer));
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// Service `slow@file` on a server that never answers, with a 200 ms `responseHeaderTimeout`.
async fn never_answering_service() -> (Backend, Arc<ServiceRegistry>, BuiltServices) {
    let slow: Handler =
        Arc::new(|_s| Box::pin(async { std::future::pending::<Response<Full<Bytes>>>().await }));
    let a = spawn_backend(slow, None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({"slow@file": {"loadBalancer": {"serversTransport": "fast", "servers": [{"url": a.url()}]}}}),
        json!({"fast@file": {"forwardingTimeouts": {"responseHeaderTimeout": "200ms"}}}),
        &Files::new(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    (a, reg, built)
}

#[tokio::test]
async fn slow_server_is_504_with_response_header_timeout() {
    let (_a, _reg, built) = never_answering_service().await;
    let err = call(&built["slow@file"], "/").await.err().expect("timeout");
    assert!(matches!(err, ProxyError::Timeout), "{err:?}");
    assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn h2c_upstream_uses_http2_prior_knowledge() {
    let a = spawn_backend(named("h2"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"h2c@file": {"loadBalancer": {"servers": [{"url": format!("h2c://{}", a.addr)}]}}}),
    );
    let ans = call(&built["h2c@file"], "/grpc?x=1").await.expect("answer");
    assert_eq!(ans.body, "h2");
    let seen = a.seen();
    assert_eq!(seen[0].version, Version::HTTP_2);
    assert_eq!(seen[0].path, "/grpc?x=1");
    // passHostHeader: the client's Host travels as :authority.
    assert_eq!(seen[0].authority, "front.example");
}

struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
    server_mtls: Arc<rustls::ServerConfig>,
    client_cert_pem: String,
    client_key_pem: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wharf test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");

    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let client_key = KeyPair::generate().expect("key");
    let mut client_params =
        CertificateParams::new(vec!["client.example".to_string()]).expect("params");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca).expect("client");

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key_der = || PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain = vec![CertificateDer::from(leaf.der().to_vec())];
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key_der())
        .expect("server config");
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("ca root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("verifier");
    let mut server_mtls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key_der())
        .expect("server config");
    server_mtls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
        server_mtls: Arc::new(server_mtls),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

#[tokio::test]
async fn https_upstream_with_root_ca_insecure_and_default_trust() {
    let pki = pki();
    let a = spawn_backend(named("tls"), Some(pki.server.clone())).await;
    let url = format!("https://{}", a.addr);
    let local = format!("https://localhost:{}", a.addr.port());
    let mut files = Files::new();
    files.insert("/certs/ca.pem".into(), pki.ca_pem.clone().into_bytes());
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({
            "ca@file": {"loadBalancer": {"serversTransport": "ca", "servers": [{"url": url}]}},
            "named@file": {"loadBalancer": {"serversTransport": "named@file", "servers": [{"url": local}]}},
            "insecure@file": {"loadBalancer": {"serversTransport": "insecure", "servers": [{"url": url}]}},
            "h1@file": {"loadBalancer": {"serversTransport": "h1", "servers": [{"url": url}]}},
            "default@file": {"loadBalancer": {"servers": [{"url": url}]}}
        }),
        json!({
            "ca@file": {"rootCAs": ["/certs/ca.pem"]},
            "named@file": {"rootCAs": ["/certs/ca.pem"], "serverName": "localhost"},
            "insecure@file": {"insecureSkipVerify": true},
            "h1@file": {"rootCAs": ["/certs/ca.pem"], "disableHTTP2": true}
        }),
        &files,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        call(&built["ca@file"], "/").await.expect("rootCAs").body,
        "tls"
    );
    assert_eq!(
        call(&built["named@file"], "/")
            .await
            .expect("serverName")
            .body,
        "tls"
    );
    assert_eq!(
        call(&built["insecure@file"], "/")
            .await
            .expect("insecure")
            .body,
        "tls"
    );
    assert_eq!(call(&built["h1@file"], "/").await.expect("h1").body, "tls");
    let versions: Vec<Version> = a.seen().iter().map(|s| s.version).collect();
    assert!(a.seen().iter().all(|s| s.authority == "front.example"));
    // ALPN picks h2 unless disableHTTP2.
    assert_eq!(
        versions,
        vec![
            Version::HTTP_2,
            Version::HTTP_2,
            Version::HTTP_2,
            Version::HTTP_11
        ]
    );
    // The public web PKI does not know the test CA.
    let err = call(&built["default@file"], "/")
        .await
        .err()
        .expect("untrusted");
    assert!(matches!(err, ProxyError::Upstream(_)), "{err:?}");
}

#[tokio::test]
async fn client_certificate_is_presented_to_the_backend() {
    let pki = pki();
    let a = spawn_backend(named("mtls"), Some(pki.server_mtls.clone())).await;
    let url = format!("https://{}", a.addr);
    let mut files = Files::new();
    files.insert("ca.pem".into(), pki.ca_pem.clone().into_bytes());
    files.insert(
        "client.pem".into(),
        pki.client_cert_pem.clone().into_bytes(),
    );
    files.insert("client.key".into(), pki.client_key_pem.clone().into_bytes());
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({
            "mtls@file": {"loadBalancer": {"serversTransport": "mtls", "servers": [{"url": url}]}},
            "nocert@file": {"loadBalancer": {"serversTransport": "nocert", "servers": [{"url": url}]}}
        }),
        json!({
            "mtls@file": {"rootCAs": ["ca.pem"], "certificates": [{"certFile": "client.pem", "keyFile": "client.key"}]},
            "nocert@file": {"rootCAs": ["ca.pem"]}
        }),
        &files,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        call(&built["mtls@file"], "/").await.expect("mtls").body,
        "mtls"
    );
    assert!(a.seen()[0].client_cert);
    assert!(call(&built["nocert@file"], "/").await.is_err());
    assert_eq!(a.seen().len(), 1);
}

/// A front server that hands requests to a service, as the proxy does (with upgrades).
async fn spawn_front(svc: Arc<ServiceRuntime>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let svc = svc.clone();
                    async move {
                        let resp = match svc.serve(req.map(Body::from), &ctx()).await {
                            Ok(r) => r,
                            Err(e) => {
                                let mut r = Response::new(Body::empty());
                                *r.status_mut() = e.status();
                                r
                            }
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, task)
}

/// An echo WebSocket server, plain or behind TLS.
async fn spawn_ws_echo(
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: S) {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() && ws.send(msg).await.is_err() {
                return;
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => echo(stream).await,
                    Some(cfg) => {
                        if let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await {
                            echo(s).await
                        }
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn websocket_upgrade_is_spliced_over_http_and_https() {
    let pki = pki();
    let (plain, plain_task) = spawn_ws_echo(None).await;
    let (secure, secure_task) = spawn_ws_echo(Some(pki.server.clone())).await;
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({
            "ws@file": {"loadBalancer": {"servers": [{"url": format!("http://{plain}")}]}},
            "wss@file": {"loadBalancer": {"serversTransport": "insecure",
                                          "servers": [{"url": format!("https://{secure}")}]}}
        }),
        json!({"insecure@file": {"insecureSkipVerify": true}}),
        &Files::new(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    for name in ["ws@file", "wss@file"] {
        let (front, front_task) = spawn_front(built[name].clone()).await;
        let stream = TcpStream::connect(front).await.expect("connect");
        let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://{front}/chat"), stream)
            .await
            .expect("handshake");
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        for word in ["hello", "wharf"] {
            ws.send(tokio_tungstenite::tungstenite::Message::text(word))
                .await
                .expect("send");
            let echo = ws.next().await.expect("frame").expect("message");
            assert_eq!(echo.into_text().expect("text").as_str(), word, "{name}");
        }
        front_task.abort();
    }
    plain_task.abort();
    secure_task.abort();
}

#[tokio::test]
async fn weighted_balances_children_skips_down_ones_and_sticks() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "a@file": {"loadBalancer": {"servers": [{"url": a.url()}]}},
            "b@file": {"loadBalancer": {"servers": [{"url": b.url()}]}},
            "none@file": {"loadBalancer": {"servers": []}},
            "canary@file": {"weighted": {"services": [
                {"name": "a@file", "weight": 2}, {"name": "b@file", "weight": 1}, {"name": "none@file", "weight": 5}
            ]}},
            "sticky@file": {"weighted": {"sticky": {"cookie": {"name": "w"}}, "services": [
                {"name": "a@file"}, {"name": "b@file"}
            ]}}
        }),
    );
    let mut order = String::new();
    for _ in 0..6 {
        order.push_str(&call(&built["canary@file"], "/").await.expect("answer").body);
    }
    assert_eq!(order, "abaaba");
    let first = call(&built["sticky@file"], "/").await.expect("answer");
    let set = first.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(
        set,
        format!(
            "w={}; Path=/",
            sticky::cookie_value(&format!("{}@file", first.body))
        )
    );
    let cookie = set.split(';').next().expect("pair").to_string();
    for _ in 0..4 {
        let req = Request::builder()
            .uri("/")
            .header("cookie", &cookie)
            .body(Body::empty())
            .expect("req");
        assert_eq!(
            call_with(&built["sticky@file"], req)
                .await
                .expect("answer")
                .body,
            first.body
        );
    }
}

#[tokio::test]
async fn mirroring_copies_a_share_of_requests_with_bounded_bodies() {
    let main = spawn_backend(named("main"), None).await;
    let mirror = spawn_backend(named("mirror"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "main@file": {"loadBalancer": {"servers": [{"url": main.url()}]}},
            "mirror@file": {"loadBalancer": {"servers": [{"url": mirror.url()}]}},
            "half@file": {"mirroring": {"service": "main@file", "mirrors": [{"name": "mirror@file", "percent": 50}]}},
            "small@file": {"mirroring": {"service": "main@file", "maxBodySize": 4,
                                         "mirrors": [{"name": "mirror@file", "percent": 100}]}}
        }),
    );
    for i in 0..10 {
        let req = Request::builder()
            .method("POST")
            .uri(format!("/m/{i}"))
            .body(Body::full(format!("body-{i}")))
            .expect("req");
        let ans = call_with(&built["half@file"], req).await.expect("answer");
        assert_eq!(ans.body, "main");
    }
    wait_until("5 mirrored requests", || mirror.seen().len() >= 5).await;
    let mut mirrored: Vec<(String, String)> = mirror
        .seen()
        .iter()
        .map(|s| {
            (
                s.path.clone(),
                String::from_utf8_lossy(&s.body).into_owned(),
            )
        })
        .collect();
    mirrored.sort();
    let expected: Vec<(String, String)> = [0, 2, 4, 6, 8]
        .iter()
        .map(|i| (format!("/m/{i}"), format!("body-{i}")))
        .collect();
    assert_eq!(mirrored, expected);
    assert_eq!(main.seen().len(), 10);

    // Over maxBodySize: the main service gets all of it, the mirror nothing.
    let req = Request::builder()
        .method("POST")
        .uri("/big")
        .body(Body::full("0123456789"))
        .expect("req");
    assert_eq!(
        call_with(&built["small@file"], req)
            .await
            .expect("answer")
            .body,
        "main"
    );
    let req = Request::builder()
        .method("POST")
        .uri("/ok")
        .body(Body::full("abc"))
        .expect("req");
    assert_eq!(
        call_with(&built["small@file"], req)
            .await
            .expect("answer")
            .body,
        "main"
    );
    wait_until("small body mirrored", || mirror.count("/ok") == 1).await;
    assert_eq!(mirror.count("/big"), 0);
    let big = main
        .seen()
        .into_iter()
        .find(|s| s.path == "/big")
        .expect("main saw /big");
    assert_eq!(&big.body[..], b"0123456789");
}

#[tokio::test]
async fn failover_uses_fallback_when_main_is_unhealthy() {
    let main = spawn_backend(health_handler("main", Arc::new(AtomicU16::new(503))), None).await;
    let fallback = spawn_backend(named("fallback"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "main@file": {"loadBalancer": {"healthCheck": {"path": "/health", "interval": "50ms"},
                                           "servers": [{"url": main.url()}]}},
            "fb@file": {"loadBalancer": {"servers": [{"url": fallback.url()}]}},
            "fo@file": {"failover": {"service": "main@file", "fallback": "fb@file"}}
        }),
    );
    let main_svc = built["main@file"].clone();
    wait_until("main down", || !main_svc.is_up()).await;
    assert_eq!(
        call(&built["fo@file"], "/").await.expect("answer").body,
        "fallback"
    );
    assert!(built["fo@file"].is_up());
}

#[tokio::test]
async fn broken_services_are_reported_and_the_rest_build() {
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({
            "ok@file": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}},
            "badurl@file": {"loadBalancer": {"servers": [{"url": "ftp://x"}]}},
            "nohost@file": {"loadBalancer": {"servers": [{"url": "not a url"}]}},
            "none@file": {},
            "two@file": {"loadBalancer": {}, "failover": {"service": "ok@file", "fallback": "ok@file"}},
            "orphan@file": {"weighted": {"services": [{"name": "missing@file"}]}},
            "loop1@file": {"failover": {"service": "loop2@file", "fallback": "ok@file"}},
            "loop2@file": {"mirroring": {"service": "loop1@file"}},
            "self@file": {"weighted": {"services": [{"name": "self@file"}]}},
            "parent@file": {"weighted": {"services": [{"name": "badurl@file"}]}},
            "transport@file": {"loadBalancer": {"serversTransport": "nope", "servers": []}},
            "ca@file": {"loadBalancer": {"serversTransport": "ca", "servers": []}},
            "pin@file": {"loadBalancer": {"serversTransport": "pin", "servers": []}}
        }),
        json!({"ca@file": {"rootCAs": ["/missing.pem"]}, "pin@file": {"peerCertURI": "spiffe://x"}}),
        &Files::new(),
    );
    let mut names: Vec<&str> = built.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, vec!["ok@file"]);
    let errs: BTreeMap<&str, &str> = errors
        .iter()
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .collect();
    assert!(
        errs["badurl@file"].contains("unsupported scheme"),
        "{errs:?}"
    );
    assert!(errs["nohost@file"].contains("invalid URL"), "{errs:?}");
    assert!(errs["none@file"].contains("no type"), "{errs:?}");
    assert!(
        errs["two@file"].contains("more than one type: loadBalancer, failover"),
        "{errs:?}"
    );
    assert!(
        errs["orphan@file"].contains("unknown service \"missing@file\""),
        "{errs:?}"
    );
    assert!(errs["loop1@file"].contains("reference cycle"), "{errs:?}");
    assert!(errs["loop2@file"].contains("reference cycle"), "{errs:?}");
    assert!(errs["self@file"].contains("reference cycle"), "{errs:?}");
    assert!(errs["parent@file"].contains("badurl@file"), "{errs:?}");
    assert!(
        errs["transport@file"].contains("unknown serversTransport"),
        "{errs:?}"
    );
    assert!(errs["ca@file"].contains("/missing.pem"), "{errs:?}");
    assert!(errs["pin@file"].contains("peerCertURI"), "{errs:?}");
    assert_eq!(errors.len(), 12);
}

#[tokio::test]
async fn upstream_connections_are_pooled() {
    let a = spawn_backend(named("a"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"pool@file": {"loadBalancer": {"servers": [{"url": a.url()}]}}}),
    );
    for _ in 0..5 {
        assert_eq!(
            call(&built["pool@file"], "/").await.expect("answer").body,
            "a"
        );
    }
    let peers: std::collections::HashSet<SocketAddr> = a.seen().iter().map(|s| s.peer).collect();
    assert_eq!(
        peers.len(),
        1,
        "sequential requests reuse one pooled connection"
    );
}

#[tokio::test]
async fn p2c_spreads_load_over_healthy_servers() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let dead = dead_addr().await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"p2c@file": {"loadBalancer": {
            "strategy": "p2c",
            "passiveHealthCheck": {"failureWindow": "30s"},
            "servers": [{"url": a.url()}, {"url": b.url()}, {"url": format!("http://{dead}")}]
        }}}),
    );
    let svc = &built["p2c@file"];
    let mut ok = 0;
    for _ in 0..60 {
        if call(svc, "/").await.is_ok() {
            ok += 1;
        }
    }
    // The dead server fails at most once, then passive health keeps it out.
    assert!(ok >= 59, "{ok}");
    assert!(!a.seen().is_empty() && !b.seen().is_empty());
}

#[tokio::test]
async fn health_check_expected_status_and_redirects() {
    let handler: Handler = Arc::new(|s: Seen| {
        Box::pin(async move {
            let mut r = match s.path.as_str() {
                "/redirect" | "/redirect-kept" => {
                    let mut r = text(StatusCode::FOUND, "");
                    r.headers_mut()
                        .insert("location", "/bad".parse().expect("hv"));
                    r
                }
                "/bad" => text(StatusCode::INTERNAL_SERVER_ERROR, "bad"),
                _ => text(StatusCode::OK, "ok"),
            };
            r.headers_mut()
                .insert("x-path", s.path.parse().expect("hv"));
            r
        })
    });
    let a = spawn_backend(handler, None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "follow@file": {"loadBalancer": {"healthCheck": {"path": "/redirect", "interval": "50ms"},
                                             "servers": [{"url": a.url()}]}},
            "kept@file": {"loadBalancer": {"healthCheck": {"path": "/redirect-kept", "interval": "50ms",
                                                           "followRedirects": false},
                                           "servers": [{"url": a.url()}]}},
            "status@file": {"loadBalancer": {"healthCheck": {"path": "/health", "interval": "50ms", "status": 204},
                                             "servers": [{"url": a.url()}]}}
        }),
    );
    let (follow, kept, status) = (
        built["follow@file"].clone(),
        built["kept@file"].clone(),
        built["status@file"].clone(),
    );
    wait_until("redirect followed to a 500", || !follow.is_up()).await;
    wait_until("status 200 is not the expected 204", || !status.is_up()).await;
    wait_until("two probes without following", || {
        a.count("/redirect-kept") >= 2
    })
    .await;
    assert!(kept.is_up());
    assert!(a.count("/bad") >= 1);
    let err = call(&follow, "/").await.err().expect("no server");
    assert!(matches!(err, ProxyError::NoServer));
}

#[test]
fn health_checks_run_when_built_off_the_runtime() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let health = Arc::new(AtomicU16::new(500));
    let a = rt.block_on(spawn_backend(health_handler("a", health), None));
    let reg = Arc::new(ServiceRegistry::with_runtime(rt.handle().clone()));
    // A plain thread, as a compile running outside the runtime would be.
    let built = std::thread::scope(|s| {
        s.spawn(|| {
            build_ok(
                &reg,
                json!({"off@file": {"loadBalancer": {"healthCheck": {"path": "/health", "interval": "50ms"},
                                                     "servers": [{"url": a.url()}]}}}),
            )
        })
        .join()
        .expect("build thread")
    });
    assert_eq!(reg.health_check_count(), 1);
    let svc = built["off@file"].clone();
    assert_eq!(svc.kind_name(), "loadBalancer");
    rt.block_on(wait_until("server down", || !svc.is_up()));
    drop(built);
    drop(svc);
    rt.block_on(async { drop(a) });
}

#[tokio::test]
async fn passive_health_brings_server_back_after_the_window() {
    let dead = dead_addr().await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"pw@file": {"loadBalancer": {
            "passiveHealthCheck": {"failureWindow": "2s", "maxFailedAttempts": 2},
            "servers": [{"url": format!("http://{dead}")}]
        }}}),
    );
    let svc = built["pw@file"].clone();
    assert!(matches!(
        call(&svc, "/").await,
        Err(ProxyError::Upstream(_))
    ));
    assert!(svc.is_up(), "one failure of two allowed");
    assert!(matches!(
        call(&svc, "/").await,
        Err(ProxyError::Upstream(_))
    ));
    assert!(!svc.is_up());
    assert!(matches!(call(&svc, "/").await, Err(ProxyError::NoServer)));
    wait_until("the failure window to pass", || svc.is_up()).await;
}

#[tokio::test]
async fn max_idle_conns_per_host_negative_keeps_no_idle_connection() {
    let a = spawn_backend(named("a"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({"nopool@file": {"loadBalancer": {"serversTransport": "nopool", "servers": [{"url": a.url()}]}}}),
        json!({"nopool@file": {"maxIdleConnsPerHost": -1}}),
        &Files::new(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    for _ in 0..3 {
        call(&built["nopool@file"], "/").await.expect("answer");
    }
    let peers: std::collections::HashSet<SocketAddr> = a.seen().iter().map(|s| s.peer).collect();
    assert_eq!(peers.len(), 3);
}

#[tokio::test]
async fn mirroring_without_body_sends_headers_only() {
    let main = spawn_backend(named("main"), None).await;
    let mirror = spawn_backend(named("mirror"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({
            "main@file": {"loadBalancer": {"servers": [{"url": main.url()}]}},
            "mirror@file": {"loadBalancer": {"servers": [{"url": mirror.url()}]}},
            "nobody@file": {"mirroring": {"service": "main@file", "mirrorBody": false,
                                          "mirrors": [{"name": "mirror@file", "percent": 100}]}}
        }),
    );
    let req = Request::builder()
        .method("PUT")
        .uri("/doc")
        .header("content-length", "7")
        .header("x-trace", "t1")
        .body(Body::full("payload"))
        .expect("req");
    assert_eq!(
        call_with(&built["nobody@file"], req)
            .await
            .expect("answer")
            .body,
        "main"
    );
    wait_until("mirror got the request", || mirror.count("/doc") == 1).await;
    let m = &mirror.seen()[0];
    assert_eq!(m.method, "PUT");
    assert_eq!(m.headers["x-trace"], "t1");
    assert!(m.body.is_empty());
    assert_eq!(&main.seen()[0].body[..], b"payload");
}

fn ctx_from(ip: &str) -> RequestCtx {
    RequestCtx {
        client_addr: SocketAddr::new(ip.parse().expect("ip"), 40000),
        ..ctx()
    }
}

#[tokio::test]
async fn hrw_keeps_a_client_ip_on_one_server() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"hrw@file": {"loadBalancer": {"strategy": "hrw",
                                             "servers": [{"url": a.url()}, {"url": b.url()}]}}}),
    );
    let svc = &built["hrw@file"];
    let mut seen_servers = std::collections::HashSet::new();
    for n in 1..=20 {
        let ip = format!("10.0.0.{n}");
        let first = svc.serve(get("/"), &ctx_from(&ip)).await.expect("answer");
        let first = first.into_body().collect().await.expect("body").to_bytes();
        for _ in 0..3 {
            let again = svc.serve(get("/"), &ctx_from(&ip)).await.expect("answer");
            assert_eq!(
                again.into_body().collect().await.expect("body").to_bytes(),
                first,
                "{ip}"
            );
        }
        seen_servers.insert(first);
    }
    assert_eq!(
        seen_servers.len(),
        2,
        "20 client IPs spread over both servers"
    );
}

#[tokio::test]
async fn leasttime_prefers_the_faster_server() {
    let slow: Handler = Arc::new(|_s| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            text(StatusCode::OK, "slow")
        })
    });
    let a = spawn_backend(slow, None).await;
    let b = spawn_backend(named("fast"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"lt@file": {"loadBalancer": {"strategy": "leasttime",
                                            "servers": [{"url": a.url()}, {"url": b.url()}]}}}),
    );
    let svc = &built["lt@file"];
    // Cold start: no samples, both tie and round robin decides.
    assert_eq!(call(svc, "/").await.expect("answer").body, "slow");
    assert_eq!(call(svc, "/").await.expect("answer").body, "fast");
    for _ in 0..6 {
        assert_eq!(call(svc, "/").await.expect("answer").body, "fast");
    }
}

/// A raw HTTP/1.1 backend for connection tests: answers every request (bodiless) with its
/// client's port, counts accepted and open connections, and with `close_after_answer` closes
/// each connection after one answer without announcing it (as a server ending an idle
/// keep-alive connection does).
pub(crate) struct PeerBackend {
    pub addr: SocketAddr,
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    pub open: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PeerBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn spawn_peer_backend(close_after_answer: bool) -> PeerBackend {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (acc, op) = (accepted.clone(), open.clone());
    let task = tokio::spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            acc.fetch_add(1, Ordering::SeqCst);
            op.fetch_add(1, Ordering::SeqCst);
            let op = op.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                'conn: loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let body = peer.port().to_string();
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(answer.as_bytes()).await.is_err() || close_after_answer {
                            break 'conn;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                op.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    PeerBackend {
        addr,
        accepted,
        open,
        task,
    }
}

/// A request context of the client connection that holds `conn`.
fn ctx_on(conn: &UpstreamConn) -> RequestCtx {
    RequestCtx {
        upstream_conn: conn.share(),
        ..ctx()
    }
}

async fn body_on(svc: &ServiceRuntime, conn: &UpstreamConn) -> String {
    let resp = svc.serve(get("/"), &ctx_on(conn)).await.expect("answer");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn a_client_connection_keeps_one_upstream_connection_and_leaves_it_to_the_next() {
    let b = spawn_peer_backend(false).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"s@file": {"loadBalancer": {"servers": [{"url": format!("http://{}", b.addr)}]}}}),
    );
    let svc = &built["s@file"];
    let first = UpstreamConn::new();
    let port = body_on(svc, &first).await;
    for _ in 0..3 {
        assert_eq!(body_on(svc, &first).await, port);
    }
    // Another client connection gets its own; a request without one uses the pool.
    let second = UpstreamConn::new();
    let other = body_on(svc, &second).await;
    assert_ne!(other, port);
    let pooled = call(svc, "/").await.expect("answer").body;
    assert!(pooled != port && pooled != other);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 3);
    // The client connections close: their upstream connections wait for the next client
    // connection, which takes one instead of dialing (a client that opens a connection per
    // request must not cost an upstream dial per request).
    drop((first, second));
    let third = UpstreamConn::new();
    let again = body_on(svc, &third).await;
    assert!(
        again == port || again == other,
        "{again}: a new upstream connection"
    );
    assert_eq!(b.accepted.load(Ordering::SeqCst), 3);
    assert_eq!(b.open.load(Ordering::SeqCst), 3);
    // The service goes (a configuration without it): every connection closes.
    drop(third);
    drop(built);
    wait_until("upstream connections closed", || {
        b.open.load(Ordering::SeqCst) == 0
    })
    .await;
}

/// A peer backend behind service `s@file` whose transport closes idle connections after 150 ms.
async fn short_idle_service() -> (PeerBackend, Arc<ServiceRegistry>, BuiltServices) {
    let b = spawn_peer_backend(false).await;
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({"s@file": {"loadBalancer": {"serversTransport": "short",
            "servers": [{"url": format!("http://{}", b.addr)}]}}}),
        json!({"short@file": {"forwardingTimeouts": {"idleConnTimeout": "150ms"}}}),
        &Files::new(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    (b, reg, built)
}

#[tokio::test]
async fn a_parked_connection_closes_after_idle_conn_timeout() {
    let (b, _reg, built) = short_idle_service().await;
    let conn = UpstreamConn::new();
    let port = body_on(&built["s@file"], &conn).await;
    drop(conn);
    wait_until("parked connection closed", || {
        b.open.load(Ordering::SeqCst) == 0
    })
    .await;
    // The next client connection dials a new one.
    let conn = UpstreamConn::new();
    assert_ne!(body_on(&built["s@file"], &conn).await, port);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_server_closing_an_idle_bound_connection_is_no_502() {
    let b = spawn_peer_backend(true).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"s@file": {"loadBalancer": {"servers": [{"url": format!("http://{}", b.addr)}]}}}),
    );
    let conn = UpstreamConn::new();
    let mut ports = std::collections::HashSet::new();
    for _ in 0..5 {
        ports.insert(body_on(&built["s@file"], &conn).await);
    }
    assert_eq!(ports.len(), 5);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn round_robin_still_alternates_on_one_client_connection() {
    let a = spawn_backend(named("a"), None).await;
    let b = spawn_backend(named("b"), None).await;
    let reg = Arc::new(ServiceRegistry::new());
    let built = build_ok(
        &reg,
        json!({"rr@file": {"loadBalancer": {"servers": [{"url": a.url()}, {"url": b.url()}]}}}),
    );
    let conn = UpstreamConn::new();
    let mut order = String::new();
    for _ in 0..6 {
        order.push_str(&body_on(&built["rr@file"], &conn).await);
    }
    assert_eq!(order, "ababab");
    // `a` holds the bound connection; `b` goes through the pool, which keeps its connection too.
    for s in [a.seen(), b.seen()] {
        let peers: std::collections::HashSet<SocketAddr> = s.iter().map(|s| s.peer).collect();
        assert_eq!(peers.len(), 1, "{s:?}");
    }
}

#[tokio::test]
async fn a_bound_connection_closes_after_idle_conn_timeout() {
    let (b, _reg, built) = short_idle_service().await;
    let conn = UpstreamConn::new();
    let port = body_on(&built["s@file"], &conn).await;
    wait_until("idle bound connection closed", || {
        b.open.load(Ordering::SeqCst) == 0
    })
    .await;
    // The client connection is still there: its next request binds a new one.
    assert_ne!(body_on(&built["s@file"], &conn).await, port);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn max_idle_conns_per_host_negative_binds_nothing() {
    let b = spawn_peer_backend(false).await;
    let reg = Arc::new(ServiceRegistry::new());
    let (built, errors) = build(
        &reg,
        json!({"s@file": {"loadBalancer": {"serversTransport": "nopool",
            "servers": [{"url": format!("http://{}", b.addr)}]}}}),
        json!({"nopool@file": {"maxIdleConnsPerHost": -1}}),
        &Files::new(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let conn = UpstreamConn::new();
    for _ in 0..3 {
        body_on(&built["s@file"], &conn).await;
    }
    assert_eq!(b.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_bound_connection_is_504_past_response_header_timeout() {
    let (_a, _reg, built) = never_answering_service().await;
    let conn = UpstreamConn::new();
    for _ in 0..2 {
        let err = built["slow@file"]
            .serve(get("/"), &ctx_on(&conn))
            .await
            .err()
            .expect("timeout");
        assert!(matches!(err, ProxyError::Timeout), "{err:?}");
    }
}
