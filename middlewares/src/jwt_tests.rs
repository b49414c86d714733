//! Real tokens signed here with every algorithm; every rejection case; apiKey and per-consumer
//! rate limits at the filter level.

use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{encoding::AsDer, hmac};
use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::{compile, Filter, MiddlewareSpec};

const NOW: u64 = 1_700_000_000;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn signing_input(alg: &str, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut h = json!({"alg": alg, "typ": "JWT"});
    if let Some(k) = kid {
        h["kid"] = json!(k);
    }
    format!(
        "{}.{}",
        b64(h.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

enum Signer {
    Hmac(&'static [u8]),
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn sign(&self, alg: &str, kid: Option<&str>, claims: &serde_json::Value) -> String {
        let input = signing_input(alg, kid, claims);
        let rng = SystemRandom::new();
        let sig: Vec<u8> = match self {
            Signer::Hmac(secret) => {
                let a = match alg {
                    "HS256" => hmac::HMAC_SHA256,
                    "HS384" => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::sign(&hmac::Key::new(a, secret), input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
            Signer::Rsa(k) => {
                let enc: &dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(enc, &rng, input.as_bytes(), &mut out)
                    .expect("rsa sign");
                out
            }
            Signer::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .expect("ec sign")
                .as_ref()
                .to_vec(),
            Signer::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&sig))
    }
}

fn rsa() -> (Signer, String) {
    let k = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa keygen");
    let der = k.public_key().as_der().expect("der");
    let p = pem(der.as_ref());
    (Signer::Rsa(k), p)
}

fn ec(alg: &'static signature::EcdsaSigningAlgorithm) -> (Signer, String) {
    let k = EcdsaKeyPair::generate(alg).expect("ec keygen");
    let der = k.public_key().as_der().expect("der");
    let p = pem(der.as_ref());
    (Signer::Ec(k), p)
}

fn ed() -> (Signer, String) {
    let k = Ed25519KeyPair::generate().expect("ed keygen");
    let der = k.public_key().as_der().expect("der");
    let p = pem(der.as_ref());
    (Signer::Ed(k), p)
}

fn jwt(yaml: &str) -> Jwt {
    let spec: JwtSpec = serde_norway::from_str(yaml).expect("yaml");
    Jwt::compile(&spec, &CompileCtx::default()).expect("compile")
}

fn with_public(pem: &str, extra: &str) -> Jwt {
    let mut spec: JwtSpec =
        serde_norway::from_str(if extra.is_empty() { "{}" } else { extra }).expect("yaml");
    spec.public_key = pem.to_string();
    Jwt::compile(&spec, &CompileCtx::default()).expect("compile")
}

fn good() -> serde_json::Value {
    json!({"sub": "alice", "exp": NOW + 60, "nbf": NOW - 10, "iat": NOW - 10, "iss": "https://idp", "aud": ["api"], "grp": "admin"})
}

fn req(auth: Option<&str>) -> request::Parts {
    let mut b = http::Request::builder().uri("http://example.com/x");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(()).expect("req").into_parts().0
}

#[test]
fn every_algorithm_verifies_and_tampering_fails() {
    let cases: Vec<(&str, Signer, Option<String>)> = {
        let (r, rp) = rsa();
        let (r2, rp2) = rsa();
        let (e256, ep256) = ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
        let (e384, ep384) = ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING);
        let (d, dp) = ed();
        let rs = |s: &str| -> Vec<(String, Signer, Option<String>)> {
            let _ = s;
            vec![]
        };
        let _ = rs;
        vec![
            ("HS256", Signer::Hmac(b"s3cret"), None),
            ("HS384", Signer::Hmac(b"s3cret"), None),
            ("HS512", Signer::Hmac(b"s3cret"), None),
            ("RS256", r, Some(rp.clone())),
            ("PS512", r2, Some(rp2)),
            ("ES256", e256, Some(ep256)),
            ("ES384", e384, Some(ep384)),
            ("EdDSA", d, Some(dp)),
        ]
    };
    for (alg, signer, pem) in &cases {
        let f = match pem {
            None => jwt("signingSecret: s3cret\n"),
            Some(p) => with_public(p, ""),
        };
        let t = signer.sign(alg, None, &good());
        assert!(f.validate(&t, NOW).is_ok(), "{alg} should verify");
        // Tampered payload: signature no longer matches.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = b64(json!({"sub": "mallory", "exp": NOW + 60})
            .to_string()
            .as_bytes());
        parts[1] = &forged;
        assert_eq!(
            f.validate(&parts.join("."), NOW),
            Err(Reject::Signature),
            "{alg}"
        );
    }
}

#[test]
fn all_rsa_variants() {
    let (r, rp) = rsa();
    let f = with_public(&rp, "");
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        assert!(
            f.validate(&r.sign(alg, None, &good()), NOW).is_ok(),
            "{alg}"
        );
    }
}

#[test]
fn time_issuer_audience_and_claims() {
    let s = Signer::Hmac(b"k");
    let f = jwt("signingSecret: k\nissuers: [https://idp]\naudiences: api\nrequiredClaims: [sub]\nleeway: 5s\n");
    let mut c = good();
    assert!(f.validate(&s.sign("HS256", None, &c), NOW).is_ok());
    c["exp"] = json!(NOW - 10);
    assert_eq!(
        f.validate(&s.sign("HS256", None, &c), NOW),
        Err(Reject::Expired)
    );
    c["exp"] = json!(NOW - 3); // within leeway
    assert!(f.validate(&s.sign("HS256", None, &c), NOW).is_ok());
    let mut c = good();
    c["nbf"] = json!(NOW + 100);
    assert_eq!(
        f.validate(&s.sign("HS256", None, &c), NOW),
        Err(Reject::NotYetValid)
    );
    let mut c = good();
    c["iss"] = json!("https://evil");
    assert_eq!(
        f.validate(&s.sign("HS256", None, &c), NOW),
        Err(Reject::Issuer)
    );
    let mut c = good();
    c["aud"] = json!("other");
    assert_eq!(
        f.validate(&s.sign("HS256", None, &c), NOW),
        Err(Reject::Audience)
    );
    let mut c = good();
    c.as_object_mut().map(|o| o.remove("sub"));
    assert_eq!(
        f.validate(&s.sign("HS256", None, &c), NOW),
        Err(Reject::MissingClaim)
    );
    // Wrong secret.
    let other = Signer::Hmac(b"nope");
    assert_eq!(
        f.validate(&other.sign("HS256", None, &good()), NOW),
        Err(Reject::Signature)
    );
}

#[test]
fn alg_none_confusion_garbage_and_size_rejected() {
    let (r, rp) = rsa();
    let f = with_public(&rp, "");
    // alg: none with an empty signature.
    let none = format!("{}.", signing_input("none", None, &good()));
    assert_eq!(f.validate(&none, NOW), Err(Reject::Algorithm));
    // HS256 signed with the RSA public key PEM as the HMAC secret: the classic confusion.
    let secret: &'static [u8] = Box::leak(rp.clone().into_bytes().into_boxed_slice());
    let confused = Signer::Hmac(secret).sign("HS256", None, &good());
    assert_eq!(f.validate(&confused, NOW), Err(Reject::Signature));
    // An RS token against an HMAC-only middleware.
    let h = jwt("signingSecret: k\n");
    assert_eq!(
        h.validate(&r.sign("RS256", None, &good()), NOW),
        Err(Reject::Signature)
    );
    for junk in [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.???.###",
        "eyJhbGciOiJIUzI1NiJ9.e30",
    ] {
        assert!(f.validate(junk, NOW).is_err(), "{junk:?}");
    }
    let big = "a".repeat(MAX_TOKEN + 1);
    assert_eq!(f.validate(&big, NOW), Err(Reject::TooLarge));
}

#[test]
fn jwks_file_with_kids() {
    let (e1, _) = ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
    let Signer::Ec(k1) = &e1 else { return };
    let point = k1.public_key().as_ref();
    let (x, y) = (&point[1..33], &point[33..65]);
    let rk = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let (n, e) = rsa_n_e(rk.public_key().as_ref());
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec1", "x": b64(x), "y": b64(y)},
        {"kty": "RSA", "kid": "rsa1", "n": b64(&n), "e": b64(&e)},
        {"kty": "weird"}
    ]})
    .to_string();
    let files: BTreeMap<String, String> = [("/keys.json".to_string(), jwks)].into();
    let spec: JwtSpec = serde_norway::from_str("jwksFile: /keys.json\n").expect("yaml");
    let ctx = CompileCtx {
        files: &files,
        ..CompileCtx::default()
    };
    let f = Jwt::compile(&spec, &ctx).expect("compile");
    assert!(f
        .validate(&e1.sign("ES256", Some("ec1"), &good()), NOW)
        .is_ok());
    let r = Signer::Rsa(rk);
    assert!(f
        .validate(&r.sign("RS256", Some("rsa1"), &good()), NOW)
        .is_ok());
    // Unknown kid: no key to try.
    assert_eq!(
        f.validate(&e1.sign("ES256", Some("other"), &good()), NOW),
        Err(Reject::Signature)
    );
    // Not loaded → precise error.
    assert!(matches!(
        Jwt::compile(&spec, &CompileCtx::default()),
        Err(SpecError::FileNotLoaded(_))
    ));
}

/// Hands out one JWKS cache (the runtime's fetcher is replaced by `JwksCache::store`).
#[derive(Debug)]
struct OneCache(Arc<crate::jwks::JwksCache>);

impl crate::Backends for OneCache {
    fn jwks(&self, _: &crate::jwks::JwksSource) -> Arc<crate::jwks::JwksCache> {
        self.0.clone()
    }
    fn redis(&self, _: &crate::RedisSpec) -> Result<Arc<dyn crate::SharedStore>, String> {
        Err("no redis here".into())
    }
    fn quota_book(&self) -> Arc<crate::quota::QuotaBook> {
        Arc::new(crate::quota::QuotaBook::default())
    }
}

#[test]
fn jwks_url_cache_refresh_on_unknown_kid() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let spec: JwtSpec = serde_norway::from_str(
        "jwksUrl: http://127.0.0.1:9/jwks\njwksMinRefreshInterval: 1h\njwksRefreshInterval: 2h\n",
    )
    .expect("yaml");
    let source = jwks_source(&spec).expect("source");
    assert_eq!(source.min_refresh, std::time::Duration::from_secs(3600));
    assert_eq!(source.timeout, std::time::Duration::from_secs(5));
    let cache = Arc::new(crate::jwks::JwksCache::new(source));
    let kicks = Arc::new(AtomicUsize::new(0));
    let k = kicks.clone();
    assert!(cache.set_waker(Box::new(move || {
        k.fetch_add(1, Ordering::SeqCst);
    })));
    let backends = OneCache(cache.clone());
    let ctx = CompileCtx {
        backends: Some(&backends),
        ..CompileCtx::default()
    };
    let f = Jwt::compile(&spec, &ctx).expect("compile");
    let rk = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let (n, e) = rsa_n_e(rk.public_key().as_ref());
    let doc = json!({"keys": [{"kty": "RSA", "kid": "k1", "n": b64(&n), "e": b64(&e)}]});
    let r = Signer::Rsa(rk);
    let token = r.sign("RS256", Some("k1"), &good());
    // Nothing loaded yet: wharf cannot judge the token → 503, and a fetch is asked for.
    assert_eq!(f.validate(&token, NOW), Err(Reject::KeysUnavailable));
    assert_eq!(refuse(Reject::KeysUnavailable).status(), 503);
    assert_eq!(kicks.load(Ordering::SeqCst), 1);
    cache.store(parse_jwks(&doc.to_string()).expect("jwks"));
    assert!(f.validate(&token, NOW).is_ok());
    // A rotated key: unknown kid → 401 now; the refresh was asked for less than 1h ago, so
    // no new kick (bounded refresh rate).
    let (n2, e2, r2) = {
        let rk = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let (n, e) = rsa_n_e(rk.public_key().as_ref());
        (n, e, Signer::Rsa(rk))
    };
    let rotated = r2.sign("RS256", Some("k2"), &good());
    assert_eq!(f.validate(&rotated, NOW), Err(Reject::Signature));
    assert_eq!(kicks.load(Ordering::SeqCst), 1, "rate-limited refresh");
    let doc2 = json!({"keys": [{"kty": "RSA", "kid": "k2", "n": b64(&n2), "e": b64(&e2)}]});
    cache.store(parse_jwks(&doc2.to_string()).expect("jwks"));
    assert!(f.validate(&rotated, NOW).is_ok());
    assert_eq!(
        f.validate(&token, NOW),
        Err(Reject::Signature),
        "old key retired"
    );

    // URL rules: https anywhere, http only to loopback.
    for (url, ok) in [
        ("https://idp.example/jwks", true),
        ("http://localhost:8080/jwks", true),
        ("http://[::1]:80/jwks", true),
        ("http://idp.example/jwks", false),
        ("ftp://idp/jwks", false),
        ("idp/jwks", false),
    ] {
        let spec = JwtSpec {
            jwks_url: url.into(),
            ..JwtSpec::default()
        };
        assert_eq!(jwks_source(&spec).is_ok(), ok, "{url}");
    }
    // Without a runtime (wharf check) the spec still compiles.
    let plain: JwtSpec = serde_norway::from_str("jwksUrl: https://idp/jwks\n").expect("yaml");
    assert!(Jwt::compile(&plain, &CompileCtx::default()).is_ok());
}

#[test]
fn claims_expression_groups_headers_and_responses() {
    let s = Signer::Hmac(b"k");
    let f = jwt("signingSecret: k\nclaims: \"Equals(`grp`, `admin`) && !Prefix(`sub`, `bot-`)\"\nforwardHeaders: {X-User: sub, X-Aud: aud}\n");
    let t = s.sign("HS256", None, &good());
    let mut p = req(Some(&format!("Bearer {t}")));
    p.headers
        .insert("x-user", HeaderValue::from_static("spoofed"));
    let mut flow = FlowState::default();
    assert!(matches!(f.check(&mut p, &mut flow, NOW), Action::Continue));
    assert_eq!(p.headers["x-user"], "alice");
    assert_eq!(p.headers["x-aud"], "api");
    assert!(
        p.headers.get("authorization").is_none(),
        "token stripped by default"
    );
    assert_eq!(flow.consumer.as_deref(), Some("alice"));

    let mut c = good();
    c["grp"] = json!("user");
    let mut p = req(Some(&format!("Bearer {}", s.sign("HS256", None, &c))));
    match f.check(&mut p, &mut FlowState::default(), NOW) {
        Action::Respond(r) => assert_eq!(r.status(), StatusCode::FORBIDDEN),
        other => panic!("{other:?}"),
    }
    let mut p = req(None);
    match f.check(&mut p, &mut FlowState::default(), NOW) {
        Action::Respond(r) => {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
        }
        other => panic!("{other:?}"),
    }
    let g =
        jwt("signingSecret: k\nallowedGroups: [ops]\ngroupsClaim: roles\ntokenKey: access_token\n");
    let mut c = good();
    c["roles"] = json!(["dev", "ops"]);
    let uri = format!("http://e/x?access_token={}", s.sign("HS256", None, &c));
    let mut p = http::Request::builder()
        .uri(uri)
        .body(())
        .expect("r")
        .into_parts()
        .0;
    assert!(matches!(
        g.check(&mut p, &mut FlowState::default(), NOW),
        Action::Continue
    ));
    assert!(parse_claims("Nope(`a`)").is_err());
    assert!(parse_claims("Equals(`a`)").is_err());
    assert!(parse_claims("OneOf(`a`, `b`, `c`) || SplitContains(`s`, ` `, `x`)").is_ok());
}

#[test]
fn plugin_spelling_and_registration() {
    let spec: MiddlewareSpec =
        serde_norway::from_str("plugin:\n  jwt:\n    signingSecret: k\n").expect("yaml");
    assert!(matches!(
        compile("a@file", &spec, &CompileCtx::default()),
        Ok(Filter::Jwt(_))
    ));
    let spec: MiddlewareSpec = serde_norway::from_str("jwt:\n  signingSecret: k\n").expect("yaml");
    assert!(matches!(
        compile("a@file", &spec, &CompileCtx::default()),
        Ok(Filter::Jwt(_))
    ));
    let spec: MiddlewareSpec = serde_norway::from_str("jwt: {}\n").expect("yaml");
    assert!(matches!(
        compile("a@file", &spec, &CompileCtx::default()),
        Err(SpecError::Missing(_))
    ));
    let spec: MiddlewareSpec = serde_norway::from_str("plugin:\n  other: {}\n").expect("yaml");
    assert!(matches!(
        compile("a@file", &spec, &CompileCtx::default()),
        Err(SpecError::PluginNotSupported(_))
    ));
}

// ---- apiKey and per-consumer rate limits --------------------------------------------------

fn mw(yaml: &str, files: &BTreeMap<String, String>) -> Filter {
    let spec: MiddlewareSpec = serde_norway::from_str(yaml).expect("yaml");
    let ctx = CompileCtx {
        files,
        ..CompileCtx::default()
    };
    compile("m@file", &spec, &ctx).expect("compile")
}

fn run(f: &Filter, p: &mut request::Parts, flow: &mut FlowState) -> Option<StatusCode> {
    let conn = crate::ConnInfo {
        remote_ip: "10.0.0.1".parse().expect("ip"),
        tls: false,
    };
    match f.on_request(0, p, &conn, flow) {
        Action::Continue => None,
        Action::Respond(r) => Some(r.status()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn api_key_sources_hashes_groups_and_file() {
    // sha256("k-bob")
    let bob_hash = {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(b"k-bob");
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let files: BTreeMap<String, String> = [(
        "/keys.txt".to_string(),
        "# comment\ncarol:k-carol:ops,dev\n".to_string(),
    )]
    .into();
    let yaml = format!(
        "apiKey:\n  keySource: {{header: X-API-Key, query: key, cookie: apikey}}\n  keysFile: /keys.txt\n  consumers:\n    - {{name: alice, keys: [k-alice], groups: [admin]}}\n    - {{name: bob, keys: ['sha256:{bob_hash}']}}\n"
    );
    let f = mw(&yaml, &files);
    let mk = |h: Option<&str>, uri: &str, cookie: Option<&str>| {
        let mut b = http::Request::builder().uri(uri);
        if let Some(h) = h {
            b = b.header("x-api-key", h);
        }
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        b.body(()).expect("r").into_parts().0
    };
    let mut flow = FlowState::default();
    let mut p = mk(Some("k-alice"), "/", None);
    p.headers
        .insert("x-consumer", HeaderValue::from_static("spoof"));
    assert_eq!(run(&f, &mut p, &mut flow), None);
    assert_eq!(p.headers["x-consumer"], "alice");
    assert_eq!(flow.consumer.as_deref(), Some("alice"));
    let mut p = mk(None, "/?a=1&key=k-bob", None);
    assert_eq!(run(&f, &mut p, &mut FlowState::default()), None);
    assert_eq!(p.headers["x-consumer"], "bob");
    let mut p = mk(None, "/", Some("x=1; apikey=k-carol"));
    assert_eq!(run(&f, &mut p, &mut FlowState::default()), None);
    assert_eq!(p.headers["x-consumer"], "carol");
    let mut p = mk(Some("wrong"), "/", None);
    assert_eq!(
        run(&f, &mut p, &mut FlowState::default()),
        Some(StatusCode::UNAUTHORIZED)
    );
    let mut p = mk(None, "/", None);
    assert_eq!(
        run(&f, &mut p, &mut FlowState::default()),
        Some(StatusCode::UNAUTHORIZED)
    );

    let g = mw(&format!("{yaml}  allowedGroups: [ops]\n"), &files);
    let mut p = mk(Some("k-alice"), "/", None);
    assert_eq!(
        run(&g, &mut p, &mut FlowState::default()),
        Some(StatusCode::FORBIDDEN)
    );
    let mut p = mk(Some("k-carol"), "/", None);
    assert_eq!(run(&g, &mut p, &mut FlowState::default()), None);

    // The keys file is a referenced file, so a change recompiles; missing → precise error.
    let spec: MiddlewareSpec = serde_norway::from_str(&yaml).expect("yaml");
    assert_eq!(crate::referenced_files(&spec), vec!["/keys.txt"]);
    assert!(matches!(
        compile("m@file", &spec, &CompileCtx::default()),
        Err(SpecError::FileNotLoaded(_))
    ));
}

#[test]
fn per_consumer_rate_limit_limits_b_not_a() {
    let files = BTreeMap::<String, String>::new();
    let auth = mw(
        "apiKey:\n  consumers:\n    - {name: a, keys: [ka]}\n    - {name: b, keys: [kb]}\n",
        &files,
    );
    let rl = mw(
        "rateLimit:\n  average: 1\n  period: 1m\n  burst: 2\n  sourceCriterion: {consumer: true}\n",
        &files,
    );
    let call = |key: &str| {
        let mut p = http::Request::builder()
            .uri("/")
            .header("x-api-key", key)
            .body(())
            .expect("r")
            .into_parts()
            .0;
        let mut flow = FlowState::default();
        assert_eq!(run(&auth, &mut p, &mut flow), None);
        run(&rl, &mut p, &mut flow)
    };
    assert_eq!(call("kb"), None);
    assert_eq!(call("kb"), None);
    assert_eq!(call("kb"), Some(StatusCode::TOO_MANY_REQUESTS));
    // A has its own bucket.
    assert_eq!(call("ka"), None);
    assert_eq!(call("ka"), None);
}

/// n and e from a DER `RSAPublicKey` (SEQUENCE { INTEGER n, INTEGER e }).
fn rsa_n_e(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(b: &[u8], i: &mut usize) -> Vec<u8> {
        *i += 1; // tag
        let mut len = usize::from(b[*i]);
        *i += 1;
        if len & 0x80 != 0 {
            let n = len & 0x7f;
            len = 0;
            for _ in 0..n {
                len = (len << 8) | usize::from(b[*i]);
                *i += 1;
            }
        }
        let v = b[*i..*i + len].to_vec();
        *i += len;
        v
    }
    let mut i = 0;
    let seq = tlv(der, &mut i);
    let mut j = 0;
    let mut n = tlv(&seq, &mut j);
    let e = tlv(&seq, &mut j);
    while n.first() == Some(&0) {
        n.remove(0);
    }
    (n, e)
}
