use super::*;

#[test]
fn rfc3339_formats_utc() {
    assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_secs(1_798_915_915), "2027-01-02T18:51:55Z");
    assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn redact_hides_secrets_and_keeps_user_names() {
    let v = json!({
        "basicAuth": {"users": ["test:$apr1$abc", "nohash"], "realm": "r"},
        "jwt": {"signingSecret": "s3cr3t", "forwardHeaders": {"X-User": "sub"}},
        "tls": {"key": "-----BEGIN PRIVATE KEY-----\nabc", "caOptional": true},
    });
    let r = views::redact(v);
    let text = r.to_string();
    assert!(
        !text.contains("$apr1$") && !text.contains("s3cr3t") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    assert_eq!(r["basicAuth"]["users"][0], "test:[redacted]");
    assert_eq!(r["basicAuth"]["realm"], "r");
    assert_eq!(r["jwt"]["forwardHeaders"]["X-User"], "sub");
}

#[test]
fn an_event_lists_problems_first_and_counts_what_it_leaves_out() {
    let change = |i: usize, status: &'static str| Change {
        kind: "router",
        name: format!("r{i}@file"),
        provider: "file".into(),
        change: "added",
        detail: String::new(),
        status,
    };
    let n = super::events::MAX_CHANGES + 100;
    // The disabled router comes last in diff order; it must still be listed.
    let mut changes: Vec<Change> = (0..n - 1).map(|i| change(i, "enabled")).collect();
    changes.push(change(n - 1, "disabled"));
    let e = Event::new(7, String::new(), changes);
    assert_eq!(e.changes.len(), super::events::MAX_CHANGES);
    assert_eq!(e.omitted, 100);
    assert_eq!(e.changes[0].name, format!("r{}@file", n - 1));
    assert_eq!(e.changes[1].name, "r0@file");
    let few = Event::new(8, String::new(), vec![change(1, "enabled")]);
    assert_eq!((few.changes.len(), few.omitted), (1, 0));
}

#[test]
fn event_log_is_bounded_and_newest_first() {
    let log = EventLog::new(3);
    for g in 1..=5 {
        log.push(Event::new(g, String::new(), Vec::new()));
    }
    let gens: Vec<u64> = log.snapshot().iter().map(|e| e.generation).collect();
    assert_eq!(gens, vec![5, 4, 3]);
    let v = log.to_json("since=3&limit=5");
    assert_eq!(v["events"].as_array().map(Vec::len), Some(2));
}

#[test]
fn readiness_waits_for_every_provider_and_a_compile() {
    use wharf_providers::provider::channel;
    let store = SnapshotStore::new();
    let (tx_file, file) = channel("file");
    let (tx_docker, docker) = channel("docker");
    let cfg = StaticConfig {
        api: Some(Default::default()),
        ..Default::default()
    };
    let api = Api::from_config(&cfg, &store, &[file, docker]).expect("api");
    assert!(!api.ready_state().0);
    tx_file.publish(Default::default());
    assert!(!api.ready_state().0, "docker has not reported");
    tx_docker.fail("engine down");
    assert!(!api.ready_state().0, "the file view is not compiled yet");
    store.store(crate::snapshot::Snapshot::default());
    let (ready, detail) = api.ready_state();
    assert!(ready, "{detail}");
    assert_eq!(detail["providers"]["docker"], "error: engine down");
}

#[test]
fn cross_site_requests_are_refused() {
    let req = |m: Method, h: &[(&str, &str)]| {
        let mut b = Request::builder()
            .method(m)
            .uri("/api/version")
            .header("host", "h:8080");
        for (k, v) in h {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).expect("request")
    };
    assert!(refuse_cross_site(&req(Method::GET, &[("origin", "http://evil")])).is_none());
    assert!(refuse_cross_site(&req(Method::POST, &[("origin", "http://evil")])).is_some());
    assert!(refuse_cross_site(&req(Method::POST, &[("sec-fetch-site", "same-site")])).is_some());
    assert!(refuse_cross_site(&req(Method::POST, &[("origin", "http://h:8080")])).is_none());
}

#[test]
fn forced_renewal_is_opt_in_same_origin_and_not_a_simple_request() {
    let post = |h: &[(&str, &str)]| {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/api/certificates/le:a.test/renew")
            .header("host", "h:8080");
        for (k, v) in h {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).expect("request")
    };
    let status = |api: &Api, h: &[(&str, &str)]| api.handle_api(&post(h)).status();
    let json = ("content-type", "application/json");
    // Off by default.
    let off = Api::for_store(SnapshotStore::new(), &["web"], true);
    assert_eq!(status(&off, &[json]), StatusCode::FORBIDDEN);
    let on = Api::for_store(SnapshotStore::new(), &["web"], true).with_renewal(true);
    // A form-like request (no JSON type, no custom header) is refused.
    assert_eq!(status(&on, &[]), StatusCode::FORBIDDEN);
    assert_eq!(
        status(&on, &[("content-type", "text/plain")]),
        StatusCode::FORBIDDEN
    );
    // Cross-site is refused before anything else.
    assert_eq!(
        status(&on, &[json, ("sec-fetch-site", "cross-site")]),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&on, &[json, ("origin", "http://evil.test")]),
        StatusCode::FORBIDDEN
    );
    // Same-origin and JSON: reaches the ACME runtime (none here: unknown certificate).
    assert_eq!(
        status(&on, &[json, ("origin", "http://h:8080")]),
        StatusCode::NOT_FOUND
    );
    on.set_acme(Default::default(), Default::default());
    assert_eq!(
        status(&on, &[("x-requested-with", "fetch")]),
        StatusCode::NOT_FOUND
    );
    // Other POSTs stay 405.
    let other = Request::builder()
        .method(Method::POST)
        .uri("/api/version")
        .body(Body::empty())
        .expect("request");
    assert_eq!(
        on.handle_api(&other).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}
