//! Spec parsing tests: Traefik's key spellings, label-style string values, kind detection.

use super::*;

fn yaml(s: &str) -> MiddlewareSpec {
    serde_norway::from_str(s).expect("valid middleware yaml")
}

#[test]
fn traefik_key_spellings() {
    let m = yaml(
        r#"
ipAllowList:
  sourceRange: ["10.0.0.0/8", "::1"]
  rejectStatusCode: 404
  ipStrategy:
    depth: 2
    excludedIPs: ["1.2.3.4"]
    ipv6Subnet: 64
"#,
    );
    let a = m.ip_allow_list.expect("ipAllowList");
    assert_eq!(a.source_range, vec!["10.0.0.0/8", "::1"]);
    assert_eq!(a.reject_status_code, Some(404));
    let s = a.ip_strategy.expect("ipStrategy");
    assert_eq!(s.depth, 2);
    assert_eq!(s.excluded_ips, vec!["1.2.3.4"]);
    assert_eq!(s.ipv6_subnet, Some(64));

    let m = yaml(
        r#"
headers:
  customRequestHeaders: {X-Script-Name: test, X-Remove: ""}
  accessControlAllowOriginList: ["https://a.example"]
  accessControlAllowOriginListRegex: ["^https://.*\\.example$"]
  stsSeconds: 31536000
  forceSTSHeader: true
  browserXssFilter: true
  customBrowserXSSValue: "0"
  contentSecurityPolicyReportOnly: "default-src 'self'"
"#,
    );
    let h = m.headers.expect("headers");
    assert_eq!(
        h.custom_request_headers.get("X-Remove").map(String::as_str),
        Some("")
    );
    assert_eq!(h.sts_seconds, 31536000);
    assert!(h.force_sts_header && h.browser_xss_filter);
    assert_eq!(h.custom_browser_xss_value, "0");
    assert_eq!(h.access_control_allow_origin_list_regex.len(), 1);

    let m = yaml(
        r#"
passTLSClientCert:
  pem: true
  info:
    notAfter: true
    sans: true
    subject: {commonName: true, organizationalUnit: true, domainComponent: true}
    issuer: {country: true}
"#,
    );
    let p = m.pass_tls_client_cert.expect("passTLSClientCert");
    let info = p.info.expect("info");
    assert!(p.pem && info.not_after && info.sans && !info.not_before);
    let subject = info.subject.expect("subject");
    assert!(subject.common_name && subject.organizational_unit && subject.domain_component);
    assert!(info.issuer.expect("issuer").country);

    let m = yaml(
        r#"
forwardAuth:
  address: http://auth:9000/verify
  trustForwardHeader: true
  authResponseHeaders: [X-User]
  authResponseHeadersRegex: "^X-Auth-"
  authRequestHeaders: [Cookie]
  addAuthCookiesToResponse: [session]
  headerField: X-WebAuth-User
  forwardBody: true
  maxBodySize: 1024
  preserveLocationHeader: true
  preserveRequestMethod: true
  tls: {ca: /ca.pem, insecureSkipVerify: true}
"#,
    );
    let f = m.forward_auth.expect("forwardAuth");
    assert_eq!(f.max_body_size, Some(1024));
    assert!(f.preserve_request_method && f.preserve_location_header && f.forward_body);
    assert!(f.tls.expect("tls").insecure_skip_verify);
}

#[test]
fn label_style_strings_are_accepted() {
    // What a Docker label tree carries: every leaf is a string.
    let m: MiddlewareSpec = serde_json::from_value(serde_json::json!({
        "rateLimit": {"average": "100", "burst": "50", "period": "1m",
                      "sourceCriterion": {"requestHost": "true"}},
    }))
    .expect("rateLimit from strings");
    let r = m.rate_limit.expect("rateLimit");
    assert_eq!((r.average, r.burst), (100, Some(50)));
    assert_eq!(r.period, Some(Duration::from_secs(60)));
    assert!(r.source_criterion.expect("sourceCriterion").request_host);

    let m: MiddlewareSpec = serde_json::from_value(serde_json::json!({
        "stripPrefix": {"prefixes": "/api, /v1", "forceSlash": "false"},
    }))
    .expect("stripPrefix from strings");
    let s = m.strip_prefix.expect("stripPrefix");
    assert_eq!(s.prefixes, vec!["/api", "/v1"]);
    assert_eq!(s.force_slash, Some(false));

    let m: MiddlewareSpec = serde_json::from_value(serde_json::json!({
        "errors": {"status": "500-599", "statusRewrites": {"418": "404"}, "service": "e"},
    }))
    .expect("errors from strings");
    assert_eq!(
        m.errors.expect("errors").status_rewrites.get("418"),
        Some(&404)
    );

    let m: MiddlewareSpec = serde_json::from_value(
        serde_json::json!({"redirectScheme": {"scheme": "https", "port": 443}}),
    )
    .expect("numeric port");
    assert_eq!(m.redirect_scheme.expect("redirectScheme").port, "443");
}

#[test]
fn empty_sections_are_present() {
    for v in [
        serde_json::json!(true),
        serde_json::json!({}),
        serde_json::json!(null),
        serde_json::json!("true"),
    ] {
        let m: MiddlewareSpec =
            serde_json::from_value(serde_json::json!({ "compress": v })).expect("compress");
        assert_eq!(m.compress, Some(CompressSpec::default()));
        assert_eq!(m.kind(), Ok(MiddlewareKind::Compress));
    }
    let m = yaml("contentType: {}\n");
    assert_eq!(m.kind(), Ok(MiddlewareKind::ContentType));
    let m = yaml("ipAllowList:\n  sourceRange: [1.2.3.4]\n  ipStrategy: {}\n");
    assert_eq!(
        m.ip_allow_list.expect("ipAllowList").ip_strategy,
        Some(IpStrategySpec::default())
    );
}

#[test]
fn kind_requires_exactly_one_type() {
    assert_eq!(MiddlewareSpec::default().kind(), Err(SpecError::NoType));
    let m = yaml("addPrefix: {prefix: /a}\nstripPrefix: {prefixes: [/b]}\n");
    let err = m.kind().expect_err("two types");
    assert_eq!(
        err,
        SpecError::SeveralTypes(vec!["addPrefix", "stripPrefix"])
    );
    assert_eq!(
        err.to_string(),
        "two middleware types in one definition: addPrefix, stripPrefix; declare one per middleware"
    );
    assert_eq!(
        yaml("ipWhiteList: {sourceRange: [1.2.3.4]}\n").kind(),
        Ok(MiddlewareKind::IpWhiteList)
    );
    assert_eq!(
        yaml("plugin: {jwt: {secret: x}}\n").kind(),
        Ok(MiddlewareKind::Jwt)
    );
    assert_eq!(
        yaml("plugin: {demo: {secret: x}}\n").kind(),
        Ok(MiddlewareKind::Plugin)
    );
}

#[test]
fn round_trips_and_schema() {
    let m = yaml(
        "rateLimit:\n  average: 5\n  period: 10s\n  sourceCriterion:\n    ipStrategy:\n      excludedIPs: [10.0.0.1]\n",
    );
    let json = serde_json::to_value(&m).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({"rateLimit": {"average": 5, "period": "10s",
            "sourceCriterion": {"ipStrategy": {"excludedIPs": ["10.0.0.1"]}}}})
    );
    let back: MiddlewareSpec = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, m);

    let schema = serde_json::to_string(&schemars::schema_for!(MiddlewareSpec)).expect("schema");
    for key in [
        "passTLSClientCert",
        "ipWhiteList",
        "excludedIPs",
        "ipv6Subnet",
        "forceSTSHeader",
        "customBrowserXSSValue",
        "allowEncodedBackSlash",
        "statusRewrites",
        "maxBodySize",
    ] {
        assert!(schema.contains(&format!("\"{key}\"")), "schema lacks {key}");
    }
}

#[test]
fn schema_keeps_field_types_despite_lenient_parsing() {
    let schema = serde_json::to_value(schemars::schema_for!(RateLimitSpec)).expect("schema");
    let props = &schema["properties"];
    assert_eq!(props["average"]["type"], "integer", "{props}");
    assert_eq!(
        props["sourceCriterion"]["anyOf"][0]["$ref"]
            .as_str()
            .map(|s| s.contains("SourceCriterion")),
        Some(true),
        "{props}"
    );
    let schema = serde_json::to_value(schemars::schema_for!(StripPrefixSpec)).expect("schema");
    assert_eq!(
        schema["properties"]["prefixes"]["type"], "array",
        "{schema}"
    );
}

#[test]
fn unknown_type_keys_are_named() {
    let m = yaml("stripprefix: {prefixes: [/a]}\n");
    let e = m.kind().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown middleware type `stripprefix` (did you mean `stripPrefix`?)"
    );
    let e = yaml("redirectSchem: {scheme: https}\n").kind().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown middleware type `redirectSchem` (did you mean `redirectScheme`?)"
    );
    let e = yaml("oauth2Proxy: {secret: x}\n").kind().unwrap_err();
    assert_eq!(e.to_string(), "unknown middleware type `oauth2Proxy`");
    // Known types still round-trip without the catch-all showing up.
    let m = yaml("addPrefix: {prefix: /a}\n");
    assert!(m.unknown.is_empty());
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        serde_json::json!({"addPrefix": {"prefix": "/a"}})
    );
}
