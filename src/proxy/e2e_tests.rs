//! End-to-end tests through real services: client → entry point → load balancer → an in-test
//! backend that echoes what it received (request line and headers), streams on demand, or
//! echoes WebSocket messages.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::tests::{raw, settings, start_with, Running};
use super::*;
use crate::body::BoxError;
use crate::compile::{Route, RouteTable};
use crate::rule::{parse, RuleSyntax};
use crate::service::{build_services, ServiceRegistry, ServiceRuntime};
use crate::snapshot::Snapshot;

const DEADLINE: Duration = Duration::from_secs(10);

/// A backend: `/slow` hands the test a sender that feeds its streamed answer; anything else
/// answers the request line and headers it received, one `name: value` per line, and adds
/// hop-by-hop headers of its own to its answer.
struct Backend {
    addr: SocketAddr,
    slow: mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn spawn_backend() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (slow_tx, slow) = mpsc::unbounded_channel::<mpsc::Sender<Bytes>>();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let slow_tx = slow_tx.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let slow_tx = slow_tx.clone();
                    async move { Ok::<_, Infallible>(backend_answer(req, &slow_tx)) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Backend { addr, slow, task }
}

type BackendBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

fn backend_answer(
    req: Request<hyper::body::Incoming>,
    slow: &mpsc::UnboundedSender<mpsc::Sender<Bytes>>,
) -> Response<BackendBody> {
    if req.uri().path() == "/slow" {
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let _ = slow.send(tx);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, BoxError>(http_body::Frame::data(b)), rx))
        });
        return Response::new(BodyExt::boxed(StreamBody::new(stream)));
    }
    if req.uri().path() == "/upload" {
        // Streams the request body back as it arrives.
        return Response::new(BodyExt::boxed(req.into_body().map_err(BoxError::from)));
    }
    let mut out = format!("{} {} {:?}\n", req.method(), req.uri(), req.version());
    for (k, v) in req.headers() {
        out.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
    }
    let mut resp = Response::new(BodyExt::boxed(
        Full::new(Bytes::from(out)).map_err(|e| match e {}),
    ));
    let h = resp.headers_mut();
    h.insert("x-hop", http::HeaderValue::from_static("1"));
    h.insert("connection", http::HeaderValue::from_static("x-hop"));
    h.insert("keep-alive", http::HeaderValue::from_static("timeout=5"));
    h.insert(
        "proxy-authenticate",
        http::HeaderValue::from_static("Basic"),
    );
    h.insert("x-kept", http::HeaderValue::from_static("yes"));
    resp
}

async fn spawn_ws_backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

fn service(name: &str, urls: &[String]) -> Arc<ServiceRuntime> {
    let servers: Vec<serde_json::Value> = urls
        .iter()
        .map(|u| serde_json::json!({ "url": u }))
        .collect();
    let services: BTreeMap<String, wharf_providers::Service> = serde_json::from_value(
        serde_json::json!({ name: { "loadBalancer": { "servers": servers } } }),
    )
    .unwrap();
    let registry = Arc::new(ServiceRegistry::new());
    let (mut built, errors) = build_services(&services, &BTreeMap::new(), &|_| None, &registry);
    assert!(errors.is_empty(), "{errors:?}");
    built.remove(name).unwrap()
}

fn snapshot_with(generation: u64, routes: Vec<(&str, &str, Arc<ServiceRuntime>)>) -> Snapshot {
    let hostless = routes
        .into_iter()
        .map(|(name, rule, service)| {
            Arc::new(Route {
                name: Arc::from(name),
                rule: parse(rule, RuleSyntax::V3).unwrap(),
                priority: rule.len() as i64,
                service,
                middlewares: Arc::from([]),
                filters: Arc::from([]),
            })
        })
        .collect();
    let mut snap = Snapshot {
        generation,
        ..Snapshot::default()
    };
    snap.entry_points
        .insert(Arc::from("web"), RouteTable::build(hostless));
    snap
}

async fn front(settings: EntryPointSettings, svc: Arc<ServiceRuntime>) -> Running {
    start_with(
        settings,
        snapshot_with(1, vec![("app@file", "PathPrefix(`/`)", svc)]),
        PreRouteHooks::new(),
    )
    .await
}

fn lines(resp: &str) -> Vec<&str> {
    resp.split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .lines()
        .collect()
}

fn seen<'a>(resp: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    lines(resp)
        .into_iter()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

fn resp_header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n")
        .next()?
        .lines()
        .skip(1)
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

const SPOOFED: &str =
    "GET /echo?q=1 HTTP/1.1\r\nHost: app.test:8080\r\nX-Forwarded-For: 6.6.6.6\r\n\
X-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\nX-Real-Ip: 6.6.6.6\r\n\
X_Forwarded_Prefix: /evil\r\nX-Forwarded-Server: evil\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_replaced() {
    let backend = spawn_backend().await;
    let srv = front(
        settings(),
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let resp = raw(srv.addr, SPOOFED.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(lines(&resp)[0], "GET /echo?q=1 HTTP/1.1");
    assert_eq!(seen(&resp, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen(&resp, "x-forwarded-host"), ["app.test:8080"]);
    assert_eq!(seen(&resp, "x-forwarded-proto"), ["http"]);
    assert_eq!(seen(&resp, "x-forwarded-port"), ["8080"]);
    assert_eq!(seen(&resp, "x-real-ip"), ["127.0.0.1"]);
    assert_eq!(seen(&resp, "x-forwarded-server"), ["wharf-test"]);
    assert!(seen(&resp, "x_forwarded_prefix").is_empty(), "{resp}");
    // passHostHeader (default true): the backend sees the client's Host.
    assert_eq!(seen(&resp, "host"), ["app.test:8080"]);
}

#[tokio::test]
async fn forwarded_headers_from_a_trusted_peer_are_kept_and_appended() {
    let backend = spawn_backend().await;
    let mut s = settings();
    s.forwarded_headers.trusted_ips = vec!["127.0.0.1/32".parse().unwrap()];
    let srv = front(
        s,
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let resp = raw(srv.addr, SPOOFED.as_bytes()).await;
    assert_eq!(seen(&resp, "x-forwarded-for"), ["6.6.6.6, 127.0.0.1"]);
    assert_eq!(seen(&resp, "x-forwarded-host"), ["evil.test"]);
    assert_eq!(seen(&resp, "x-forwarded-proto"), ["https"]);
    assert_eq!(seen(&resp, "x-real-ip"), ["6.6.6.6"]);
    assert_eq!(seen(&resp, "x_forwarded_prefix"), ["/evil"]);
    // Always ours.
    assert_eq!(seen(&resp, "x-forwarded-server"), ["wharf-test"]);
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let backend = spawn_backend().await;
    let srv = front(
        settings(),
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let req = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Drop-Me\r\nX-Drop-Me: 1\r\n\
Keep-Alive: timeout=9\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\n\
TE: trailers\r\nUpgrade: h2c\r\nX-Stay: 1\r\n\r\n";
    // Keep-alive client: read one answer by Content-Length.
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(req.as_bytes()).await.unwrap();
    let resp = read_one_response(&mut c).await;
    for gone in [
        "x-drop-me",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(
            seen(&resp, gone).is_empty(),
            "{gone} reached the backend: {resp}"
        );
    }
    assert_eq!(seen(&resp, "x-stay"), ["1"]);
    assert_eq!(seen(&resp, "te"), ["trailers"]);
    assert_eq!(resp_header(&resp, "x-kept"), Some("yes"));
    for gone in ["x-hop", "keep-alive", "proxy-authenticate"] {
        assert_eq!(
            resp_header(&resp, gone),
            None,
            "{gone} reached the client: {resp}"
        );
    }
}

async fn read_one_response(c: &mut TcpStream) -> String {
    let mut acc = Vec::new();
    let mut buf = [0u8; 8192];
    tokio::time::timeout(DEADLINE, async {
        loop {
            let text = String::from_utf8_lossy(&acc).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = resp_header(&format!("{head}\r\n\r\n"), "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    return text;
                }
            }
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {text}");
            acc.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn h2c_prior_knowledge_reaches_the_backend() {
    let backend = spawn_backend().await;
    let srv = front(
        settings(),
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("http://h2.test/over-h2")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(body.starts_with("GET "), "{body}");
    assert!(body.contains("/over-h2"), "{body}");
    assert!(body.contains("x-forwarded-host: h2.test\n"), "{body}");
}

#[tokio::test]
async fn absolute_form_target_replaces_a_different_host_header() {
    // Found by trying wharf as a Traefik user: the request was routed on the URI's host but
    // the backend received the client's other `Host` header (Traefik sends the URI's host).
    let backend = spawn_backend().await;
    let svc = service("app@file", &[format!("http://{}", backend.addr)]);
    let snap = snapshot_with(1, vec![("app@file", "Host(`app.test`)", svc)]);
    let srv = start_with(settings(), snap, PreRouteHooks::new()).await;
    let resp = raw(
        srv.addr,
        b"GET http://app.test/x HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(lines(&resp)[0], "GET /x HTTP/1.1");
    assert_eq!(seen(&resp, "host"), ["app.test"]);
    assert_eq!(seen(&resp, "x-forwarded-host"), ["app.test"]);
}

#[tokio::test]
async fn upstream_errors_get_traefiks_answers() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let srv = front(
        settings(),
        service("dead@file", &[format!("http://{dead}")]),
    )
    .await;
    let resp = raw(
        srv.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 502"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nBad Gateway"), "{resp}");
    assert_eq!(
        resp_header(&resp, "content-type"),
        None,
        "Traefik sends no Content-Type"
    );

    let srv = front(settings(), service("none@file", &[])).await;
    let resp = raw(
        srv.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nno available server\n"), "{resp}");
    assert_eq!(
        resp_header(&resp, "x-content-type-options"),
        Some("nosniff")
    );
}

#[tokio::test]
async fn websocket_echo_through_the_proxy() {
    let (ws_addr, ws_task) = spawn_ws_backend().await;
    let srv = front(
        settings(),
        service("ws@file", &[format!("http://{ws_addr}")]),
    )
    .await;
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://{}/chat", srv.addr), stream)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for word in ["hello", "wharf"] {
        ws.send(Message::text(word)).await.unwrap();
        let echo = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), word);
    }
    ws_task.abort();
}

#[tokio::test]
async fn websocket_and_slow_stream_survive_100_snapshot_swaps() {
    let mut backend = spawn_backend().await;
    let (ws_addr, ws_task) = spawn_ws_backend().await;
    let app = service("app@file", &[format!("http://{}", backend.addr)]);
    let ws_svc = service("ws@file", &[format!("http://{ws_addr}")]);
    let routes = |g| {
        snapshot_with(
            g,
            vec![
                ("ws@file", "PathPrefix(`/chat`)", ws_svc.clone()),
                ("app@file", "PathPrefix(`/`)", app.clone()),
            ],
        )
    };
    let srv = start_with(settings(), routes(1), PreRouteHooks::new()).await;

    // An open WebSocket...
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/chat", srv.addr), stream)
        .await
        .unwrap();
    // ...and a streaming response, both started on generation 1.
    let mut slow = TcpStream::connect(srv.addr).await.unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, backend.slow.recv())
        .await
        .unwrap()
        .unwrap();
    let mut acc = Vec::new();

    for g in 2..=101u64 {
        // Every other snapshot has no routes at all: open connections must not care.
        let next = if g % 2 == 0 {
            Snapshot {
                generation: g,
                ..Snapshot::default()
            }
        } else {
            routes(g)
        };
        srv.store.store(Arc::new(next));
        let word = format!("msg-{g}");
        ws.send(Message::text(word.clone())).await.unwrap();
        let echo = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), word);
        let chunk = format!("chunk-{g};");
        chunks.send(Bytes::from(chunk.clone())).await.unwrap();
        read_until(&mut slow, &mut acc, &chunk).await;
    }
    assert_eq!(srv.store.load().generation, 101);
    drop(chunks);
    read_until(&mut slow, &mut acc, "\r\n0\r\n\r\n").await;
    // New requests see the latest snapshot (101 has routes; an even one would 404).
    let resp = raw(
        srv.addr,
        b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    ws.close(None).await.ok();
    ws_task.abort();
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_proxied_response_finish() {
    let mut backend = spawn_backend().await;
    let srv = front(
        settings(),
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, backend.slow.recv())
        .await
        .unwrap()
        .unwrap();
    chunks.send(Bytes::from_static(b"before;")).await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut c, &mut acc, "before;").await;
    srv.shutdown.cancel();
    chunks.send(Bytes::from_static(b"after;")).await.unwrap();
    drop(chunks);
    read_until(&mut c, &mut acc, "after;").await;
    read_until(&mut c, &mut acc, "\r\n0\r\n\r\n").await;
    tokio::time::timeout(DEADLINE, srv.task)
        .await
        .unwrap()
        .unwrap();
}

async fn read_until(c: &mut TcpStream, acc: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        while !String::from_utf8_lossy(acc).contains(needle) {
            let n = c.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {needle:?}: {}",
                String::from_utf8_lossy(acc)
            );
            acc.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} within {DEADLINE:?}"));
}

#[tokio::test]
async fn request_target_is_normalized_before_routing_and_forwarding() {
    let backend = spawn_backend().await;
    let svc = service("app@file", &[format!("http://{}", backend.addr)]);
    let snap = snapshot_with(
        1,
        vec![("spaced@file", "PathPrefix(`/foo bar`)", svc.clone())],
    );
    let srv = start_with(settings(), snap, PreRouteHooks::new()).await;
    // Routing sees the decoded path; the backend gets the cleaned, normalized target.
    let resp = raw(srv.addr, b"GET /x/..//foo%20bar/%7euser/./a?q=1;r=2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(lines(&resp)[0], "GET /foo%20bar/~user/a?q=1&r=2 HTTP/1.1");
    // A broken escape never reaches a router.
    let resp = raw(
        srv.addr,
        b"GET /foo%2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
}

#[tokio::test]
async fn write_timeout_cuts_a_response_that_outlives_it() {
    let mut backend = spawn_backend().await;
    let mut s = settings();
    s.responding_timeouts.write_timeout = Some(Duration::from_millis(200));
    let srv = front(
        s,
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, backend.slow.recv())
        .await
        .unwrap()
        .unwrap();
    chunks.send(Bytes::from_static(b"started;")).await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut c, &mut acc, "started;").await;
    // The backend never finishes: the connection is cut without the last chunk.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, c.read_to_end(&mut rest))
        .await
        .expect("connection cut by writeTimeout");
    assert!(!String::from_utf8_lossy(&rest).contains("\r\n0\r\n\r\n"));
    drop(chunks);
}

#[tokio::test]
async fn read_timeout_covers_a_trickling_request_body() {
    let backend = spawn_backend().await;
    let mut s = settings();
    s.responding_timeouts.read_timeout = Some(Duration::from_millis(200));
    let srv = front(
        s,
        service("app@file", &[format!("http://{}", backend.addr)]),
    )
    .await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    // Promises 100 bytes, sends 10, then stalls.
    c.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut out = Vec::new();
    // The backend echoes the body as it comes: without the deadline the answer would wait
    // for the 90 missing bytes forever.
    let r = tokio::time::timeout(DEADLINE, c.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "the stalled upload still holds the connection");
}

fn filter(name: &str, spec: serde_json::Value) -> wharf_middlewares::Filter {
    let spec: wharf_middlewares::MiddlewareSpec = serde_json::from_value(spec).unwrap();
    wharf_middlewares::compile(name, &spec, &wharf_middlewares::CompileCtx::default()).unwrap()
}

#[tokio::test]
async fn router_middlewares_run_around_the_service() {
    let backend = spawn_backend().await;
    let svc = service("app@file", &[format!("http://{}", backend.addr)]);
    let filters: Vec<wharf_middlewares::Filter> = vec![
        filter(
            "auth@file",
            serde_json::json!({"basicAuth": {"users": ["u:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]}}),
        ),
        filter(
            "strip@file",
            serde_json::json!({"stripPrefix": {"prefixes": ["/api"]}}),
        ),
        filter(
            "hdr@file",
            serde_json::json!({"headers": {
                "customRequestHeaders": {"X-Mw": "on"},
                "customResponseHeaders": {"X-Resp": "added"}
            }}),
        ),
    ];
    let mut route = Route::new(
        "app@file",
        parse("PathPrefix(`/api`)", RuleSyntax::V3).unwrap(),
        1,
        svc,
    );
    route.filters = Arc::from(filters);
    let mut snap = Snapshot {
        generation: 1,
        ..Snapshot::default()
    };
    snap.entry_points
        .insert(Arc::from("web"), RouteTable::build(vec![Arc::new(route)]));
    let srv = start_with(settings(), snap, PreRouteHooks::new()).await;

    // No credentials: BasicAuth answers, the service is never called.
    let resp = raw(
        srv.addr,
        b"GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    // With them (u:test): prefix stripped, request header added, response header added.
    let resp = raw(
        srv.addr,
        b"GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dTp0ZXN0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(lines(&resp)[0], "GET /x HTTP/1.1");
    assert_eq!(seen(&resp, "x-mw"), ["on"]);
    assert_eq!(seen(&resp, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(resp_header(&resp, "x-resp"), Some("added"));
}

/// Security regression: prefix stripping must not turn `%2F..%2F` into a `..` segment for a
/// backend that decodes `%2F`. Expected values are Traefik 3.7.15's answers to the same inputs.
#[tokio::test]
async fn strip_prefix_with_encoded_slashes_and_dots_as_traefik() {
    let backend = spawn_backend().await;
    let svc = service("app@file", &[format!("http://{}", backend.addr)]);
    let mut route = Route::new(
        "app@file",
        parse("PathPrefix(`/`)", RuleSyntax::V3).unwrap(),
        1,
        svc,
    );
    route.filters = Arc::from(vec![filter(
        "strip@file",
        serde_json::json!({"stripPrefix": {"prefixes": ["/api"]}}),
    )]);
    let mut snap = Snapshot {
        generation: 1,
        ..Snapshot::default()
    };
    snap.entry_points
        .insert(Arc::from("web"), RouteTable::build(vec![Arc::new(route)]));
    let srv = start_with(settings(), snap, PreRouteHooks::new()).await;
    for (target, want) in [
        ("/api%2fx", Some("/x")),
        ("/api%2f..%2fx", None),
        ("/api%2F%2E%2E%2Fetc", None),
        ("/api%2e%2e/x", None),
        ("/api/..%2fx", Some("/..%2Fx")),
        ("/api/%2e%2e/x", Some("/x")),
        ("/api%5c..%5cx", Some("/%5C..%5Cx")),
        ("/api//x", Some("/x")),
    ] {
        let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let resp = raw(srv.addr, req.as_bytes()).await;
        match want {
            Some(path) => {
                assert!(resp.starts_with("HTTP/1.1 200"), "{target}: {resp}");
                assert_eq!(lines(&resp)[0], format!("GET {path} HTTP/1.1"), "{target}");
            }
            None => assert!(resp.starts_with("HTTP/1.1 400"), "{target}: {resp}"),
        }
    }
}

#[tokio::test]
async fn in_flight_limit_counts_a_request_until_its_body_is_sent() {
    let mut backend = spawn_backend().await;
    let svc = service("app@file", &[format!("http://{}", backend.addr)]);
    let mut route = Route::new(
        "app@file",
        parse("PathPrefix(`/`)", RuleSyntax::V3).unwrap(),
        1,
        svc,
    );
    route.filters = Arc::from(vec![filter(
        "one@file",
        serde_json::json!({"inFlightReq": {"amount": 1}}),
    )]);
    let mut snap = Snapshot {
        generation: 1,
        ..Snapshot::default()
    };
    snap.entry_points
        .insert(Arc::from("web"), RouteTable::build(vec![Arc::new(route)]));
    let srv = start_with(settings(), snap, PreRouteHooks::new()).await;

    let mut slow = TcpStream::connect(srv.addr).await.unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, backend.slow.recv())
        .await
        .unwrap()
        .unwrap();
    chunks
        .send(Bytes::from_static(b"streaming;"))
        .await
        .unwrap();
    let mut acc = Vec::new();
    read_until(&mut slow, &mut acc, "streaming;").await;
    // The streaming answer still holds the only slot.
    let resp = raw(
        srv.addr,
        b"GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 429"), "{resp}");
    drop(chunks);
    read_until(&mut slow, &mut acc, "\r\n0\r\n\r\n").await;
    // Released once the body ended (the slot is freed when the body is dropped, right after
    // its last frame: poll until then).
    let ok = tokio::time::timeout(DEADLINE, async {
        loop {
            let resp = raw(
                srv.addr,
                b"GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
            .await;
            if resp.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(ok.is_ok(), "slot never released");
}

#[tokio::test]
async fn jwt_then_per_consumer_rate_limit_through_the_proxy() {
    // HS256 tokens signed with secret `k` for sub=alice and sub=bob (no exp).
    const ALICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.W9LqiGjOKc4IhIg1mdkybh8jCTN-GHCfPjcHXcbmTkw";
    const BOB: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IifQ.y3Z01X_iNu4mwJ9yH_8_xurIF7e7kc_34Xy5wWrmr_4";
    let backend = spawn_backend().await;
    let svc = service("app@file", &[format!("http://{}", backend.addr)]);
    let filters: Vec<wharf_middlewares::Filter> = vec![
        filter(
            "jwt@file",
            serde_json::json!({"plugin": {"jwt": {"signingSecret": "k", "forwardHeaders": {"X-User": "sub"}}}}),
        ),
        filter(
            "rl@file",
            serde_json::json!({"rateLimit": {"average": 1, "period": "1m", "burst": 1, "sourceCriterion": {"consumer": true}}}),
        ),
    ];
    let mut route = Route::new(
        "app@file",
        parse("PathPrefix(`/`)", RuleSyntax::V3).unwrap(),
        1,
        svc,
    );
    route.filters = Arc::from(filters);
    let mut snap = Snapshot {
        generation: 1,
        ..Snapshot::default()
    };
    snap.entry_points
        .insert(Arc::from("web"), RouteTable::build(vec![Arc::new(route)]));
    let srv = start_with(settings(), snap, PreRouteHooks::new()).await;
    let get = |token: Option<&str>| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        format!("GET /x HTTP/1.1\r\nHost: a\r\n{auth}Connection: close\r\n\r\n")
    };

    let resp = raw(srv.addr, get(None).as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert_eq!(resp_header(&resp, "www-authenticate"), Some("Bearer"));
    let resp = raw(srv.addr, get(Some("garbage.token.here")).as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");

    let resp = raw(srv.addr, get(Some(ALICE)).as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(seen(&resp, "x-user"), ["alice"]);
    assert!(seen(&resp, "authorization").is_empty(), "{resp}");
    // Alice's budget (1 per minute) is spent; Bob's is not.
    let resp = raw(srv.addr, get(Some(ALICE)).as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 429"), "{resp}");
    let resp = raw(srv.addr, get(Some(BOB)).as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(seen(&resp, "x-user"), ["bob"]);
}

/// The requests of one client connection share one upstream connection; when the client's
/// closes, it waits for the next client connection, which uses it.
#[tokio::test]
async fn one_client_connection_uses_one_upstream_connection() {
    let b = crate::service::tests::spawn_peer_backend(false).await;
    let proxy = front(
        settings(),
        service("peer@file", &[format!("http://{}", b.addr)]),
    )
    .await;
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let mut ports = Vec::new();
    for _ in 0..3 {
        let req = Request::get("/")
            .header("host", "peer.example")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        ports.push(resp.into_body().collect().await.unwrap().to_bytes());
    }
    assert!(ports.iter().all(|p| p == &ports[0]), "{ports:?}");
    assert_eq!(b.accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    drop(send);
    let _ = conn.await;
    // Connection: close clients, one after the other, reuse it: without parking, each would
    // dial (5 upstream connections). The proxy closes a client connection a poll before it
    // parks the upstream one, so a client that races ahead may see one more dial, not five.
    for _ in 0..4 {
        let resp = raw(
            proxy.addr,
            b"GET / HTTP/1.1\r\nHost: peer.example\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    let accepted = b.accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        accepted <= 2,
        "{accepted} upstream connections for 5 client connections"
    );
}
