//! Black-box API-gateway tests against the real binary: `jwt.jwksUrl` with a JWKS server in the
//! test that rotates keys (and turns slow, down, junk), `quota` counts that survive a restart
//! through the state file, and two wharf processes sharing one Redis budget (a real
//! `redis-server` started here), then Redis killed mid-test (failOpen policies, no hang).

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::Engine as _;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// (n, e) of a DER `RSAPublicKey`.
fn rsa_n_e(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(b: &[u8], i: &mut usize) -> Vec<u8> {
        *i += 1;
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

struct RsaKey {
    kid: String,
    pair: RsaKeyPair,
}

impl RsaKey {
    fn new(kid: &str) -> Self {
        RsaKey {
            kid: kid.into(),
            pair: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key"),
        }
    }
    fn jwk(&self) -> serde_json::Value {
        let (n, e) = rsa_n_e(self.pair.public_key().as_ref());
        serde_json::json!({"kty": "RSA", "kid": self.kid, "use": "sig", "n": b64(&n), "e": b64(&e)})
    }
    fn token(&self, sub: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let head = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let claims = serde_json::json!({"sub": sub, "exp": now + 3600, "iat": now});
        let input = format!(
            "{}.{}",
            b64(head.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("sign");
        format!("{input}.{}", b64(&sig))
    }
}

/// What the test JWKS server answers.
#[derive(Clone)]
enum Mode {
    Keys(String),
    Junk,
    Down,
    Slow,
}

struct JwksServer {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(doc: String) -> Self {
        use http_body_util::Full;
        use hyper::body::Bytes;
        let mode = Arc::new(Mutex::new(Mode::Keys(doc)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (m, f) = (mode.clone(), fetches.clone());
        let addr = serve_http1(move |_req| {
            let (m, f) = (m.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let mode = m.lock().expect("mode").clone();
                let (status, body) = match mode {
                    Mode::Keys(doc) => (200, doc),
                    Mode::Junk => (200, "{\"keys\": 42, <<<".to_string()),
                    Mode::Down => (500, "boom".to_string()),
                    Mode::Slow => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        (200, String::new())
                    }
                };
                let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                resp.headers_mut().insert(
                    "cache-control",
                    hyper::header::HeaderValue::from_static("public, max-age=3600"),
                );
                Ok::<_, std::convert::Infallible>(resp)
            }
        })
        .await;
        JwksServer {
            addr,
            mode,
            fetches,
        }
    }
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwks(keys: &[&RsaKey]) -> String {
    serde_json::json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

async fn bearer(addr: SocketAddr, host: &str, token: &str) -> Resp {
    get_with(
        addr,
        host,
        "/",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await
    .expect("request")
}

fn start_wharf(dir: &std::path::Path, dynamic: &str, extra_static: &str) -> Wharf {
    write_atomic(dir, "dynamic.yml", dynamic);
    let text = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n  traefik:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: \"{}\"\nlog:\n  level: INFO\n{extra_static}",
        dir.join("dynamic.yml").display()
    );
    let cfg = write_atomic(dir, "wharf.yml", &text);
    Wharf::start(&["--configFile", cfg.to_str().expect("utf8 path")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_rotates_keys_and_survives_a_bad_endpoint() {
    let k1 = RsaKey::new("k1");
    let k2 = RsaKey::new("k2");
    let server = JwksServer::start(jwks(&[&k1])).await;
    let backend = echo_backend("api").await;
    let dead = free_port();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dynamic = format!(
        "http:\n  routers:\n    api:\n      rule: \"Host(`api.test`)\"\n      service: s\n      middlewares: [auth]\n    nokeys:\n      rule: \"Host(`nokeys.test`)\"\n      service: s\n      middlewares: [dead]\n  middlewares:\n    auth:\n      jwt:\n        jwksUrl: \"http://{}/jwks\"\n        jwksMinRefreshInterval: 1s\n        forwardHeaders: {{X-User: sub}}\n    dead:\n      jwt:\n        jwksUrl: \"http://127.0.0.1:{dead}/jwks\"\n        jwksTimeout: 1s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n",
        server.addr
    );
    let mut w = start_wharf(tmp.path(), &dynamic, "");
    let web = w.address("web");

    // Keys arrive in the background; a k1 token then passes with its claim forwarded.
    let t1 = k1.token("alice");
    poll("k1 token accepted", || async {
        let r = bearer(web, "api.test", &t1).await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(server.fetches(), 1, "one fetch; max-age keeps it");

    // Rotation: the issuer now signs with k2. The unknown kid asks for a refresh; once it
    // lands (at most one per jwksMinRefreshInterval), k2 tokens pass.
    server.set(Mode::Keys(jwks(&[&k2])));
    let t2 = k2.token("bob");
    poll("k2 token accepted after the refresh", || async {
        (bearer(web, "api.test", &t2).await.status == 200).then_some(())
    })
    .await;
    assert_eq!(bearer(web, "api.test", &t1).await.status, 401, "k1 retired");
    let after_rotation = server.fetches();
    assert!(after_rotation >= 2, "refreshed on the unknown kid");

    // A storm of unknown kids: the refresh rate is bounded (at most one fetch per second).
    let k3 = RsaKey::new("k3");
    let t3 = k3.token("mallory");
    let started = Instant::now();
    for _ in 0..40 {
        let r = bearer(web, "api.test", &t3).await;
        assert_eq!(r.status, 401);
        assert!(r.header("www-authenticate").is_some());
    }
    let secs = started.elapsed().as_secs() as usize;
    let extra = server.fetches() - after_rotation;
    assert!(
        extra <= secs + 2,
        "{extra} fetches in {secs} s for 40 unknown-kid requests"
    );

    // A junk, then a failing, then a hanging endpoint: the keys at hand keep serving.
    for mode in [Mode::Junk, Mode::Down, Mode::Slow] {
        server.set(mode);
        let before = server.fetches();
        poll("a refresh attempt reaches the bad endpoint", || async {
            let _ = bearer(web, "api.test", &t3).await; // unknown kid → refresh request
            (server.fetches() > before).then_some(())
        })
        .await;
        let r = bearer(web, "api.test", &t2).await;
        assert_eq!(r.status, 200, "current keys still verify");
    }

    // A JWKS that never loaded: 503 (wharf cannot judge the token), answered at once.
    let r = bearer(web, "nokeys.test", &t2).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    // Garbage and oversized tokens: 401, never a crash.
    for junk in ["x.y.z", "....", &"A".repeat(20_000)] {
        assert_eq!(bearer(web, "api.test", junk).await.status, 401);
    }
    assert!(w.log().contains("jwks: fetch failed"), "{}", w.log());
    w.sigterm();
    assert_eq!(w.wait_exit(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_counts_survive_a_restart() {
    let backend = echo_backend("api").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("quotas.json");
    let dynamic = format!(
        "http:\n  routers:\n    api:\n      rule: \"Host(`api.test`)\"\n      service: s\n      middlewares: [daily]\n  middlewares:\n    daily:\n      quota:\n        limit: 3\n        period: day\n        sourceCriterion:\n          requestHeaderName: X-User\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"
    );
    let extra = format!(
        "quotas:\n  stateFile: \"{}\"\n  flushInterval: 100ms\n",
        state.display()
    );
    let user = |u: &'static str| [("X-User", u)];
    let mut w = start_wharf(tmp.path(), &dynamic, &extra);
    let web = w.address("web");
    let r = poll("quota router serving", || async {
        get_with(web, "api.test", "/", &user("alice"))
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("2"));
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("reset");
    assert!((1..=86_400).contains(&reset), "{reset}");
    let r = get_with(web, "api.test", "/", &user("alice"))
        .await
        .expect("req");
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
    // Stop: the final flush writes the counters.
    w.sigterm();
    assert_eq!(w.wait_exit(), Some(0));
    let saved = std::fs::read_to_string(&state).expect("state file written");
    assert!(saved.contains("t:alice"), "{saved}");

    let mut w = start_wharf(tmp.path(), &dynamic, &extra);
    let web = w.address("web");
    let r = poll("restarted", || async {
        get_with(web, "api.test", "/", &user("alice"))
            .await
            .ok()
            .filter(|r| r.status != 404)
    })
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"), "count kept");
    let r = get_with(web, "api.test", "/", &user("alice"))
        .await
        .expect("req");
    assert_eq!(r.status, 429);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=86_400).contains(&retry));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let r = get_with(web, "api.test", "/", &user("bob"))
        .await
        .expect("req");
    assert_eq!(r.status, 200, "bob has his own budget");
    // Periodic flush (no shutdown): bob's count reaches the file.
    poll("periodic flush", || async {
        std::fs::read_to_string(&state)
            .ok()
            .filter(|s| s.contains("t:bob"))
    })
    .await;
}

/// A real `redis-server` on a free loopback port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    async fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/install-test-deps installs it)");
        poll("redis answers PING", || async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()?;
            s.write_all(b"PING\r\n").await.ok()?;
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf).await.ok()?;
            buf[..n].starts_with(b"+PONG").then_some(())
        })
        .await;
        Redis { child, port }
    }
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_wharfs_share_one_redis_budget() {
    let mut redis = Redis::start().await;
    let backend = echo_backend("api").await;
    let rport = redis.port;
    let dynamic = format!(
        "http:\n  routers:\n    rl:\n      rule: \"Host(`rl.test`)\"\n      service: s\n      middlewares: [shared]\n    quota:\n      rule: \"Host(`quota.test`)\"\n      service: s\n      middlewares: [monthly]\n    strict:\n      rule: \"Host(`strict.test`)\"\n      service: s\n      middlewares: [closed]\n  middlewares:\n    shared:\n      rateLimit:\n        average: 20\n        period: 1h\n        burst: 20\n        rateLimitHeaders: true\n        redis:\n          endpoints: [\"127.0.0.1:{rport}\"]\n          readTimeout: 1s\n          dialTimeout: 1s\n    monthly:\n      quota:\n        limit: 15\n        period: month\n        redis:\n          endpoints: [\"127.0.0.1:{rport}\"]\n    closed:\n      rateLimit:\n        average: 1000\n        burst: 1000\n        redis:\n          endpoints: [\"127.0.0.1:{rport}\"]\n          failOpen: false\n          readTimeout: 1s\n          dialTimeout: 1s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"
    );
    let metrics = "metrics:\n  prometheus: {}\n";
    let (ta, tb) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut wa = start_wharf(ta.path(), &dynamic, metrics);
    let mut wb = start_wharf(tb.path(), &dynamic, metrics);
    let (a, b) = (wa.address("web"), wb.address("web"));
    for w in [a, b] {
        poll("strict router serving", || async {
            get_with(w, "strict.test", "/", &[])
                .await
                .ok()
                .filter(|r| r.status == 200)
        })
        .await;
    }

    // 30 requests to each process, concurrently: exactly 20 admitted in total.
    let admitted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for addr in [a, b] {
        let admitted = admitted.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..30 {
                let r = get_with(addr, "rl.test", "/", &[]).await.expect("req");
                if r.status == 200 {
                    admitted.fetch_add(1, Ordering::SeqCst);
                } else {
                    assert_eq!(r.status, 429, "{r:?}");
                    assert!(r.header("retry-after").is_some());
                    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
                }
                statuses.push(r.status);
            }
            statuses
        }));
    }
    let mut per_process = Vec::new();
    for t in tasks {
        let s = t.await.expect("task");
        per_process.push(s.iter().filter(|c| **c == 200).count());
    }
    assert_eq!(
        admitted.load(Ordering::SeqCst),
        20,
        "per process: {per_process:?}"
    );

    // Quota in Redis: 15 a month across both.
    let mut ok = 0;
    for i in 0..24 {
        let addr = if i % 2 == 0 { a } else { b };
        let r = get_with(addr, "quota.test", "/", &[]).await.expect("req");
        if r.status == 200 {
            ok += 1;
            assert_eq!(
                r.header("x-ratelimit-remaining"),
                Some((15 - ok).to_string().as_str())
            );
        } else {
            assert_eq!(r.status, 429);
        }
    }
    assert_eq!(ok, 15);

    // Redis dies: failOpen (default true) admits, failOpen false answers 503; neither hangs.
    redis.kill();
    let started = Instant::now();
    let r = get_with(a, "quota.test", "/", &[]).await.expect("req");
    assert_eq!(r.status, 200, "failOpen: admitted");
    let r = get_with(b, "strict.test", "/", &[]).await.expect("req");
    assert_eq!(r.status, 503, "failOpen false");
    assert!(started.elapsed() < DEADLINE);
    // Counted in the metrics and logged, per policy.
    let count = |text: &str, policy: &str| -> u64 {
        let needle = format!("wharf_redis_failures_total{{policy=\"{policy}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(needle.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let ma = get_with(wa.address("traefik"), "localhost", "/metrics", &[])
        .await
        .expect("scrape");
    let mb = get_with(wb.address("traefik"), "localhost", "/metrics", &[])
        .await
        .expect("scrape");
    assert!(count(&ma.body, "open") >= 1, "{}", ma.body);
    assert!(count(&mb.body, "closed") >= 1, "{}", mb.body);
    // The log reader thread may lag the request: wait for the line.
    for w in [&wa, &wb] {
        poll("the failure is logged", || async {
            w.log().contains("shared limit store failed").then_some(())
        })
        .await;
    }
}
