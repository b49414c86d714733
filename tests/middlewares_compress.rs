//! Black-box: the compress middleware through a real wharf process and a real backend. The
//! backend answers `/body?n=N&...` with N bytes of text (options: `ct` Content-Type, `ce`
//! Content-Encoding, `status`, `stream=1` to send it chunked without a length, in `step`-byte
//! frames) and `/events` with server-sent events that the test releases one by one. Every
//! compressed answer is decoded and compared with what the backend sent.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, Mutex};

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// The text the backend sends: compressible, but not trivially (numbers vary).
fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        let _ = write!(
            out,
            "line {i} of the compress test, value {} ",
            i * 7919 % 1000
        );
        i += 1;
    }
    out.truncate(n);
    out
}

fn query(uri: &hyper::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%20", " ").replace("%3B", ";")))
        .collect()
}

/// Server-sent event streams: each `/events` request takes the next receiver; the test sends
/// one string per event.
type Events = Arc<Mutex<Vec<mpsc::UnboundedReceiver<String>>>>;

async fn backend(events: Events) -> SocketAddr {
    serve_http1(move |req: hyper::Request<hyper::body::Incoming>| {
        let events = events.clone();
        async move { Ok::<_, Infallible>(answer(req, events).await) }
    })
    .await
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    events: Events,
) -> hyper::Response<BoxBody> {
    let q = query(req.uri());
    if req.uri().path() == "/events" {
        let rx = events.lock().await.pop();
        let stream = futures_util::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            let ev = rx.recv().await?;
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(format!("data: {ev}\n\n")))),
                Some(rx),
            ))
        });
        return hyper::Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(BodyExt::boxed(StreamBody::new(stream)))
            .expect("events response");
    }
    let n: usize = q.get("n").and_then(|v| v.parse().ok()).unwrap_or(0);
    let status: u16 = q.get("status").and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut b = hyper::Response::builder().status(status);
    if let Some(ct) = q.get("ct") {
        b = b.header("content-type", ct.as_str());
    }
    if let Some(ce) = q.get("ce") {
        b = b.header("content-encoding", ce.as_str());
    }
    if let Some(cr) = q.get("cr") {
        b = b.header("content-range", cr.as_str());
    }
    b = b.header("accept-ranges", "bytes");
    let body = Bytes::from(text(n));
    if status == 204 || status == 304 {
        return b.body(BodyExt::boxed(Empty::new())).expect("response");
    }
    let body: BoxBody = if q.get("stream").map(String::as_str) == Some("1") {
        let step: usize = q
            .get("step")
            .and_then(|v| v.parse().ok())
            .unwrap_or(4096)
            .max(1);
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..n)
            .step_by(step)
            .map(|i| Ok(Frame::data(body.slice(i..(i + step).min(n)))))
            .collect();
        BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
    } else {
        b = b.header("content-length", n.to_string());
        BodyExt::boxed(http_body_util::Full::new(body))
    };
    b.body(body).expect("response")
}

/// One answer as the client saw it: status, headers (lower-case names, all values), body bytes
/// exactly as received (still encoded).
#[derive(Debug)]
struct Got {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

impl Got {
    fn one(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
    fn vary(&self) -> Vec<&str> {
        self.headers
            .get("vary")
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
    /// The body decoded per its Content-Encoding.
    fn decoded(&self) -> Vec<u8> {
        decode(self.one("content-encoding"), &self.body)
    }
}

fn decode(ce: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match ce {
        None => out.extend_from_slice(data),
        Some("gzip") => {
            let mut d = flate2::write::GzDecoder::new(Vec::new());
            d.write_all(data).expect("gzip data");
            out = d.finish().expect("gzip end");
        }
        Some("br") => {
            brotli::BrotliDecompress(&mut &data[..], &mut out).expect("brotli data");
        }
        Some("zstd") => out = zstd::stream::decode_all(data).expect("zstd data"),
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Got {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = sender
        .send_request(b.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let mut hs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in resp.headers() {
        hs.entry(k.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Got {
        status,
        headers: hs,
        body,
    }
}

async fn get(addr: SocketAddr, host: &str, path: &str, ae: Option<&str>) -> Got {
    match ae {
        Some(v) => send(addr, "GET", host, path, &[("accept-encoding", v)]).await,
        None => send(addr, "GET", host, path, &[]).await,
    }
}

struct Env {
    _wharf: Wharf,
    _dir: tempfile::TempDir,
    web: SocketAddr,
    events: Events,
}

async fn env() -> Env {
    let events: Events = Arc::default();
    let be = backend(events.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let routers = [
        ("def", "[def]"),
        ("min", "[min]"),
        ("zs", "[zs]"),
        ("ex", "[ex]"),
        ("inc", "[inc]"),
        ("two", "[def, def]"),
        ("auth", "[def, auth]"),
        ("plain", "[]"),
    ];
    let mut dynamic = String::from("http:\n  routers:\n");
    for (name, mws) in routers {
        dynamic.push_str(&format!(
            "    {name}:\n      rule: \"Host(`{name}.test`)\"\n      service: be\n      middlewares: {mws}\n"
        ));
    }
    dynamic.push_str(&format!(
        r#"  middlewares:
    def:
      compress: {{}}
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
        includedContentTypes: ["application/json"]
    auth:
      basicAuth:
        users: ["u:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g="]
  services:
    be:
      loadBalancer:
        servers:
          - url: "http://{be}"
"#
    ));
    let dyn_path = write_atomic(dir.path(), "dynamic.yml", &dynamic);
    let stat = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: \"{}\"\n",
        dyn_path.display()
    );
    let cfg = write_atomic(dir.path(), "wharf.yml", &stat);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")]);
    let web = w.address("web");
    poll("routes serving", || async {
        let g = tokio::time::timeout(
            Duration::from_secs(2),
            send(web, "GET", "plain.test", "/body?n=3", &[]),
        )
        .await
        .ok()?;
        (g.status == 200).then_some(())
    })
    .await;
    Env {
        _wharf: w,
        _dir: dir,
        web,
        events,
    }
}

fn assert_plain(g: &Got, n: usize, what: &str) {
    assert_eq!(g.status, 200, "{what}");
    assert_eq!(g.one("content-encoding"), None, "{what}: not compressed");
    assert_eq!(g.body, text(n), "{what}: body as sent");
}

fn assert_compressed(g: &Got, enc: &str, n: usize, what: &str) {
    assert_eq!(g.one("content-encoding"), Some(enc), "{what}: {g:?}");
    assert_eq!(g.vary(), vec!["Accept-Encoding"], "{what}");
    assert_eq!(
        g.one("content-length"),
        None,
        "{what}: length of the original removed"
    );
    assert_eq!(
        g.one("accept-ranges"),
        None,
        "{what}: ranges of the original removed"
    );
    assert!(
        g.body.len() < n,
        "{what}: {} encoded bytes for {n}",
        g.body.len()
    );
    assert_eq!(g.decoded(), text(n), "{what}: decodes to the original");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_end_to_end() {
    let e = env().await;
    let web = e.web;

    // Every coding, known and unknown length, small and large frames: decodes to the original.
    for enc in ["gzip", "br", "zstd"] {
        for (path, n) in [
            ("/body?n=20000&ct=text/html", 20_000),
            ("/body?n=300000&ct=text/html&stream=1&step=1000", 300_000),
            ("/body?n=2000000&stream=1&step=65536", 2_000_000),
        ] {
            let g = get(web, "def.test", path, Some(enc)).await;
            assert_compressed(&g, enc, n, &format!("{enc} {path}"));
        }
    }

    // Threshold: 1024 by default, by Content-Length or by reading a body of unknown length.
    assert_plain(
        &get(web, "def.test", "/body?n=1023&ct=text/html", Some("gzip")).await,
        1023,
        "1023",
    );
    let g = get(web, "def.test", "/body?n=1023&ct=text/html", Some("gzip")).await;
    assert_eq!(g.one("content-length"), Some("1023"));
    assert_eq!(
        g.vary(),
        vec!["Accept-Encoding"],
        "Vary even when not compressed"
    );
    assert_compressed(
        &get(web, "def.test", "/body?n=1024&ct=text/html", Some("gzip")).await,
        "gzip",
        1024,
        "1024",
    );
    assert_plain(
        &get(
            web,
            "def.test",
            "/body?n=1000&stream=1&step=100",
            Some("br"),
        )
        .await,
        1000,
        "unknown length below",
    );
    assert_compressed(
        &get(
            web,
            "def.test",
            "/body?n=1100&stream=1&step=100",
            Some("br"),
        )
        .await,
        "br",
        1100,
        "unknown length above",
    );
    assert_plain(
        &get(web, "min.test", "/body?n=99", Some("zstd")).await,
        99,
        "min 100: 99",
    );
    assert_compressed(
        &get(web, "min.test", "/body?n=100", Some("zstd")).await,
        "zstd",
        100,
        "min 100: 100",
    );
    assert_plain(
        &get(web, "def.test", "/body?n=0", Some("gzip")).await,
        0,
        "empty",
    );

    // Already encoded: passed through untouched (never compressed twice).
    let g = get(web, "def.test", "/body?n=5000&ce=br", Some("gzip")).await;
    assert_eq!(g.one("content-encoding"), Some("br"));
    assert_eq!(g.body, text(5000));
    assert_eq!(g.vary(), vec!["Accept-Encoding"]);
    // Two compress middlewares in one chain: the inner one compresses, the outer passes.
    assert_compressed(
        &get(web, "two.test", "/body?n=5000", Some("gzip")).await,
        "gzip",
        5000,
        "two compress",
    );

    // Accept-Encoding: q-values, `*`, identity, absent, empty.
    let neg = [
        ("gzip, br, zstd", Some("gzip")),
        ("zstd, br", Some("br")),
        ("gzip;q=0.5, br", Some("br")),
        ("br;q=0, gzip", Some("gzip")),
        ("gzip;q=0", None),
        ("*", Some("gzip")),
        ("*;q=0", None),
        ("identity", None),
        ("identity, gzip;q=0.5", None),
        ("deflate", None),
        ("", None),
    ];
    for (ae, want) in neg {
        let g = get(web, "def.test", "/body?n=4000&ct=text/html", Some(ae)).await;
        assert_eq!(g.one("content-encoding"), want, "Accept-Encoding {ae:?}");
        assert_eq!(g.decoded(), text(4000), "{ae:?}");
        if want.is_none() {
            assert!(g.vary().is_empty(), "no coding negotiated, no Vary: {ae:?}");
        }
    }
    let g = get(web, "def.test", "/body?n=4000", None).await;
    assert_plain(&g, 4000, "no Accept-Encoding");
    assert!(g.vary().is_empty());
    // encodings order and defaultEncoding.
    assert_eq!(
        get(web, "zs.test", "/body?n=4000", Some("gzip, br, zstd"))
            .await
            .one("content-encoding"),
        Some("zstd")
    );
    assert_compressed(
        &get(web, "zs.test", "/body?n=4000", None).await,
        "zstd",
        4000,
        "defaultEncoding",
    );

    // Content types: gRPC and excluded types (media type only, any parameters) stay as they are.
    for ct in [
        "application/grpc",
        "text/event-stream",
        "text/plain",
        "Text/Plain;%20charset=latin1",
    ] {
        let g = get(
            web,
            "ex.test",
            &format!("/body?n=4000&ct={ct}"),
            Some("gzip"),
        )
        .await;
        assert_plain(&g, 4000, ct);
        assert_eq!(g.vary(), vec!["Accept-Encoding"], "{ct}");
    }
    assert_compressed(
        &get(web, "ex.test", "/body?n=4000&ct=text/html", Some("gzip")).await,
        "gzip",
        4000,
        "not excluded",
    );
    assert_compressed(
        &get(
            web,
            "inc.test",
            "/body?n=4000&ct=application/json;%20charset=utf-8",
            Some("br"),
        )
        .await,
        "br",
        4000,
        "included",
    );
    assert_plain(
        &get(web, "inc.test", "/body?n=4000&ct=text/html", Some("br")).await,
        4000,
        "not included",
    );
    assert_plain(
        &get(web, "inc.test", "/body?n=4000", Some("br")).await,
        4000,
        "no type, include list",
    );
    // A request whose own Content-Type is excluded is left alone (Traefik's SSE rule).
    let g = send(
        web,
        "GET",
        "ex.test",
        "/body?n=4000&ct=text/html",
        &[
            ("accept-encoding", "gzip"),
            ("content-type", "text/event-stream"),
        ],
    )
    .await;
    assert_plain(&g, 4000, "excluded request type");
    assert!(g.vary().is_empty());

    // HEAD, bodiless and partial answers.
    let g = send(
        web,
        "HEAD",
        "def.test",
        "/body?n=4000&ct=text/html",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(g.one("content-encoding"), None, "HEAD");
    assert_eq!(g.one("content-length"), Some("4000"), "HEAD");
    assert!(g.vary().is_empty(), "HEAD: left alone");
    for (path, st) in [
        ("/body?n=0&status=204", 204),
        ("/body?n=0&status=304", 304),
        ("/body?n=4000&status=206&cr=bytes%200-3999/9000", 206),
    ] {
        let g = get(web, "def.test", path, Some("gzip")).await;
        assert_eq!(g.status, st);
        assert_eq!(g.one("content-encoding"), None, "{path}");
    }
    assert_compressed(
        &get(web, "def.test", "/body?n=4000&status=404", Some("gzip")).await,
        "gzip",
        4000,
        "404",
    );

    // A filter's own answer passes the compress middleware before it (Vary set; the 401 body
    // here is small, so it stays as it is).
    let g = get(web, "auth.test", "/body?n=10", Some("gzip")).await;
    assert_eq!(g.status, 401);
    assert_eq!(g.vary(), vec!["Accept-Encoding"]);

    // Streaming: each event reaches the client, decodable, before the next one is produced.
    for enc in ["gzip", "br", "zstd"] {
        sse(web, enc, &e.events).await;
    }
}

/// Reads `/events` through wharf with `enc`: the test releases an event, then waits until the
/// client has decoded it, so the compressor must flush at each pause of the backend.
async fn sse(web: SocketAddr, enc: &str, streams: &Events) {
    let (events, rx) = mpsc::unbounded_channel::<String>();
    streams.lock().await.push(rx);
    let stream = tokio::net::TcpStream::connect(web).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    events.send("first".into()).expect("event");
    let req = hyper::Request::get("/events")
        .header("host", "def.test")
        .header("accept-encoding", enc)
        .body(Empty::new())
        .expect("request");
    let resp = tokio::time::timeout(DEADLINE, sender.send_request(req))
        .await
        .expect("answer head in time")
        .expect("answer");
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some(enc),
        "events compressed with {enc}"
    );
    let mut body = resp.into_body();
    let mut dec = Decoder::new(enc);
    for (i, ev) in ["first", "second", "third"].iter().enumerate() {
        if i > 0 {
            events.send((*ev).into()).expect("event");
        }
        let want = format!("data: {ev}\n\n");
        tokio::time::timeout(DEADLINE, async {
            while !String::from_utf8_lossy(dec.out()).contains(&want) {
                let frame = body.frame().await.expect("stream open").expect("frame");
                if let Some(d) = frame.data_ref() {
                    dec.feed(d);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{enc}: event {ev} not delivered while the stream is open"));
    }
}

/// An incremental decoder for the streaming check.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Br(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Decoder {
    fn new(enc: &str) -> Self {
        match enc {
            "gzip" => Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "br" => Decoder::Br(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096))),
            _ => {
                Decoder::Zstd(zstd::stream::write::Decoder::new(Vec::new()).expect("zstd decoder"))
            }
        }
    }
    fn feed(&mut self, d: &[u8]) {
        match self {
            Decoder::Gzip(x) => {
                x.write_all(d).expect("gzip");
                x.flush().expect("gzip flush");
            }
            Decoder::Br(x) => {
                x.write_all(d).expect("br");
                x.flush().expect("br flush");
            }
            Decoder::Zstd(x) => {
                x.write_all(d).expect("zstd");
                x.flush().expect("zstd flush");
            }
        }
    }
    fn out(&mut self) -> &[u8] {
        match self {
            Decoder::Gzip(x) => x.get_ref(),
            Decoder::Br(x) => x.get_ref(),
            Decoder::Zstd(x) => x.get_ref(),
        }
    }
}
