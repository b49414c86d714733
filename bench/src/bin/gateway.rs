//! API-gateway costs: the `jwt` filter per request (HS256, RS256 with the key already parsed,
//! i.e. a warm key cache), a Redis-backed `rateLimit` check (one Lua script run on a local
//! `redis-server` started here), and the checks per second one process sustains against one
//! Redis with many checks in flight. Prints figures; asserts nothing.
//! Run: `cargo run -p wharf-bench --profile perf --bin gateway` (needs `redis-server` for the
//! Redis rows; `REDIS_PORT=N` uses a running one instead).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::Engine as _;
use wharf_bench::time_per_call;
use wharf_middlewares::{self as mw, Action, ConnInfo, Filter, FlowState, MiddlewareSpec};

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn claims() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    serde_json::json!({"sub": "alice", "iss": "bench", "aud": "api", "exp": now + 3600, "iat": now})
        .to_string()
}

fn spec(json: serde_json::Value) -> MiddlewareSpec {
    serde_json::from_value(json).expect("spec")
}

fn compile(name: &str, s: &MiddlewareSpec, backends: Option<&dyn mw::Backends>) -> Filter {
    let ctx = mw::CompileCtx {
        backends,
        scope: "bench@file",
        ..mw::CompileCtx::default()
    };
    mw::compile(name, s, &ctx).expect("compile")
}

const CONN: ConnInfo = ConnInfo {
    remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    tls: false,
};

fn request(token: &str) -> http::request::Parts {
    http::Request::get("/api/users")
        .header("host", "api.example.com")
        .header("authorization", format!("Bearer {token}"))
        .header("user-agent", "bench")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

/// Per-request cost of a filter's request phase (a fresh copy of the request each time; the
/// copy's own cost is measured and subtracted).
fn per_request(label: &str, f: &Filter, token: &str) {
    let parts = request(token);
    let iters = 50_000;
    let (copy, _) = time_per_call(iters, |_| {
        let p = parts.clone();
        p.headers.len()
    });
    let (t, ok) = time_per_call(iters, |_| {
        let mut p = parts.clone();
        let mut flow = FlowState::default();
        usize::from(matches!(
            f.on_request(0, &mut p, &CONN, &mut flow),
            Action::Continue
        ))
    });
    assert_eq!(ok as u32, iters, "{label}: every token must pass");
    println!(
        "{label}: {:.2} µs per request (request copy {:.2} µs subtracted; {iters} requests)",
        (t.saturating_sub(copy)).as_secs_f64() * 1e6,
        copy.as_secs_f64() * 1e6
    );
}

fn jwt_rows() {
    let secret = "bench-secret-0123456789abcdef";
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let sig = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    let hs = format!("{input}.{}", b64(sig.as_ref()));
    let f = compile(
        "hs@file",
        &spec(
            serde_json::json!({"jwt": {"signingSecret": secret, "issuers": ["bench"], "audiences": ["api"]}}),
        ),
        None,
    );
    per_request("jwt HS256", &f, &hs);

    let rk = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let der = rk.public_key().as_ref().to_vec();
    let pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims().as_bytes())
    );
    let mut sig = vec![0; rk.public_modulus_len()];
    rk.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let rs = format!("{input}.{}", b64(&sig));
    let f = compile(
        "rs@file",
        &spec(
            serde_json::json!({"jwt": {"publicKey": pem, "issuers": ["bench"], "audiences": ["api"]}}),
        ),
        None,
    );
    per_request("jwt RS256 (2048-bit, key parsed: warm cache)", &f, &rs);
}

struct RedisProc(Option<std::process::Child>);

impl Drop for RedisProc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_redis() -> Option<(u16, RedisProc)> {
    if let Some(p) = std::env::var("REDIS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        return Some((p, RedisProc(None)));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
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
        .ok()?;
    let guard = RedisProc(Some(child));
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((port, guard))
}

async fn check(f: &Filter, parts: &mut http::request::Parts) -> bool {
    let mut flow = FlowState::default();
    match f.on_request(0, parts, &CONN, &mut flow) {
        Action::Await(p) => matches!(p.settle(&mut flow).await, Action::Continue),
        other => matches!(other, Action::Continue),
    }
}

async fn redis_rows(port: u16) {
    let gw = wharf::gateway::Gateway::new();
    let f = Arc::new(compile(
        "rl@file",
        &spec(serde_json::json!({"rateLimit": {
            "average": 1_000_000_000u64, "burst": 1_000_000_000u64,
            "sourceCriterion": {"requestHeaderName": "X-User"},
            "redis": {"endpoints": [format!("127.0.0.1:{port}")], "failOpen": false, "poolSize": 2}
        }})),
        Some(&gw),
    ));
    let user = |i: u64| {
        let mut p = request("x");
        p.headers.insert(
            "x-user",
            http::HeaderValue::from_str(&format!("user-{}", i % 1000)).expect("header"),
        );
        p
    };
    // Warm up: connect, load the script.
    for i in 0..1000 {
        assert!(
            check(&f, &mut user(i)).await,
            "redis check failed (is redis up?)"
        );
    }
    // Latency: one check at a time.
    let n = 20_000u64;
    let t = Instant::now();
    for i in 0..n {
        check(&f, &mut user(i)).await;
    }
    let per = t.elapsed() / n as u32;
    println!(
        "rateLimit with redis, one check at a time: {:.1} µs per check (round trip to a local redis-server; {n} checks)",
        per.as_secs_f64() * 1e6
    );
    // Throughput: many checks in flight on the pooled, multiplexed connections.
    for inflight in [16u64, 64, 256] {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        let t = Instant::now();
        for w in 0..inflight {
            let (f, done) = (f.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < deadline {
                    if check(&f, &mut user(i)).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    i += inflight;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "rateLimit with redis, {inflight} checks in flight: {:.0} checks/s ({} admitted in {secs:.1} s)",
            done.load(Ordering::Relaxed) as f64 / secs,
            done.load(Ordering::Relaxed)
        );
    }
}

fn main() {
    jwt_rows();
    match start_redis() {
        None => println!("redis rows skipped: no redis-server (apt-get install redis-server)"),
        Some((port, _guard)) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(redis_rows(port));
        }
    }
}
