//! Socket tests of the entry point server: real listeners on 127.0.0.1:0, raw TCP where the
//! exact bytes matter, hyper clients for HTTP/2.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;
use crate::body::Body;
use crate::snapshot::Snapshot;

/// Generous bound for anything a test waits on; never a correctness sleep.
const DEADLINE: Duration = Duration::from_secs(10);

pub(crate) struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
    pub store: Arc<ArcSwap<Snapshot>>,
}

pub(crate) async fn start_with(
    settings: EntryPointSettings,
    snapshot: Snapshot,
    hooks: PreRouteHooks,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(ArcSwap::from_pointee(snapshot));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        listener,
        Arc::new(settings),
        store.clone(),
        Arc::new(hooks),
        shutdown.clone(),
    ));
    Running {
        addr,
        shutdown,
        task,
        store,
    }
}

pub(crate) fn settings() -> EntryPointSettings {
    let mut s = EntryPointSettings::new("web", "127.0.0.1:0".parse().unwrap());
    s.server_name = http::HeaderValue::from_static("wharf-test");
    s
}

async fn start(settings: EntryPointSettings, hooks: PreRouteHooks) -> Running {
    start_with(settings, Snapshot::default(), hooks).await
}

/// Sends raw bytes and reads until the server closes the connection.
pub(crate) async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    match tokio::time::timeout(DEADLINE, s.read_to_end(&mut out)).await {
        Ok(Ok(_)) => {}
        // A reset after the answer (the server closed with unread input) still counts.
        Ok(Err(e)) if !out.is_empty() => eprintln!("read ended with {e}"),
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => panic!("server did not close the connection within {DEADLINE:?}"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header_of<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn text(body: &'static str) -> Response<Body> {
    Response::new(Body::full(Bytes::from_static(body.as_bytes())))
}

#[tokio::test]
async fn no_route_answers_traefiks_404() {
    let srv = start(settings(), PreRouteHooks::new()).await;
    let resp = raw(
        srv.addr,
        b"GET /nope HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 404, "{resp}");
    assert_eq!(
        header_of(&resp, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header_of(&resp, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header_of(&resp, "content-length"), Some("19"));
    assert_eq!(body_of(&resp), "404 page not found\n");
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served() {
    let srv = start(settings(), PreRouteHooks::new()).await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for _ in 0..3 {
        let req = Request::builder()
            .uri(format!("http://{}/x", srv.addr))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let resp = tokio::time::timeout(DEADLINE, send.send_request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"404 page not found\n");
    }
}

fn redirect_settings(port: Option<u16>, permanent: bool) -> EntryPointSettings {
    let mut s = settings();
    s.redirect = Some(EntryPointRedirect {
        scheme: "https".into(),
        port,
        permanent,
    });
    s
}

#[tokio::test]
async fn entry_point_redirect_statuses_and_location() {
    let srv = start(redirect_settings(Some(443), true), PreRouteHooks::new()).await;
    let resp = raw(
        srv.addr,
        b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: App.example.com:8080\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 301, "{resp}");
    assert_eq!(
        header_of(&resp, "location"),
        Some("https://App.example.com/a/b?x=1&y=2")
    );
    assert_eq!(body_of(&resp), "Moved Permanently");
    let resp = raw(
        srv.addr,
        b"POST /p HTTP/1.1\r\nHost: a.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 308, "{resp}");
    assert_eq!(header_of(&resp, "location"), Some("https://a.com/p"));

    let srv = start(redirect_settings(Some(8443), false), PreRouteHooks::new()).await;
    let resp = raw(
        srv.addr,
        b"GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 302, "{resp}");
    assert_eq!(header_of(&resp, "location"), Some("https://[::1]:8443/"));
    let resp = raw(
        srv.addr,
        b"PUT /u HTTP/1.1\r\nHost: a.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 307, "{resp}");
    assert_eq!(header_of(&resp, "location"), Some("https://a.com:8443/u"));
}

#[tokio::test]
async fn pre_routing_hook_beats_the_redirect() {
    let mut hooks = PreRouteHooks::new();
    hooks.add(
        "/.well-known/acme-challenge/",
        |req: &Request<Body>, _: &HookCtx<'_>| {
            (req.uri().path() == "/.well-known/acme-challenge/token123")
                .then(|| text("token123.thumbprint"))
        },
    );
    let srv = start(redirect_settings(Some(443), true), hooks).await;
    let resp = raw(
        srv.addr,
        b"GET /.well-known/acme-challenge/token123 HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert_eq!(body_of(&resp), "token123.thumbprint");
    // The hook declines an unknown token: the redirect applies.
    let resp = raw(
        srv.addr,
        b"GET /.well-known/acme-challenge/other HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 301, "{resp}");
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let mut s = settings();
    s.max_header_bytes = 16 * 1024;
    let srv = start(s, PreRouteHooks::new()).await;
    let big = "a".repeat(32 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: a.com\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    let resp = raw(srv.addr, req.as_bytes()).await;
    assert_eq!(status_of(&resp), 431, "{resp}");
    // Just under the limit still reaches routing.
    let fits = "a".repeat(8 * 1024);
    let req =
        format!("GET / HTTP/1.1\r\nHost: a.com\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n");
    assert_eq!(status_of(&raw(srv.addr, req.as_bytes()).await), 404);
}

#[tokio::test]
async fn bad_request_lines_get_400() {
    let srv = start(settings(), PreRouteHooks::new()).await;
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
    ] {
        let resp = raw(srv.addr, bad).await;
        assert!(
            status_of(&resp) == 400 || status_of(&resp) == 505,
            "{:?} -> {resp}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[tokio::test]
async fn host_header_is_required_once_in_http11() {
    let srv = start(settings(), PreRouteHooks::new()).await;
    let resp = raw(srv.addr, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(
        resp.starts_with("HTTP/1.1 400 Bad Request: missing required Host header\r\n"),
        "{resp}"
    );
    assert_eq!(
        header_of(&resp, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        body_of(&resp),
        "400 Bad Request: missing required Host header"
    );
    let resp = raw(srv.addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert_eq!(body_of(&resp), "400 Bad Request");
    // HTTP/1.0 needs none; absolute-form carries its own authority.
    assert_eq!(
        status_of(&raw(srv.addr, b"GET / HTTP/1.0\r\n\r\n").await),
        404
    );
    let resp = raw(
        srv.addr,
        b"GET http://a.test/ HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 404, "{resp}");
    // A Host with bytes no host holds: Go's "malformed Host header" (wharf answered 404).
    for host in [&b"a.test/../"[..], b"a .test", b"user@a.test", b"a\"b"] {
        let mut req = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(host);
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let resp = raw(srv.addr, &req).await;
        assert!(
            resp.starts_with("HTTP/1.1 400 Bad Request: malformed Host header\r\n"),
            "{resp}"
        );
    }
    // Every byte Go accepts still routes (404: no router here).
    let resp = raw(
        srv.addr,
        b"GET / HTTP/1.1\r\nHost: [::1]:80,a-b_c~d!$%&'()*+;=\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 404, "{resp}");
}

#[tokio::test]
async fn ambiguous_framing_gets_400() {
    let srv = start(settings(), PreRouteHooks::new()).await;
    // Content-Length and Transfer-Encoding, in both orders.
    for req in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    ] {
        let resp = raw(srv.addr, req).await;
        assert_eq!(status_of(&resp), 400, "{resp}");
        assert_eq!(header_of(&resp, "connection"), Some("close"));
    }
    // Two different Content-Lengths (hyper's own check).
    let resp = raw(
        srv.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    )
    .await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    let resp = raw(
        srv.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab",
    )
    .await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    // Equal duplicates and plain chunked stay legal.
    let resp = raw(
        srv.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
    )
    .await;
    assert_eq!(status_of(&resp), 404, "{resp}");
    let resp = raw(
        srv.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 404, "{resp}");
}

#[tokio::test]
async fn stalled_head_is_closed_by_the_read_timeout() {
    let mut s = settings();
    s.responding_timeouts.read_timeout = Some(Duration::from_millis(200));
    let srv = start(s, PreRouteHooks::new()).await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let mut out = Vec::new();
    // hyper closes (possibly after a 408); the point is that it does not hang.
    let r = tokio::time::timeout(DEADLINE, c.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "connection still open");
}

fn echo_client_hook() -> PreRouteHooks {
    let mut hooks = PreRouteHooks::new();
    hooks.add("/whoami", |_: &Request<Body>, ctx: &HookCtx<'_>| {
        Some(Response::new(Body::full(ctx.client_addr.to_string())))
    });
    hooks
}

fn pp_settings(trusted: &str) -> EntryPointSettings {
    let mut s = settings();
    s.proxy_protocol = Some(TrustSettings {
        trusted_ips: vec![trusted.parse().unwrap()],
        insecure: false,
    });
    s
}

const WHOAMI: &[u8] = b"GET /whoami HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn proxy_protocol_v1_from_trusted_peer_sets_the_client() {
    let srv = start(pp_settings("127.0.0.0/8"), echo_client_hook()).await;
    let req = [
        &b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 80\r\n"[..],
        WHOAMI,
    ]
    .concat();
    assert_eq!(body_of(&raw(srv.addr, &req).await), "203.0.113.7:40000");
    let req = [
        &b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 80\r\n"[..],
        WHOAMI,
    ]
    .concat();
    assert_eq!(body_of(&raw(srv.addr, &req).await), "[2001:db8::7]:40001");
    // No header from a trusted peer: allowed (Traefik's USE policy), the peer is the client.
    assert!(body_of(&raw(srv.addr, WHOAMI).await).starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn proxy_protocol_v2_from_trusted_peer_sets_the_client() {
    let srv = start(pp_settings("127.0.0.1/32"), echo_client_hook()).await;
    let mut hdr = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    hdr.extend_from_slice(&[0x21, 0x11, 0, 12 + 3]);
    hdr.extend_from_slice(&[198, 51, 100, 9, 127, 0, 0, 1, 0x1f, 0x90, 0, 80]);
    hdr.extend_from_slice(&[0x04, 0, 0]); // a TLV (NOOP), skipped
    let req = [&hdr[..], WHOAMI].concat();
    assert_eq!(body_of(&raw(srv.addr, &req).await), "198.51.100.9:8080");
}

#[tokio::test]
async fn proxy_protocol_from_untrusted_peer_is_ignored_and_bad_headers_close() {
    let srv = start(pp_settings("10.0.0.0/8"), echo_client_hook()).await;
    let req = [
        &b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 80\r\n"[..],
        WHOAMI,
    ]
    .concat();
    assert!(body_of(&raw(srv.addr, &req).await).starts_with("127.0.0.1:"));

    let srv = start(pp_settings("127.0.0.1/32"), echo_client_hook()).await;
    let req = [&b"PROXY TCP4 not-an-ip 192.0.2.1 40000 80\r\n"[..], WHOAMI].concat();
    assert_eq!(
        raw(srv.addr, &req).await,
        "",
        "a malformed header closes without an answer"
    );
}

#[tokio::test]
async fn forwarded_client_ip_is_the_proxy_protocol_source_for_trust() {
    // Trust for forwarded headers is judged on the PROXY source, as Traefik does with the
    // address go-proxyproto gives it.
    let mut s = pp_settings("127.0.0.1/32");
    s.forwarded_headers.trusted_ips = vec!["203.0.113.0/24".parse().unwrap()];
    let srv = start(s, echo_client_hook()).await;
    let req = [
        &b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 80\r\n"[..],
        WHOAMI,
    ]
    .concat();
    assert_eq!(body_of(&raw(srv.addr, &req).await), "203.0.113.7:40000");
}

/// A hook that streams its answer from a channel: an in-flight request we control.
fn streaming_hook() -> (PreRouteHooks, mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut hooks = PreRouteHooks::new();
    hooks.add("/stream", move |_: &Request<Body>, _: &HookCtx<'_>| {
        let (chunk_tx, chunk_rx) = mpsc::channel::<Bytes>(4);
        tx.send(chunk_tx).ok()?;
        let stream = futures_util::stream::unfold(chunk_rx, |mut rx| async move {
            rx.recv().await.map(|b| {
                (
                    Ok::<_, crate::body::BoxError>(http_body::Frame::data(b)),
                    rx,
                )
            })
        });
        Some(Response::new(Body::boxed(
            http_body_util::combinators::BoxBody::new(StreamBody::new(stream)),
        )))
    });
    (hooks, rx)
}

/// Reads from `c` until `needle` has arrived.
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
async fn graceful_shutdown_finishes_in_flight_then_stops() {
    let (hooks, mut streams) = streaming_hook();
    let srv = start(settings(), hooks).await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, streams.recv())
        .await
        .unwrap()
        .unwrap();
    chunks.send(Bytes::from_static(b"first-")).await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut c, &mut acc, "first-").await;

    srv.shutdown.cancel();
    // New connections are refused once the listener is gone.
    let refused = tokio::time::timeout(DEADLINE, async {
        loop {
            match TcpStream::connect(srv.addr).await {
                Err(_) => break,
                Ok(mut probe) => {
                    // Accepted by the kernel before the listener closed: it must not be served.
                    let mut b = [0u8; 1];
                    let _ = probe.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
                    if matches!(probe.read(&mut b).await, Ok(0) | Err(_)) {
                        break;
                    }
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok());
    assert!(
        !srv.task.is_finished(),
        "serve must wait for the in-flight response"
    );

    // The in-flight response still completes.
    chunks.send(Bytes::from_static(b"second")).await.unwrap();
    drop(chunks);
    read_until(&mut c, &mut acc, "second\r\n0\r\n\r\n").await;
    // Then the connection closes and serve returns.
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, c.read_to_end(&mut rest))
        .await
        .unwrap()
        .ok();
    tokio::time::timeout(DEADLINE, srv.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn grace_timeout_cuts_what_does_not_finish() {
    let (hooks, mut streams) = streaming_hook();
    let mut s = settings();
    s.grace_timeout = Duration::from_millis(100);
    let srv = start(s, hooks).await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, streams.recv())
        .await
        .unwrap()
        .unwrap();
    chunks.send(Bytes::from_static(b"only")).await.unwrap();
    let mut acc = Vec::new();
    read_until(&mut c, &mut acc, "only").await;
    srv.shutdown.cancel();
    tokio::time::timeout(DEADLINE, srv.task)
        .await
        .expect("serve returned after graceTimeOut")
        .unwrap();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(DEADLINE, c.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "the connection was closed");
    drop(chunks);
}

#[tokio::test]
async fn idle_keep_alive_connection_closes_on_shutdown() {
    let srv = start(settings(), PreRouteHooks::new()).await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut acc = Vec::new();
    read_until(&mut c, &mut acc, "404 page not found\n").await;
    srv.shutdown.cancel();
    tokio::time::timeout(DEADLINE, srv.task)
        .await
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    assert!(tokio::time::timeout(DEADLINE, c.read_to_end(&mut rest))
        .await
        .is_ok());
}

#[tokio::test]
async fn keep_alive_max_requests_closes_the_connection() {
    let mut s = settings();
    s.keep_alive_max_requests = 2;
    let srv = start(s, PreRouteHooks::new()).await;
    // Three pipelined requests: the second answer says close, the third is never answered.
    let resp = raw(
        srv.addr,
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 404").count(), 2, "{resp}");
    assert_eq!(resp.matches("connection: close").count(), 1, "{resp}");
}

#[tokio::test]
async fn idle_http2_connection_is_closed_after_idle_timeout() {
    let mut s = settings();
    s.responding_timeouts.idle_timeout = Some(Duration::from_millis(100));
    let srv = start(s, PreRouteHooks::new()).await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::builder()
        .uri(format!("http://{}/", srv.addr))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The server sends GOAWAY and closes; the client's connection task ends.
    let ended = tokio::time::timeout(DEADLINE, conn).await;
    assert!(ended.is_ok(), "idle HTTP/2 connection still open");
    assert!(!srv.task.is_finished(), "the entry point keeps serving");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_http2_stream_finish() {
    let (hooks, mut streams) = streaming_hook();
    let srv = start(settings(), hooks).await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(format!("http://{}/stream", srv.addr))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let chunks = tokio::time::timeout(DEADLINE, streams.recv())
        .await
        .unwrap()
        .unwrap();
    srv.shutdown.cancel();
    chunks.send(Bytes::from_static(b"one;")).await.unwrap();
    chunks.send(Bytes::from_static(b"two")).await.unwrap();
    drop(chunks);
    let body = tokio::time::timeout(DEADLINE, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"one;two");
    tokio::time::timeout(DEADLINE, srv.task)
        .await
        .unwrap()
        .unwrap();
}
