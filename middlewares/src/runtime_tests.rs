//! Tests of `compile` dispatch, chain flattening and the chain runner.

use std::collections::BTreeMap;

use super::*;

fn spec(yaml: &str) -> MiddlewareSpec {
    serde_norway::from_str(yaml).expect("yaml")
}

fn build(yaml: &str) -> Result<Filter, SpecError> {
    compile("m@file", &spec(yaml), &CompileCtx::default())
}

const CONN: ConnInfo = ConnInfo {
    remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    tls: false,
};

#[test]
fn compile_dispatches_every_implemented_kind() {
    let cases = [
        "addPrefix: {prefix: /a}",
        "basicAuth: {users: ['u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']}",
        "contentType: {}",
        "digestAuth: {users: ['test:traefik:a2688e031edb4be6a3797f3882655c05']}",
        "encodedCharacters: {allowEncodedSlash: true}",
        "headers: {customRequestHeaders: {X-A: b}}",
        "ipAllowList: {sourceRange: [127.0.0.1]}",
        "ipWhiteList: {sourceRange: [127.0.0.1]}",
        "inFlightReq: {amount: 3}",
        "rateLimit: {average: 10}",
        "redirectRegex: {regex: '^http://a/(.*)', replacement: 'https://a/$1'}",
        "redirectScheme: {scheme: https}",
        "replacePath: {path: /x}",
        "replacePathRegex: {regex: '^/a/(.*)', replacement: '/b/$1'}",
        "stripPrefix: {prefixes: [/a]}",
        "stripPrefixRegex: {regex: ['/a/[0-9]+']}",
    ];
    for c in cases {
        build(c).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
}

#[test]
fn unimplemented_kinds_say_so_after_validation() {
    for (yaml, kind) in [
        ("buffering: {maxRequestBodyBytes: 10}", "buffering"),
        (
            "circuitBreaker: {expression: 'NetworkErrorRatio() > 0.5'}",
            "circuitBreaker",
        ),
        (
            "errors: {status: ['500-599'], service: s, query: '/{status}.html'}",
            "errors",
        ),
        (
            "forwardAuth: {address: 'http://auth/verify'}",
            "forwardAuth",
        ),
        ("grpcWeb: {allowOrigins: ['*']}", "grpcWeb"),
        ("retry: {attempts: 3}", "retry"),
    ] {
        let err = build(yaml).expect_err(yaml);
        assert_eq!(err, SpecError::NotSupportedYet(kind.into()), "{yaml}");
        assert_eq!(
            err.to_string(),
            format!("`{kind}` is not supported yet by wharf")
        );
    }
    // A bad value is reported before "not supported yet".
    let bad = [
        ("compress: {encodings: [lzma]}", "compress.encodings"),
        (
            "compress: {excludedContentTypes: [text/html], includedContentTypes: [text/css]}",
            "compress",
        ),
        (
            "buffering: {maxRequestBodyBytes: -1}",
            "buffering.maxRequestBodyBytes",
        ),
        (
            "buffering: {retryExpression: 'Attempts() <'}",
            "buffering.retryExpression",
        ),
        (
            "circuitBreaker: {expression: 'Nope() > 1'}",
            "circuitBreaker.expression",
        ),
        (
            "circuitBreaker: {expression: 'NetworkErrorRatio() > 1', responseCode: 42}",
            "circuitBreaker.responseCode",
        ),
        ("digestAuth: {users: ['nope']}", "digestAuth.users"),
        ("errors: {status: ['600'], service: s}", "errors.status"),
        ("errors: {status: ['599-500'], service: s}", "errors.status"),
        ("forwardAuth: {address: 'auth:9000'}", "forwardAuth.address"),
        (
            "forwardAuth: {address: 'http://a', authResponseHeadersRegex: '('}",
            "forwardAuth.authResponseHeadersRegex",
        ),
        ("retry: {attempts: -2}", "retry.attempts"),
        (
            "retry: {attempts: 2, initialInterval: -1s}",
            "retry.initialInterval",
        ),
    ];
    for (yaml, field) in bad {
        let err = build(yaml).expect_err(yaml).to_string();
        assert!(err.contains(&format!("`{field}`")), "{yaml}: {err}");
    }
    assert_eq!(
        build("errors: {service: s}").unwrap_err(),
        SpecError::Missing("errors.status")
    );
    assert_eq!(
        build("forwardAuth: {}").unwrap_err(),
        SpecError::Missing("forwardAuth.address")
    );
}

#[test]
fn definition_level_errors() {
    assert_eq!(build("{}").unwrap_err(), SpecError::NoType);
    assert!(matches!(
        build("addPrefix: {prefix: /a}\nheaders: {}").unwrap_err(),
        SpecError::SeveralTypes(_)
    ));
    assert_eq!(
        build("plugin: {demo: {a: 1}}").unwrap_err().to_string(),
        "plugin middlewares are not supported yet (plugin: demo)"
    );
    assert!(build("chain: {middlewares: [a]}")
        .unwrap_err()
        .to_string()
        .contains("expand_chains"));
}

#[test]
fn chains_flatten_and_detect_cycles() {
    let mut all: BTreeMap<String, MiddlewareSpec> = BTreeMap::new();
    all.insert("a@file".into(), spec("addPrefix: {prefix: /a}"));
    all.insert("b@docker".into(), spec("stripPrefix: {prefixes: [/b]}"));
    all.insert(
        "inner@file".into(),
        spec("chain: {middlewares: [a, b@docker]}"),
    );
    all.insert(
        "outer@file".into(),
        spec("chain: {middlewares: [inner, a]}"),
    );
    all.insert("loop1@file".into(), spec("chain: {middlewares: [loop2]}"));
    all.insert(
        "loop2@file".into(),
        spec("chain: {middlewares: [a, loop1]}"),
    );
    all.insert("self@file".into(), spec("chain: {middlewares: [self]}"));
    let lookup = |n: &str| all.get(n);
    assert_eq!(
        expand_chains(&["outer".into(), "b@docker".into()], "file", &lookup).unwrap(),
        ["a@file", "b@docker", "a@file", "b@docker"]
    );
    assert_eq!(
        expand_chains(&["loop1".into()], "file", &lookup)
            .unwrap_err()
            .to_string(),
        "chain cycle: loop1@file -> loop2@file -> loop1@file"
    );
    assert_eq!(
        expand_chains(&["self@file".into()], "docker", &lookup).unwrap_err(),
        SpecError::ChainCycle(vec!["self@file".into(), "self@file".into()])
    );
    assert_eq!(
        expand_chains(&["ghost".into()], "file", &lookup)
            .unwrap_err()
            .to_string(),
        "middleware `ghost@file` does not exist"
    );
}

#[test]
fn referenced_files_lists_users_files() {
    let s = spec("basicAuth: {usersFile: /etc/htpasswd}");
    assert_eq!(referenced_files(&s), ["/etc/htpasswd"]);
    assert!(referenced_files(&spec("addPrefix: {prefix: /a}")).is_empty());
}

fn run(
    chain: &[Filter],
    req: http::Request<()>,
) -> (Option<http::request::Parts>, http::response::Parts) {
    let (mut parts, ()) = req.into_parts();
    let mut flow = FlowState::default();
    let mut start = 0;
    loop {
        match run_request(chain, start, &mut parts, &CONN, &mut flow) {
            ChainOutcome::Forward => {
                let (mut rp, ()) = http::Response::builder()
                    .header("x-backend", "1")
                    .body(())
                    .unwrap()
                    .into_parts();
                run_response(chain, chain.len(), &mut rp, &CONN, &flow);
                return (Some(parts), rp);
            }
            ChainOutcome::Respond { index, response } => {
                let (mut rp, _) = response.into_parts();
                run_response(chain, index, &mut rp, &CONN, &flow);
                return (None, rp);
            }
            ChainOutcome::Delay { index, .. } => start = index + 1,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn chain_runs_in_order_and_responses_pass_back_through_earlier_filters() {
    let chain = [
        build("headers: {customResponseHeaders: {X-Outer: yes}}").unwrap(),
        build("stripPrefix: {prefixes: [/api]}").unwrap(),
        build("addPrefix: {prefix: /v2}").unwrap(),
        build("basicAuth: {users: ['u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']}").unwrap(),
        build("headers: {customResponseHeaders: {X-Inner: yes}}").unwrap(),
    ];
    // Refused by basicAuth: the outer headers filter still decorates the 401; the inner one never ran.
    let (fwd, resp) = run(&chain, http::Request::get("/api/x").body(()).unwrap());
    assert!(fwd.is_none());
    assert_eq!(resp.status, 401);
    assert_eq!(resp.headers["x-outer"], "yes");
    assert!(!resp.headers.contains_key("x-inner"));
    // Accepted: path rewritten in order, both response phases ran.
    let req = http::Request::get("/api/x?q=1")
        .header("authorization", "Basic dTpwYXNzd29yZA==")
        .body(())
        .unwrap();
    let (fwd, resp) = run(&chain, req);
    let fwd = fwd.expect("forwarded");
    assert_eq!(fwd.uri, "/v2/x?q=1");
    assert_eq!(fwd.headers["x-forwarded-prefix"], "/api");
    assert_eq!(
        (
            resp.headers["x-outer"].as_bytes(),
            resp.headers["x-inner"].as_bytes()
        ),
        (&b"yes"[..], &b"yes"[..])
    );
}

#[test]
fn run_request_resumes_from_start() {
    // After a `Delay { index }` the caller resumes at `index + 1`: filters before it do not run again.
    let chain = [
        build("addPrefix: {prefix: /a}").unwrap(),
        build("addPrefix: {prefix: /b}").unwrap(),
    ];
    let (mut parts, ()) = http::Request::get("/x").body(()).unwrap().into_parts();
    let mut flow = FlowState::default();
    assert!(matches!(
        run_request(&chain, 1, &mut parts, &CONN, &mut flow),
        ChainOutcome::Forward
    ));
    assert_eq!(parts.uri, "/b/x");
    assert!(matches!(
        run_request(&chain, 5, &mut parts, &CONN, &mut flow),
        ChainOutcome::Forward
    ));
    assert_eq!(parts.uri, "/b/x");
}

#[test]
fn forward_auth_call_protocol() {
    let s = spec("forwardAuth: {address: 'http://auth/check', authResponseHeaders: [X-User]}");
    assert_eq!(
        compile("fa@file", &s, &CompileCtx::default()).unwrap_err(),
        SpecError::NotSupportedYet("forwardAuth".into()),
        "without proxy support it must not compile to a no-op"
    );
    let ctx = CompileCtx {
        support: ProxySupport {
            forward_auth: true,
            ..ProxySupport::default()
        },
        ..CompileCtx::default()
    };
    let chain = [
        compile("fa@file", &s, &ctx).unwrap(),
        build("addPrefix: {prefix: /p}").unwrap(),
    ];
    let (mut parts, ()) = http::Request::get("/x")
        .header("host", "app")
        .body(())
        .unwrap()
        .into_parts();
    let mut flow = FlowState::default();
    let ChainOutcome::Call { index, request } =
        run_request(&chain, 0, &mut parts, &CONN, &mut flow)
    else {
        panic!("expected a call");
    };
    assert_eq!(
        (index, request.uri.to_string()),
        (0, "http://auth/check".to_string())
    );
    assert_eq!(request.headers["x-forwarded-uri"], "/x");
    // The auth server says yes.
    let (ok, ()) = http::Response::builder()
        .header("x-user", "bob")
        .body(())
        .unwrap()
        .into_parts();
    assert!(matches!(
        chain[index].on_call_response(&ok, bytes::Bytes::new(), &mut parts, &mut flow),
        Action::Continue
    ));
    assert!(matches!(
        run_request(&chain, index + 1, &mut parts, &CONN, &mut flow),
        ChainOutcome::Forward
    ));
    assert_eq!(parts.uri, "/p/x");
    assert_eq!(parts.headers["x-user"], "bob");
    // A filter that never calls answers a stray call response with 500.
    let (no, ()) = http::Response::builder()
        .status(401)
        .body(())
        .unwrap()
        .into_parts();
    match chain[1].on_call_response(&no, bytes::Bytes::new(), &mut parts, &mut flow) {
        Action::Respond(r) => assert_eq!(r.status(), 500),
        other => panic!("{other:?}"),
    }
}

mod hostile_input {
    //! Every filter on arbitrary request targets and header values: no panic, and a path
    //! rewrite always leaves a valid URI.
    use super::*;
    use proptest::prelude::*;

    fn all_filters() -> Vec<Filter> {
        [
            "addPrefix: {prefix: /a}",
            "basicAuth: {users: ['u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']}",
            "digestAuth: {users: ['test:traefik:a2688e031edb4be6a3797f3882655c05']}",
            "encodedCharacters: {}",
            "headers: {customRequestHeaders: {X-A: b}, accessControlAllowOriginList: ['*'], allowedHosts: [a], stsSeconds: 5}",
            "ipAllowList: {sourceRange: [127.0.0.1], ipStrategy: {depth: 3}}",
            "ipAllowList: {sourceRange: [127.0.0.1], ipStrategy: {excludedIPs: [10.0.0.0/8]}}",
            "inFlightReq: {amount: 1000, sourceCriterion: {requestHeaderName: X-K}}",
            "rateLimit: {average: 1000000, burst: 1000000, sourceCriterion: {ipStrategy: {depth: 1, ipv6Subnet: 64}}}",
            "redirectRegex: {regex: '^http://([^/]*)/(.*)', replacement: 'https://$1/$2'}",
            "redirectScheme: {scheme: https, port: '8443'}",
            "replacePath: {path: /x}",
            "replacePathRegex: {regex: '^/(.*)/(.*)', replacement: '/$2/${1}%2'}",
            "stripPrefix: {prefixes: [/a, /]}",
            "stripPrefix: {prefixes: [/a], forceSlash: true}",
            "stripPrefixRegex: {regex: ['/[^/]*']}",
        ]
        .iter()
        .map(|y| build(y).unwrap_or_else(|e| panic!("{y}: {e}")))
        .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn no_panic(path in "/[a-zA-Z0-9%/._~!$&'()*+,;=:@-]{0,40}(\\?[a-z=&%0-9]{0,10})?",
                    header in "[ -~]{0,40}",
                    v6 in any::<bool>()) {
            let filters = all_filters();
            let Ok(req) = http::Request::get(path.as_str())
                .header("host", header.as_str())
                .header("authorization", header.as_str())
                .header("x-forwarded-for", header.as_str())
                .header("origin", header.as_str())
                .header("x-k", header.as_str())
                .body(()) else { return Ok(()) };
            let conn = ConnInfo {
                remote_ip: if v6 { "2001:db8::1".parse().unwrap() } else { "127.0.0.1".parse().unwrap() },
                tls: v6,
            };
            for (i, f) in filters.iter().enumerate() {
                let (mut parts, ()) = http::Request::from_parts(req.clone().into_parts().0, ()).into_parts();
                let mut flow = FlowState::default();
                let _ = f.on_request(i, &mut parts, &conn, &mut flow);
                prop_assert!(parts.uri.path().starts_with('/'));
                let (mut rp, ()) = http::Response::new(()).into_parts();
                f.on_response(i, &mut rp, &conn, &flow);
            }
        }
    }
}

#[test]
fn circuit_breaker_needs_outcomes() {
    let s = spec("circuitBreaker: {expression: 'NetworkErrorRatio() > 0.5', responseCode: 503}");
    assert_eq!(
        compile("cb@file", &s, &CompileCtx::default()).unwrap_err(),
        SpecError::NotSupportedYet("circuitBreaker".into())
    );
    let ctx = CompileCtx {
        support: ProxySupport {
            circuit_breaker: true,
            ..ProxySupport::default()
        },
        ..CompileCtx::default()
    };
    let f = compile("cb@file", &s, &ctx).unwrap();
    let (mut parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
    assert!(matches!(
        f.on_request(0, &mut parts, &CONN, &mut FlowState::default()),
        Action::Continue
    ));
    for _ in 0..3 {
        f.record_outcome(
            http::StatusCode::BAD_GATEWAY,
            std::time::Duration::from_millis(1),
        );
    }
    match f.on_request(0, &mut parts, &CONN, &mut FlowState::default()) {
        Action::Respond(r) => assert_eq!(r.status(), 503),
        other => panic!("expected the fallback, got {other:?}"),
    }
}

#[test]
fn proxy_run_middlewares_compile_when_supported() {
    let all = ProxySupport {
        retry: true,
        errors: true,
        compress: true,
        buffering: true,
        ..ProxySupport::default()
    };
    let ctx = CompileCtx {
        support: all,
        ..CompileCtx::default()
    };
    let retry = compile(
        "r@file",
        &spec("retry: {attempts: 3, initialInterval: 100ms}"),
        &ctx,
    )
    .unwrap();
    assert_eq!(retry.retry_policy().map(RetryPolicy::attempts), Some(3));
    let errors = compile(
        "e@file",
        &spec("errors: {status: ['500-599'], service: s, query: '/{status}'}"),
        &ctx,
    )
    .unwrap();
    assert!(errors.error_pages().is_some_and(|e| e.handles(503)));
    let compress = compile("c@file", &spec("compress: {}"), &ctx).unwrap();
    assert!(compress.compress_policy().is_some());
    let buffering = compile(
        "b@file",
        &spec("buffering: {maxRequestBodyBytes: 10}"),
        &ctx,
    )
    .unwrap();
    assert_eq!(
        buffering
            .buffering_policy()
            .and_then(|b| b.max_request_body_bytes),
        Some(10)
    );
    // Still validated when supported.
    assert!(compile("r@file", &spec("retry: {attempts: 0}"), &ctx).is_err());
    // They never answer in the request phase: the proxy runs them. Compress records the
    // coding it negotiated at its chain position.
    let (mut parts, ()) = http::Request::get("/")
        .header("accept-encoding", "br;q=0.9, gzip;q=0.5")
        .body(())
        .unwrap()
        .into_parts();
    let mut flow = FlowState::default();
    for (i, f) in [&retry, &errors, &compress, &buffering]
        .into_iter()
        .enumerate()
    {
        assert!(matches!(
            f.on_request(i, &mut parts, &CONN, &mut flow),
            Action::Continue
        ));
    }
    assert_eq!(flow.compress_choice(2), Some(crate::compress::Encoding::Br));
    assert_eq!(flow.compress_choice(0), None);
    assert!(matches!(
        compress.on_request(63, &mut parts, &CONN, &mut flow),
        Action::Continue
    ));
    assert_eq!(flow.compress_choice(63).map(|e| e.as_str()), Some("br"));
    assert_eq!(flow.compress_choice(2).map(|e| e.as_str()), Some("br"));
    parts.method = http::Method::HEAD;
    compress.on_request(2, &mut parts, &CONN, &mut flow);
    assert_eq!(flow.compress_choice(2), None, "HEAD: left alone");
    assert_eq!(flow.compress_choice(63).map(|e| e.as_str()), Some("br"));
}
