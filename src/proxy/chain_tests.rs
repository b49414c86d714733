//! End-to-end tests of the middleware chain: a dynamic config (YAML, as the file provider reads
//! it) → compile → the entry point's proxy → a real backend that reports what it received.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use wharf_providers::DynamicConfig;

use super::tests::{raw, settings, start_with};
use super::*;
use crate::body::BoxError;
use crate::compile::{compile, CompileInput, CompileSettings, FileContents, Registries};
use crate::snapshot::Snapshot;

const DEADLINE: Duration = Duration::from_secs(10);

type BackendBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The backend: counts requests per first path segment and answers by path:
/// `/status/N` → status N; `/auth/ok` → 200 with `X-Auth-User: alice` and a `sess` cookie;
/// `/auth/deny` → 403 `denied`; `/truncate` → a head promising 100 bytes, then a broken body;
/// anything else → 200 with the request line and headers, one per line.
struct Backend {
    addr: SocketAddr,
    hits: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    fn hits(&self, segment: &str) -> usize {
        self.hits
            .lock()
            .map(|m| m.get(segment).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

async fn spawn_backend() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let counter = hits.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seg = req
                        .uri()
                        .path()
                        .trim_start_matches('/')
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if let Ok(mut m) = counter.lock() {
                        *m.entry(seg).or_insert(0) += 1;
                    }
                    async move {
                        if req.uri().path() == "/len" {
                            // Reports the body it received: length and byte sum.
                            let b = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let sum: u64 = b.iter().map(|x| u64::from(*x)).sum();
                            return Ok::<_, Infallible>(Response::new(full(format!(
                                "len={} sum={sum}",
                                b.len()
                            ))));
                        }
                        Ok::<_, Infallible>(answer(req))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Backend { addr, hits, task }
}

fn full(s: impl Into<Bytes>) -> BackendBody {
    BodyExt::boxed(Full::new(s.into()).map_err(|e| match e {}))
}

fn answer(req: Request<hyper::body::Incoming>) -> Response<BackendBody> {
    let path = req.uri().path().to_string();
    if path == "/truncate" {
        let stream = futures_util::stream::iter(vec![
            Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(b"hello"))),
            Err::<http_body::Frame<Bytes>, BoxError>("cut".into()),
        ]);
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
        r.headers_mut()
            .insert("content-length", http::HeaderValue::from_static("100"));
        return r;
    }
    if path == "/auth/deny" {
        let mut r = Response::new(full("denied"));
        *r.status_mut() = StatusCode::FORBIDDEN;
        r.headers_mut()
            .insert("x-deny", http::HeaderValue::from_static("yes"));
        return r;
    }
    let mut out = format!("{} {} {:?}\n", req.method(), req.uri(), req.version());
    for (k, v) in req.headers() {
        out.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
    }
    let mut r = Response::new(full(out));
    let h = r.headers_mut();
    h.insert("x-kept", http::HeaderValue::from_static("yes"));
    h.insert("x-dropped", http::HeaderValue::from_static("yes"));
    h.append("set-cookie", http::HeaderValue::from_static("sess=backend"));
    if path == "/auth/ok" {
        h.insert("x-auth-user", http::HeaderValue::from_static("alice"));
        h.insert("x-auth-secret", http::HeaderValue::from_static("s"));
        h.insert("set-cookie", http::HeaderValue::from_static("sess=auth"));
    }
    if let Some(code) = path.strip_prefix("/status/") {
        if let Ok(s) = StatusCode::from_bytes(code.as_bytes()) {
            *r.status_mut() = s;
        }
    }
    r
}

/// A server that accepts connections and closes them at once (a broken backend), counting.
async fn spawn_dead() -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (addr, n, task)
}

/// A server that sends a response head promising 100 bytes, 5 of them, then closes.
async fn spawn_half() -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
                .await;
            let _ = s.flush().await;
            drop(s);
        }
    });
    (addr, n, task)
}

fn compile_yaml(yaml: &str, files: &FileContents, registries: &Registries) -> Snapshot {
    let view: DynamicConfig = serde_norway::from_str(yaml).expect("fixture parses");
    let merged = crate::aggregate::merge(
        &[("file".to_string(), Arc::new(view))],
        &["web".to_string()],
    );
    let settings = CompileSettings {
        entry_points: vec!["web".into()],
        ..Default::default()
    };
    compile(CompileInput {
        config: Arc::new(merged),
        settings: &settings,
        files,
        now: SystemTime::now(),
        registries,
    })
}

/// The routers of these tests: one host per middleware under test.
fn config(backend: SocketAddr, dead: SocketAddr, rate_burst: u32) -> String {
    config_half(backend, dead, dead, rate_burst)
}

fn config_half(backend: SocketAddr, dead: SocketAddr, half: SocketAddr, rate_burst: u32) -> String {
    format!(
        r#"
http:
  services:
    echo: {{loadBalancer: {{servers: [{{url: "http://{backend}"}}]}}}}
    dead: {{loadBalancer: {{servers: [{{url: "http://{dead}"}}]}}}}
    half: {{loadBalancer: {{servers: [{{url: "http://{half}"}}]}}}}
  routers:
    strip: {{rule: "Host(`strip`)", service: echo, middlewares: [strip]}}
    stripslash: {{rule: "Host(`stripslash`)", service: echo, middlewares: [stripslash]}}
    addprefix: {{rule: "Host(`addprefix`)", service: echo, middlewares: [addprefix]}}
    rprnum: {{rule: "Host(`rprnum`)", service: echo, middlewares: [rprnum]}}
    rprbrace: {{rule: "Host(`rprbrace`)", service: echo, middlewares: [rprbrace]}}
    rscheme: {{rule: "Host(`rscheme`)", service: echo, middlewares: [rscheme]}}
    rschemeport: {{rule: "Host(`rschemeport`)", service: echo, middlewares: [rschemeport]}}
    rregex: {{rule: "Host(`rregex`)", service: echo, middlewares: [rregex]}}
    rsame: {{rule: "Host(`rsame`)", service: echo, middlewares: [rsame]}}
    hdr: {{rule: "Host(`hdr`)", service: echo, middlewares: [hdr]}}
    noxff: {{rule: "Host(`noxff`)", service: echo, middlewares: [noxff]}}
    cors: {{rule: "Host(`cors`)", service: echo, middlewares: [cors]}}
    depth: {{rule: "Host(`depth`)", service: echo, middlewares: [depth]}}
    auth: {{rule: "Host(`auth`)", service: echo, middlewares: [auth]}}
    rl: {{rule: "Host(`rl`)", service: echo, middlewares: [rl]}}
    fa: {{rule: "Host(`fa`)", service: echo, middlewares: [fa]}}
    fadeny: {{rule: "Host(`fadeny`)", service: echo, middlewares: [fadeny]}}
    errs: {{rule: "Host(`errs`)", service: echo, middlewares: [errs]}}
    retry: {{rule: "Host(`retry`)", service: dead, middlewares: [retry]}}
    retrylive: {{rule: "Host(`retrylive`)", service: echo, middlewares: [retry]}}
    retryhalf: {{rule: "Host(`retryhalf`)", service: half, middlewares: [retry]}}
    buf: {{rule: "Host(`buf`)", service: echo, middlewares: [buf]}}
    bufresp: {{rule: "Host(`bufresp`)", service: echo, middlewares: [bufresp]}}
    bufdisk: {{rule: "Host(`bufdisk`)", service: echo, middlewares: [bufdisk]}}
    bufretry: {{rule: "Host(`bufretry`)", service: dead, middlewares: [bufretry]}}
    bufcode: {{rule: "Host(`bufcode`)", service: echo, middlewares: [bufcode]}}
    chained: {{rule: "Host(`chained`)", service: echo, middlewares: [both]}}
    broken: {{rule: "Host(`broken`)", service: echo, middlewares: [bad]}}
    cb: {{rule: "Host(`cb`)", service: echo, middlewares: [cb]}}
    ct: {{rule: "Host(`ct`)", service: echo, middlewares: [ct]}}
    plug: {{rule: "Host(`plug`)", service: echo, middlewares: [plug]}}
  middlewares:
    strip: {{stripPrefix: {{prefixes: ["/api"]}}}}
    stripslash: {{stripPrefix: {{prefixes: ["/api/"]}}}}
    addprefix: {{addPrefix: {{prefix: "/v1"}}}}
    rprnum: {{replacePathRegex: {{regex: "^/a/(.*)", replacement: "/b/$1x"}}}}
    rprbrace: {{replacePathRegex: {{regex: "^/a/(.*)", replacement: "/b/${{1}}x"}}}}
    rscheme: {{redirectScheme: {{scheme: https, port: "443"}}}}
    rschemeport: {{redirectScheme: {{scheme: https, port: "8443", permanent: true}}}}
    rregex: {{redirectRegex: {{regex: "^http://rregex/old/(.*)", replacement: "http://rregex/new/${{1}}"}}}}
    rsame: {{redirectRegex: {{regex: "^(.*)$", replacement: "$1"}}}}
    hdr:
      headers:
        customRequestHeaders: {{X-Added: "v", User-Agent: ""}}
        customResponseHeaders: {{X-Dropped: "", X-Resp: "r"}}
    noxff: {{headers: {{customRequestHeaders: {{X-Forwarded-For: ""}}}}}}
    cors:
      headers:
        accessControlAllowOriginList: ["https://o.example"]
        accessControlAllowMethods: ["GET", "PUT"]
        accessControlMaxAge: 100
        addVaryHeader: true
    depth: {{ipAllowList: {{sourceRange: ["10.0.0.1/32"], ipStrategy: {{depth: 2}}}}}}
    auth: {{basicAuth: {{usersFile: "/users", removeHeader: true, headerField: "X-User"}}}}
    rl: {{rateLimit: {{average: 1, period: 1m, burst: {rate_burst}}}}}
    fa:
      forwardAuth:
        address: "http://{backend}/auth/ok"
        authResponseHeaders: ["X-Auth-User"]
        addAuthCookiesToResponse: ["sess"]
    fadeny: {{forwardAuth: {{address: "http://{backend}/auth/deny"}}}}
    errs:
      errors:
        status: ["500-599"]
        statusRewrites: {{"502": 503}}
        service: echo
        query: "/page/{{status}}?o={{originalStatus}}&u={{url}}"
    retry: {{retry: {{attempts: 3}}}}
    buf: {{buffering: {{maxRequestBodyBytes: 10}}}}
    bufresp: {{buffering: {{maxResponseBodyBytes: 10}}}}
    bufdisk: {{buffering: {{memRequestBodyBytes: 16, memResponseBodyBytes: 16, maxRequestBodyBytes: 1000000}}}}
    bufretry: {{buffering: {{retryExpression: "IsNetworkError() && Attempts() <= 2"}}}}
    bufcode: {{buffering: {{retryExpression: "ResponseCode() == 503 && Attempts() < 3"}}}}
    both: {{chain: {{middlewares: [strip, addprefix]}}}}
    ct: {{contentType: {{}}}}
    plug: {{plugin: {{demo: {{x: "1"}}}}}}
    bad: {{replacePathRegex: {{regex: "(", replacement: "/"}}}}
    cb: {{circuitBreaker: {{expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.5", checkPeriod: 1ms, fallbackDuration: 1m}}}}
"#
    )
}

/// `htpasswd -nbm u test` (apr1).
const USERS: &str = "# users\nu:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\n";

fn files() -> FileContents {
    let mut f = FileContents::new();
    f.insert("/users".into(), Ok(Arc::from(USERS.as_bytes())));
    f
}

fn get(host: &str, target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

fn status(resp: &str) -> u16 {
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The request line the backend received.
fn line(resp: &str) -> &str {
    body(resp).lines().next().unwrap_or("")
}

fn seen<'a>(resp: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    body(resp)
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

fn header<'a>(resp: &'a str, name: &str) -> Vec<&'a str> {
    let head = resp.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

struct Env {
    backend: Backend,
    dead_hits: Arc<AtomicUsize>,
    _dead: tokio::task::JoinHandle<()>,
    dead: SocketAddr,
    registries: Registries,
    srv: super::tests::Running,
}

async fn env(trust: bool) -> Env {
    let backend = spawn_backend().await;
    let (dead, dead_hits, dead_task) = spawn_dead().await;
    let registries = Registries::default();
    let snap = compile_yaml(&config(backend.addr, dead, 1), &files(), &registries);
    let mut s = settings();
    s.forwarded_headers.insecure = trust;
    let srv = start_with(s, snap, PreRouteHooks::new()).await;
    Env {
        backend,
        dead_hits,
        _dead: dead_task,
        dead,
        registries,
        srv,
    }
}

#[tokio::test]
async fn path_middlewares() {
    let e = env(false).await;
    let a = e.srv.addr;
    // stripPrefix is a plain string prefix, as Traefik's: `/api` strips `/apiary` to `/ary`.
    let r = raw(a, &get("strip", "/apiary", "")).await;
    assert_eq!(line(&r), "GET /ary HTTP/1.1", "{r}");
    let r = raw(a, &get("strip", "/api", "")).await;
    assert_eq!(line(&r), "GET / HTTP/1.1", "{r}");
    assert_eq!(seen(&r, "x-forwarded-prefix"), ["/api"]);
    let r = raw(a, &get("strip", "/api/x/?q=1", "")).await;
    assert_eq!(line(&r), "GET /x/?q=1 HTTP/1.1", "{r}");
    // A trailing slash in the prefix keeps `/apiary` whole.
    let r = raw(a, &get("stripslash", "/apiary", "")).await;
    assert_eq!(line(&r), "GET /apiary HTTP/1.1", "{r}");
    let r = raw(a, &get("stripslash", "/api/x", "")).await;
    assert_eq!(line(&r), "GET /x HTTP/1.1", "{r}");
    let r = raw(a, &get("addprefix", "/x?y=1", "")).await;
    assert_eq!(line(&r), "GET /v1/x?y=1 HTTP/1.1", "{r}");
    // `$1x` is the (empty) group named `1x`; `${1}x` is group 1 then `x`.
    let r = raw(a, &get("rprnum", "/a/foo", "")).await;
    assert_eq!(line(&r), "GET /b/ HTTP/1.1", "{r}");
    assert_eq!(seen(&r, "x-replaced-path"), ["/a/foo"]);
    let r = raw(a, &get("rprbrace", "/a/foo", "")).await;
    assert_eq!(line(&r), "GET /b/foox HTTP/1.1", "{r}");
    // A chain runs its members in order.
    let r = raw(a, &get("chained", "/api/z", "")).await;
    assert_eq!(line(&r), "GET /v1/z HTTP/1.1", "{r}");
    // A middleware that fails to compile disables its router (404), the rest serve.
    let r = raw(a, &get("broken", "/", "")).await;
    assert_eq!(status(&r), 404, "{r}");
    // contentType: sniffed from the body when the backend sent none; not otherwise.
    let r = raw(a, &get("ct", "/x", "")).await;
    assert_eq!(
        header(&r, "content-type"),
        ["text/plain; charset=utf-8"],
        "{r}"
    );
    assert_eq!(line(&r), "GET /x HTTP/1.1", "{r}");
    let r = raw(a, &get("strip", "/x", "")).await;
    assert!(header(&r, "content-type").is_empty(), "{r}");
    // A plugin middleware is kept and reported, its router disabled.
    let r = raw(a, &get("plug", "/", "")).await;
    assert_eq!(status(&r), 404, "{r}");
    let snap = e.srv.store.load();
    let plug = format!("{:?}", snap.report.middlewares["plug@file"]);
    assert!(plug.contains("not supported yet"), "{plug}");
    let bad = &snap.report.middlewares["bad@file"];
    assert!(bad.is_disabled(), "{bad:?}");
    let router = &snap.report.routers["broken@file"];
    assert!(router.is_disabled(), "{router:?}");
    assert!(format!("{router:?}").contains("bad@file"), "{router:?}");
}

#[tokio::test]
async fn redirects() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(a, &get("rscheme", "/p?q=1", "")).await;
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(header(&r, "location"), ["https://rscheme/p?q=1"]);
    // The port of the request host is replaced by the configured one; permanent: 301 / 308.
    let r = raw(a, &get("rschemeport:8080", "/p", "")).await;
    assert_eq!(status(&r), 301, "{r}");
    assert_eq!(header(&r, "location"), ["https://rschemeport:8443/p"]);
    let r = raw(
        a,
        b"POST /p HTTP/1.1\r\nHost: rschemeport:8080\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&r), 308, "{r}");
    let r = raw(a, &get("rregex", "/old/x?y", "")).await;
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(header(&r, "location"), ["http://rregex/new/x?y"]);
    // A replacement equal to the URL passes through: no redirect loop.
    let r = raw(a, &get("rsame", "/x", "")).await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(line(&r), "GET /x HTTP/1.1");
}

#[tokio::test]
async fn headers_and_cors() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(a, &get("hdr", "/", "User-Agent: curl\r\n")).await;
    assert_eq!(seen(&r, "x-added"), ["v"], "{r}");
    assert!(seen(&r, "user-agent").is_empty(), "{r}");
    assert!(header(&r, "x-dropped").is_empty(), "{r}");
    assert_eq!(header(&r, "x-kept"), ["yes"]);
    assert_eq!(header(&r, "x-resp"), ["r"]);
    assert_eq!(seen(&r, "x-forwarded-for"), ["127.0.0.1"]);
    // `X-Forwarded-For: ""` stops the proxy from adding one.
    let r = raw(a, &get("noxff", "/", "")).await;
    assert!(seen(&r, "x-forwarded-for").is_empty(), "{r}");

    // Preflight: answered by wharf, never forwarded.
    let before = e.backend.hits("");
    let r = raw(
        a,
        b"OPTIONS / HTTP/1.1\r\nHost: cors\r\nOrigin: https://o.example\r\nAccess-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        ["https://o.example"]
    );
    assert_eq!(header(&r, "access-control-allow-methods"), ["GET,PUT"]);
    assert_eq!(header(&r, "access-control-max-age"), ["100"]);
    assert_eq!(e.backend.hits(""), before);
    // Actual request: forwarded, the answer carries the origin and Vary.
    let r = raw(a, &get("cors", "/", "Origin: https://o.example\r\n")).await;
    assert_eq!(line(&r), "GET / HTTP/1.1", "{r}");
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        ["https://o.example"]
    );
    assert!(
        header(&r, "vary").iter().any(|v| v.contains("Origin")),
        "{r}"
    );
    assert_eq!(e.backend.hits(""), before + 1);
}

#[tokio::test]
async fn forwarded_for_depth_depends_on_trust() {
    let xff = "X-Forwarded-For: 10.0.0.1, 1.2.3.4\r\n";
    // Untrusted client: its X-Forwarded-For is dropped, depth 2 finds nothing → 403.
    let e = env(false).await;
    let r = raw(e.srv.addr, &get("depth", "/", xff)).await;
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(body(&r), "Forbidden");
    // Trusted client: the list is kept, the second from the right is 10.0.0.1 → allowed.
    let t = env(true).await;
    let r = raw(t.srv.addr, &get("depth", "/", xff)).await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        seen(&r, "x-forwarded-for"),
        ["10.0.0.1, 1.2.3.4, 127.0.0.1"]
    );
    let r = raw(
        t.srv.addr,
        &get("depth", "/", "X-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n"),
    )
    .await;
    assert_eq!(status(&r), 403, "{r}");
}

#[tokio::test]
async fn basic_auth_from_users_file() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(a, &get("auth", "/", "")).await;
    assert_eq!(status(&r), 401, "{r}");
    assert_eq!(header(&r, "www-authenticate"), ["Basic realm=\"traefik\""]);
    let r = raw(
        a,
        &get("auth", "/", "Authorization: Basic dTp3cm9uZw==\r\n"),
    )
    .await;
    assert_eq!(status(&r), 401, "{r}");
    let r = raw(a, &get("auth", "/", "Authorization: Basic dTp0ZXN0\r\n")).await;
    assert_eq!(status(&r), 200, "{r}");
    assert!(seen(&r, "authorization").is_empty(), "{r}");
    assert_eq!(seen(&r, "x-user"), ["u"]);
}

#[tokio::test]
async fn rate_limit_buckets_survive_an_unchanged_swap() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(a, &get("rl", "/", "")).await;
    assert_eq!(status(&r), 200, "{r}");
    let r = raw(a, &get("rl", "/", "")).await;
    assert_eq!(status(&r), 429, "{r}");
    assert!(!header(&r, "retry-after").is_empty(), "{r}");
    // Same config compiled again with the same registries: the bucket is still empty.
    let same = compile_yaml(&config(e.backend.addr, e.dead, 1), &files(), &e.registries);
    e.srv.store.store(Arc::new(same));
    let r = raw(a, &get("rl", "/", "")).await;
    assert_eq!(status(&r), 429, "{r}");
    // A changed spec resets it.
    let changed = compile_yaml(&config(e.backend.addr, e.dead, 2), &files(), &e.registries);
    e.srv.store.store(Arc::new(changed));
    let r = raw(a, &get("rl", "/", "")).await;
    assert_eq!(status(&r), 200, "{r}");
}

#[tokio::test]
async fn forward_auth_copies_headers_both_ways() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(
        a,
        &get("fa", "/app?x=1", "X-Auth-User: mallory\r\nCookie: c=1\r\n"),
    )
    .await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(line(&r), "GET /app?x=1 HTTP/1.1");
    // authResponseHeaders replace the client's value; other auth headers stay out.
    assert_eq!(seen(&r, "x-auth-user"), ["alice"], "{r}");
    assert!(seen(&r, "x-auth-secret").is_empty(), "{r}");
    // addAuthCookiesToResponse: the auth server's `sess` replaces the backend's.
    assert_eq!(header(&r, "set-cookie"), ["sess=auth"], "{r}");
    assert_eq!(e.backend.hits("auth"), 1);
    // A refusal goes to the client as the auth server wrote it; the service is not called.
    let before = e.backend.hits("");
    let r = raw(a, &get("fadeny", "/", "")).await;
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(body(&r), "denied");
    assert_eq!(header(&r, "x-deny"), ["yes"]);
    assert_eq!(e.backend.hits(""), before);
}

#[tokio::test]
async fn error_pages_keep_the_original_status() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(a, &get("errs", "/status/500", "")).await;
    assert_eq!(status(&r), 500, "{r}");
    assert_eq!(line(&r), "GET /page/500?o=500&u=%2Fstatus%2F500 HTTP/1.1");
    // statusRewrites: the client gets 503, the page knows the original 502.
    let r = raw(a, &get("errs", "/status/502", "")).await;
    assert_eq!(status(&r), 503, "{r}");
    assert_eq!(line(&r), "GET /page/503?o=502&u=%2Fstatus%2F502 HTTP/1.1");
    let r = raw(a, &get("errs", "/status/404", "")).await;
    assert_eq!(status(&r), 404, "{r}");
    assert!(line(&r).starts_with("GET /status/404"), "{r}");
}

#[tokio::test]
async fn retry_only_before_the_response_started() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(a, &get("retry", "/", "")).await;
    assert_eq!(status(&r), 502, "{r}");
    assert_eq!(e.dead_hits.load(Ordering::SeqCst), 3);
    // Not idempotent: one try.
    let r = raw(
        a,
        b"POST / HTTP/1.1\r\nHost: retry\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert_eq!(status(&r), 502, "{r}");
    assert_eq!(e.dead_hits.load(Ordering::SeqCst), 4);
    // The head reached the client, then the body broke: never retried.
    let (half, half_hits, _half_task) = spawn_half().await;
    let snap = compile_yaml(
        &config_half(e.backend.addr, e.dead, half, 1),
        &files(),
        &e.registries,
    );
    e.srv.store.store(Arc::new(snap));
    let r = raw(a, &get("retryhalf", "/", "")).await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(half_hits.load(Ordering::SeqCst), 1);
    // A PUT body is replayed on retries (bounded copy) and reaches a live backend intact.
    let r = raw(
        a,
        b"PUT /x HTTP/1.1\r\nHost: retrylive\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert_eq!(status(&r), 200, "{r}");
}

#[tokio::test]
async fn buffering_refuses_large_bodies() {
    let e = env(false).await;
    let a = e.srv.addr;
    let r = raw(
        a,
        b"POST / HTTP/1.1\r\nHost: buf\r\nContent-Length: 20\r\nConnection: close\r\n\r\n01234567890123456789",
    )
    .await;
    assert_eq!(status(&r), 413, "{r}");
    // Go's wording, as Traefik answers (checked against Traefik 3.7).
    assert!(
        r.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"),
        "{r}"
    );
    assert_eq!(body(&r), "Request Entity Too Large");
    let r = raw(
        a,
        b"POST / HTTP/1.1\r\nHost: buf\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n14\r\n01234567890123456789\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status(&r), 413, "{r}");
    let r = raw(
        a,
        b"POST / HTTP/1.1\r\nHost: buf\r\nContent-Length: 5\r\nConnection: close\r\n\r\n01234",
    )
    .await;
    assert_eq!(status(&r), 200, "{r}");
    // The echo answer is longer than 10 bytes.
    let r = raw(a, &get("bufresp", "/", "")).await;
    assert_eq!(status(&r), 500, "{r}");
}

#[tokio::test]
async fn buffering_spills_to_disk_and_replays_exactly() {
    let e = env(false).await;
    let a = e.srv.addr;
    // 300 kB with a Content-Length, then 200 kB chunked: both far above memRequestBodyBytes
    // (16), so they go through the temporary file; the backend gets every byte, with an exact
    // Content-Length; the answer (above memResponseBodyBytes) is stored and sent the same way.
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = payload.iter().map(|b| u64::from(*b)).sum();
    let mut req =
        b"POST /len HTTP/1.1\r\nHost: bufdisk\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&payload);
    let r = raw(a, &req).await;
    assert_eq!(status(&r), 200, "{}", &r[..r.len().min(300)]);
    assert_eq!(body(&r), format!("len=300000 sum={sum}"));
    assert_eq!(
        header(&r, "content-length"),
        [format!("len=300000 sum={sum}").len().to_string()]
    );
    let mut req =
        b"POST /len HTTP/1.1\r\nHost: bufdisk\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for chunk in payload[..200_000].chunks(50_000) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let sum2: u64 = payload[..200_000].iter().map(|b| u64::from(*b)).sum();
    let r = raw(a, &req).await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(body(&r), format!("len=200000 sum={sum2}"));
    // Over maxRequestBodyBytes (1 MB) while streaming: 413, the backend never called.
    let before = e.backend.hits("len");
    let mut req =
        b"POST /len HTTP/1.1\r\nHost: bufdisk\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..25 {
        req.extend_from_slice(format!("{:x}\r\n", 50_000).as_bytes());
        req.extend_from_slice(&payload[..50_000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = raw(a, &req).await;
    assert_eq!(status(&r), 413, "{r}");
    assert_eq!(e.backend.hits("len"), before);
}

#[tokio::test]
async fn buffering_retry_expression_replays_the_request() {
    let e = env(false).await;
    let a = e.srv.addr;
    // IsNetworkError() && Attempts() <= 2: tries 1 and 2 fail and are retried, try 3 is final.
    // Any method: the body is stored, so a POST is replayed too.
    let r = raw(
        a,
        b"POST / HTTP/1.1\r\nHost: bufretry\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert_eq!(status(&r), 502, "{r}");
    assert_eq!(e.dead_hits.load(Ordering::SeqCst), 3);
    // ResponseCode() == 503 && Attempts() < 3: three calls, the last answer goes to the client.
    let before = e.backend.hits("status");
    let r = raw(a, &get("bufcode", "/status/503", "")).await;
    assert_eq!(status(&r), 503, "{r}");
    assert_eq!(e.backend.hits("status"), before + 3);
    // A 200 is not retried.
    let r = raw(a, &get("bufcode", "/status/200", "")).await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(e.backend.hits("status"), before + 4);
}

#[tokio::test]
async fn circuit_breaker_trips_on_errors() {
    let e = env(false).await;
    let a = e.srv.addr;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let r = raw(a, &get("cb", "/status/500", "")).await;
        if status(&r) == 503 {
            break;
        }
        assert_eq!(status(&r), 500, "{r}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "breaker never tripped"
        );
        tokio::task::yield_now().await;
    }
    // Tripped: the service is not called any more.
    let before = e.backend.hits("status");
    let r = raw(a, &get("cb", "/status/200", "")).await;
    assert_eq!(status(&r), 503, "{r}");
    assert_eq!(e.backend.hits("status"), before);
}
