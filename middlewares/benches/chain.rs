//! Cost of a chain of common middlewares per request (issue 4 point 4; compress is not a filter
//! yet). Run with `cargo bench -p wharf-middlewares --bench chain`. Prints nanoseconds and heap
//! allocations per request (request + response phase), measured with a counting allocator.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to System.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wharf_middlewares::{
    compile, run_request, run_response, ChainOutcome, CompileCtx, ConnInfo, Filter, FlowState,
    MiddlewareSpec,
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
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn filter(yaml: &str) -> Filter {
    let spec: MiddlewareSpec = serde_norway::from_str(yaml).expect("yaml");
    compile("bench@file", &spec, &CompileCtx::default()).expect("compile")
}

fn main() {
    let chains: Vec<(&str, Vec<Filter>)> = vec![
        ("empty", vec![]),
        (
            "headers+stripPrefix+rateLimit+basicAuth",
            vec![
                filter("headers: {customRequestHeaders: {X-Env: prod}, customResponseHeaders: {X-Served-By: wharf}, frameDeny: true}"),
                filter("stripPrefix: {prefixes: [/api]}"),
                filter("rateLimit: {average: 1000000000, burst: 1000000000}"),
                filter("basicAuth: {users: ['u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']}"),
                filter("ipAllowList: {sourceRange: [10.0.0.0/8]}"),
            ],
        ),
    ];
    let conn = ConnInfo {
        remote_ip: "10.1.2.3".parse().expect("ip"),
        tls: false,
    };
    let template = http::Request::get("/api/users/42?x=1")
        .header("host", "app.example")
        .header("authorization", "Basic dTpwYXNzd29yZA==")
        .header("user-agent", "bench")
        .body(())
        .expect("request")
        .into_parts()
        .0;
    let resp_template = http::Response::builder()
        .header("content-type", "text/plain")
        .body(())
        .expect("response")
        .into_parts()
        .0;
    const N: u64 = 200_000;
    for (name, chain) in &chains {
        let mut total_ns = 0u128;
        let mut allocs = 0u64;
        for _ in 0..N {
            // Cloning the templates is setup, not measured.
            let mut parts = clone_req(&template);
            let mut resp = clone_resp(&resp_template);
            let a0 = ALLOCS.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let mut flow = FlowState::default();
            match run_request(chain, 0, &mut parts, &conn, &mut flow) {
                ChainOutcome::Forward => run_response(chain, chain.len(), &mut resp, &conn, &flow),
                other => panic!("unexpected {other:?}"),
            }
            drop(flow);
            total_ns += t0.elapsed().as_nanos();
            allocs += ALLOCS.load(Ordering::Relaxed) - a0;
            std::hint::black_box((&parts, &resp));
        }
        println!(
            "{name:45} {:7.0} ns/request  {:5.2} allocations/request",
            total_ns as f64 / N as f64,
            allocs as f64 / N as f64
        );
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
