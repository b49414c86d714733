//! grpcWeb end to end on the real binary: a browser-style gRPC-Web client (binary and text
//! formats, CORS preflight) through wharf to a small gRPC-shaped h2c server (hyper, HTTP/2
//! prior knowledge) that answers one length-prefixed message and `grpc-status` trailers.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use common::{poll, serve_h2c, write_atomic, Wharf};
use http_body_util::{BodyExt, Full, StreamBody};

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The gRPC server: h2c only; echoes the message with `echo:` and reports what it saw in
/// response headers (`x-seen-content-type`, `x-seen-version`, `x-seen-content-length`).
async fn grpc_server(calls: Arc<AtomicUsize>) -> SocketAddr {
    serve_h2c(move |req: http::Request<hyper::body::Incoming>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let ct = req.headers().get("content-type").cloned();
            let cl = req.headers().contains_key("content-length");
            let version = format!("{:?}", req.version());
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let msg = body.get(5..).unwrap_or_default();
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(msg);
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            trailers.insert("grpc-message", http::HeaderValue::from_static("ok"));
            let frames = vec![
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(frame(
                    &reply,
                )))),
                Ok(http_body::Frame::trailers(trailers)),
            ];
            let mut r =
                http::Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
            let h = r.headers_mut();
            h.insert(
                "content-type",
                http::HeaderValue::from_static("application/grpc+proto"),
            );
            if let Some(ct) = ct {
                h.insert("x-seen-content-type", ct);
            }
            h.insert("x-seen-version", version.parse().unwrap());
            h.insert("x-seen-content-length", cl.to_string().parse().unwrap());
            Ok::<_, std::convert::Infallible>(r)
        }
    })
    .await
}

/// One HTTP/1.1 exchange with wharf: (status, headers, whole body).
async fn send(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Bytes) {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http1::handshake::<_, BoxBody>(hyper_util::rt::TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut b = http::Request::builder()
        .method(method)
        .uri("/echo.Echo/Say")
        .header("host", "grpc.test");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = tx
        .send_request(b.body(Full::new(Bytes::from(body)).boxed()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, h, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_to_h2c_and_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = grpc_server(calls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic = format!(
        r#"http:
  routers:
    grpc: {{rule: "Host(`grpc.test`)", service: grpc, middlewares: [web]}}
  middlewares:
    web: {{grpcWeb: {{allowOrigins: ["https://app.test"]}}}}
  services:
    grpc: {{loadBalancer: {{servers: [{{url: "h2c://{server}"}}]}}}}
"#
    );
    let file = write_atomic(dir.path(), "dynamic.yml", &dynamic);
    let mut w = Wharf::start(&[
        "--entryPoints.web.address=127.0.0.1:0",
        &format!("--providers.file.filename={}", file.display()),
    ]);
    let addr = w.address("web");
    let msg = frame(b"hello");
    let expected_trailer = {
        let t = b"grpc-message: ok\r\ngrpc-status: 0\r\n";
        let mut v = vec![0x80];
        v.extend_from_slice(&(t.len() as u32).to_be_bytes());
        v.extend_from_slice(t);
        v
    };
    let mut expected = frame(b"echo:hello");
    expected.extend_from_slice(&expected_trailer);

    // Binary format.
    let (status, h, body) = poll("grpcWeb router", || {
        let msg = msg.clone();
        async move {
            let r = send(
                addr,
                "POST",
                &[
                    ("content-type", "application/grpc-web+proto"),
                    ("origin", "https://app.test"),
                    ("x-grpc-web", "1"),
                ],
                msg,
            )
            .await;
            (r.0 != 404).then_some(r)
        }
    })
    .await;
    assert_eq!(status, 200, "{h:?} {body:?}");
    assert_eq!(h["content-type"], "application/grpc-web+proto");
    assert_eq!(h["x-seen-content-type"], "application/grpc+proto");
    assert_eq!(h["x-seen-version"], "HTTP/2.0");
    assert_eq!(h["access-control-allow-origin"], "https://app.test");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let exposed = h["access-control-expose-headers"].to_str().unwrap();
    assert!(
        exposed.contains("Content-Type") && exposed.contains("X-Seen-Version"),
        "{exposed}"
    );
    assert!(!h.contains_key("trailer"));
    assert_eq!(&body[..], &expected[..]);

    // Text format: base64 both ways.
    let b64 = base64::engine::general_purpose::STANDARD;
    let (status, h, body) = send(
        addr,
        "POST",
        &[
            ("content-type", "application/grpc-web-text"),
            ("origin", "https://other.test"),
        ],
        b64.encode(&msg).into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "application/grpc-web-text+proto");
    assert_eq!(h["x-seen-content-type"], "application/grpc");
    // The client's Content-Length counted base64 text: not passed on.
    assert_eq!(h["x-seen-content-length"], "false");
    // Not an allowed origin: no CORS grant, only `Vary: Origin`.
    assert!(!h.contains_key("access-control-allow-origin"));
    assert_eq!(h["vary"], "Origin");
    assert_eq!(b64.decode(&body[..]).unwrap(), expected);

    // Preflight: answered by wharf, the server is not called.
    let before = calls.load(Ordering::SeqCst);
    let (status, h, body) = send(
        addr,
        "OPTIONS",
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-grpc-web,x-user-agent",
            ),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(h["access-control-allow-origin"], "https://app.test");
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(
        h["access-control-allow-headers"],
        "Content-Type, X-Grpc-Web, X-User-Agent"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(calls.load(Ordering::SeqCst), before);
}
