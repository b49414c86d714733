//! grpcWeb against Traefik: the same gRPC-shaped h2c server behind both proxies, the same
//! gRPC-Web requests (binary, text, preflight, a disallowed origin, a plain request); status,
//! the CORS and content headers and the body bytes (messages and trailer frame) must agree.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};

use crate::harness::*;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// h2c server: echoes the message (`echo:` + payload) with `grpc-status`/`grpc-message`
/// trailers; `/empty.Svc/None` answers with no trailers at all.
async fn grpc_server() -> SocketAddr {
    serve_h2c(|req: http::Request<hyper::body::Incoming>| async move {
        let no_trailers = req.uri().path() == "/empty.Svc/None";
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(body.get(5..).unwrap_or_default());
        let mut frames = vec![Ok::<_, std::convert::Infallible>(http_body::Frame::data(
            Bytes::from(frame(&reply)),
        ))];
        if !no_trailers {
            let mut t = http::HeaderMap::new();
            t.insert("grpc-status", http::HeaderValue::from_static("0"));
            t.insert("grpc-message", http::HeaderValue::from_static("fine"));
            frames.push(Ok(http_body::Frame::trailers(t)));
        }
        let mut r =
            http::Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/grpc+proto"),
        );
        Ok::<_, std::convert::Infallible>(r)
    })
    .await
}

/// One request: name, method, path, headers, body.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
);

/// What must agree: status, chosen headers (Expose-Headers as a set: Go lists a map), body.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    exposed: BTreeSet<String>,
    body: Vec<u8>,
}

const COMPARED: &[&str] = &[
    "content-type",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "vary",
    "trailer",
    "grpc-status",
];

async fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Seen, String> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "grpc.test");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let request: http::Request<BoxBody> = b.body(Full::new(Bytes::from(body)).boxed()).unwrap();
    let resp = send_http1(port, request).await?;
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    let mut headers = Vec::new();
    for name in COMPARED {
        for v in h.get_all(*name) {
            headers.push((name.to_string(), v.to_str().unwrap_or("?").to_string()));
        }
    }
    let exposed = h
        .get_all("access-control-expose-headers")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        // Date and the like are the proxies' own; compare the names both must expose.
        .filter(|s| !matches!(s.as_str(), "Date" | "Content-Length" | "Transfer-Encoding"))
        .collect();
    Ok(Seen {
        status,
        headers,
        exposed,
        body,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_matches_traefik() {
    if std::env::var("WHARF_COMPAT_SKIP").is_ok() {
        eprintln!("WHARF_COMPAT_SKIP set: differential tests skipped");
        return;
    }
    assert!(traefik_bin().is_some(), "the traefik binary is needed");
    let server = grpc_server().await;
    let a = echo_backend("a").await;
    let cfg = format!(
        r#"http:
  routers:
    probe:
      rule: "Path(`/__probe`)"
      service: a
      priority: 1000000
    grpc:
      rule: "Host(`grpc.test`)"
      service: grpc
      middlewares: [web]
  middlewares:
    web:
      grpcWeb:
        allowOrigins: ["https://app.test"]
  services:
    a:
      loadBalancer:
        servers:
          - url: "http://{a}"
    grpc:
      loadBalancer:
        servers:
          - url: "h2c://{server}"
"#
    );
    let probe = get("probe.test", "/__probe");
    let traefik = start(Proxy::Traefik, &cfg, &[]).await;
    wait_ready(traefik.port, &probe)
        .await
        .expect("traefik ready");
    let wharf = start(Proxy::Wharf, &cfg, &[]).await;
    wait_ready(wharf.port, &probe).await.expect("wharf ready");

    use base64::Engine as _;
    let msg = frame(b"hello");
    let text = base64::engine::general_purpose::STANDARD
        .encode(&msg)
        .into_bytes();
    let cases: Vec<Case> = vec![
        (
            "binary, allowed origin",
            "POST",
            "/echo.Svc/Say",
            vec![
                ("content-type", "application/grpc-web+proto"),
                ("origin", "https://app.test"),
                ("x-grpc-web", "1"),
            ],
            msg.clone(),
        ),
        (
            "binary, no trailers from the server",
            "POST",
            "/empty.Svc/None",
            vec![("content-type", "application/grpc-web")],
            msg.clone(),
        ),
        (
            "text, other origin",
            "POST",
            "/echo.Svc/Say",
            vec![
                ("content-type", "application/grpc-web-text"),
                ("origin", "https://evil.test"),
            ],
            text,
        ),
        (
            "preflight",
            "OPTIONS",
            "/echo.Svc/Say",
            vec![
                ("origin", "https://app.test"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type,x-grpc-web,x-user-agent",
                ),
            ],
            Vec::new(),
        ),
        (
            "preflight, other origin",
            "OPTIONS",
            "/echo.Svc/Say",
            vec![
                ("origin", "https://evil.test"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-grpc-web"),
            ],
            Vec::new(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, method, path, headers, body) in cases {
        let t = exchange(traefik.port, method, path, &headers, body.clone()).await;
        let w = exchange(wharf.port, method, path, &headers, body).await;
        if t != w {
            failures.push(format!("{name}:\n  traefik: {t:?}\n  wharf:   {w:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
