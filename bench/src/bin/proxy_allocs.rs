//! Heap allocations per request on the plain proxy path: wharf's entry point (`proxy::serve`,
//! one route, forwarded headers on, no middleware, metrics and access log off) on its own
//! single-threaded runtime and thread, an in-process HTTP/1.1 backend and a keep-alive client on
//! another. A counting allocator counts only what the proxy's thread allocates, so the figure is
//! wharf's alone (hyper server and client included, the backend and load excluded).
//!   proxy_allocs [REQUESTS]
#![allow(unsafe_code)] // the counting GlobalAlloc below; it only forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use wharf::compile::Registries;
use wharf::proxy::{CancellationToken, EntryPointSettings, PreRouteHooks};
use wharf_bench::{compile_view, config_with};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count(bytes: usize) {
    // `try_with`: thread-local storage may already be gone while a thread exits.
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let requests: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The backend.
    let backend = load
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let bport = backend.local_addr().expect("addr").port();
    load.spawn(async move {
        loop {
            let Ok((s, _)) = backend.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"hello from the backend\n",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });

    // wharf, on its own thread.
    let mut view = config_with(1, |_| "Host(`bench.local`)".to_string());
    if let Some(lb) = view
        .http
        .services
        .get_mut("s")
        .and_then(|s| s.load_balancer.as_mut())
    {
        lb.servers[0].url = format!("http://127.0.0.1:{bport}");
    }
    let snapshot = compile_view(view, &Registries::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let proxy = std::thread::spawn(move || {
        COUNTED.with(|c| c.set(true));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let settings = EntryPointSettings::new("web", addr);
            wharf::proxy::serve(
                listener,
                Arc::new(settings),
                Arc::new(arc_swap::ArcSwap::from_pointee(snapshot)),
                Arc::new(PreRouteHooks::default()),
                stop,
            )
            .await;
        });
    });

    load.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut one = async || {
            let req = http::Request::get("/")
                .header(http::header::HOST, "bench.local")
                .body(Empty::<Bytes>::new())
                .expect("request");
            let resp = send.send_request(req).await.expect("response");
            assert_eq!(resp.status(), 200);
            resp.into_body().collect().await.expect("body");
        };
        // Warm-up: connections, pools and buffers reach their steady state.
        for _ in 0..1000 {
            one().await;
        }
        let (a0, b0) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
        for _ in 0..requests {
            one().await;
        }
        let (a1, b1) = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
        println!(
            "plain proxy path: {:.2} allocations, {:.0} bytes allocated per request ({requests} requests, keep-alive)",
            (a1 - a0) as f64 / requests as f64,
            (b1 - b0) as f64 / requests as f64
        );
    });
    shutdown.cancel();
    let _ = proxy.join();
}
