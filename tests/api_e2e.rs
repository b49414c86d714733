//! The API against the real binary: golden JSON for a fixed file configuration (refresh with
//! `WHARF_UPDATE_GOLDEN=1` and review the diff), live updates (a router added to the watched
//! file shows in the API, the change log and the SSE stream), explain, readiness, bad input,
//! cross-site refusal, secrets, `api@internal` behind a router, and a differential comparison of
//! the shared endpoints against Traefik itself (skipped when `traefik` is not installed).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{get, poll, write_atomic, Wharf};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DYN: &str = r#"
http:
  routers:
    whoami:
      rule: "Host(`a.example.com`) && PathPrefix(`/x`)"
      service: whoami
      entryPoints: [web]
      middlewares: [strip]
    catchall:
      rule: "PathPrefix(`/`)"
      service: whoami
      entryPoints: [web]
    broken:
      rule: "Host(`b.example.com`"
      service: whoami
      entryPoints: [web]
    nosvc:
      rule: "Host(`c.example.com`)"
      service: missing
    dash:
      rule: "Host(`admin.example.com`)"
      service: api@internal
      entryPoints: [web]
  services:
    whoami:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:1
    wsvc:
      weighted:
        services:
          - name: whoami
            weight: 1
  middlewares:
    strip:
      stripPrefix:
        prefixes: ["/x"]
    auth:
      basicAuth:
        users: ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]
"#;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/api")
}

/// Replaces values that change from run to run.
fn normalize(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match k.as_str() {
                        "startDate" | "time" => *x = json!("<time>"),
                        "generation" => *x = json!("<generation>"),
                        _ => walk(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn check_golden(name: &str, actual: &Value) {
    let path = golden_dir().join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
    if std::env::var_os("WHARF_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {} (run with WHARF_UPDATE_GOLDEN=1)",
            path.display()
        )
    });
    assert_eq!(
        text,
        want,
        "{name} differs from {} (WHARF_UPDATE_GOLDEN=1 refreshes it)",
        path.display()
    );
}

async fn api(addr: SocketAddr, path: &str) -> (u16, Value, Option<String>) {
    let r = get(addr, "localhost", path).await.expect("api answers");
    let v = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body));
    (r.status, v, r.header("x-next-page").map(str::to_string))
}

/// One request with a method and headers; returns the status.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn start(dir: &Path, extra: &[&str]) -> (Wharf, SocketAddr, SocketAddr) {
    let file = dir.join("dyn.yml");
    let file_arg = format!("--providers.file.filename={}", file.display());
    let mut args = vec![
        "--api.insecure=true",
        "--entryPoints.web.address=127.0.0.1:0",
        "--entryPoints.traefik.address=127.0.0.1:0",
        "--providers.file.watch=true",
        "--providers.providersThrottleDuration=10ms",
        file_arg.as_str(),
    ];
    args.extend_from_slice(extra);
    let mut w = Wharf::start(&args);
    let api = w.address("traefik");
    let web = w.address("web");
    (w, api, web)
}

async fn wait_ready(addr: SocketAddr) {
    poll("api ready", || async {
        let r = get(addr, "localhost", "/api/ready").await.ok()?;
        (r.status == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn golden_endpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_atomic(dir.path(), "dyn.yml", DYN);
    let (_w, addr, _) = start(dir.path(), &[]);
    wait_ready(addr).await;
    for (name, path) in [
        ("version", "/api/version"),
        ("overview", "/api/overview"),
        ("entrypoints", "/api/entrypoints"),
        ("entrypoint_web", "/api/entrypoints/web"),
        ("routers", "/api/http/routers"),
        ("router_whoami", "/api/http/routers/whoami@file"),
        ("routers_search", "/api/http/routers?search=WHO"),
        ("routers_disabled", "/api/http/routers?status=disabled"),
        (
            "routers_by_service",
            "/api/http/routers?serviceName=whoami@file",
        ),
        (
            "routers_by_middleware",
            "/api/http/routers?middlewareName=strip@file",
        ),
        ("routers_page2", "/api/http/routers?per_page=2&page=2"),
        ("services", "/api/http/services"),
        ("service_whoami", "/api/http/services/whoami@file"),
        ("middlewares", "/api/http/middlewares"),
        ("rawdata", "/api/rawdata"),
        (
            "explain",
            "/api/explain?url=http://a.example.com/x/y&method=GET",
        ),
        (
            "explain_fallthrough",
            "/api/explain?url=http://b.example.com/z&entryPoint=web",
        ),
    ] {
        let (status, v, next) = api(addr, path).await;
        assert_eq!(status, 200, "{path}: {v}");
        let v = match next {
            Some(n) => json!({"xNextPage": n, "body": v}),
            None => v,
        };
        check_golden(name, &normalize(v));
    }
    // Unknown names and bad pages: Traefik's JSON errors.
    for (path, status, msg) in [
        (
            "/api/http/routers/nope@file",
            404,
            "router not found: nope@file",
        ),
        ("/api/http/services/nope", 404, "service not found: nope"),
        (
            "/api/http/middlewares/nope",
            404,
            "middleware not found: nope",
        ),
        ("/api/entrypoints/nope", 404, "entry point not found: nope"),
        (
            "/api/http/routers?per_page=2&page=9",
            400,
            "invalid request: page: 9, per_page: 2",
        ),
        (
            "/api/http/routers?per_page=x",
            400,
            "invalid request: page: 1, per_page: 0",
        ),
    ] {
        let (s, v, _) = api(addr, path).await;
        assert_eq!((s, v["message"].as_str()), (status, Some(msg)), "{path}");
    }
}

#[tokio::test]
async fn secrets_bad_input_cross_site_and_internal_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_atomic(dir.path(), "dyn.yml", DYN);
    let (_w, addr, web) = start(dir.path(), &[]);
    wait_ready(addr).await;

    // No password hash anywhere.
    for path in [
        "/api/http/middlewares",
        "/api/rawdata",
        "/api/http/middlewares/auth@file",
    ] {
        let r = get(addr, "localhost", path).await.expect("api");
        assert!(
            !r.body.contains("$apr1$"),
            "{path} leaks a hash: {}",
            r.body
        );
        assert!(r.body.contains("test:[redacted]"), "{path}: {}", r.body);
    }

    // Hostile and malformed explain queries are 400s with a message.
    let huge = format!("/api/explain?url=http://a/{}", "x".repeat(20_000));
    for path in [
        "/api/explain",
        "/api/explain?url=%zz",
        "/api/explain?url=http://a/&method=B%20AD",
        "/api/explain?url=http://a/&header=NoColon",
        "/api/explain?url=http://a/&header=Bad%20Name:v",
        "/api/explain?url=http://a/&entryPoint=nope",
        "/api/explain?url=http://a/&clientIp=999.1.1.1",
        huge.as_str(),
    ] {
        let r = get(addr, "localhost", path).await.expect("api");
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).expect("json error");
        assert!(v["message"].is_string(), "{path}: {v}");
    }

    // State-changing requests from another site are refused; same-origin gets 405 (read-only).
    assert_eq!(
        request(
            addr,
            "POST",
            "/api/version",
            &[("Origin", "http://evil.example")]
        )
        .await,
        403
    );
    assert_eq!(
        request(
            addr,
            "DELETE",
            "/api/http/routers/x",
            &[("Sec-Fetch-Site", "cross-site")]
        )
        .await,
        403
    );
    let origin = format!("http://{addr}");
    assert_eq!(
        request(
            addr,
            "POST",
            "/api/version",
            &[
                ("Origin", origin.as_str()),
                ("Sec-Fetch-Site", "same-origin")
            ]
        )
        .await,
        405
    );

    // `/` redirects to the dashboard, which is served with a strict CSP.
    let r = get(addr, "localhost", "/").await.expect("root");
    assert_eq!((r.status, r.header("location")), (301, Some("/dashboard/")));
    let r = get(addr, "localhost", "/dashboard/")
        .await
        .expect("dashboard");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("app.js"));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("script-src 'self'")));
    let r = get(addr, "localhost", "/dashboard/app.js")
        .await
        .expect("js");
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.contains("javascript")));

    // A router on `web` that names api@internal serves the API there.
    let r = get(web, "admin.example.com", "/api/version")
        .await
        .expect("internal");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"Version\""), "{}", r.body);
    let r = get(web, "localhost", "/api/version")
        .await
        .expect("catchall");
    assert_ne!(
        r.status, 200,
        "without the router's host the API is not on web"
    );
}

#[tokio::test]
async fn live_updates_events_and_sse() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_atomic(dir.path(), "dyn.yml", DYN);
    let (_w, addr, _) = start(dir.path(), &[]);
    wait_ready(addr).await;
    let (_, ready, _) = api(addr, "/api/ready").await;
    assert_eq!(ready["providers"]["file"], "ready");
    let (_, ov, _) = api(addr, "/api/overview").await;
    let g0 = ov["wharf"]["generation"].as_u64().expect("generation");

    // SSE: the first event is the current generation.
    let mut sse = tokio::net::TcpStream::connect(addr).await.expect("sse");
    sse.write_all(b"GET /api/sse HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("sse req");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let want0 = format!("\"generation\":{g0}");
    while !seen.contains(&want0) {
        let n = tokio::time::timeout(common::DEADLINE, sse.read(&mut buf))
            .await
            .expect("sse event in time")
            .expect("sse read");
        assert!(n > 0, "sse closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");

    // Add a router and change the servers: the API, the change log and SSE follow.
    let changed = DYN
        .replace("          - url: http://127.0.0.1:1\n", "          - url: http://127.0.0.1:2\n")
        .replace(
            "\n  services:\n",
            "\n    added:\n      rule: \"Host(`new.example.com`)\"\n      service: whoami\n  services:\n",
        );
    write_atomic(dir.path(), "dyn.yml", &changed);
    let router = poll("router added@file in the API", || async {
        let (s, v, _) = api(addr, "/api/http/routers/added@file").await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(router["status"], "enabled");
    let (_, ev, _) = api(addr, "/api/events?limit=1").await;
    let changes = ev["events"][0]["changes"]
        .as_array()
        .expect("changes")
        .clone();
    let find = |kind: &str, name: &str, change: &str| {
        changes
            .iter()
            .find(|c| c["kind"] == kind && c["name"] == name && c["change"] == change)
            .cloned()
    };
    assert!(find("router", "added@file", "added").is_some(), "{ev}");
    let svc = find("service", "whoami@file", "changed").expect("service change");
    assert_eq!(
        svc["detail"],
        "servers changed: +http://127.0.0.1:2 -http://127.0.0.1:1"
    );
    let g1 = ev["events"][0]["generation"].as_u64().expect("generation");
    assert!(g1 > g0);
    let want1 = format!("\"generation\":{g1}");
    while !seen.contains(&want1) {
        let n = tokio::time::timeout(common::DEADLINE, sse.read(&mut buf))
            .await
            .expect("sse event for the new generation")
            .expect("sse read");
        assert!(n > 0, "sse closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }

    // Breaking a router shows it disabled with its error, in the API and the change log.
    write_atomic(
        dir.path(),
        "dyn.yml",
        &changed.replace("Host(`new.example.com`)", "Host(`new.example.com`"),
    );
    let router = poll("added@file disabled", || async {
        let (_, v, _) = api(addr, "/api/http/routers/added@file").await;
        (v["status"] == "disabled").then_some(v)
    })
    .await;
    assert!(router["error"][0]
        .as_str()
        .is_some_and(|e| e.contains("invalid rule")));
    let (_, ev, _) = api(addr, "/api/events?limit=1").await;
    assert!(
        ev["events"][0]["changes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "added@file"
                && c["change"] == "status"
                && c["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("enabled → disabled")))),
        "{ev}"
    );
}

#[tokio::test]
async fn certificates_from_the_file_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["a.example.com".into(), "*.b.example.com".into()])
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a.example.com");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(dir.path().join("c.pem"), cert.pem()).expect("cert file");
    std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).expect("key file");
    // A TLS router whose host the certificate covers (through its wildcard).
    let dynamic = DYN.replacen(
        "\n  services:\n",
        "\n    tlsr:\n      rule: \"Host(`x.b.example.com`)\"\n      service: whoami\n      tls: {}\n  services:\n",
        1,
    );
    let cfg = format!(
        "{dynamic}tls:\n  certificates:\n    - certFile: {0}/c.pem\n      keyFile: {0}/k.pem\n    - certFile: {0}/missing.pem\n      keyFile: {0}/k.pem\n",
        dir.path().display()
    );
    write_atomic(dir.path(), "dyn.yml", &cfg);
    let (_w, addr, _) = start(dir.path(), &[]);
    wait_ready(addr).await;
    let (s, certs, next) = api(addr, "/api/certificates").await;
    assert_eq!((s, next.as_deref()), (200, Some("1")));
    let list = certs.as_array().expect("list");
    assert_eq!(list.len(), 2, "{certs}");
    let good = list
        .iter()
        .find(|c| c["commonName"] == "a.example.com")
        .expect("parsed certificate");
    assert_eq!(good["sans"], json!(["*.b.example.com", "a.example.com"]));
    assert_eq!(good["keyType"], "ECDSA");
    assert_eq!(good["signatureAlgorithm"], "ECDSA-SHA256");
    assert_eq!(good["name"], good["certFingerprint"]);
    assert_eq!(good["id"], good["name"]);
    assert_eq!(good["provider"], "file");
    assert_eq!(good["routers"], json!(["tlsr@file"]));
    assert_eq!(good["domains"], json!(["a.example.com", "*.b.example.com"]));
    assert_eq!(good["issuer"], "CN=a.example.com");
    assert_eq!(good["renewable"], false);
    assert!(good["notAfter"].as_str().is_some_and(|t| t.ends_with('Z')));
    // One certificate by id; an unknown id is a JSON 404.
    let name = good["name"].as_str().expect("name").to_string();
    let (s, one, _) = api(addr, &format!("/api/certificates/{name}")).await;
    assert_eq!((s, &one["commonName"]), (200, &json!("a.example.com")));
    let (s, nf, _) = api(addr, "/api/certificates/nope").await;
    assert_eq!(s, 404);
    assert!(nf["message"].is_string());
    // Forced renewal is off unless `api.allowCertificateRenewal` is set.
    let origin = format!("http://{addr}");
    assert_eq!(
        request(
            addr,
            "POST",
            &format!("/api/certificates/{name}/renew"),
            &[
                ("Content-Type", "application/json"),
                ("Origin", origin.as_str())
            ]
        )
        .await,
        403
    );
    assert!(list.iter().any(|c| c["status"] == "disabled"));
    let all = serde_json::to_string(&certs).expect("json");
    assert!(!all.contains("PRIVATE KEY"));
    let (_, ov, _) = api(addr, "/api/overview").await;
    assert_eq!(ov["certificates"]["total"], 2);
    assert_eq!(ov["certificates"]["errors"], 1);
}

/// Fields compared between wharf and Traefik for an item of `kind`.
fn shared(kind: &str, v: &Value) -> Value {
    let keep: &[&str] = match kind {
        "routers" => &[
            "name",
            "provider",
            "status",
            "rule",
            "service",
            "middlewares",
            "using",
            "entryPoints",
            "priority",
        ],
        "services" => &[
            "name",
            "provider",
            "status",
            "type",
            "usedBy",
            "serverStatus",
        ],
        _ => &[
            "name",
            "provider",
            "status",
            "type",
            "usedBy",
            "stripPrefix",
        ],
    };
    let mut out = serde_json::Map::new();
    for k in keep {
        if let Some(x) = v.get(*k) {
            out.insert(k.to_string(), x.clone());
        }
    }
    // Both report errors; their wording differs.
    out.insert("hasError".into(), json!(v.get("error").is_some()));
    Value::Object(out)
}

#[tokio::test]
async fn differential_against_traefik() {
    let Ok(out) = Command::new("traefik").arg("version").output() else {
        eprintln!("traefik is not installed (scripts/install-test-deps); skipping");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    // Traefik has no `api@internal` on `web` without its own API router; leave `dash` out.
    let cfg = DYN.replace(
        "    dash:\n      rule: \"Host(`admin.example.com`)\"\n      service: api@internal\n      entryPoints: [web]\n",
        "",
    );
    write_atomic(dir.path(), "dyn.yml", &cfg);
    let (_w, addr, _) = start(dir.path(), &[]);
    wait_ready(addr).await;

    let (tp_api, tp_web) = (common::free_port(), common::free_port());
    let mut traefik = Command::new("traefik")
        .args([
            "--api.insecure=true".to_string(),
            format!("--entryPoints.web.address=127.0.0.1:{tp_web}"),
            format!("--entryPoints.traefik.address=127.0.0.1:{tp_api}"),
            format!(
                "--providers.file.filename={}",
                dir.path().join("dyn.yml").display()
            ),
            "--log.level=ERROR".to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("traefik starts");
    let taddr: SocketAddr = format!("127.0.0.1:{tp_api}").parse().expect("addr");
    poll("traefik's routers", || async {
        let r = get(taddr, "localhost", "/api/http/routers").await.ok()?;
        r.body.contains("whoami@file").then_some(())
    })
    .await;

    let file_items = |v: &Value| -> Vec<Value> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["provider"] == "file")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut diffs = Vec::new();
    for kind in ["routers", "services", "middlewares"] {
        let path = format!("/api/http/{kind}");
        let (_, ours, _) = api(addr, &path).await;
        let (_, theirs, _) = api(taddr, &path).await;
        let ours: Vec<Value> = file_items(&ours).iter().map(|x| shared(kind, x)).collect();
        let theirs: Vec<Value> = file_items(&theirs)
            .iter()
            .map(|x| shared(kind, x))
            .collect();
        if ours != theirs {
            diffs.push(format!(
                "{kind}:\n wharf:   {}\n traefik: {}",
                serde_json::to_string(&ours).unwrap_or_default(),
                serde_json::to_string(&theirs).unwrap_or_default()
            ));
        }
        for name in ["whoami@file", "strip@file"] {
            let p = format!("{path}/{name}");
            let (s1, a, _) = api(addr, &p).await;
            let (s2, b, _) = api(taddr, &p).await;
            assert_eq!(s1, s2, "{p}");
            if s1 == 200 {
                assert_eq!(shared(kind, &a), shared(kind, &b), "{p}");
            }
        }
    }
    // Filters select the same items.
    for q in [
        "search=who",
        "status=disabled",
        "serviceName=whoami@file",
        "middlewareName=strip@file",
    ] {
        let p = format!("/api/http/routers?{q}");
        let names = |v: &Value| -> Vec<String> {
            file_items(v)
                .iter()
                .filter_map(|x| x["name"].as_str().map(str::to_string))
                .collect()
        };
        let (_, a, _) = api(addr, &p).await;
        let (_, b, _) = api(taddr, &p).await;
        assert_eq!(names(&a), names(&b), "{p}");
    }
    // Error shapes.
    for p in [
        "/api/http/routers/nope",
        "/api/http/routers?per_page=1&page=99",
    ] {
        let (s1, a, _) = api(addr, p).await;
        let (s2, b, _) = api(taddr, p).await;
        assert_eq!((s1, &a["message"]), (s2, &b["message"]), "{p}");
    }
    // The overview's http counts agree once Traefik's own extra internals are left out
    // (noop@internal and the dashboard's two internal middlewares; see the report).
    let (_, a, _) = api(addr, "/api/overview").await;
    let (_, b, _) = api(taddr, "/api/overview").await;
    assert_eq!(a["http"]["routers"], b["http"]["routers"]);
    assert_eq!(a["providers"], b["providers"]);
    let _ = traefik.kill();
    let _ = traefik.wait();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
