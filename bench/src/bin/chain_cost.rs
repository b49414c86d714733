//! Per-request cost of the middleware chain runner alone (issue 4 point 4): a chain of 5
//! common middlewares — headers, stripPrefix, rateLimit (limit never reached), compress,
//! basicAuth (bcrypt, credential cache warm) — request phase, the compress decision on the
//! response head, and the response phase, as src/proxy/chain.rs runs them. Prints nanoseconds
//! and heap allocations per request (a counting global allocator), for the whole chain, for an
//! empty chain and for each middleware alone. Prints figures, asserts nothing.
//! Run: `cargo run -p wharf-bench --profile perf --bin chain_cost`. Through the proxy (wrk):
//! `bench/chain.sh`.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to System.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wharf_middlewares::{
    compile, run_request, run_response_between, ChainOutcome, CompileCtx, ConnInfo, Filter,
    FlowState, MiddlewareSpec, ProxySupport,
};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn filter(yaml: &str) -> Filter {
    let spec: MiddlewareSpec = serde_norway::from_str(yaml).expect("yaml");
    let ctx = CompileCtx {
        // As the proxy declares it: compress is a filter (its body side is the proxy's).
        support: ProxySupport {
            compress: true,
            ..ProxySupport::default()
        },
        ..CompileCtx::default()
    };
    compile("bench@file", &spec, &ctx).expect("compile")
}

/// The proxy's response phase: split around each compress filter, which decides on the
/// response head (the body encoder is not part of the chain runner).
fn response_phase(
    chain: &[Filter],
    resp: &mut http::response::Parts,
    conn: &ConnInfo,
    flow: &FlowState,
) -> usize {
    let mut hi = chain.len();
    let mut plans = 0;
    for (k, f) in chain.iter().enumerate().rev() {
        let Some(policy) = f.compress_policy() else {
            continue;
        };
        run_response_between(chain, k + 1, hi, resp, conn, flow);
        hi = k;
        if flow.compress_choice(k).is_some() {
            let plan = policy.plan(resp.status, &resp.headers, None);
            plans += plan as usize + 1;
        }
    }
    run_response_between(chain, 0, hi, resp, conn, flow);
    plans
}

fn main() {
    // `chain_cost --bcrypt PASSWORD`: prints a bcrypt hash (cost 10), for bench/chain.sh.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--bcrypt") {
        let pw = args.get(2).map_or("password", String::as_str);
        println!("{}", bcrypt::hash(pw, 10).expect("bcrypt"));
        return;
    }
    // A real bcrypt hash (cost 10, as `htpasswd -B` writes): the first request pays for it, the
    // cache answers the others.
    let hash = bcrypt::hash("password", 10).expect("bcrypt");
    let headers = "headers: {customRequestHeaders: {X-Env: prod}, customResponseHeaders: {X-Served-By: wharf}, frameDeny: true}";
    let strip = "stripPrefix: {prefixes: [/api]}";
    let rate = "rateLimit: {average: 1000000000, burst: 1000000000}";
    let compress = "compress: {}";
    let auth = format!("basicAuth: {{users: ['u:{hash}']}}");
    let five = || {
        vec![
            filter(headers),
            filter(strip),
            filter(rate),
            filter(compress),
            filter(&auth),
        ]
    };
    let chains: Vec<(String, Vec<Filter>)> = vec![
        ("empty chain".into(), vec![]),
        ("headers alone".into(), vec![filter(headers)]),
        ("stripPrefix alone".into(), vec![filter(strip)]),
        ("rateLimit alone".into(), vec![filter(rate)]),
        ("compress alone".into(), vec![filter(compress)]),
        (
            "basicAuth (bcrypt, cached) alone".into(),
            vec![filter(&auth)],
        ),
        (
            "headers+stripPrefix+rateLimit+compress+basicAuth".into(),
            five(),
        ),
    ];
    let conn = ConnInfo {
        remote_ip: "10.1.2.3".parse().expect("ip"),
        tls: false,
    };
    let template = http::Request::get("/api/users/42?x=1")
        .header("host", "app.example")
        .header("authorization", "Basic dTpwYXNzd29yZA==")
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .header("user-agent", "bench")
        .body(())
        .expect("request")
        .into_parts()
        .0;
    let resp_template = http::Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .header("content-length", "4096")
        .body(())
        .expect("response")
        .into_parts()
        .0;
    const N: u64 = 300_000;
    println!(
        "chain runner alone: request phase + compress decision + response phase, {N} requests each"
    );
    for (name, chain) in &chains {
        // Warm-up: bcrypt runs once here, then the credential is cached.
        for _ in 0..1000 {
            let mut parts = clone_req(&template);
            let mut flow = FlowState::default();
            let _ = run_request(chain, 0, &mut parts, &conn, &mut flow);
        }
        let mut total_ns = 0u128;
        let mut allocs = 0u64;
        let mut sink = 0usize;
        for _ in 0..N {
            // Cloning the templates is setup, not measured.
            let mut parts = clone_req(&template);
            let mut resp = clone_resp(&resp_template);
            let a0 = ALLOCS.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let mut flow = FlowState::default();
            match run_request(chain, 0, &mut parts, &conn, &mut flow) {
                ChainOutcome::Forward => sink += response_phase(chain, &mut resp, &conn, &flow),
                other => panic!("unexpected {other:?}"),
            }
            drop(flow);
            total_ns += t0.elapsed().as_nanos();
            allocs += ALLOCS.load(Ordering::Relaxed) - a0;
            std::hint::black_box((&parts, &resp));
        }
        println!(
            "{name:50} {:7.0} ns/request  {:5.2} allocations/request",
            total_ns as f64 / N as f64,
            allocs as f64 / N as f64
        );
        std::hint::black_box(sink);
    }
}

fn clone_req(p: &http::request::Parts) -> http::request::Parts {
    let mut b = http::Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone())
        .version(p.version);
    for (k, v) in &p.headers {
        b = b.header(k, v);
    }
    b.body(()).expect("clone").into_parts().0
}

fn clone_resp(p: &http::response::Parts) -> http::response::Parts {
    let mut b = http::Response::builder().status(p.status);
    for (k, v) in &p.headers {
        b = b.header(k, v);
    }
    b.body(()).expect("clone").into_parts().0
}
